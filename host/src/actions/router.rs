//! [`TenantRouter`]: the pipeline's executor, sending each tenant's events
//! to the back end its `executor` setting names.
//!
//! Every event of a batch, of either kind, commits in the embedded store's
//! one transaction: decisions, opt-outs, done marks, and an embedded
//! tenant's record changes. A remote tenant's record changes are not made
//! here, nor sent over HTTP here: they are queued in its [`Outbox`] in the
//! same transaction (their verdicts say `"executed": "queued"`) and carried
//! out by the outbox's workers after the commit (which checks the time
//! again), so a slow remote never holds up a commit, and with it every
//! other tenant's decisions. Before the commit, for every tenant alike
//! (writes and queued writes), actions whose next call date has passed are
//! rejected or moved to now as their project says (see
//! [`super::execution_time`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::execution_time::unmarked_verdict;
use super::executor::{EmbeddedExecutor, Executor};
use super::outbox::{self, Outbox, OutboxPolicy, QUEUED};
use super::remote::client::RemoteClient;
use super::remote::policy::UrlPolicy;
use super::remote::{RemoteExecutor, RemoteTarget};
use super::sms::{self, SmsOutbox, SmsSender};
use crate::config::Clock;
use crate::store::{self, MessageStatus, ProcessedEvent, Store};

/// Routes a batch by tenant to the embedded store or a remote `/v2` API.
pub struct TenantRouter {
    store: Arc<dyn Store>,
    embedded: EmbeddedExecutor,
    outbox: Outbox,
    sms: SmsOutbox,
}

impl TenantRouter {
    /// A router with the strict URL rules for remotes and SMS providers,
    /// status callbacks to `http://127.0.0.1:8080`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let remote = RemoteExecutor::new(Arc::clone(&store));
        let sms = SmsSender::new(
            RemoteClient::new(UrlPolicy::default()),
            format!("http://{}", crate::config::DEFAULT_LISTEN),
        );
        Self::with_remote(
            store,
            remote,
            sms,
            OutboxPolicy::default(),
            Clock::default(),
        )
    }

    /// A router whose remote tenants' outbox delivers through `remote`,
    /// whose SMS outbox sends through `sms`, both retrying by `policy`,
    /// and both back ends judging "already past" by `clock`.
    pub fn with_remote(
        store: Arc<dyn Store>,
        remote: RemoteExecutor,
        sms: SmsSender,
        policy: OutboxPolicy,
        clock: Clock,
    ) -> Self {
        Self {
            embedded: EmbeddedExecutor::with_clock(Arc::clone(&store), clock.clone()),
            outbox: outbox::start(Arc::clone(&store), remote, policy, clock.clone()),
            sms: sms::start(Arc::clone(&store), sms, policy, clock),
            store,
        }
    }
}

impl Executor for TenantRouter {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error> {
        // The settings are read once per batch: a tenant switching back ends
        // takes effect from its next batch.
        let mut remote = BTreeSet::new();
        let mut queues_sms = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for event in processed {
            if !seen.insert(event.tenant_id) {
                continue;
            }
            let settings = self.store.tenant(event.tenant_id)?;
            if RemoteTarget::from_settings(&settings.executor).is_some() {
                remote.insert(event.tenant_id);
            }
            if settings.sms_sender.queues() {
                queues_sms.insert(event.tenant_id);
            }
        }
        if remote.is_empty() && queues_sms.is_empty() {
            return self.embedded.execute(processed);
        }
        let batch: Vec<ProcessedEvent> = processed
            .iter()
            .map(|event| {
                let mut event = match remote.contains(&event.tenant_id) {
                    true => queued(event),
                    false => event.clone(),
                };
                if queues_sms.contains(&event.tenant_id) {
                    for message in &mut event.messages {
                        message.status = MessageStatus::Queued;
                    }
                }
                event
            })
            .collect();
        // Queued first, so the time check finds a remote write's verdict
        // marked queued, and leaves it so when it moves the write.
        self.embedded
            .commit_checked(&self.embedded.checked(&batch)?)?;
        if !remote.is_empty() {
            self.outbox.wake();
        }
        if !queues_sms.is_empty() {
            self.sms.wake();
        }
        Ok(())
    }
}

/// `event` with its record writes moved to the outbox and their verdicts
/// marked queued.
fn queued(event: &ProcessedEvent) -> ProcessedEvent {
    let mut event = event.clone();
    event.outbox = std::mem::take(&mut event.writes);
    for write in &event.outbox {
        if let Some(verdict) = unmarked_verdict(&mut event.decisions, write) {
            verdict["executed"] = json!(QUEUED);
        }
    }
    event
}
