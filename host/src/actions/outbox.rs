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
//!   the workers, their cap and the breakers are [`super::workers`]';
//! - **exactly once**: an item is queued in the transaction that decides its
//!   event, and every attempt sends the same `Idempotency-Key`, so a crash
//!   between the remote's answer and the settlement re-sends an attempt the
//!   remote answers with its first result;
//! - **retried, never dropped**: a failed attempt is retried with backoff
//!   ([`OutboxPolicy`]) until the action's time budget runs out; then the
//!   item is `failed`, visible at `GET /v1/events/{id}` with the reason, as
//!   is a remote's considered refusal (a 417: `refused`, not retried);
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

use std::sync::Arc;

use serde_json::{Value, json};

use super::execution_time::{AtExecution, judge_write};
use super::remote::{Delivery, RemoteExecutor, RemoteTarget};
use super::workers::{Breakers, Channel, Workers};
pub use super::workers::{MAX_WORKERS, OutboxPolicy};
use crate::config::Clock;
use crate::model::{TenantId, Timestamp};
use crate::store::{DeliveryState, OutboxItem, RecordWrite, Settlement, Store};

/// Items one worker reads per pass.
const BATCH: usize = 64;

/// The remote tenants' outbox: its workers stop when it is dropped.
pub type Outbox = Workers<RemoteWrites>;

/// Starts the outbox's dispatcher, which hands each tenant with due items
/// to a worker of its own.
pub fn start(
    store: Arc<dyn Store>,
    remote: RemoteExecutor,
    policy: OutboxPolicy,
    clock: Clock,
) -> Outbox {
    Workers::start(
        RemoteWrites {
            store,
            remote,
            policy,
            clock,
        },
        policy,
    )
}

/// Remote tenants' record writes, carried out through their `/v2` API.
pub struct RemoteWrites {
    store: Arc<dyn Store>,
    remote: RemoteExecutor,
    policy: OutboxPolicy,
    /// Whether a callback's time has passed (tests and the demo pin it);
    /// retries are scheduled on the system clock.
    clock: Clock,
}

impl Channel for RemoteWrites {
    const NAME: &'static str = "outbox";

    fn due_tenants(&self, now: Timestamp) -> crate::store::Result<Vec<TenantId>> {
        self.store.outbox_due_tenants(now)
    }

    /// Delivers `tenant`'s due items in order until one must wait.
    fn deliver(&self, tenant: TenantId, breakers: &Breakers) {
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
                if item.next_attempt_at > chrono::Utc::now().timestamp()
                    || !breakers.may_call(tenant)
                {
                    return; // later items wait for this one
                }
                match self.attempt(item, breakers) {
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
}

impl RemoteWrites {
    /// One attempt at `item`, settled; returns the item's new state.
    fn attempt(
        &self,
        item: &OutboxItem,
        breakers: &Breakers,
    ) -> crate::store::Result<DeliveryState> {
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
                breakers.record(item.tenant_id, true);
                (DeliveryState::Delivered, entry, Some(true), now)
            }
            Delivery::Refused(error) => (DeliveryState::Refused, error, Some(false), now),
            Delivery::Failed(error) => {
                breakers.record(item.tenant_id, false);
                if self.policy.given_up(item.queued_at, now) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
