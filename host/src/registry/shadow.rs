//! Shadows: a candidate version compared with a plugin's active one on
//! every event the plugin decides after the shadow starts, its decisions
//! recorded with the host's verdicts and never executed.
//!
//! The comparison runs off the live path: the shadow worker
//! ([`Registry::shadow_pass`], on the low-priority tool threads) re-runs
//! the candidate on each decided event with the inputs the active version
//! was given (the event as it saw it, its config, the answers to its
//! lookups), as a replay does, so a live decision never waits for a
//! shadow. Each pass compares at most [`SHADOW_BATCH`] events a shadow
//! (one short write each), and the threads run in the idle class: a
//! shadow gets the CPU live events leave, and catches up when they ease.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::replay::Rerun;
use super::{Error, Registry};
use crate::actions::{Proposal, judge};
use crate::metrics::Metrics;
use crate::model::{Actor, Change, ChangeKind, EventId, RecordId, TenantId};
use crate::store::{Shadow, ShadowOutcome, ShadowRun};
use crate::wire::plugins::{Decided, ShadowDifference, ShadowReport};

/// Events one shadow compares in one pass of the worker.
pub const SHADOW_BATCH: usize = 100;
/// The differences a report shows.
pub const DIFFERENCES_SHOWN: usize = 20;
/// How long the worker rests after a pass that found nothing to compare.
pub const SHADOW_PASS_EVERY: Duration = Duration::from_millis(250);

