//! Per-tenant delivery workers, shared by every queue the host carries
//! out after a commit (the remote tenants' [`Outbox`](super::outbox) and
//! the [SMS outbox](super::sms)):
//! - a dispatcher thread asks its [`Channel`] which tenants have due
//!   items (when a commit wakes it, else every [`POLL`]) and hands each to
//!   a worker thread of its own, at most one per tenant and
//!   [`MAX_WORKERS`] in all, so a far end that hangs holds only its own
//!   tenant's worker;
//! - a circuit breaker per tenant ([`Breakers`]): after a run of failures
//!   its items wait a while before anyone calls that far end again;
//! - retries back off by [`OutboxPolicy`] until the item's budget runs out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::model::{TenantId, Timestamp};
use crate::store;

/// Tenants a pool delivers to at once, each on its own thread.
pub const MAX_WORKERS: usize = 16;

/// How often the dispatcher looks for due items unprompted.
const POLL: Duration = Duration::from_millis(200);

/// How a queue retries.
#[derive(Debug, Clone, Copy)]
pub struct OutboxPolicy {
    /// How long an item may keep failing before it is given up (`failed`).
    pub budget: Duration,
    /// The wait after the first failed attempt; it doubles per attempt.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Failed attempts in a row that open a tenant's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker keeps a tenant's far end uncalled.
    pub breaker_open: Duration,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(24 * 3600),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            breaker_failures: 3,
            breaker_open: Duration::from_secs(30),
        }
    }
}

impl OutboxPolicy {
    /// The wait before attempt `attempts + 1`, after `attempts` failures.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Whether an item queued at `queued_at` has used up its budget at `now`.
    pub fn given_up(&self, queued_at: Timestamp, now: Timestamp) -> bool {
        now.saturating_sub(queued_at) >= self.budget.as_secs() as i64
    }
}

/// One kind of queued item and how it is carried out.
pub trait Channel: Send + Sync + 'static {
    /// What its threads and logs are called.
    const NAME: &'static str;
    /// Tenants with an item due at `now`.
    fn due_tenants(&self, now: Timestamp) -> store::Result<Vec<TenantId>>;
    /// Carries out `tenant`'s due items until one must wait, telling
    /// `breakers` how each call to the far end went.
    fn deliver(&self, tenant: TenantId, breakers: &Breakers);
}

/// Per tenant: failures in a row, and until when its breaker is open.
pub struct Breakers {
    policy: OutboxPolicy,
    tenants: Mutex<HashMap<TenantId, Breaker>>,
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breakers {
    pub fn new(policy: OutboxPolicy) -> Self {
        Self {
            policy,
            tenants: Mutex::default(),
        }
    }

    /// False while `tenant`'s breaker is open.
    pub fn may_call(&self, tenant: TenantId) -> bool {
        lock(&self.tenants)
            .get(&tenant)
            .and_then(|b| b.open_until)
            .is_none_or(|until| Instant::now() >= until)
    }

    /// Counts a success or a failure against `tenant`'s breaker.
    pub fn record(&self, tenant: TenantId, succeeded: bool) {
        let mut tenants = lock(&self.tenants);
        let breaker = tenants.entry(tenant).or_default();
        if succeeded {
            *breaker = Breaker::default();
            return;
        }
        breaker.failures += 1;
        if breaker.failures >= self.policy.breaker_failures {
            breaker.open_until = Some(Instant::now() + self.policy.breaker_open);
            breaker.failures = 0;
            tracing::warn!(%tenant, open_for = ?self.policy.breaker_open,
                "the tenant's far end keeps failing; its circuit breaker is open");
        }
    }
}

/// A channel's workers; they stop when this is dropped.
pub struct Workers<C: Channel> {
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    channel: C,
    breakers: Breakers,
    /// Tenants with a worker delivering now.
    busy: Mutex<HashSet<TenantId>>,
    /// Set (and notified) when a commit queued something.
    wake: (Mutex<bool>, Condvar),
}

impl<C: Channel> Workers<C> {
    /// Starts the dispatcher, which hands each tenant with due items to a
    /// worker of its own.
    pub fn start(channel: C, policy: OutboxPolicy) -> Self {
        let shared = Arc::new(Shared {
            channel,
            breakers: Breakers::new(policy),
            busy: Mutex::default(),
            wake: (Mutex::new(false), Condvar::new()),
        });
        let weak = Arc::downgrade(&shared);
        thread::Builder::new()
            .name(format!("smstrigger-{}", C::NAME))
            .spawn(move || dispatch(weak))
            .expect("spawning a dispatcher");
        Self { shared }
    }

