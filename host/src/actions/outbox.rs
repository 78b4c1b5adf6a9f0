//! The remote tenants' outbox: their accepted actions, queued by the
//! decision's own commit, carried out over HTTP afterwards, off the shared
//! commit path.
//!
//! A remote contact center can be slow or down; the commit that records
//! every tenant's decisions must not wait for it (one tenant's remote that
//! never answered once held every tenant's decisions for a minute). So
//! [`TenantRouter`](super::TenantRouter) commits a remote tenant's event
//! with its writes queued here instead of executed, and this module's
//! workers deliver them:
//! - **per tenant, in order**: one worker per tenant at a time delivers its
//!   items oldest first, and a later item waits for an earlier one's retry
//!   (a later callback on a record must not be overtaken by an older one);
//!   at most [`MAX_WORKERS`] tenants are served at once, each on its own
//!   thread, so a remote that hangs holds only its own tenant's worker;
//! - **exactly once**: an item is queued in the transaction that decides its
//!   event, and every attempt sends the same `Idempotency-Key`, so a crash
//!   between the remote's answer and the settlement re-sends an attempt the
//!   remote answers with its first result;
//! - **retried, never dropped**: a failed attempt is retried with backoff
//!   ([`OutboxPolicy`]) until the action's time budget runs out; then the
//!   item is `failed`, visible at `GET /v1/events/{id}` with the reason, as
//!   is a remote's considered refusal (a 417: `refused`, not retried);
//! - **a circuit breaker per tenant**: after a run of failures its items
//!   wait a while before anyone calls that remote again;
//! - **never a past callback**: an item whose next call date passed while
//!   it waited is judged on each attempt by the same rule as the embedded
//!   store's writes at commit ([`judge_write`]): refused (not executed,
//!   with `time_in_past_at_execution` or, under `now`, when calling hours
//!   refuse now), or sent with the date moved to now or the next
//!   calling-hours slot, as its project says.
//!
//! Each settlement also marks the decision's verdict: `"executed": "queued"`
//! at commit becomes `true` (with the remote's entry) or `false` (with the
//! error).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::execution_time::{AtExecution, judge_write};
use super::remote::{Delivery, RemoteExecutor, RemoteTarget};
use crate::config::Clock;
use crate::model::TenantId;
use crate::store::{DeliveryState, OutboxItem, RecordWrite, Settlement, Store};

/// Tenants whose outbox is being delivered at once, each on its own thread.
pub const MAX_WORKERS: usize = 16;

/// Items one worker reads per pass.
const BATCH: usize = 64;

/// How often the dispatcher looks for due items unprompted.
const POLL: Duration = Duration::from_millis(200);

