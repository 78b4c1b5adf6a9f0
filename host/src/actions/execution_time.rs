//! The last check before an action executes: a next call date that has
//! passed by then is rejected, or moved to now, as its project says.
//!
//! Validation judges an action at the event's time (so dry runs and
//! replays judge exactly as the live run did), and the acceptance window
//! lets an event be days old; a callback that was in the future of the
//! event can be in the past of the moment it executes. What happens to it
//! is the project's `pastCallbackPolicy` ([`PastCallbackPolicy`]):
//! - `reject` (the default): it is not executed; the record is left as it
//!   was, and its verdict (still `accepted`, as decided) gets
//!   `"executed": false` and an `"executionError"` with the code
//!   [`PAST_AT_EXECUTION`] and the times;
//! - `now`: its next call date is moved to the executor's now and then put
//!   through the project's calling hours in the record's zone by the very
//!   function validation uses (`validate::within_calling_hours`): inside
//!   them it executes at now ([`MOVED_TO_NOW_AT_EXECUTION`]); outside them
//!   under `shift` it executes at the next allowed slot
//!   ([`SHIFTED_AT_EXECUTION`]); under `reject`, or in a zone that is not
//!   known, it is not executed ([`OUTSIDE_CALLING_HOURS_AT_EXECUTION`]). An
//!   executed one's verdict gets an `"executionMove"` with the code, the
//!   date it was moved from, the date it executed with and the executor's
//!   now. The callback horizon is not checked again: it bounds how far
//!   after the event a plugin may schedule, and a moved callback lands no
//!   later than the next calling-hours slot after now.
//!
//! A write without a next call date (a Discard, a custom disposition
//! without one) has nothing to be late for and is never touched.
//!
//! Both back ends go through here: the commit of every tenant's decisions
//! calls [`check_event`] on each event (the embedded store's writes, and a
//! remote tenant's writes as they are queued in its outbox), and the
//! outbox calls [`judge_write`] again on each attempt, since a queued write
//! can pass while it waits. The project's policy and calling hours are read
//! when a write is found past, so they are the ones in force then.

use serde_json::{Value, json};

use super::validate::{
    PastCallbackPolicy, Placement, ProjectRules, record_zone, within_calling_hours,
};
use crate::model::{RecordId, TenantId, Timestamp};
use crate::store::{self, DecisionRecord, ProcessedEvent, RecordWrite, Store};

/// The code of a callback past at execution that was not executed
/// (`reject`, or the project is gone).
pub const PAST_AT_EXECUTION: &str = "time_in_past_at_execution";
/// The code of a callback past at execution that executed at now (`now`).
pub const MOVED_TO_NOW_AT_EXECUTION: &str = "moved_to_now_at_execution";
/// The code of a callback past at execution that executed at the next
/// calling-hours slot after now (`now`, calling-hours policy `shift`).
pub const SHIFTED_AT_EXECUTION: &str = "shifted_to_calling_hours_at_execution";
/// The code of a callback past at execution that was not executed because
/// now is outside calling hours (`now`, calling-hours policy `reject`) or
/// the record's zone is not known.
pub const OUTSIDE_CALLING_HOURS_AT_EXECUTION: &str = "outside_calling_hours_at_execution";

/// What a past write is judged by: its project's rules and the zone of its
/// record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRules {
    pub rules: ProjectRules,
    /// The record's own zone, or its project's.
    pub zone: String,
}

/// What the last check made of a write whose next call date had passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtExecution {
    /// It executes with its next call date moved from `from` to `to`.
    Moved {
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
        code: &'static str,
        message: String,
    },
    /// It is not executed.
    Refused {
        from: Timestamp,
        now: Timestamp,
        code: &'static str,
        message: String,
    },
}

impl AtExecution {
    /// Writes what happened into the verdict the write came from: an
    /// `executionMove`, or `"executed": false` and an `executionError`.
    /// Whether a moved write executed is the executor's to mark.
    pub(crate) fn record(&self, verdict: &mut Value) {
        match self {
            AtExecution::Moved {
                from,
                to,
                now,
                code,
                message,
            } => {
                verdict["executionMove"] = json!({
                    "code": code,
                    "message": message,
                    "movedFrom": from,
                    "nextCalldate": to,
                    "executedAt": now,
                });
            }
            AtExecution::Refused {
                from,
                now,
                code,
                message,
            } => {
                verdict["executed"] = json!(false);
                verdict["executionError"] = json!({
                    "code": code,
                    "message": message,
                    "nextCalldate": from,
                    "executedAt": now,
                });
            }
        }
    }

