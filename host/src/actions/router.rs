//! [`TenantRouter`]: the pipeline's executor, sending each tenant's events
//! to the back end its `executor` setting names.
//!
//! First, for every tenant alike, actions whose next call date has passed
//! are dropped (see [`super::execution_time`]), so neither back end
//! executes them.
//! Embedded tenants' events pass through unchanged; remote tenants' events
//! are first carried out over HTTP by [`RemoteExecutor`] (one thread per
//! remote tenant, so one slow remote does not hold up another), which
//! leaves them without record writes. Then the whole batch, both kinds, is
//! committed by [`EmbeddedExecutor`] in one transaction: decisions,
//! embedded record changes, opt-outs and done marks. A crash between the
//! remote calls and that commit leaves the events pending; their re-run
//! sends the same idempotency keys, so the remote sets nothing twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::executor::{EmbeddedExecutor, Executor};
use super::remote::{RemoteExecutor, RemoteTarget};
use crate::config::Clock;
use crate::model::TenantId;
use crate::store::{self, ProcessedEvent, Store};

/// Routes a batch by tenant to the embedded store or a remote `/v2` API.
pub struct TenantRouter {
    store: Arc<dyn Store>,
    embedded: EmbeddedExecutor,
    remote: RemoteExecutor,
}

impl TenantRouter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_remote(Arc::clone(&store), RemoteExecutor::new(store))
    }

    /// A router whose remote tenants go through `remote` (e.g. with another
    /// retry policy).
    pub fn with_remote(store: Arc<dyn Store>, remote: RemoteExecutor) -> Self {
        Self {
            embedded: EmbeddedExecutor::new(Arc::clone(&store)),
            store,
            remote,
        }
    }

    /// This router, judging "already past" by `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.embedded = EmbeddedExecutor::with_clock(Arc::clone(&self.store), clock);
        self
    }
}

impl Executor for TenantRouter {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error> {
        let checked = self.embedded.checked(processed);
        let processed: &[ProcessedEvent] = &checked;
        // The settings are read once per batch: a tenant switching back ends
        // takes effect from its next batch.
        let mut targets: BTreeMap<TenantId, RemoteTarget> = BTreeMap::new();
        let mut seen = Vec::new();
        for event in processed {
            if seen.contains(&event.tenant_id) {
                continue;
            }
            seen.push(event.tenant_id);
            let settings = self.store.tenant(event.tenant_id)?;
            if let Some(target) = RemoteTarget::from_settings(&settings.executor) {
                targets.insert(event.tenant_id, target);
            }
        }
        if targets.is_empty() {
            return self.embedded.commit_checked(processed);
        }
        let mut batch = processed.to_vec();
        std::thread::scope(|scope| {
            let workers: Vec<_> = targets
                .iter()
                .map(|(tenant, target)| {
                    let remote = &self.remote;
                    scope.spawn(move || {
                        processed
                            .iter()
                            .enumerate()
                            .filter(|(_, event)| event.tenant_id == *tenant)
                            .map(|(index, event)| (index, remote.carry_out(target, event)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for worker in workers {
                for (index, event) in worker.join().expect("a remote executor thread panicked") {
                    batch[index] = event;
                }
            }
        });
        self.embedded.commit_checked(&batch)
    }
}
