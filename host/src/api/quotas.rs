//! Per-tenant rate limits kept in memory: a token bucket of webhook events
//! per second, and caps on concurrent tool runs (dry runs and replays), per
//! tenant and in all.
//!
//! Tool runs share the engine's instance pool with the live pipeline. The
//! global cap, [`MAX_TOOL_RUNS`], keeps most of the pool for live events
//! whatever tenants ask of the API: with it, 260 replays at once no longer
//! take every instance and fail another tenant's next event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Quotas as QuotaConfig;
use crate::model::TenantId;

use super::error::ApiError;

/// Tool runs (dry runs and replays) in flight at once across all tenants:
/// an eighth of the instance pool, so the live pipeline (a few workers per
/// core) always finds instances free.
pub const MAX_TOOL_RUNS: usize = crate::runtime::MAX_CONCURRENT_CALLS as usize / 8;

#[derive(Debug)]
pub struct Quotas {
    config: QuotaConfig,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
    tool_runs: Mutex<ToolRuns>,
}

/// Tool runs in flight, per tenant and in all.
#[derive(Debug, Default)]
struct ToolRuns {
    total: usize,
    per_tenant: HashMap<TenantId, usize>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Quotas {
    pub fn new(config: QuotaConfig) -> Self {
        Self {
            config,
            buckets: Mutex::default(),
            tool_runs: Mutex::default(),
        }
    }

    pub fn config(&self) -> &QuotaConfig {
        &self.config
    }

    /// Takes one event from `tenant`'s bucket, or says when to retry.
    pub fn take_event(&self, tenant: TenantId) -> Result<(), ApiError> {
        let rate = f64::from(self.config.events_per_second.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let bucket = buckets.entry(tenant).or_insert(Bucket {
            tokens: rate,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::too_many(
                format!(
                    "tenant {tenant} is over its quota of {} events per second",
                    self.config.events_per_second
                ),
                1,
            ))
        }
    }

    /// 429 unless `tenant` may add `adding` more of the data `what` counts,
    /// `used` being what it holds now and `quota` its limit.
    pub fn room(what: &str, used: u64, adding: u64, quota: u64) -> Result<(), ApiError> {
        if used.saturating_add(adding) > quota {
            return Err(ApiError::too_many(
                format!("the tenant holds {used} {what}; its quota is {quota}"),
                60,
            ));
        }
        Ok(())
    }

    /// Holds one of `tenant`'s tool-run slots (a dry run or a replay)
    /// until the guard drops: 429 when the tenant has its quota in flight,
    /// or all tenants together have [`MAX_TOOL_RUNS`].
    pub fn tool_run(&self, tenant: TenantId) -> Result<ToolRunSlot<'_>, ApiError> {
        let mut runs = self.tool_runs.lock().unwrap_or_else(|p| p.into_inner());
        let mine = runs.per_tenant.get(&tenant).copied().unwrap_or(0);
        if mine >= self.config.concurrent_dry_runs {
            return Err(ApiError::too_many(
                format!(
                    "tenant {tenant} already has {} dry runs and replays in flight",
                    self.config.concurrent_dry_runs
                ),
                1,
            ));
        }
        if runs.total >= MAX_TOOL_RUNS {
            return Err(ApiError::too_many(
                format!(
                    "the server has its limit of {MAX_TOOL_RUNS} dry runs and replays in flight"
                ),
                1,
            ));
        }
        runs.total += 1;
        *runs.per_tenant.entry(tenant).or_default() += 1;
        Ok(ToolRunSlot {
            quotas: self,
            tenant,
        })
    }
}

/// One tool run in flight; its slot is given back on drop.
#[derive(Debug)]
pub struct ToolRunSlot<'a> {
    quotas: &'a Quotas,
    tenant: TenantId,
}

impl Drop for ToolRunSlot<'_> {
    fn drop(&mut self) {
        let mut runs = self
            .quotas
            .tool_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        runs.total = runs.total.saturating_sub(1);
        if let Some(count) = runs.per_tenant.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                runs.per_tenant.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
        let quotas = Quotas::new(QuotaConfig {
            events_per_second: 3,
            ..QuotaConfig::default()
        });
        for _ in 0..3 {
            quotas.take_event(TenantId(1)).unwrap();
        }
        let err = quotas.take_event(TenantId(1)).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert_eq!(err.retry_after, Some(1));
        quotas.take_event(TenantId(2)).unwrap();
    }

    #[test]
    fn tool_run_slots_are_returned_when_dropped() {
        let quotas = Quotas::new(QuotaConfig {
            concurrent_dry_runs: 1,
            ..QuotaConfig::default()
        });
        let slot = quotas.tool_run(TenantId(1)).unwrap();
        assert!(quotas.tool_run(TenantId(1)).is_err());
        drop(slot);
        assert!(quotas.tool_run(TenantId(1)).is_ok());
    }

    /// Many tenants each within their own quota still cannot take more
    /// than [`MAX_TOOL_RUNS`] of the instance pool together.
    #[test]
    fn tool_runs_of_all_tenants_together_stop_at_the_global_cap() {
        let quotas = Quotas::new(QuotaConfig::default());
        let per_tenant = QuotaConfig::default().concurrent_dry_runs;
        let held: Vec<_> = (0..)
            .map(TenantId)
            .flat_map(|tenant| (0..per_tenant).map(move |_| tenant))
            .map_while(|tenant| quotas.tool_run(tenant).ok())
            .collect();
        assert_eq!(held.len(), MAX_TOOL_RUNS);
        let refused = quotas.tool_run(TenantId(10_000)).unwrap_err();
        assert_eq!(refused.status.as_u16(), 429);
        assert!(
            refused.message.contains("dry runs and replays"),
            "{}",
            refused.message
        );
        drop(held);
        assert!(quotas.tool_run(TenantId(10_000)).is_ok());
    }
}
