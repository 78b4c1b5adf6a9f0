//! One journaled event → the decisions of its project's plugins and the
//! record changes validation accepts. Reads the store, writes nothing: the
//! executor commits the result.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::Incoming;
use super::plugins::PluginCache;
use crate::actions::{Proposal, RecordScope, Verdict, validate};
use crate::metrics::Metrics;
use crate::model::{
    ContactRecord, DecisionOutcome, InboundSms, OutboundStatus, ProjectId, RecordId, SmsEvent,
    TenantId,
};
use crate::phone;
use crate::runtime::{self, Call, Limits, LookupFailed, Outcome, RecordLookup, Runtime};
use crate::store::{
    self, DecisionRecord, PendingEvent, ProcessedEvent, Project, RecordWrite, Store,
};

/// The name decisions use for the host's own opt-out rule.
pub const OPT_OUT_DECIDER: &str = "host:opt-out";

/// Why an event could not be decided now; either way it stays pending and
/// is tried again, since neither says anything about its plugins.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("plugin {plugin} v{version} could not run for a reason of the host's: {error}")]
    Host {
        plugin: String,
        version: u32,
        error: runtime::Error,
    },
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A bug of the host's met on this event (or group): contained so the
    /// pipeline goes on, and the events are tried again later.
    #[error("the host panicked: {0}")]
    Panicked(String),
}

impl ProcessError {
    /// The error for a caught panic's payload.
    pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        ProcessError::Panicked(message)
    }
}

/// Processes one pending event.
///
/// A plugin that fails for its own reasons (a trap, a limit, its error) is
/// decided as failed; one that could not run for the host's (no instance
/// free, a lookup or a load that failed, see
/// [`runtime::Error::is_host_fault`]) fails the whole event with
/// [`ProcessError::Host`], so it is retried instead of decided on a
/// partial view.
pub(crate) fn process(
    store: &Arc<dyn Store>,
    runtime: &Runtime,
    plugins: &PluginCache,
    metrics: &Metrics,
    limits: Limits,
    pending: &PendingEvent,
    processed_at: i64,
) -> Result<ProcessedEvent, ProcessError> {
    let tenant = pending.tenant_id;
    let incoming: Incoming = serde_json::from_str(&pending.input)?;
    let project = store.project(tenant, pending.project_id)?;
    let limits = store.tenant_limits(tenant)?.apply(limits);
    let event = resolve(store.as_ref(), tenant, &project, incoming)?;
    let mut decisions = Vec::new();

    // Opt-out is the host's rule and comes before any plugin.
    let opted_out = match &event {
        SmsEvent::Inbound(sms)
            if phone::is_opt_out(&sms.message, &store.opt_out_keywords(tenant)?) =>
        {
            decisions.push(DecisionRecord::host(
                OPT_OUT_DECIDER,
                DecisionOutcome::OptedOut,
                None,
            ));
            Some(sms.source_phone_number.clone())
        }
        _ => None,
    };

    let lookup: Arc<dyn RecordLookup> = Arc::new(StoreLookup::new(store, tenant, &project));
    let mut runs = Vec::new();
    for binding in store.active_bindings(tenant, project.id)? {
        let (Some(version), Some(sha256)) = (binding.version, &binding.sha256) else {
            continue; // bound but never activated
        };
        let name = binding.binding.plugin.clone();
        let host_fault = |error: runtime::Error| ProcessError::Host {
            plugin: name.clone(),
            version,
            error,
        };
        let plugin = match plugins.get(store.as_ref(), runtime, tenant, &name, version, sha256) {
            Ok(plugin) => plugin,
            Err(error) if error.is_host_fault() => return Err(host_fault(error)),
            Err(error) => {
                metrics.plugin_not_loaded(tenant, &name, version, error.code());
                runs.push((binding, Outcome::failed(error)));
                continue;
            }
        };
        let outcome = runtime.invoke(
            &plugin,
            Call {
                event: &event,
                config: Arc::new(binding.binding.config.clone()),
                lookup: Arc::clone(&lookup),
                limits,
            },
        );
        metrics.plugin_ran(
            tenant,
            &name,
            version,
            outcome.elapsed,
            outcome.fuel_used,
            outcome.result.as_ref().err().map(|e| e.code()),
        );
        if let Err(error) = &outcome.result
            && error.is_host_fault()
        {
            return Err(host_fault(error.clone()));
        }
        runs.push((binding, outcome));
    }

    // Validate every plugin's actions together: priority conflicts and the
    // per-event limit span plugins.
    let mut proposals = Vec::new();
    for (binding, outcome) in &runs {
        for action in outcome.result.as_deref().unwrap_or_default() {
            proposals.push(Proposal {
                plugin: binding.binding.plugin.clone(),
                priority: binding.binding.priority,
                action: action.clone(),
            });
        }
    }
    let verdicts = judge(
        store.as_ref(),
        tenant,
        &project,
        event.timestamp(),
        &proposals,
        opted_out.as_deref(),
        &event.contacts(),
    )?;

    let mut verdicts = verdicts.into_iter();
    let mut writes = Vec::new();
    for (binding, outcome) in runs {
        let count = outcome.result.as_ref().map_or(0, Vec::len);
        let mine: Vec<_> = verdicts.by_ref().take(count).collect();
        for verdict in mine.iter().filter(|v| v.accepted) {
            writes.push(RecordWrite {
                record_id: verdict.action.record_id,
                disposition_id: verdict.action.disposition.id(),
                next_calldate: verdict.action.disposition.next_calldate(),
                plugin: binding.binding.plugin.clone(),
                plugin_version: binding.version,
                note: verdict.action.note.clone(),
            });
        }
        let (result, error_code, error) = match &outcome.result {
            Ok(_) => (DecisionOutcome::Ok, None, None),
            Err(e) => (
                DecisionOutcome::Failed,
                Some(e.code().to_string()),
                Some(e.to_string()),
            ),
        };
        decisions.push(DecisionRecord {
            plugin: binding.binding.plugin,
            version: binding.version,
            priority: binding.binding.priority,
            outcome: result,
            error_code,
            error,
            fuel_used: outcome.fuel_used,
            duration_us: outcome.elapsed.as_micros() as u64,
            logs: serde_json::to_value(&outcome.logs)?,
            verdicts: serde_json::to_value(&mine)?,
            actions: serde_json::to_value(outcome.result.as_deref().unwrap_or_default())?,
            config: serde_json::to_value(&binding.binding.config)?,
            lookups: serde_json::to_value(&outcome.lookups)?,
        });
    }

    Ok(ProcessedEvent {
        event_id: pending.id,
        tenant_id: tenant,
        resolved: serde_json::to_string(&event)?,
        decisions,
        writes,
        outbox: Vec::new(),
        opted_out,
        processed_at,
    })
}

