//! The settings cache: [`Cached`] wraps any back end and keeps in memory
//! the settings the hot paths read on every webhook and event (projects,
//! project owners, tenants, limits, opt-out keywords, a project's active
//! bindings).
//!
//! Its own writes empty the memos at once. Writes by anyone else (another
//! host on the same PostgreSQL database, another process on the same
//! SQLite file) move the database's settings generation
//! ([`Tenants::settings_generation`]); a background thread watches it and
//! empties the memos when it moved, so another host's change is used by
//! this host's next event within [`WATCH_EVERY`] (plus the poll's own
//! time). The back end may wake the watch sooner
//! ([`Tenants::wait_for_settings_change`]: PostgreSQL's LISTEN/NOTIFY),
//! but the poll never relies on it: a notification sent while its listener
//! was disconnected is lost.
//!
//! A read that loaded a value from the database before a change does not
//! put it in the memo after it: every change bumps the memo's own
//! generation, and a load only lands if that is still the one it started
//! under. Everything else is passed to the back end as it is.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::*;

/// How often the watch polls the settings generation (at most; a back end
/// that hears of a change sooner wakes it sooner).
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// A back end with its settings memoized; see the module doc.
///
/// Dropping it stops its watch thread (within [`WATCH_EVERY`]), which
/// holds it only weakly.
pub struct Cached<S> {
    shared: Arc<Shared<S>>,
}

/// What the store and its watch thread share.
struct Shared<S> {
    backend: S,
    memos: Memos,
}

impl<S: Tenants + Send + Sync + 'static> Cached<S> {
    /// Wraps `backend` and starts watching its settings generation.
    ///
    /// The generation is read here, before anything is memoized, so every
    /// change after it is one the watch sees move. When it cannot be read
    /// now, the watch's first poll that works forgets the memos.
    pub fn new(backend: S) -> Self {
        let seen = super::blocking(|| backend.settings_generation()).ok();
        let shared = Arc::new(Shared {
            backend,
            memos: Memos::default(),
        });
        let watched = Arc::downgrade(&shared);
        if let Err(error) = std::thread::Builder::new()
            .name("settings-watch".into())
            .spawn(move || watch(watched, seen))
        {
            // Without the watch only this host's own changes reach the
            // memos: say so loudly, the store still works.
            tracing::error!(%error, "starting the settings watch failed");
        }
        Self { shared }
    }
}

impl<S> Cached<S> {
    fn backend(&self) -> &S {
        &self.shared.backend
    }

    /// Calls the back end where blocking is allowed (see
    /// [`super::blocking`]): a handler on an async thread may call the
    /// store like any thread.
    fn call<T>(&self, f: impl FnOnce(&S) -> T) -> T {
        super::blocking(|| f(self.backend()))
    }

    fn memos(&self) -> &Memos {
        &self.shared.memos
    }

    /// Runs a write on the back end and forgets every memo, whether or not
    /// the write succeeded (a failed one may have changed nothing, or the
    /// caller cannot tell: a memo is cheap to reload).
    fn changing<T>(&self, write: impl FnOnce(&S) -> Result<T>) -> Result<T> {
        let result = self.call(write);
        self.memos().changed();
        result
    }

    /// How many values the memos hold, to tell a memoized read in tests.
    #[cfg(test)]
    pub(crate) fn memoized(&self) -> usize {
        self.memos().len()
    }
}

