//! Per-tenant rate limits kept in memory: a token bucket of webhook events
//! per second, and a cap on concurrent dry runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Quotas as QuotaConfig;
use crate::model::TenantId;

use super::error::ApiError;

pub struct Quotas {
    config: QuotaConfig,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
    dry_runs: Mutex<HashMap<TenantId, usize>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Quotas {
    pub fn new(config: QuotaConfig) -> Self {
        Self {
            config,
            buckets: Mutex::default(),
            dry_runs: Mutex::default(),
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

    /// Holds one of `tenant`'s dry-run slots until the guard drops.
    pub fn dry_run(&self, tenant: TenantId) -> Result<DryRunSlot<'_>, ApiError> {
        let mut running = self.dry_runs.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.entry(tenant).or_default();
        if *count >= self.config.concurrent_dry_runs {
            return Err(ApiError::too_many(
                format!(
                    "tenant {tenant} already has {} dry runs in flight",
                    self.config.concurrent_dry_runs
                ),
                1,
            ));
        }
        *count += 1;
        Ok(DryRunSlot {
            quotas: self,
            tenant,
        })
    }
}

pub struct DryRunSlot<'a> {
    quotas: &'a Quotas,
    tenant: TenantId,
}

impl Drop for DryRunSlot<'_> {
    fn drop(&mut self) {
        let mut running = self
            .quotas
            .dry_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = running.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
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
    fn dry_run_slots_are_returned_when_dropped() {
        let quotas = Quotas::new(QuotaConfig {
            concurrent_dry_runs: 1,
            ..QuotaConfig::default()
        });
        let slot = quotas.dry_run(TenantId(1)).unwrap();
        assert!(quotas.dry_run(TenantId(1)).is_err());
        drop(slot);
        assert!(quotas.dry_run(TenantId(1)).is_ok());
    }
}