    /// The `{errorcode, errormessage}` an outbox item refused here keeps
    /// as its result, in the shape of a remote's refusal.
    pub(crate) fn as_remote_error(&self) -> Value {
        let (AtExecution::Moved { code, message, .. } | AtExecution::Refused { code, message, .. }) =
            self;
        json!({ "errorcode": code, "errormessage": message })
    }
}

/// Judges a callback set for `from`, which is before `now`, by `rules`
/// (`None`: its record or project is gone, so nobody says to move it: not
/// executed).
pub fn judge(from: Timestamp, now: Timestamp, rules: Option<&RecordRules>) -> AtExecution {
    let passed = format!(
        "the next call date {} had passed when the action was to execute ({})",
        rfc3339(from),
        rfc3339(now)
    );
    let refused = |code, message| AtExecution::Refused {
        from,
        now,
        code,
        message,
    };
    let Some(RecordRules { rules, zone }) =
        rules.filter(|r| r.rules.past_callback == PastCallbackPolicy::Now)
    else {
        return refused(PAST_AT_EXECUTION, passed);
    };
    let moved = |to, code, message| AtExecution::Moved {
        from,
        to,
        now,
        code,
        message,
    };
    match within_calling_hours(rules, zone, now) {
        Placement::Kept => moved(
            now,
            MOVED_TO_NOW_AT_EXECUTION,
            format!("{passed}; moved to now"),
        ),
        Placement::Shifted { to, detail } => moved(
            to,
            SHIFTED_AT_EXECUTION,
            format!("{passed}; moved to now, which calling hours moved on: {detail}"),
        ),
        Placement::Refused { detail } => refused(
            OUTSIDE_CALLING_HOURS_AT_EXECUTION,
            format!("{passed}; now is not within calling hours: {detail}"),
        ),
    }
}

/// The rules a write on `record` of `tenant` is judged by, read from the
/// store now; `None` when the record or its project no longer exists.
pub fn rules_of(
    store: &dyn Store,
    tenant: TenantId,
    record: RecordId,
) -> store::Result<Option<RecordRules>> {
    let Some(stored) = found(store.record(tenant, record))? else {
        return Ok(None);
    };
    let Some(project) = found(store.project(tenant, stored.project_id))? else {
        return Ok(None);
    };
    let rules = project.rules();
    let zone = record_zone(stored.time_zone.as_deref(), &rules).to_owned();
    Ok(Some(RecordRules { rules, zone }))
}

/// `Some` of what was found, `None` when it was not.
fn found<T>(result: store::Result<T>) -> store::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(store::Error::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Whether `write`'s next call date is before `now`.
pub fn is_past(write: &RecordWrite, now: Timestamp) -> bool {
    write.next_calldate.is_some_and(|at| at < now)
}

/// `write` of `tenant` judged at `now` by its project's rules as the store
/// has them; `None` when it is not past.
pub fn judge_write(
    store: &dyn Store,
    tenant: TenantId,
    write: &RecordWrite,
    now: Timestamp,
) -> store::Result<Option<AtExecution>> {
    let Some(from) = write.next_calldate.filter(|&at| at < now) else {
        return Ok(None);
    };
    let rules = rules_of(store, tenant, write.record_id)?;
    Ok(Some(judge(from, now, rules.as_ref())))
}

/// Judges every past write of `event` at `now`, by the rules `rules_of`
/// gives for its record: a moved one stays with its new next call date, a
/// refused one is removed; each one's verdict says which. Writes for the
/// embedded store (`writes`, verdict unmarked) get `"executed": true` when
/// moved; writes queued for a remote (`outbox`, verdict `"queued"`) stay
/// queued.
pub fn check_event(
    event: &mut ProcessedEvent,
    now: Timestamp,
    mut rules_of: impl FnMut(RecordId) -> store::Result<Option<RecordRules>>,
) -> store::Result<()> {
    for queued in [false, true] {
        let writes = match queued {
            false => std::mem::take(&mut event.writes),
            true => std::mem::take(&mut event.outbox),
        };
        let mut kept = Vec::with_capacity(writes.len());
        for mut write in writes {
            let Some(from) = write.next_calldate.filter(|&at| at < now) else {
                kept.push(write);
                continue;
            };
            let judged = judge(from, now, rules_of(write.record_id)?.as_ref());
            let verdict = match queued {
                false => unmarked_verdict(&mut event.decisions, &write),
                true => queued_verdict(&mut event.decisions, &write),
            };
            if let Some(verdict) = verdict {
                judged.record(verdict);
                if !queued && matches!(judged, AtExecution::Moved { .. }) {
                    verdict["executed"] = json!(true);
                }
            }
            match judged {
                AtExecution::Moved { to, .. } => {
                    tracing::info!(event = %event.event_id, record = %write.record_id,
                        plugin = %write.plugin, from, to, "next call date passed before execution; moved");
                    write.next_calldate = Some(to);
                    kept.push(write);
                }
                AtExecution::Refused { code, .. } => {
                    tracing::warn!(event = %event.event_id, record = %write.record_id,
                        plugin = %write.plugin, code, "next call date passed before execution; not executed");
                }
            }
        }
        match queued {
            false => event.writes = kept,
            true => event.outbox = kept,
        }
    }
    Ok(())
}

/// The verdict `write` came from: the first accepted one of its plugin on
/// its record that no executor has marked yet. Executors mark it
/// (`executed`) as they carry the write out, so a second write of the same
/// plugin on the same record finds the next one.
pub(crate) fn unmarked_verdict<'a>(
    decisions: &'a mut [DecisionRecord],
    write: &RecordWrite,
) -> Option<&'a mut Value> {
    verdict_where(decisions, write, |v| v.get("executed").is_none())
}

