//! Token buckets every host shares, on PostgreSQL: one row per tenant in
//! `rate_buckets`, refilled and taken from by one statement on the
//! database's clock.

use super::*;

/// Refills `$1`'s bucket for the time since its last take (at `$2` a
/// second, up to `$2`), takes up to `$3` whole tokens and returns how many.
///
/// One statement, so one round trip and no transaction to hold open:
/// `ON CONFLICT DO UPDATE` locks the tenant's row, so takes from many hosts
/// queue on it and each one sees the one before. The time is the
/// database's `clock_timestamp()`, read before the row's lock is waited
/// for; a take that waited behind a later one refills nothing and leaves
/// `refilled_at` where it was (`GREATEST`), so no stretch of time is
/// counted twice. A new tenant's bucket starts full. `granted` is stored
/// only because `RETURNING` sees the new row, not the refill before the
/// take.
const TAKE: &str = "
    INSERT INTO rate_buckets AS b (tenant_id, tokens, refilled_at, granted)
    VALUES ($1, $2::float8 - LEAST($2::float8, $3::float8), clock_timestamp(),
            LEAST($2::float8, $3::float8))
    ON CONFLICT (tenant_id) DO UPDATE SET
        granted = LEAST($3, floor(LEAST($2, b.tokens + $2 * GREATEST(0,
            EXTRACT(EPOCH FROM EXCLUDED.refilled_at - b.refilled_at)::float8)))),
        tokens = LEAST($2, b.tokens + $2 * GREATEST(0,
            EXTRACT(EPOCH FROM EXCLUDED.refilled_at - b.refilled_at)::float8))
            - LEAST($3, floor(LEAST($2, b.tokens + $2 * GREATEST(0,
            EXTRACT(EPOCH FROM EXCLUDED.refilled_at - b.refilled_at)::float8)))),
        refilled_at = GREATEST(b.refilled_at, EXCLUDED.refilled_at)
    RETURNING granted";

impl RateLimits for PgStore {
    fn shared_by_hosts(&self) -> bool {
        true
    }

    fn take_tokens(&self, tenant: TenantId, rate: u32, want: u32) -> Result<u32> {
        let (rate, want) = (f64::from(rate.max(1)), f64::from(want));
        let granted: f64 = self
            .conn()?
            .query_one(TAKE, &[&big(tenant.0)?, &rate, &want])?
            .try_get(0)?;
        // A whole number in 0..=want by the statement's `floor`.
        Ok(granted as u32)
    }
}
