//! Replay: a candidate plugin version run over the events a plugin already
//! decided, with the inputs recorded then (the event as it saw it, its
//! config, the answers to its lookups), to show what would change before
//! the candidate is activated.
//!
//! Plugins are deterministic functions of those inputs, so replaying the
//! version that made a decision reproduces it exactly; any difference is
//! the candidate's doing.

use std::sync::Arc;

use serde::Serialize;

use super::Pipeline;
use crate::model::{DecisionOutcome, EventId, SmsEvent, TenantId};
use crate::runtime::{self, Call, Lookup};
use crate::store;

/// The most events one replay may cover.
pub const MAX_REPLAY_EVENTS: usize = 1_000;

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub plugin: String,
    pub version: u32,
    pub replayed: usize,
    pub same: usize,
    pub different: usize,
    /// Runs where the candidate failed (trap, limit, error) and the recorded
    /// decision did not; also counted in `different`.
    pub failed: usize,
    #[schema(value_type = Vec<Object>)]
    pub differences: Vec<Difference>,
}

/// One event the candidate decides differently.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub event_id: EventId,
    pub recorded: Decided,
    pub candidate: Decided,
}

/// A decision reduced to what replays compare: the outcome and the actions
/// as proposed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    pub version: Option<u32>,
    pub outcome: DecisionOutcome,
    pub error_code: Option<String>,
    pub actions: serde_json::Value,
}

/// Runs `version` of `tenant`'s plugin `name` over its last `limit`
/// recorded runs.
pub(super) fn replay(
    pipeline: &Pipeline,
    tenant: TenantId,
    name: &str,
    version: u32,
    limit: usize,
) -> Result<ReplayReport, ReplayError> {
    let (store, runtime) = (&pipeline.store, &pipeline.runtime);
    let limits = store.tenant_limits(tenant)?.apply(pipeline.config.limits);
    let info = store
        .plugins(tenant)?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| store::Error::NotFound {
            what: format!("plugin {name}"),
        })?;
    let sha256 = info
        .versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.sha256.clone())
        .ok_or_else(|| store::Error::NotFound {
            what: format!("plugin {name} version {version}"),
        })?;
    let plugin = pipeline
        .plugins
        .get(store.as_ref(), runtime, tenant, name, version, &sha256)?;
    let mut report = ReplayReport {
        plugin: name.into(),
        version,
        replayed: 0,
        same: 0,
        different: 0,
        failed: 0,
        differences: Vec::new(),
    };
    for run in store.recorded_runs(tenant, name, limit.min(MAX_REPLAY_EVENTS))? {
        let event: SmsEvent = serde_json::from_value(run.event)?;
        let config = serde_json::from_value(run.decision.config.clone()).unwrap_or_default();
        let lookups: Vec<Lookup> =
            serde_json::from_value(run.decision.lookups.clone()).unwrap_or_default();
        let outcome = runtime.invoke(
            &plugin,
            Call {
                event: &event,
                config: Arc::new(config),
                lookup: Arc::new(lookups),
                limits,
            },
        );
        if let Err(error) = &outcome.result
            && error.is_host_fault()
        {
            return Err(error.clone().into()); // says nothing of the candidate
        }
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
            version: run.decision.version,
            outcome: run.decision.outcome,
            error_code: run.decision.error_code,
            actions: run.decision.actions,
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
            event_id: run.event_id,
            recorded,
            candidate,
        });
    }
    Ok(report)
}

/// Why a replay could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Plugin(#[from] runtime::Error),
    #[error("a recorded event does not parse: {0}")]
    Json(#[from] serde_json::Error),
}