    /// Something was queued: look now rather than at the next poll.
    pub fn wake(&self) {
        let (flag, condvar) = &self.shared.wake;
        *lock(flag) = true;
        condvar.notify_one();
    }
}

impl<C: Channel> Drop for Workers<C> {
    fn drop(&mut self) {
        self.wake(); // the dispatcher sees the workers gone and ends
    }
}

/// The dispatcher: until the workers are dropped, hands due tenants to
/// worker threads.
fn dispatch<C: Channel>(shared: Weak<Shared<C>>) {
    loop {
        let Some(workers) = shared.upgrade() else {
            return;
        };
        let now = chrono::Utc::now().timestamp();
        match workers.channel.due_tenants(now) {
            Ok(tenants) => {
                for tenant in tenants {
                    if !workers.breakers.may_call(tenant) || !workers.claim(tenant) {
                        continue;
                    }
                    let worker = Arc::clone(&workers);
                    let spawned = thread::Builder::new()
                        .name(format!("smstrigger-{}-{tenant}", C::NAME))
                        .spawn(move || {
                            worker.channel.deliver(tenant, &worker.breakers);
                            lock(&worker.busy).remove(&tenant);
                        });
                    if let Err(error) = spawned {
                        tracing::error!(%tenant, %error, queue = C::NAME, "could not start a worker");
                        lock(&workers.busy).remove(&tenant);
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, queue = C::NAME, "reading the queue failed; retrying")
            }
        }
        let (flag, condvar) = &workers.wake;
        let guard = lock(flag);
        let (mut woken, _) = condvar
            .wait_timeout_while(guard, POLL, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *woken = false;
    }
}

impl<C> Shared<C> {
    /// Takes `tenant` for a new worker: false when it has one or every
    /// worker is busy.
    fn claim(&self, tenant: TenantId) -> bool {
        let mut busy = lock(&self.busy);
        busy.len() < MAX_WORKERS && busy.insert(tenant)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A far end that keeps failing is left alone for a while, and only its
    /// own tenant's: another tenant's is still called.
    #[test]
    fn a_run_of_failures_opens_the_tenants_breaker_until_it_times_out() {
        let breakers = Breakers::new(OutboxPolicy {
            breaker_failures: 3,
            breaker_open: Duration::from_millis(100),
            ..OutboxPolicy::default()
        });
        let (hostile, quiet) = (TenantId(1), TenantId(2));
        breakers.record(hostile, false);
        breakers.record(hostile, false);
        assert!(breakers.may_call(hostile), "two failures are not a run");
        breakers.record(hostile, false);
        assert!(!breakers.may_call(hostile), "the third opens it");
        assert!(breakers.may_call(quiet), "another tenant is not affected");
        std::thread::sleep(Duration::from_millis(150));
        assert!(breakers.may_call(hostile), "it closes again in time");
        breakers.record(hostile, false);
        breakers.record(hostile, true);
        breakers.record(hostile, false);
        breakers.record(hostile, false);
        assert!(
            breakers.may_call(hostile),
            "a success starts the count over"
        );
    }

    /// At most [`MAX_WORKERS`] tenants are delivered to at once, and one
    /// tenant has one worker at a time.
    #[test]
    fn workers_are_one_per_tenant_and_capped_in_all() {
        let shared = Shared {
            channel: (),
            breakers: Breakers::new(OutboxPolicy::default()),
            busy: Mutex::default(),
            wake: (Mutex::new(false), Condvar::new()),
        };
        assert!(shared.claim(TenantId(0)));
        assert!(!shared.claim(TenantId(0)), "one worker per tenant");
        for tenant in 1..MAX_WORKERS as u64 {
            assert!(shared.claim(TenantId(tenant)));
        }
        assert!(!shared.claim(TenantId(999)), "the cap is reached");
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let policy = OutboxPolicy::default();
        let waits: Vec<u64> = (1..=11).map(|a| policy.backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(policy.backoff(u32::MAX).as_secs(), 300);
    }
}