/// How the outbox retries.
#[derive(Debug, Clone, Copy)]
pub struct OutboxPolicy {
    /// How long an action may keep failing before it is given up (`failed`).
    pub budget: Duration,
    /// The wait after the first failed attempt; it doubles per attempt.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Failed attempts in a row that open a tenant's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker keeps a tenant's remote uncalled.
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
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The outbox's workers; they stop when it is dropped.
pub struct Outbox {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn Store>,
    remote: RemoteExecutor,
    policy: OutboxPolicy,
    /// Whether a callback's time has passed (tests and the demo pin it);
    /// retries are scheduled on the system clock.
    clock: Clock,
    /// Tenants with a worker delivering now.
    busy: Mutex<HashSet<TenantId>>,
    /// Per tenant: failures in a row, and until when its breaker is open.
    breakers: Mutex<HashMap<TenantId, Breaker>>,
    /// Set (and notified) when a commit queued something.
    wake: (Mutex<bool>, Condvar),
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl Outbox {
    /// Starts the dispatcher, which hands each tenant with due items to a
    /// worker of its own.
    pub fn start(
        store: Arc<dyn Store>,
        remote: RemoteExecutor,
        policy: OutboxPolicy,
        clock: Clock,
    ) -> Self {
        let shared = Arc::new(Shared {
            store,
            remote,
            policy,
            clock,
            busy: Mutex::default(),
            breakers: Mutex::default(),
            wake: (Mutex::new(false), Condvar::new()),
        });
        let weak = Arc::downgrade(&shared);
        thread::Builder::new()
            .name("smstrigger-outbox".into())
            .spawn(move || dispatch(weak))
            .expect("spawning the outbox dispatcher");
        Self { shared }
    }

    /// Something was queued: look now rather than at the next poll.
    pub fn wake(&self) {
        let (flag, condvar) = &self.shared.wake;
        *lock(flag) = true;
        condvar.notify_one();
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.wake(); // the dispatcher sees the outbox gone and ends
    }
}

/// The dispatcher: until the outbox is dropped, hands due tenants to
/// workers.
fn dispatch(shared: Weak<Shared>) {
    loop {
        let Some(outbox) = shared.upgrade() else {
            return;
        };
        let now = chrono::Utc::now().timestamp();
        match outbox.store.outbox_due_tenants(now) {
            Ok(tenants) => {
                for tenant in tenants {
                    if !outbox.may_call(tenant) || !outbox.claim(tenant) {
                        continue;
                    }
                    let worker = Arc::clone(&outbox);
                    let spawned = thread::Builder::new()
                        .name(format!("smstrigger-outbox-{tenant}"))
                        .spawn(move || {
                            worker.deliver(tenant);
                            lock(&worker.busy).remove(&tenant);
                        });
                    if let Err(error) = spawned {
                        tracing::error!(%tenant, %error, "could not start an outbox worker");
                        lock(&outbox.busy).remove(&tenant);
                    }
                }
            }
            Err(error) => tracing::error!(%error, "reading the outbox failed; retrying"),
        }
        let (flag, condvar) = &outbox.wake;
        let guard = lock(flag);
        let (mut woken, _) = condvar
            .wait_timeout_while(guard, POLL, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *woken = false;
    }
}

impl Shared {
    /// Takes `tenant` for a new worker: false when it has one or every
    /// worker is busy.
    fn claim(&self, tenant: TenantId) -> bool {
        let mut busy = lock(&self.busy);
        busy.len() < MAX_WORKERS && busy.insert(tenant)
    }

    /// False while `tenant`'s breaker is open.
    fn may_call(&self, tenant: TenantId) -> bool {
        lock(&self.breakers)
            .get(&tenant)
            .and_then(|b| b.open_until)
            .is_none_or(|until| Instant::now() >= until)
    }

    /// Delivers `tenant`'s due items in order until one must wait.
    fn deliver(&self, tenant: TenantId) {
        loop {
            let items = match self.store.outbox_pending(tenant, BATCH) {
                Ok(items) => items,
                Err(error) => {
                    tracing::error!(%tenant, %error, "reading the outbox failed");
                    return;
                }
            };
            if items.is_empty() {
                return;
            }
            for item in &items {
                if item.next_attempt_at > chrono::Utc::now().timestamp() || !self.may_call(tenant) {
                    return; // later items wait for this one
                }
                match self.attempt(item) {
                    Ok(DeliveryState::Pending) => return, // to be retried
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(%tenant, item = item.id, %error, "settling an outbox item failed");
                        return;
                    }
                }
            }
        }
    }

    /// One attempt at `item`, settled; returns the item's new state.
    fn attempt(&self, item: &OutboxItem) -> crate::store::Result<DeliveryState> {
        let settings = self.store.tenant(item.tenant_id)?;
        // A callback that passed while the item waited is moved or refused,
        // as its project says.
        let judged = judge_write(
            self.store.as_ref(),
            item.tenant_id,
            &item.write,
            self.clock.now(),
        )?;
        let delivery = match (&judged, RemoteTarget::from_settings(&settings.executor)) {
            (Some(refused @ AtExecution::Refused { .. }), _) => {
                Delivery::Refused(refused.as_remote_error())
            }
            (Some(AtExecution::Moved { to, .. }), Some(target)) => {
                let mut moved = item.clone();
                moved.write.next_calldate = Some(*to);
                self.remote.deliver(&target, &moved)
            }
            (None, Some(target)) => self.remote.deliver(&target, item),
            // The tenant went back to the embedded store: nobody to send to.
            (_, None) => Delivery::Refused(json!({
                "errorcode": "remote_not_configured",
                "errormessage": "the tenant's executor is no longer remote",
            })),
        };
        // Retries are scheduled on the system clock; `self.clock` says only
        // what "already past" means for a callback.
        let now = chrono::Utc::now().timestamp();
        let attempts = item.attempts + 1;
        let (state, result, executed, next_attempt_at) = match delivery {
            Delivery::Delivered(entry) => {
                self.breaker(item.tenant_id, true);
                (DeliveryState::Delivered, entry, Some(true), now)
            }
            Delivery::Refused(error) => (DeliveryState::Refused, error, Some(false), now),
            Delivery::Failed(error) => {
                self.breaker(item.tenant_id, false);
                let given_up =
                    now.saturating_sub(item.queued_at) >= self.policy.budget.as_secs() as i64;
                if given_up {
                    (DeliveryState::Failed, error, Some(false), now)
                } else {
                    let wait = self.policy.backoff(attempts).as_secs().max(1) as i64;
                    (DeliveryState::Pending, error, None, now + wait)
                }
            }
        };
        if state != DeliveryState::Pending || attempts == 1 {
            tracing::info!(tenant = %item.tenant_id, event = %item.event_id,
                record = %item.write.record_id, state = state.as_str(), attempts, "outbox item");
        }
        let event = self.store.event(item.tenant_id, item.event_id)?;
        let verdicts = event
            .decisions
            .iter()
            .find(|d| d.plugin == item.write.plugin)
            .map(|d| {
                mark(
                    d.verdicts.clone(),
                    &item.write,
                    executed,
                    &result,
                    judged.as_ref(),
                )
            })
            .unwrap_or(Value::Null);
        self.store.settle(
            item,
            &Settlement {
                state,
                attempts,
                next_attempt_at,
                result,
                verdicts,
            },
        )?;
        Ok(state)
    }

    /// Counts a success or a failure against `tenant`'s breaker.
    fn breaker(&self, tenant: TenantId, succeeded: bool) {
        let mut breakers = lock(&self.breakers);
        let breaker = breakers.entry(tenant).or_default();
        if succeeded {
            *breaker = Breaker::default();
            return;
        }
        breaker.failures += 1;
        if breaker.failures >= self.policy.breaker_failures {
            breaker.open_until = Some(Instant::now() + self.policy.breaker_open);
            breaker.failures = 0;
            tracing::warn!(%tenant, open_for = ?self.policy.breaker_open,
                "the tenant's remote keeps failing; its circuit breaker is open");
        }
    }
}

/// The verdicts of a decision with `write`'s verdict (the first accepted
/// one on its record still queued) marked: `executed` and the remote's
/// entry or error once settled; still queued, the last error. What the
/// time check made of a past write (`judged`) is recorded as the embedded
/// store's commit records it, in place of the remote's error when it
/// refused the write.
pub(crate) fn mark(
    mut verdicts: Value,
    write: &RecordWrite,
    executed: Option<bool>,
    result: &Value,
    judged: Option<&AtExecution>,
) -> Value {
    let verdict = verdicts.as_array_mut().and_then(|list| {
        list.iter_mut().find(|v| {
            v["accepted"] == true
                && v["action"]["recordId"] == json!(write.record_id)
                && v["executed"] == QUEUED
        })
    });
    if let Some(verdict) = verdict {
        if let Some(judged) = judged {
            judged.record(verdict);
            if matches!(judged, AtExecution::Refused { .. }) {
                return verdicts;
            }
        }
        match executed {
            Some(true) => {
                verdict["executed"] = json!(true);
                verdict["remote"] = result.clone();
            }
            Some(false) => {
                verdict["executed"] = json!(false);
                verdict["remoteError"] = result.clone();
            }
            None => verdict["remoteError"] = result.clone(),
        }
    }
    verdicts
}

/// What a queued action's verdict says until it is settled.
pub(crate) const QUEUED: &str = "queued";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outbox's state on a real store, with a breaker that opens after
    /// three failures for `open`.
    fn shared(dir: &std::path::Path, open: Duration) -> Shared {
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::open(dir).unwrap());
        Shared {
            remote: RemoteExecutor::new(Arc::clone(&store)),
            store,
            policy: OutboxPolicy {
                breaker_failures: 3,
                breaker_open: open,
                ..OutboxPolicy::default()
            },
            clock: Clock::default(),
            busy: Mutex::default(),
            breakers: Mutex::default(),
            wake: (Mutex::new(false), Condvar::new()),
        }
    }