/// The event as plugins see it: the receipt's record, or the records
/// matching the sender, as they are now.
fn resolve(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    incoming: Incoming,
) -> Result<SmsEvent, store::Error> {
    let zone = &project.settings.time_zone;
    Ok(match incoming {
        Incoming::Status {
            message_id,
            project_id,
            record_id,
            status,
            template_id,
            timestamp,
        } => SmsEvent::Outbound(OutboundStatus {
            message_id,
            project_id,
            contact: store.record(tenant, record_id)?.to_contact(zone),
            status,
            template_id,
            timestamp,
        }),
        Incoming::Inbound {
            message_id,
            project_id,
            source_phone_number,
            message,
            timestamp,
        } => SmsEvent::Inbound(InboundSms {
            matches: store
                .records_by_phone(tenant, project_id, &source_phone_number)?
                .iter()
                .map(|record| record.to_contact(zone))
                .collect(),
            message_id: message_id.unwrap_or_default(),
            project_id,
            source_phone_number,
            message,
            timestamp,
        }),
    })
}

/// The host's verdicts on `proposals` for an event of `project` at
/// `event_time`: the records they name (within the tenant), the
/// do-not-contact list (plus a phone opting out right now) and the
/// project's rules. Shared by processing and dry runs, so both judge alike.
///
/// `resolved` are records the host itself read for this event (within the
/// tenant and project), used as they are instead of being read again; a
/// dry run's event comes from the caller, so it passes none.
pub fn judge(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    event_time: i64,
    proposals: &[Proposal],
    opting_out: Option<&str>,
    resolved: &[&ContactRecord],
) -> Result<Vec<Verdict>, store::Error> {
    let records = scopes(store, tenant, proposals, resolved)?;
    let phones: Vec<String> = records.values().map(|r| r.phone.clone()).collect();
    let mut do_not_contact: BTreeSet<String> =
        store.do_not_contact(tenant, &phones)?.into_iter().collect();
    do_not_contact.extend(opting_out.map(String::from));
    Ok(validate(
        event_time,
        &project.rules(),
        &records,
        &do_not_contact,
        proposals,
    ))
}

/// The tenant's records that the proposals name; records of other tenants
/// are simply not found, so validation rejects them as out of scope.
fn scopes(
    store: &dyn Store,
    tenant: TenantId,
    proposals: &[Proposal],
    resolved: &[&ContactRecord],
) -> Result<BTreeMap<RecordId, RecordScope>, store::Error> {
    let mut scopes = BTreeMap::new();
    for id in proposals.iter().map(|p| p.action.record_id) {
        if scopes.contains_key(&id) {
            continue;
        }
        if let Some(contact) = resolved.iter().find(|c| c.id == id) {
            scopes.insert(
                id,
                RecordScope {
                    id,
                    project_id: contact.project_id,
                    phone: contact.phone.clone(),
                    time_zone: Some(contact.time_zone.clone()),
                },
            );
            continue;
        }
        match store.record(tenant, id) {
            Ok(record) => {
                scopes.insert(
                    id,
                    RecordScope {
                        id,
                        project_id: record.project_id,
                        phone: record.phone,
                        time_zone: record.time_zone,
                    },
                );
            }
            Err(store::Error::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(scopes)
}

/// `find-records` for one event: the event's tenant and project only,
/// read from the store as it is now (dry runs use it too, so they read
/// only the records a plugin asks for, not the whole project).
pub(crate) struct StoreLookup {
    store: Arc<dyn Store>,
    tenant: TenantId,
    project: ProjectId,
    country: String,
    zone: String,
}

impl StoreLookup {
    /// Lookups within `tenant`'s `project`, under its default country.
    pub(crate) fn new(store: &Arc<dyn Store>, tenant: TenantId, project: &Project) -> Self {
        Self {
            store: Arc::clone(store),
            tenant,
            project: project.id,
            country: project.settings.default_country.clone(),
            zone: project.settings.time_zone.clone(),
        }
    }
}

impl RecordLookup for StoreLookup {
    fn find_records(&self, phone: &str) -> Result<Vec<ContactRecord>, LookupFailed> {
        let Ok(e164) = phone::to_e164(phone, &self.country) else {
            return Ok(Vec::new()); // no phone number: nobody has it
        };
        self.store
            .records_by_phone(self.tenant, self.project, &e164)
            .map(|records| records.iter().map(|r| r.to_contact(&self.zone)).collect())
            .map_err(|e| LookupFailed(e.to_string()))
    }
}
