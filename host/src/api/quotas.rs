//! Per-tenant rate limits: a token bucket of webhook events per second,
//! and one of settings changes per minute (counted on each host: a
//! change's cost, every host forgetting its settings memo, is what it
//! bounds). (Data quotas are the directory's; upload and tool-run
//! admission the registry's: `registry::uploads`, `registry::tools`.)
//!
//! Events are counted where the quota has to hold:
//! - **One host** (SQLite): a bucket per tenant in this process's memory,
//!   refilled at `events_per_second`, one second of burst. No store call.
//! - **Many hosts on one store** ([`RateLimits::shared_by_hosts`],
//!   PostgreSQL): the bucket is the store's, one for the cluster, on the
//!   database's clock. Each host takes tokens from it in chunks of
//!   1/[`CHUNKS_PER_SECOND`] of the rate into a stash per tenant and admits
//!   from the stash, so a busy tenant costs the database about
//!   [`CHUNKS_PER_SECOND`] statements a second for the whole cluster, not
//!   one per webhook; while it is over its quota, each host asks again at
//!   most once per chunk's worth of time and refuses from memory between.
//!
//! The promise on a shared store: over any stretch of `T` seconds the
//! cluster admits at most `rate × T + rate` (the burst) of a tenant's
//! events, plus what the hosts' stashes held (at most `hosts × chunk`,
//! `chunk = max(1, rate / 20)`); a tenant sending more than its quota gets
//! all but what other hosts' stashes hold unspent. A store that fails
//! refuses events with its own error (503 with `Retry-After` when it is
//! unreachable) and is not asked again for a chunk's worth of time: a
//! failure never admits anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Quotas as QuotaConfig;
use crate::model::TenantId;
use crate::store::RateLimits;

use super::blocking;
use super::error::ApiError;

/// How many chunks a second's quota is taken from a shared store in: the
/// store statements a busy tenant costs per second, and the bound on what
/// a host's stash holds (one chunk).
pub const CHUNKS_PER_SECOND: u32 = 20;

/// A tenant's webhook events per second, counted on this host or for the
/// cluster (see the module doc).
pub struct Quotas {
    config: QuotaConfig,
    events: Events,
    /// Settings changes, on this host.
    changes: Mutex<HashMap<TenantId, Bucket>>,
}

/// Where a tenant's events per second are counted.
enum Events {
    /// This host's memory: the whole quota is this host's.
    Local(Mutex<HashMap<TenantId, Bucket>>),
    /// The store's bucket, which every host on it shares, through this
    /// host's stash per tenant.
    Shared {
        store: Arc<dyn RateLimits + Send + Sync>,
        stashes: Mutex<HashMap<TenantId, Arc<Mutex<Stash>>>>,
    },
}