    /// A remote that keeps failing is left alone for a while, and only its
    /// own tenant's: another tenant's remote is still called.
    #[test]
    fn a_run_of_failures_opens_the_tenants_breaker_until_it_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = shared(dir.path(), Duration::from_millis(100));
        let (hostile, quiet) = (TenantId(1), TenantId(2));
        outbox.breaker(hostile, false);
        outbox.breaker(hostile, false);
        assert!(outbox.may_call(hostile), "two failures are not a run");
        outbox.breaker(hostile, false);
        assert!(!outbox.may_call(hostile), "the third opens it");
        assert!(outbox.may_call(quiet), "another tenant is not affected");
        std::thread::sleep(Duration::from_millis(150));
        assert!(outbox.may_call(hostile), "it closes again in time");
        outbox.breaker(hostile, false);
        outbox.breaker(hostile, true);
        outbox.breaker(hostile, false);
        outbox.breaker(hostile, false);
        assert!(outbox.may_call(hostile), "a success starts the count over");
    }

    /// At most [`MAX_WORKERS`] tenants are delivered to at once, and one
    /// tenant has one worker at a time.
    #[test]
    fn workers_are_one_per_tenant_and_capped_in_all() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = shared(dir.path(), Duration::from_secs(30));
        assert!(outbox.claim(TenantId(0)));
        assert!(!outbox.claim(TenantId(0)), "one worker per tenant");
        for tenant in 1..MAX_WORKERS as u64 {
            assert!(outbox.claim(TenantId(tenant)));
        }
        assert!(!outbox.claim(TenantId(999)), "the cap is reached");
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let policy = OutboxPolicy::default();
        let waits: Vec<u64> = (1..=11).map(|a| policy.backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(policy.backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn a_settlement_marks_the_first_queued_verdict_on_its_record() {
        let write = RecordWrite {
            record_id: crate::model::RecordId(5),
            disposition_id: 2,
            next_calldate: None,
            plugin: "p".into(),
            plugin_version: Some(1),
            note: None,
        };
        let queued = |record: u64| json!({"accepted": true, "action": {"recordId": record}, "executed": QUEUED});
        let verdicts = json!([queued(4), queued(5), queued(5)]);
        let marked = mark(verdicts, &write, Some(true), &json!({"eventid": 9}), None);
        assert_eq!(marked[0]["executed"], QUEUED, "another record");
        assert_eq!(marked[1]["executed"], true);
        assert_eq!(marked[1]["remote"]["eventid"], 9);
        assert_eq!(marked[2]["executed"], QUEUED, "the next write settles it");
        let retrying = mark(
            marked,
            &write,
            None,
            &json!({"errorcode": "remote_unavailable"}),
            None,
        );
        assert_eq!(
            retrying[2]["executed"], QUEUED,
            "still queued while retried"
        );
        assert_eq!(
            retrying[2]["remoteError"]["errorcode"],
            "remote_unavailable"
        );
    }
}
