//! Shadows: a candidate version of a plugin run on the events its active
//! version decides, whose decisions are recorded beside the active one's
//! and never executed. What the store keeps of them: which shadow runs
//! (one per plugin), how far it has compared, and each comparison once.

use serde::{Deserialize, Serialize};

use super::Result;
use crate::model::{EventId, TenantId, Timestamp};

/// A running shadow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shadow {
    pub tenant_id: TenantId,
    pub plugin: String,
    /// The candidate version.
    pub version: u32,
    pub started_at: Timestamp,
    /// Runs on events after this one are compared.
    pub after_event: EventId,
    /// The last event compared (or skipped: not asked by the candidate's
    /// world), where the next comparison starts.
    pub cursor: EventId,
}

/// How a candidate's decision compares with the active version's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShadowOutcome {
    /// The same outcome and actions.
    Same,
    /// Another outcome or other actions.
    Different,
    /// The candidate failed (a trap, a limit, its error) where the active
    /// version did not.
    Failed,
}

impl ShadowOutcome {
    pub const ALL: [ShadowOutcome; 3] = [
        ShadowOutcome::Same,
        ShadowOutcome::Different,
        ShadowOutcome::Failed,
    ];

    /// The stored spelling, the same string serde writes.
    pub fn as_str(&self) -> &'static str {
        match self {
            ShadowOutcome::Same => "same",
            ShadowOutcome::Different => "different",
            ShadowOutcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// One event's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRun {
    pub event_id: EventId,
    pub outcome: ShadowOutcome,
    /// What the active version decided (JSON, the registry's shape).
    pub active: serde_json::Value,
    /// What the candidate would have, with the host's verdicts.
    pub candidate: serde_json::Value,
}

/// How many of a shadow's comparisons came out each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowCounts {
    pub same: u64,
    pub different: u64,
    pub failed: u64,
}

impl ShadowCounts {
    /// The counts from `(outcome, count)` rows as a back end groups them;
    /// an outcome it does not know is left out.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, u64)>) -> Self {
        let mut counts = ShadowCounts::default();
        for (outcome, count) in rows {
            match ShadowOutcome::parse(&outcome) {
                Some(ShadowOutcome::Same) => counts.same = count,
                Some(ShadowOutcome::Different) => counts.different = count,
                Some(ShadowOutcome::Failed) => counts.failed = count,
                None => {}
            }
        }
        counts
    }
}

/// Candidate versions shadowing active ones, and their comparisons.
pub trait Shadows {
    /// Starts `version` of the tenant's plugin `name` shadowing, on the
    /// events decided after `after_event` (replacing any shadow of the
    /// plugin, and its comparisons); not found when the plugin has no such
    /// version.
    fn start_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        after_event: EventId,
    ) -> Result<Shadow>;
    /// Stops the plugin's shadow and forgets its comparisons; whether one
    /// ran.
    fn stop_shadow(&self, tenant: TenantId, name: &str) -> Result<bool>;
    /// The tenant's shadow of `name`, if one runs.
    fn shadow(&self, tenant: TenantId, name: &str) -> Result<Option<Shadow>>;
    /// Every tenant's running shadows: the shadow worker's list.
    fn shadows(&self) -> Result<Vec<Shadow>>;
    /// Records `runs` of the shadow (each event once: a repeat is
    /// ignored) and moves its cursor to `cursor`, if it still runs that
    /// version; never back.
    fn advance_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        cursor: EventId,
        runs: &[ShadowRun],
    ) -> Result<()>;
    /// The shadow's comparisons so far, by outcome.
    fn shadow_counts(&self, tenant: TenantId, name: &str, version: u32) -> Result<ShadowCounts>;
    /// Its last `limit` comparisons that were not the same, newest first.
    fn shadow_differences(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        limit: usize,
    ) -> Result<Vec<ShadowRun>>;
}
