//! Replay: a candidate plugin version run over the events a plugin already
//! decided, with the inputs recorded then (the event as it saw it, its
//! config, the answers to its lookups), to show what would change before
//! the candidate is activated. Executes nothing.
//!
//! Plugins are deterministic functions of those inputs, so replaying the
//! version that made a decision reproduces it exactly; any difference is
//! the candidate's doing. A tool run: capped per tenant and in all, on the
//! low-priority tool threads.

use std::sync::Arc;

use super::{Error, Registry, run};
use crate::model::{DecisionOutcome, SmsEvent, TenantId};
use crate::runtime::{Call, Lookup};
use crate::wire::plugins::{Decided, Difference, ReplayReport};

/// The most events one replay may cover.
pub const MAX_REPLAY_EVENTS: usize = 1_000;

impl Registry {
    /// Runs `version` of `tenant`'s plugin `name` over its last `limit`
    /// recorded runs and reports what would differ. Refused before
    /// anything runs when `limit` is not 1 to [`MAX_REPLAY_EVENTS`] or the
    /// tenant (or the server) has its tool runs in flight; a fault of the
    /// host's on any event fails the whole replay (it says nothing of the
    /// candidate).
    pub async fn replay(
        self: &Arc<Self>,
        tenant: TenantId,
        name: String,
        version: u32,
        limit: usize,
    ) -> Result<ReplayReport, Error> {
        if !(1..=MAX_REPLAY_EVENTS).contains(&limit) {
            return Err(Error::Invalid(format!(
                "limit must be 1 to {MAX_REPLAY_EVENTS}"
            )));
        }
        let _slot = self.tool_runs.slot(tenant)?;
        let registry = Arc::clone(self);
        self.tools
            .run(move || registry.replay_now(tenant, &name, version, limit))
            .await?
    }

    fn replay_now(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        limit: usize,
    ) -> Result<ReplayReport, Error> {
        let limits = self.limits(tenant)?;
        let target = self.version(tenant, name, Some(version))?;
        let plugin = self.plugin(tenant, &target)?;
        let mut report = ReplayReport {
            plugin: name.into(),
            version,
            replayed: 0,
            same: 0,
            different: 0,
            failed: 0,
            differences: Vec::new(),
        };
        for past in self
            .store
            .recorded_runs(tenant, name, limit.min(MAX_REPLAY_EVENTS))?
        {
            let event: SmsEvent = serde_json::from_value(past.event)?;
            let config = serde_json::from_value(past.decision.config.clone()).unwrap_or_default();
            let lookups: Vec<Lookup> =
                serde_json::from_value(past.decision.lookups.clone()).unwrap_or_default();
            let call = Call {
                event: &event,
                config: Arc::new(config),
                lookup: Arc::new(lookups),
                limits,
            };
            // A version built for a world without this kind of event (a
            // 0.1.0 one, a call disposition) would not be asked live either.
            let Some(outcome) = run(&self.runtime, &plugin, call, None)? else {
                continue;
            };
            let candidate = Decided {
                version: Some(version),
                outcome: if outcome.result.is_ok() {
                    DecisionOutcome::Ok
                } else {
                    DecisionOutcome::Failed
                },
                error_code: outcome.result.as_ref().err().map(|e| e.code().to_string()),
                actions: serde_json::to_value(outcome.result.as_deref().unwrap_or_default())?,
            };
            let recorded = Decided {
                version: past.decision.version,
                outcome: past.decision.outcome,
                error_code: past.decision.error_code,
                actions: past.decision.actions,
            };
            report.replayed += 1;
            let same = candidate.outcome == recorded.outcome
                && candidate.error_code == recorded.error_code
                && candidate.actions == recorded.actions;
            if same {
                report.same += 1;
                continue;
            }
            report.different += 1;
            if candidate.outcome == DecisionOutcome::Failed
                && recorded.outcome != DecisionOutcome::Failed
            {
                report.failed += 1;
            }
            report.differences.push(Difference {
                event_id: past.event_id,
                recorded,
                candidate,
            });
        }
        Ok(report)
    }
}
