//! Per-tenant rate limits kept in memory: a token bucket of webhook events
//! per second, and the room a tenant has for more data. (Upload and
//! tool-run admission are the registry's: `registry::uploads`,
//! `registry::tools`.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Quotas as QuotaConfig;
use crate::model::TenantId;

use super::error::ApiError;

#[derive(Debug)]
pub struct Quotas {
    config: QuotaConfig,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
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
}