/// The verdict a write queued for a remote came from: like
/// [`unmarked_verdict`], among those marked queued.
pub(crate) fn queued_verdict<'a>(
    decisions: &'a mut [DecisionRecord],
    write: &RecordWrite,
) -> Option<&'a mut Value> {
    verdict_where(decisions, write, |v| v["executed"] == super::outbox::QUEUED)
}

fn verdict_where<'a>(
    decisions: &'a mut [DecisionRecord],
    write: &RecordWrite,
    state: impl Fn(&Value) -> bool,
) -> Option<&'a mut Value> {
    decisions
        .iter_mut()
        .filter(|d| d.plugin == write.plugin)
        .filter_map(|d| d.verdicts.as_array_mut())
        .flatten()
        .find(|v| {
            v["accepted"] == true && v["action"]["recordId"] == json!(write.record_id) && state(v)
        })
}

fn rfc3339(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| at.to_string(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::CallingHoursPolicy;
    use crate::actions::calling_hours::CallingHours;
    use crate::model::{EventId, ProjectId};

    /// 2026-12-01 10:00 in Budapest (09:00 UTC).
    const MORNING: Timestamp = 1_796_115_600;
    const HOUR: Timestamp = 3_600;

    fn write(record: u64, at: Option<Timestamp>) -> RecordWrite {
        RecordWrite {
            record_id: RecordId(record),
            disposition_id: 2,
            next_calldate: at,
            plugin: "p".into(),
            plugin_version: Some(1),
            note: None,
        }
    }

    fn event(writes: Vec<RecordWrite>) -> ProcessedEvent {
        let verdicts: Vec<_> = writes
            .iter()
            .map(|w| json!({ "accepted": true, "action": { "recordId": w.record_id } }))
            .collect();
        let mut decision = DecisionRecord::host("p", crate::model::DecisionOutcome::Ok, None);
        decision.verdicts = json!(verdicts);
        ProcessedEvent {
            event_id: EventId(1),
            tenant_id: TenantId(1),
            resolved: "{}".into(),
            decisions: vec![decision],
            writes,
            outbox: vec![],
            messages: vec![],
            contacts: vec![],
            opted_out: None,
            opted_in: None,
            processed_at: 0,
            plugin_cpu: Default::default(),
        }
    }

    /// Budapest rules, 08:00–20:00 under `hours`, past callbacks by `past`.
    fn rules(past: PastCallbackPolicy, hours: CallingHoursPolicy) -> RecordRules {
        let rules = ProjectRules {
            calling_hours: Some(CallingHours::parse("08:00", "20:00").unwrap()),
            policy: hours,
            past_callback: past,
            ..ProjectRules::new(ProjectId(1), "Europe/Budapest")
        };
        RecordRules {
            rules,
            zone: "Europe/Budapest".into(),
        }
    }

    #[test]
    fn a_callback_already_past_is_not_executed_and_its_verdict_says_why() {
        let now = 1_000;
        let mut processed = event(vec![
            write(1, Some(now - 1)),
            write(2, Some(now)),
            write(3, None),
        ]);
        let reject = rules(PastCallbackPolicy::Reject, CallingHoursPolicy::Shift);
        check_event(&mut processed, now, |_| Ok(Some(reject.clone()))).unwrap();
        let kept: Vec<u64> = processed.writes.iter().map(|w| w.record_id.0).collect();
        assert_eq!(kept, [2, 3]);
        let verdicts = &processed.decisions[0].verdicts;
        assert_eq!(
            verdicts[0]["accepted"], true,
            "the decision stays as decided"
        );
        assert_eq!(verdicts[0]["executed"], false);
        assert_eq!(verdicts[0]["executionError"]["code"], PAST_AT_EXECUTION);
        assert!(verdicts[1].get("executed").is_none(), "{verdicts}");
    }

    #[test]
    fn under_now_a_past_callback_executes_at_now_and_its_verdict_says_from_when() {
        let mut processed = event(vec![write(1, Some(MORNING - HOUR)), write(2, None)]);
        let now = rules(PastCallbackPolicy::Now, CallingHoursPolicy::Reject);
        check_event(&mut processed, MORNING, |_| Ok(Some(now.clone()))).unwrap();
        assert_eq!(processed.writes[0].next_calldate, Some(MORNING));
        assert_eq!(processed.writes[1].next_calldate, None, "a Discard stays");
        let verdict = &processed.decisions[0].verdicts[0];
        assert_eq!(verdict["executed"], true, "{verdict}");
        let moved = &verdict["executionMove"];
        assert_eq!(moved["code"], MOVED_TO_NOW_AT_EXECUTION, "{verdict}");
        assert_eq!(moved["movedFrom"], MORNING - HOUR);
        assert_eq!(
            (moved["nextCalldate"].as_i64(), moved["executedAt"].as_i64()),
            (Some(MORNING), Some(MORNING))
        );
        assert!(processed.decisions[0].verdicts[1].get("executed").is_none());
    }

    #[test]
    fn under_now_calling_hours_shift_or_refuse_a_now_outside_them() {
        let night = MORNING + 12 * HOUR; // 22:00 in Budapest
        let next_morning = MORNING + 22 * HOUR; // 08:00 the next day
        let shift = rules(PastCallbackPolicy::Now, CallingHoursPolicy::Shift);
        let judged = judge(night - HOUR, night, Some(&shift));
        let AtExecution::Moved { to, code, .. } = judged else {
            panic!("{judged:?}");
        };
        assert_eq!((to, code), (next_morning, SHIFTED_AT_EXECUTION));

        let reject = rules(PastCallbackPolicy::Now, CallingHoursPolicy::Reject);
        let unknown_zone = RecordRules {
            zone: "Mars/Olympus".into(),
            ..shift
        };
        for (rules, now) in [(reject, night), (unknown_zone, MORNING)] {
            let judged = judge(now - HOUR, now, Some(&rules));
            assert!(
                matches!(
                    judged,
                    AtExecution::Refused {
                        code: OUTSIDE_CALLING_HOURS_AT_EXECUTION,
                        ..
                    }
                ),
                "{judged:?}"
            );
        }
    }

    #[test]
    fn a_write_whose_record_is_gone_is_refused_as_past_whatever_the_policy() {
        let judged = judge(MORNING - HOUR, MORNING, None);
        assert!(
            matches!(
                judged,
                AtExecution::Refused {
                    code: PAST_AT_EXECUTION,
                    ..
                }
            ),
            "{judged:?}"
        );
    }

    #[test]
    fn a_queued_write_moved_stays_queued_and_one_refused_leaves_the_outbox() {
        let mut processed = event(vec![]);
        processed.outbox = vec![
            write(1, Some(MORNING - HOUR)),
            write(2, Some(MORNING - HOUR)),
        ];
        processed.decisions[0].verdicts = json!([
            { "accepted": true, "action": { "recordId": 1 }, "executed": "queued" },
            { "accepted": true, "action": { "recordId": 2 }, "executed": "queued" },
        ]);
        let mut policies = [PastCallbackPolicy::Now, PastCallbackPolicy::Reject].into_iter();
        check_event(&mut processed, MORNING, |_| {
            Ok(Some(rules(
                policies.next().unwrap(),
                CallingHoursPolicy::Shift,
            )))
        })
        .unwrap();
        assert_eq!(processed.outbox.len(), 1);
        assert_eq!(processed.outbox[0].next_calldate, Some(MORNING));
        let verdicts = &processed.decisions[0].verdicts;
        assert_eq!(verdicts[0]["executed"], "queued", "{verdicts}");
        assert_eq!(
            verdicts[0]["executionMove"]["code"],
            MOVED_TO_NOW_AT_EXECUTION
        );
        assert_eq!(verdicts[1]["executed"], false, "{verdicts}");
        assert_eq!(verdicts[1]["executionError"]["code"], PAST_AT_EXECUTION);
    }
}
