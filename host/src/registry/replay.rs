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
use crate::model::{Action, DecisionOutcome, EventId, SmsEvent, TenantId};
use crate::runtime::{Call, Limits, Lookup, Plugin};
use crate::store::RecordedRun;
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
            .recorded_runs(tenant, name, None, limit.min(MAX_REPLAY_EVENTS))?
        {
            let Some(rerun) = self.rerun(&plugin, version, limits, past)? else {
                continue;
            };
            report.replayed += 1;
            if rerun.same() {
                report.same += 1;
                continue;
            }
            report.different += 1;
            if rerun.candidate_failed() {
                report.failed += 1;
            }
            report.differences.push(Difference {
                event_id: rerun.event_id,
                recorded: rerun.recorded,
                candidate: rerun.candidate,
            });
        }
        Ok(report)
    }

    /// Runs `plugin` (`version` of the plugin that made `past`) with the
    /// inputs recorded for `past`; `None` when its world has no such event
    /// (it would not have been asked live either). What replays and
    /// shadows share.
    pub(super) fn rerun(
        &self,
        plugin: &Plugin,
        version: u32,
        limits: Limits,
        past: RecordedRun,
    ) -> Result<Option<Rerun>, Error> {
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
        let Some(outcome) = run(&self.runtime, plugin, call, None)? else {
            return Ok(None);
        };
        let actions = outcome.result.as_deref().unwrap_or_default().to_vec();
        let candidate = Decided {
            version: Some(version),
            outcome: if outcome.result.is_ok() {
                DecisionOutcome::Ok
            } else {
                DecisionOutcome::Failed
            },
            error_code: outcome.result.as_ref().err().map(|e| e.code().to_string()),
            actions: serde_json::to_value(&actions)?,
        };
        let recorded = Decided {
            version: past.decision.version,
            outcome: past.decision.outcome,
            error_code: past.decision.error_code,
            actions: past.decision.actions,
        };
        Ok(Some(Rerun {
            event_id: past.event_id,
            event,
            recorded,
            candidate,
            actions,
        }))
    }
}

/// A recorded decision and what a candidate decides on the same inputs.
pub(super) struct Rerun {
    pub event_id: EventId,
    /// The event as the plugin saw it.
    pub event: SmsEvent,
    pub recorded: Decided,
    pub candidate: Decided,
    /// The candidate's actions, as proposed.
    pub actions: Vec<Action>,
}

impl Rerun {
    /// The same outcome, error and actions.
    pub fn same(&self) -> bool {
        self.candidate.outcome == self.recorded.outcome
            && self.candidate.error_code == self.recorded.error_code
            && self.candidate.actions == self.recorded.actions
    }

    /// The candidate failed where the recorded decision did not.
    pub fn candidate_failed(&self) -> bool {
        self.candidate.outcome == DecisionOutcome::Failed
            && self.recorded.outcome != DecisionOutcome::Failed
    }
}