impl Registry {
    /// Starts `version` of `tenant`'s plugin `name` shadowing its active
    /// version on the events decided from now on (replacing a shadow the
    /// plugin had); recorded in the audit trail as `actor`'s.
    pub fn start_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        actor: &Actor,
    ) -> Result<ShadowReport, Error> {
        let last = self.store.recorded_runs(tenant, name, None, 1)?;
        let after = last.first().map_or(EventId(0), |run| run.event_id);
        let shadow = self.store.start_shadow(tenant, name, version, after)?;
        tracing::info!(%tenant, plugin = %name, version, "shadow started");
        let change = Change::new(actor, ChangeKind::ShadowStarted)
            .plugin(name)
            .from_to(
                serde_json::Value::Null,
                json!({ "version": version, "afterEvent": shadow.after_event }),
            );
        self.store.record_change(tenant, &change)?;
        self.report(&shadow)
    }

    /// Stops the plugin's shadow of `version`; its last report. Not found
    /// when the plugin has no shadow of that version.
    pub fn stop_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        actor: &Actor,
    ) -> Result<ShadowReport, Error> {
        let report = self.shadow_report(tenant, name)?;
        if report.version != version {
            return Err(Error::NotFound {
                what: format!("a shadow of {name} v{version}"),
            });
        }
        self.store.stop_shadow(tenant, name)?;
        tracing::info!(%tenant, plugin = %name, version, "shadow stopped");
        let change = Change::new(actor, ChangeKind::ShadowStopped)
            .plugin(name)
            .from_to(
                json!({
                    "version": version, "same": report.same,
                    "different": report.different, "failed": report.failed,
                }),
                serde_json::Value::Null,
            );
        self.store.record_change(tenant, &change)?;
        Ok(report)
    }

    /// The plugin's running shadow and its comparison so far.
    pub fn shadow_report(&self, tenant: TenantId, name: &str) -> Result<ShadowReport, Error> {
        let shadow = self
            .store
            .shadow(tenant, name)?
            .ok_or_else(|| Error::NotFound {
                what: format!("a shadow of {name}"),
            })?;
        self.report(&shadow)
    }

    fn report(&self, shadow: &Shadow) -> Result<ShadowReport, Error> {
        let (tenant, name) = (shadow.tenant_id, shadow.plugin.as_str());
        let counts = self.store.shadow_counts(tenant, name, shadow.version)?;
        let differences = self
            .store
            .shadow_differences(tenant, name, shadow.version, DIFFERENCES_SHOWN)?
            .into_iter()
            .map(|run| {
                Ok(ShadowDifference {
                    event_id: run.event_id,
                    outcome: run.outcome,
                    records: serde_json::from_value(run.candidate["records"].clone())
                        .unwrap_or_default(),
                    active: serde_json::from_value(run.active)?,
                    candidate: serde_json::from_value(run.candidate["decided"].clone())?,
                    verdicts: serde_json::from_value(run.candidate["verdicts"].clone())
                        .unwrap_or_default(),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(ShadowReport {
            plugin: name.to_string(),
            version: shadow.version,
            started_at: shadow.started_at,
            after_event: shadow.after_event,
            compared_to: shadow.cursor,
            same: counts.same,
            different: counts.different,
            failed: counts.failed,
            differences,
        })
    }

    /// The shadow worker, for as long as the host serves: passes on the
    /// idle-class tool threads, one after another while they find events
    /// to compare (they take only the CPU live events leave), resting
    /// [`SHADOW_PASS_EVERY`] once caught up.
    pub async fn shadow_worker(self: Arc<Self>, metrics: Arc<Metrics>) {
        loop {
            let (registry, metrics) = (Arc::clone(&self), Arc::clone(&metrics));
            let pass = move || registry.shadow_pass(&metrics);
            let Ok(compared) = self.tools.run(pass).await else {
                return; // the tool pool stopped: the host is stopping
            };
            if compared == 0 {
                tokio::time::sleep(SHADOW_PASS_EVERY).await;
            }
        }
    }

    /// One pass of the shadow worker: each running shadow compares up to
    /// [`SHADOW_BATCH`] events decided since its cursor. A shadow that
    /// cannot run now (a store error, its component gone) is logged and
    /// tried on the next pass; the others go on. Answers how many events
    /// were compared.
    pub fn shadow_pass(&self, metrics: &Metrics) -> usize {
        let shadows = match self.store.shadows() {
            Ok(shadows) => shadows,
            Err(error) => {
                tracing::warn!(%error, "listing the shadows failed");
                return 0;
            }
        };
        let mut compared = 0;
        for shadow in shadows {
            match self.shadow_batch(&shadow, metrics) {
                Ok(n) => compared += n,
                // Its version is gone (deleted as newer ones arrived): the
                // shadow cannot go on, so it stops, and says why.
                Err(Error::NotFound { what }) => {
                    if let Err(error) = self.abandon(&shadow, &what) {
                        tracing::warn!(plugin = %shadow.plugin, %error, "stopping a shadow failed");
                    }
                }
                Err(error) => tracing::warn!(
                    tenant = %shadow.tenant_id, plugin = %shadow.plugin,
                    version = shadow.version, %error, "a shadow pass failed"
                ),
            }
        }
        compared
    }

    /// Stops `shadow`, which cannot run because `missing` is not found,
    /// with the reason in the audit trail.
    fn abandon(&self, shadow: &Shadow, missing: &str) -> Result<(), Error> {
        let (tenant, name) = (shadow.tenant_id, shadow.plugin.as_str());
        self.store.stop_shadow(tenant, name)?;
        tracing::info!(%tenant, plugin = %name, version = shadow.version, %missing, "shadow stopped: not found");
        let actor = Actor::Host {
            what: "shadow worker".into(),
        };
        let mut change = Change::new(&actor, ChangeKind::ShadowStopped)
            .plugin(name)
            .from_to(
                json!({ "version": shadow.version }),
                serde_json::Value::Null,
            );
        change.reason = Some(format!("{missing} not found"));
        self.store.record_change(tenant, &change)?;
        Ok(())
    }

    fn shadow_batch(&self, shadow: &Shadow, metrics: &Metrics) -> Result<usize, Error> {
        let (tenant, name) = (shadow.tenant_id, shadow.plugin.as_str());
        let runs = self
            .store
            .recorded_runs(tenant, name, Some(shadow.cursor), SHADOW_BATCH)?;
        let Some(last) = runs.last().map(|run| run.event_id) else {
            return Ok(0);
        };
        let limits = self.limits(tenant)?;
        let target = self.version(tenant, name, Some(shadow.version))?;
        let plugin = self.plugin(tenant, &target)?;
        let mut compared = Vec::new();
        for past in runs {
            let again = past.clone();
            let Some(mut rerun) = self.rerun(&plugin, shadow.version, limits, past)? else {
                continue;
            };
            // A failure is confirmed by a second run: a deterministic one
            // (a trap, fuel, memory) repeats, while a deadline the host's
            // own load made the candidate miss does not count against it.
            if rerun.candidate_failed()
                && let Some(second) = self.rerun(&plugin, shadow.version, limits, again)?
            {
                rerun = second;
            }
            compared.push(self.compare(tenant, name, rerun)?);
        }
        self.store
            .advance_shadow(tenant, name, shadow.version, last, &compared)?;
        for outcome in ShadowOutcome::ALL {
            let count = compared.iter().filter(|run| run.outcome == outcome).count() as u64;
            if count > 0 {
                metrics.shadow_compared(tenant, name, outcome.as_str(), count);
            }
        }
        Ok(compared.len())
    }

    /// One comparison, with the host's verdicts on the candidate's actions
    /// as it would have judged them at the event's time.
    fn compare(&self, tenant: TenantId, name: &str, rerun: Rerun) -> Result<ShadowRun, Error> {
        let outcome = if rerun.same() {
            ShadowOutcome::Same
        } else if rerun.candidate_failed() {
            ShadowOutcome::Failed
        } else {
            ShadowOutcome::Different
        };
        let verdicts = match (outcome, rerun.actions.is_empty()) {
            (ShadowOutcome::Same, _) | (_, true) => Vec::new(),
            _ => {
                let project = self.store.project(tenant, rerun.event.project_id())?;
                let proposals: Vec<Proposal> = rerun
                    .actions
                    .iter()
                    .map(|action| Proposal {
                        plugin: name.to_string(),
                        priority: 0,
                        action: action.clone(),
                    })
                    .collect();
                judge(
                    self.store.as_ref(),
                    tenant,
                    &project,
                    &rerun.event,
                    &proposals,
                    None,
                    false,
                )?
            }
        };
        let records: BTreeSet<RecordId> = [&rerun.recorded, &rerun.candidate]
            .iter()
            .flat_map(|decided| record_ids(decided))
            .collect();
        Ok(ShadowRun {
            event_id: rerun.event_id,
            outcome,
            active: serde_json::to_value(&rerun.recorded)?,
            candidate: json!({
                "decided": rerun.candidate,
                "verdicts": verdicts,
                "records": records,
            }),
        })
    }
}

/// The records a decision's actions name.
fn record_ids(decided: &Decided) -> Vec<RecordId> {
    decided
        .actions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|action| action["recordId"].as_u64().map(RecordId))
        .collect()
}
