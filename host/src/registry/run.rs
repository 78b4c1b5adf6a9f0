//! Running a plugin on an event: [`run`], the one call every caller makes
//! (the live pipeline through [`Registry::run_live`], dry runs, replays,
//! and the local `smstrigger plugin run`), and the live path's loading and
//! metrics around it.
//!
//! The rules it holds for all of them: a plugin that fails for its own
//! reasons (a trap, a limit, its error) yields an outcome that says so; one
//! that could not run for the host's (no instance free, a lookup that
//! failed: [`runtime::Error::is_host_fault`]) yields no outcome at all, so
//! nobody records or shows it as the plugin's answer; and a plugin built
//! for a world older than the event's kind (a 0.1.0 component and a call
//! disposition) is not asked: `Ok(None)`.

use super::{Registry, VersionRef};
use crate::metrics::Metrics;
use crate::model::TenantId;
use crate::runtime::{self, Call, Outcome, Plugin, Runtime};

/// Who a run is counted for in the metrics (live runs only: dry runs and
/// replays are tools, not traffic).
pub struct Meter<'a> {
    pub metrics: &'a Metrics,
    pub tenant: TenantId,
    pub plugin: &'a str,
    pub version: u32,
}

/// Runs one event through `plugin` in a fresh instance under
/// `call.limits`, counting it into `meter` when given.
///
/// `Ok(Some)` is the plugin's answer, a failure of its own included;
/// `Ok(None)` says the plugin's world has no such event, so it was not
/// asked; `Err` is a fault of the host's, which says nothing about the
/// plugin: the caller retries (the pipeline) or answers 503 (the API).
pub fn run(
    runtime: &Runtime,
    plugin: &Plugin,
    call: Call<'_>,
    meter: Option<Meter<'_>>,
) -> Result<Option<Outcome>, runtime::Error> {
    if plugin.world() < call.event.since() {
        return Ok(None);
    }
    let outcome = runtime.invoke(plugin, call);
    if let Some(meter) = meter {
        meter.metrics.plugin_ran(
            meter.tenant,
            meter.plugin,
            meter.version,
            outcome.elapsed,
            outcome.fuel_used,
            outcome.result.as_ref().err().map(|e| e.code()),
        );
    }
    match &outcome.result {
        Err(error) if error.is_host_fault() => Err(error.clone()),
        _ => Ok(Some(outcome)),
    }
}

impl Registry {
    /// Runs a live event through `tenant`'s `target` version, loading it
    /// first, counted into `metrics`.
    ///
    /// A version that does not load for its own reasons (its component no
    /// longer compiles, say) is the plugin's failure: a failed outcome,
    /// counted as not loaded. One that could not load or run for the
    /// host's reasons is `Err`, and the event is retried. `Ok(None)`: not
    /// asked, as [`run`] says.
    pub fn run_live(
        &self,
        tenant: TenantId,
        target: &VersionRef,
        call: Call<'_>,
        metrics: &Metrics,
    ) -> Result<Option<Outcome>, runtime::Error> {
        let plugin = match self.plugin(tenant, target) {
            Ok(plugin) => plugin,
            Err(error) if error.is_host_fault() => return Err(error),
            Err(error) => {
                metrics.plugin_not_loaded(tenant, &target.name, target.version, error.code());
                return Ok(Some(Outcome::failed(error)));
            }
        };
        let meter = Meter {
            metrics,
            tenant,
            plugin: &target.name,
            version: target.version,
        };
        run(&self.runtime, &plugin, call, Some(meter))
    }
}
