//! The plugin endpoints' requests and answers: `PUT /v1/plugins/{name}`,
//! `…/activate`, `…/rollback`, `…/dry-run` and
//! `…/versions/{v}/replay`. The API serves them, `smstrigger plugin …`
//! parses them. Field names are camelCase, as everywhere in `/v1`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ErrorDetail;
use crate::actions::Verdict;
use crate::model::{Action, DecisionOutcome, EventId, SmsEvent, WorldVersion};
use crate::runtime::LogLine;

pub use crate::store::{PluginInfo, PluginVersionInfo};

/// The version an upload created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub active: bool,
    /// The version of the world the component was built for.
    pub world: WorldVersion,
}

/// The version to make active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    pub version: u32,
}

/// The version active now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activated {
    pub name: String,
    pub active_version: u32,
}

/// An event to run a plugin version on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunBody {
    /// The event as plugins see it.
    pub event: SmsEvent,
    /// The version to run; the active one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// What a version would do with an event; nothing is executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub plugin: String,
    pub version: u32,
    /// `ok`, or `failed` (a trap, a limit, its own error), which is the
    /// plugin's fault and still a 200 for a dry run.
    pub outcome: DecisionOutcome,
    #[schema(value_type = Option<serde_json::Value>)]
    pub error: Option<ErrorDetail>,
    pub actions: Vec<Action>,
    /// The host's verdicts, when the event's project is one of the tenant's.
    pub verdicts: Option<Vec<Verdict>>,
    pub logs: Vec<LogLine>,
    pub fuel_used: u64,
    pub duration_us: u64,
}

/// `POST …/versions/{v}/replay`'s optional body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// How many of the plugin's most recent decisions to replay (at most 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub event_id: EventId,
    pub recorded: Decided,
    pub candidate: Decided,
}

/// A decision reduced to what replays compare: the outcome and the actions
/// as proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    pub version: Option<u32>,
    pub outcome: DecisionOutcome,
    pub error_code: Option<String>,
    pub actions: serde_json::Value,
}

/// A shadow: a candidate version compared with the active one on every
/// event the plugin decided since the shadow started; nothing it decides
/// is executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowReport {
    pub plugin: String,
    /// The candidate version.
    pub version: u32,
    pub started_at: crate::model::Timestamp,
    /// Events decided after this one are compared.
    pub after_event: EventId,
    /// The last event compared so far.
    pub compared_to: EventId,
    pub same: u64,
    pub different: u64,
    /// The candidate failed (trap, limit, error) where the active version
    /// did not; not counted in `different`.
    pub failed: u64,
    /// The latest comparisons that were not the same, newest first (at
    /// most 20).
    #[schema(value_type = Vec<Object>)]
    pub differences: Vec<ShadowDifference>,
}

/// One event the candidate decided otherwise than the active version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDifference {
    pub event_id: EventId,
    pub outcome: crate::store::ShadowOutcome,
    /// The records either version acted on.
    pub records: Vec<crate::model::RecordId>,
    pub active: Decided,
    pub candidate: Decided,
    /// The host's verdicts on the candidate's actions, as it would have
    /// judged them (nothing was executed).
    pub verdicts: Vec<Verdict>,
}