/// A tenant's bucket on one host.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    /// Takes a token from `tenant`'s bucket in `buckets` (made full on
    /// first use), refilled at `rate` a second up to `burst`; false when
    /// it is empty.
    fn take(
        buckets: &Mutex<HashMap<TenantId, Bucket>>,
        tenant: TenantId,
        rate: f64,
        burst: f64,
    ) -> bool {
        let mut buckets = buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let bucket = buckets.entry(tenant).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// This host's share of a tenant's shared bucket.
///
/// Its lock is held across a fetch from the store, so one fetch per tenant
/// is in flight per host and the tenant's other requests wait for its
/// tokens instead of fetching their own.
#[derive(Debug, Default)]
struct Stash {
    /// Tokens taken from the shared bucket, not yet spent.
    tokens: u32,
    /// Until when, and with what answer, this host refuses the tenant's
    /// events without asking the store: its last fetch found the bucket
    /// empty (429) or the store failing (the store's error).
    refusing: Option<(Instant, ApiError)>,
}

impl Stash {
    /// The answer the stash gives without the store (a token, or the
    /// refusal still in force); `None` when the store must be asked.
    fn spend(&mut self) -> Option<Result<(), ApiError>> {
        if self.tokens > 0 {
            self.tokens -= 1;
            return Some(Ok(()));
        }
        match &self.refusing {
            Some((until, refusal)) if Instant::now() < *until => Some(Err(refusal.clone())),
            _ => None,
        }
    }
}

impl Quotas {
    /// Quotas counted on this host alone: right when it is the only one.
    pub fn new(config: QuotaConfig) -> Self {
        Self {
            config,
            events: Events::Local(Mutex::default()),
            changes: Mutex::default(),
        }
    }

    /// Quotas counted for every host on `store` (one that
    /// [shares rate limits](RateLimits::shared_by_hosts)).
    pub fn shared(config: QuotaConfig, store: Arc<dyn RateLimits + Send + Sync>) -> Self {
        Self {
            config,
            events: Events::Shared {
                store,
                stashes: Mutex::default(),
            },
            changes: Mutex::default(),
        }
    }

    /// Takes one event from `tenant`'s quota, or says when to retry (429
    /// over the quota; a shared store's failure as the store's error).
    ///
    /// On a shared store this may wait for the store: call it off the
    /// async threads; async handlers call [`Self::admit_event`].
    pub fn take_event(&self, tenant: TenantId) -> Result<(), ApiError> {
        match &self.events {
            Events::Local(buckets) => self.take_local(buckets, tenant),
            Events::Shared { store, stashes } => {
                let stash = stash_of(stashes, tenant);
                let mut stash = stash.lock().unwrap_or_else(|p| p.into_inner());
                match stash.spend() {
                    Some(answer) => answer,
                    None => self.fetch(store.as_ref(), &mut stash, tenant),
                }
            }
        }
    }

    /// [`Self::take_event`] for an async handler: answered in place when
    /// memory can (always on one host; on a shared store while the stash
    /// has tokens or the tenant is refused), on the blocking pool when the
    /// store must be asked.
    pub async fn admit_event(self: &Arc<Self>, tenant: TenantId) -> Result<(), ApiError> {
        let in_place = match &self.events {
            Events::Local(buckets) => Some(self.take_local(buckets, tenant)),
            // A stash whose lock is held has a fetch in flight: wait for
            // it off the async threads.
            Events::Shared { stashes, .. } => stash_of(stashes, tenant)
                .try_lock()
                .ok()
                .and_then(|mut stash| stash.spend()),
        };
        if let Some(answer) = in_place {
            return answer;
        }
        let quotas = Arc::clone(self);
        blocking(move || quotas.take_event(tenant)).await
    }

    /// One host: takes a token from the tenant's bucket in memory.
    fn take_local(
        &self,
        buckets: &Mutex<HashMap<TenantId, Bucket>>,
        tenant: TenantId,
    ) -> Result<(), ApiError> {
        let rate = f64::from(self.rate());
        if Bucket::take(buckets, tenant, rate, rate) {
            Ok(())
        } else {
            Err(self.over_quota(tenant))
        }
    }

    /// Admits one settings change of `tenant` on this host, or answers 429
    /// `change_rate` with when to retry.
    pub fn take_change(&self, tenant: TenantId) -> Result<(), ApiError> {
        let per_minute = self.config.settings_changes_per_minute.max(1);
        let rate = f64::from(per_minute) / 60.0;
        let burst = f64::from((per_minute / 4).max(1));
        if Bucket::take(&self.changes, tenant, rate, burst) {
            return Ok(());
        }
        Err(ApiError {
            code: "change_rate",
            ..ApiError::too_many(
                format!(
                    "tenant {tenant} is over its limit of {per_minute} settings changes per minute"
                ),
                (1.0 / rate).ceil() as u64,
            )
        })
    }

    /// Shared store: takes a chunk from the tenant's shared bucket into the
    /// stash and spends one token of it. A fetch that drains the bucket
    /// (less than a chunk, none at all, or the store failing) has this host
    /// refuse, once its stash is spent, for a chunk's worth of time without
    /// asking again: what keeps a tenant over its quota from costing a
    /// statement per webhook.
    fn fetch(
        &self,
        store: &(dyn RateLimits + Send + Sync),
        stash: &mut Stash,
        tenant: TenantId,
    ) -> Result<(), ApiError> {
        let rate = self.rate();
        let chunk = (rate / CHUNKS_PER_SECOND).max(1);
        let granted = store.take_tokens(tenant, rate, chunk);
        let quiet = Instant::now() + Duration::from_secs_f64(f64::from(chunk) / f64::from(rate));
        match granted {
            Ok(got) => {
                stash.tokens = got.saturating_sub(1);
                stash.refusing = (got < chunk).then(|| (quiet, self.over_quota(tenant)));
                if got > 0 {
                    Ok(())
                } else {
                    Err(self.over_quota(tenant))
                }
            }
            Err(error) => {
                let refusal = ApiError::from(error);
                stash.refusing = Some((quiet, refusal.clone()));
                Err(refusal)
            }
        }
    }

    /// Events per second, at least one.
    fn rate(&self) -> u32 {
        self.config.events_per_second.max(1)
    }

    fn over_quota(&self, tenant: TenantId) -> ApiError {
        ApiError::too_many(
            format!(
                "tenant {tenant} is over its quota of {} events per second",
                self.config.events_per_second
            ),
            1,
        )
    }
}

/// The tenant's stash, made empty on first use.
fn stash_of(
    stashes: &Mutex<HashMap<TenantId, Arc<Mutex<Stash>>>>,
    tenant: TenantId,
) -> Arc<Mutex<Stash>> {
    let mut stashes = stashes.lock().unwrap_or_else(|p| p.into_inner());
    Arc::clone(stashes.entry(tenant).or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretsKey;
    use crate::store::{PgStore, Tenants, conformance};

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

    /// Events per second for the shared-store tests: 10 a chunk.
    const RATE: u32 = 200;

    fn shared(store: Arc<dyn RateLimits + Send + Sync>, rate: u32) -> Arc<Quotas> {
        let config = QuotaConfig {
            events_per_second: rate,
            ..QuotaConfig::default()
        };
        Arc::new(Quotas::shared(config, store))
    }

    /// Two hosts on one PostgreSQL, each asked for a tenant's events far
    /// faster than its quota, admit between them what the quota allows
    /// (the rate for the time plus one burst, within 10%), not twice that.
    #[test]
    fn two_hosts_on_one_postgresql_admit_one_quota_between_them() {
        let Some(fixture) = conformance::postgres() else {
            return;
        };
        let tenant = fixture.store.create_tenant("t", "s").unwrap().id;
        let stores: [Arc<dyn RateLimits + Send + Sync>; 2] =
            [fixture.store.clone(), fixture.another()];
        let run = Duration::from_secs(2);
        let start = Instant::now();
        let askers: Vec<_> = stores
            .into_iter()
            .map(|store| {
                let quotas = shared(store, RATE);
                std::thread::spawn(move || {
                    let (mut admitted, mut refused) = (0u32, 0u32);
                    while start.elapsed() < run {
                        match quotas.take_event(tenant) {
                            Ok(()) => admitted += 1,
                            Err(error) => {
                                assert_eq!(error.status.as_u16(), 429, "{error:?}");
                                refused += 1;
                            }
                        }
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    (admitted, refused)
                })
            })
            .collect();
        let counts: Vec<(u32, u32)> = askers.into_iter().map(|a| a.join().unwrap()).collect();
        let admitted = f64::from(counts.iter().map(|c| c.0).sum::<u32>());
        let expected = f64::from(RATE) * (start.elapsed().as_secs_f64() + 1.0);
        assert!(
            (admitted - expected).abs() <= expected * 0.1,
            "(admitted, refused) per host {counts:?}: {admitted} in all, the quota allows {expected:.0}"
        );
        assert!(counts.iter().all(|&(a, r)| a > 0 && r > 0), "{counts:?}");
    }

    /// An async handler's admissions on a shared store, refused once the
    /// bucket is empty. At this rate a chunk is one token, so each one is a
    /// fetch, which must leave the async thread: the blocking `postgres`
    /// client panics inside a runtime.
    #[test]
    fn an_async_handler_is_admitted_from_the_shared_bucket() {
        let Some(fixture) = conformance::postgres() else {
            return;
        };
        let tenant = fixture.store.create_tenant("t", "s").unwrap().id;
        let quotas = shared(fixture.store.clone(), 3);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..3 {
                quotas.admit_event(tenant).await.unwrap();
            }
            let error = quotas.admit_event(tenant).await.unwrap_err();
            assert_eq!((error.status.as_u16(), error.retry_after), (429, Some(1)));
        });
    }

    /// A store that cannot serve (here: the buckets' table locked past the
    /// host's lock timeout) refuses the event with 503 and `Retry-After`,
    /// admits nothing, and is not asked again for a chunk's worth of time.
    #[test]
    fn a_store_that_cannot_serve_refuses_events_with_503() {
        let Some(schema) = conformance::Schema::fresh() else {
            return;
        };
        let mut config = schema.config.clone();
        config.options(&format!(
            "-c search_path={} -c lock_timeout=500",
            schema.name
        ));
        let store = Arc::new(PgStore::open_config(config, SecretsKey::generate()).unwrap());
        let tenant = store.create_tenant("t", "s").unwrap().id;
        let quotas = shared(store, 3);
        let mut client = schema.client();
        let mut lock = client.transaction().unwrap();
        lock.batch_execute("LOCK TABLE rate_buckets").unwrap();
        let error = quotas.take_event(tenant).unwrap_err();
        assert_eq!((error.status.as_u16(), error.retry_after), (503, Some(1)));
        let asked = Instant::now();
        assert_eq!(quotas.take_event(tenant).unwrap_err(), error);
        assert!(
            asked.elapsed() < Duration::from_millis(250),
            "answered without waiting for the store"
        );
        lock.commit().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        quotas.take_event(tenant).unwrap();
    }
}