/// The watch: waits for word of a change (at most [`WATCH_EVERY`]), polls
/// the generation and forgets the memos when it is not `seen`, until the
/// store is dropped.
fn watch<S: Tenants>(weak: Weak<Shared<S>>, mut seen: Option<u64>) {
    let mut failing = false;
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        if let Err(error) = shared.backend.wait_for_settings_change(WATCH_EVERY) {
            tracing::debug!(%error, "waiting for a settings change failed; polling on");
        }
        if Arc::strong_count(&shared) == 1 {
            return; // the store was dropped while the watch waited
        }
        match shared.backend.settings_generation() {
            Ok(generation) => {
                if seen != Some(generation) {
                    shared.memos.changed();
                    seen = Some(generation);
                }
                if failing {
                    tracing::info!("the settings watch reads the generation again");
                    failing = false;
                }
            }
            // The memos stay as they are: settings cannot be reloaded
            // either, and the next poll that works catches up.
            Err(error) if !failing => {
                tracing::warn!(%error, "the settings watch cannot read the generation");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// One memo: values by key, loaded on first read.
#[derive(Debug)]
struct Memo<K, V> {
    inner: RwLock<(u64, HashMap<K, V>)>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            inner: RwLock::new((0, HashMap::new())),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The value for `key`, from memory or else from `load` (remembered).
    fn get_or_load(&self, key: K, load: impl FnOnce() -> Result<V>) -> Result<V> {
        let generation = {
            let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if let Some(value) = inner.1.get(&key) {
                return Ok(value.clone());
            }
            inner.0
        };
        let value = load()?;
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.0 == generation {
            inner.1.insert(key, value.clone());
        }
        Ok(value)
    }

    /// Forgets everything (after a change).
    fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        inner.1.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).1.len()
    }
}

/// The memos of one store.
#[derive(Debug, Default)]
struct Memos {
    projects: Memo<(TenantId, ProjectId), Project>,
    owners: Memo<ProjectId, TenantId>,
    tenants: Memo<TenantId, TenantSettings>,
    limits: Memo<TenantId, TenantLimits>,
    keywords: Memo<TenantId, Option<Vec<String>>>,
    bindings: Memo<(TenantId, ProjectId), Vec<ActiveBinding>>,
}

impl Memos {
    /// Forgets every memo: a setting changed.
    fn changed(&self) {
        self.projects.clear();
        self.owners.clear();
        self.tenants.clear();
        self.limits.clear();
        self.keywords.clear();
        self.bindings.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.projects.len()
            + self.owners.len()
            + self.tenants.len()
            + self.limits.len()
            + self.keywords.len()
            + self.bindings.len()
    }
}

impl<S: Tenants> Tenants for Cached<S> {
    fn create_tenant(&self, name: &str, webhook_secret: &str) -> Result<Tenant> {
        self.call(|backend| backend.create_tenant(name, webhook_secret))
    }

    fn tenant(&self, tenant: TenantId) -> Result<TenantSettings> {
        self.memos()
            .tenants
            .get_or_load(tenant, || self.call(|backend| backend.tenant(tenant)))
    }

    fn update_tenant(&self, tenant: TenantId, settings: &TenantSettings) -> Result<()> {
        self.changing(|backend| backend.update_tenant(tenant, settings))
    }

    fn tenant_limits(&self, tenant: TenantId) -> Result<TenantLimits> {
        self.memos().limits.get_or_load(tenant, || {
            self.call(|backend| backend.tenant_limits(tenant))
        })
    }

    fn set_tenant_limits(&self, tenant: TenantId, limits: &TenantLimits) -> Result<()> {
        self.changing(|backend| backend.set_tenant_limits(tenant, limits))
    }

    fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        new_secret: &str,
        previous_until: Timestamp,
    ) -> Result<()> {
        self.changing(|backend| backend.rotate_webhook_secret(tenant, new_secret, previous_until))
    }

    fn add_api_key(&self, tenant: TenantId, key_hash: &str) -> Result<ApiKeyInfo> {
        self.call(|backend| backend.add_api_key(tenant, key_hash))
    }

    fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>> {
        self.call(|backend| backend.api_keys(tenant))
    }

    fn revoke_api_key(&self, tenant: TenantId, key: u64, allow_last: bool) -> Result<()> {
        self.call(|backend| backend.revoke_api_key(tenant, key, allow_last))
    }

    fn tenant_by_key(&self, key_hash: &str) -> Result<Option<TenantId>> {
        self.call(|backend| backend.tenant_by_key(key_hash))
    }

    fn stored_opt_out_keywords(&self, tenant: TenantId) -> Result<Option<Vec<String>>> {
        self.memos().keywords.get_or_load(tenant, || {
            self.call(|backend| backend.stored_opt_out_keywords(tenant))
        })
    }

    fn write_opt_out_keywords(&self, tenant: TenantId, keywords: &[String]) -> Result<()> {
        self.changing(|backend| backend.write_opt_out_keywords(tenant, keywords))
    }

    fn insert_project(
        &self,
        tenant: TenantId,
        settings: &ProjectSettings,
        dispositions: &[DispositionDef],
    ) -> Result<Project> {
        self.changing(|backend| backend.insert_project(tenant, settings, dispositions))
    }

    fn project(&self, tenant: TenantId, project: ProjectId) -> Result<Project> {
        self.memos().projects.get_or_load((tenant, project), || {
            self.call(|backend| backend.project(tenant, project))
        })
    }

    fn project_owner(&self, project: ProjectId) -> Result<Option<TenantId>> {
        // Only a found owner is remembered: a project id unknown now may
        // be created later.
        let owner = self.memos().owners.get_or_load(project, || {
            self.call(|backend| backend.project_owner(project))?
                .ok_or_else(|| Error::NotFound {
                    what: format!("project {project}"),
                })
        });
        match owner {
            Ok(owner) => Ok(Some(owner)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    fn projects(&self, tenant: TenantId) -> Result<Vec<Project>> {
        self.call(|backend| backend.projects(tenant))
    }

    fn write_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
    ) -> Result<()> {
        self.changing(|backend| backend.write_disposition(tenant, project, disposition))
    }

    fn settings_generation(&self) -> Result<u64> {
        self.call(|backend| backend.settings_generation())
    }

    fn wait_for_settings_change(&self, timeout: Duration) -> Result<()> {
        self.call(|backend| backend.wait_for_settings_change(timeout))
    }
}

impl<S: Records> Records for Cached<S> {
    fn usage(&self, tenant: TenantId) -> Result<Usage> {
        self.call(|backend| backend.usage(tenant))
    }

    fn create_record(&self, tenant: TenantId, record: &NewRecord) -> Result<StoredRecord> {
        self.call(|backend| backend.create_record(tenant, record))
    }

    fn create_records(&self, tenant: TenantId, records: &[NewRecord]) -> Result<Vec<StoredRecord>> {
        self.call(|backend| backend.create_records(tenant, records))
    }

    fn record(&self, tenant: TenantId, record: RecordId) -> Result<StoredRecord> {
        self.call(|backend| backend.record(tenant, record))
    }

    fn records(
        &self,
        tenant: TenantId,
        project: ProjectId,
        after: RecordId,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.call(|backend| backend.records(tenant, project, after, limit))
    }

    fn records_by_phone(
        &self,
        tenant: TenantId,
        project: ProjectId,
        phone: &str,
    ) -> Result<Vec<StoredRecord>> {
        self.call(|backend| backend.records_by_phone(tenant, project, phone))
    }

    fn record_events(&self, tenant: TenantId, record: RecordId) -> Result<Vec<RecordEvent>> {
        self.call(|backend| backend.record_events(tenant, record))
    }

    fn messages(&self, tenant: TenantId, filter: &MessageFilter<'_>) -> Result<Vec<SentMessage>> {
        self.call(|backend| backend.messages(tenant, filter))
    }

    fn set_disposition(
        &self,
        tenant: TenantId,
        record: RecordId,
        entry: &ManualDisposition,
    ) -> Result<RecordEvent> {
        self.call(|backend| backend.set_disposition(tenant, record, entry))
    }

    fn add_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<()> {
        self.call(|backend| backend.add_do_not_contact(tenant, phone))
    }

    fn remove_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<bool> {
        self.call(|backend| backend.remove_do_not_contact(tenant, phone))
    }

    fn do_not_contact_list(
        &self,
        tenant: TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.call(|backend| backend.do_not_contact_list(tenant, after, limit))
    }

    fn do_not_contact(&self, tenant: TenantId, phones: &[String]) -> Result<Vec<String>> {
        self.call(|backend| backend.do_not_contact(tenant, phones))
    }

    fn contact_attempts(
        &self,
        tenant: TenantId,
        record: RecordId,
        since: Timestamp,
        limit: u32,
    ) -> Result<u32> {
        self.call(|backend| backend.contact_attempts(tenant, record, since, limit))
    }
}

impl<S: Plugins> Plugins for Cached<S> {
    fn latest_plugin_version(&self, tenant: TenantId, name: &str) -> Result<Option<u32>> {
        self.call(|backend| backend.latest_plugin_version(tenant, name))
    }

    fn insert_plugin_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        sha256: &str,
        component: &[u8],
    ) -> Result<()> {
        self.changing(|backend| {
            backend.insert_plugin_version(tenant, name, version, sha256, component)
        })
    }

    fn prune_plugin_versions(
        &self,
        tenant: TenantId,
        name: &str,
        keep: usize,
    ) -> Result<Vec<String>> {
        self.changing(|backend| backend.prune_plugin_versions(tenant, name, keep))
    }

    fn stored_component_bytes(&self, tenant: TenantId) -> Result<u64> {
        self.call(|backend| backend.stored_component_bytes(tenant))
    }

    fn activate_plugin(&self, tenant: TenantId, name: &str, version: u32) -> Result<()> {
        self.changing(|backend| backend.activate_plugin(tenant, name, version))
    }

    fn rollback_plugin(&self, tenant: TenantId, name: &str) -> Result<u32> {
        self.changing(|backend| backend.rollback_plugin(tenant, name))
    }

    fn plugin_component(&self, tenant: TenantId, name: &str, version: u32) -> Result<Vec<u8>> {
        self.call(|backend| backend.plugin_component(tenant, name, version))
    }

    fn plugins(&self, tenant: TenantId) -> Result<Vec<PluginInfo>> {
        self.call(|backend| backend.plugins(tenant))
    }

    fn set_bindings(
        &self,
        tenant: TenantId,
        project: ProjectId,
        bindings: &[Binding],
    ) -> Result<()> {
        self.changing(|backend| backend.set_bindings(tenant, project, bindings))
    }

    fn active_bindings(&self, tenant: TenantId, project: ProjectId) -> Result<Vec<ActiveBinding>> {
        self.memos().bindings.get_or_load((tenant, project), || {
            self.call(|backend| backend.active_bindings(tenant, project))
        })
    }

    fn active_components(&self) -> Result<Vec<ActiveComponent>> {
        self.call(|backend| backend.active_components())
    }
}

impl<S: Journal> Journal for Cached<S> {
    fn journal_batch(&self, entries: &[JournalEntry]) -> Result<Vec<Journaled>> {
        self.call(|backend| backend.journal_batch(entries))
    }

    fn pending_tenants(&self) -> Result<Vec<TenantId>> {
        self.call(|backend| backend.pending_tenants())
    }

    fn claim(&self, tenant: TenantId, after: EventId, limit: usize) -> Result<Vec<PendingEvent>> {
        self.call(|backend| backend.claim(tenant, after, limit))
    }

    fn renew_claims(&self) -> Result<()> {
        self.call(|backend| backend.renew_claims())
    }

    fn release_claims(&self) -> Result<()> {
        self.call(|backend| backend.release_claims())
    }

    fn commit(&self, processed: &[ProcessedEvent]) -> Result<()> {
        self.call(|backend| backend.commit(processed))
    }

    fn event(&self, tenant: TenantId, event: EventId) -> Result<EventView> {
        self.call(|backend| backend.event(tenant, event))
    }

    fn recorded_runs(
        &self,
        tenant: TenantId,
        plugin: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<RecordedRun>> {
        self.call(|backend| backend.recorded_runs(tenant, plugin, after, limit))
    }

    fn pending_count(&self) -> Result<u64> {
        self.call(|backend| backend.pending_count())
    }

    fn pending_by_tenant(&self) -> Result<Vec<(TenantId, u64)>> {
        self.call(|backend| backend.pending_by_tenant())
    }
}

impl<S: Outbox> Outbox for Cached<S> {
    fn outbox_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>> {
        self.call(|backend| backend.outbox_due_tenants(now))
    }

    fn outbox_pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<OutboxItem>> {
        self.call(|backend| backend.outbox_pending(tenant, limit))
    }

    fn settle(&self, item: &OutboxItem, settlement: &Settlement) -> Result<()> {
        self.call(|backend| backend.settle(item, settlement))
    }

    fn outbox_pending_count(&self) -> Result<u64> {
        self.call(|backend| backend.outbox_pending_count())
    }
}

impl<S: SmsOutbox> SmsOutbox for Cached<S> {
    fn sms_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>> {
        self.call(|backend| backend.sms_due_tenants(now))
    }

    fn claim_messages(
        &self,
        tenant: TenantId,
        now: Timestamp,
        lease_secs: u32,
        limit: usize,
    ) -> Result<Vec<SentMessage>> {
        self.call(|backend| backend.claim_messages(tenant, now, lease_secs, limit))
    }

    fn settle_message(
        &self,
        tenant: TenantId,
        id: u64,
        settlement: &MessageSettlement,
    ) -> Result<()> {
        self.call(|backend| backend.settle_message(tenant, id, settlement))
    }

    fn advance_message(
        &self,
        tenant: TenantId,
        message_id: &str,
        status: MessageStatus,
    ) -> Result<Option<SentMessage>> {
        self.call(|backend| backend.advance_message(tenant, message_id, status))
    }

    fn sms_queued_count(&self) -> Result<u64> {
        self.call(|backend| backend.sms_queued_count())
    }
}

impl<S: RateLimits> RateLimits for Cached<S> {
    fn shared_by_hosts(&self) -> bool {
        self.call(|backend| backend.shared_by_hosts())
    }

    fn take_tokens(&self, tenant: TenantId, rate: u32, want: u32) -> Result<u32> {
        self.call(|backend| backend.take_tokens(tenant, rate, want))
    }
}

/// Shadows are read by the shadow worker, not per event: not memoized.
impl<S: Shadows> Shadows for Cached<S> {
    fn start_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        after_event: EventId,
    ) -> Result<Shadow> {
        self.call(|backend| backend.start_shadow(tenant, name, version, after_event))
    }

    fn stop_shadow(&self, tenant: TenantId, name: &str) -> Result<bool> {
        self.call(|backend| backend.stop_shadow(tenant, name))
    }

    fn shadow(&self, tenant: TenantId, name: &str) -> Result<Option<Shadow>> {
        self.call(|backend| backend.shadow(tenant, name))
    }

    fn shadows(&self) -> Result<Vec<Shadow>> {
        self.call(|backend| backend.shadows())
    }

    fn advance_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        cursor: EventId,
        runs: &[ShadowRun],
    ) -> Result<()> {
        self.call(|backend| backend.advance_shadow(tenant, name, version, cursor, runs))
    }

    fn shadow_counts(&self, tenant: TenantId, name: &str, version: u32) -> Result<ShadowCounts> {
        self.call(|backend| backend.shadow_counts(tenant, name, version))
    }

    fn shadow_differences(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        limit: usize,
    ) -> Result<Vec<ShadowRun>> {
        self.call(|backend| backend.shadow_differences(tenant, name, version, limit))
    }
}

/// The trail is no setting: nothing memoized changes with it.
impl<S: AuditTrail> AuditTrail for Cached<S> {
    fn record_change(&self, tenant: TenantId, change: &Change) -> Result<u64> {
        self.call(|backend| backend.record_change(tenant, change))
    }

    fn audit_entries(&self, tenant: TenantId, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>> {
        self.call(|backend| backend.audit_entries(tenant, filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_a_change_is_not_remembered() {
        let memo: Memo<u8, &str> = Memo::default();
        let value = memo
            .get_or_load(1, || {
                memo.clear(); // the change lands while the load reads
                Ok("old")
            })
            .unwrap();
        assert_eq!(value, "old");
        assert_eq!(memo.get_or_load(1, || Ok("new")).unwrap(), "new");
        assert_eq!(
            memo.get_or_load(1, || Ok("newer")).unwrap(),
            "new",
            "remembered"
        );
    }
}
