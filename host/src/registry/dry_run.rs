//! Dry runs: [`Registry::dry_run`] runs a version of a plugin on an event a
//! caller gives and returns its actions with the host's verdicts, exactly
//! as the live pipeline would judge them; it executes and records nothing.
//!
//! Lookups read only the records the plugin asks for, within the event's
//! project; an event naming no project of the tenant's finds nothing and
//! gets no verdicts. A tool run: capped per tenant and in all, on the
//! low-priority tool threads.

use std::sync::Arc;

use super::{Error, Registry, StoreLookup, run};
use crate::actions::{Proposal, judge};
use crate::model::{DecisionOutcome, EVENT_TIME_RANGE, TenantId};
use crate::runtime::{Call, RecordLookup, StaticRecords};
use crate::wire::ErrorDetail;
use crate::wire::plugins::{DryRun, DryRunBody};

impl Registry {
    /// Runs `request.version` (the active one when absent) of `tenant`'s
    /// plugin `name` on `request.event`. A plugin's own failure is in the
    /// answer (`outcome`, `error`); a fault of the host's is an error.
    /// Refused before anything runs when the event's time is outside
    /// [`EVENT_TIME_RANGE`] or the tenant (or the server) has its tool
    /// runs in flight.
    pub async fn dry_run(
        self: &Arc<Self>,
        tenant: TenantId,
        name: String,
        request: DryRunBody,
    ) -> Result<DryRun, Error> {
        let timestamp = request.event.timestamp();
        if !EVENT_TIME_RANGE.contains(&timestamp) {
            return Err(Error::Invalid(format!(
                "event.timestamp {timestamp} is outside years 1 to 9999 ({} to {} Unix seconds)",
                EVENT_TIME_RANGE.start(),
                EVENT_TIME_RANGE.end()
            )));
        }
        let _slot = self.tool_runs.slot(tenant)?;
        let registry = Arc::clone(self);
        self.tools
            .run(move || registry.dry_run_now(tenant, &name, request))
            .await?
    }

    fn dry_run_now(
        &self,
        tenant: TenantId,
        name: &str,
        request: DryRunBody,
    ) -> Result<DryRun, Error> {
        let target = self.version(tenant, name, request.version)?;
        let plugin = self.plugin(tenant, &target)?;
        let project = self.store.project(tenant, request.event.project_id()).ok();
        let lookup: Arc<dyn RecordLookup> = match &project {
            Some(project) => Arc::new(StoreLookup::new(&self.store, tenant, project)),
            None => Arc::new(StaticRecords::default()),
        };
        let call = Call {
            event: &request.event,
            config: Arc::new(request.config.clone()),
            lookup,
            limits: self.limits(tenant)?,
        };
        let Some(outcome) = run(&self.runtime, &plugin, call, None)? else {
            return Err(Error::Invalid(format!(
                "{name} v{} is built for world {}, which has no such event; a plugin must be built for {} or later to be asked",
                target.version,
                plugin.world(),
                request.event.since()
            )));
        };
        let actions = outcome.result.clone().unwrap_or_default();
        let verdicts = match &project {
            Some(project) => {
                let proposals: Vec<Proposal> = actions
                    .iter()
                    .map(|action| Proposal {
                        plugin: name.to_string(),
                        priority: 0,
                        action: action.clone(),
                    })
                    .collect();
                Some(judge(
                    self.store.as_ref(),
                    tenant,
                    project,
                    &request.event,
                    &proposals,
                    None,
                    false,
                )?)
            }
            None => None,
        };
        Ok(DryRun {
            plugin: target.name,
            version: target.version,
            outcome: if outcome.result.is_ok() {
                DecisionOutcome::Ok
            } else {
                DecisionOutcome::Failed
            },
            error: outcome.result.as_ref().err().map(|e| ErrorDetail {
                code: e.code().to_string(),
                message: e.to_string(),
            }),
            actions,
            verdicts,
            logs: outcome.logs,
            fuel_used: outcome.fuel_used,
            duration_us: outcome.elapsed.as_micros() as u64,
        })
    }
}
