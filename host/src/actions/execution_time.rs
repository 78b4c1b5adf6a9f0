//! The last check before an action executes: its next call date must not
//! have passed by then.
//!
//! Validation judges an action at the event's time (so dry runs and
//! replays judge exactly as the live run did), and the acceptance window
//! lets an event be days old; a callback that was in the future of the
//! event can be in the past of the moment it executes. Such an action is
//! not executed: its record is left as it was, and its verdict (still
//! `accepted`, as decided) gets `"executed": false` and an
//! `"executionError"` with the code [`PAST_AT_EXECUTION`] and the times.
//! Moving the callback to now is not offered: now may be outside the
//! record's calling hours, which only validation knows.
//!
//! The executors call [`drop_past_writes`] with their clock's time, once
//! per batch, on the events they are about to carry out.

use serde_json::json;

use crate::model::Timestamp;
use crate::store::{DecisionRecord, ProcessedEvent, RecordWrite};

/// The verdict code of an action whose next call date had passed when it
/// was to execute.
pub const PAST_AT_EXECUTION: &str = "time_in_past_at_execution";

/// Removes from `event` every record write whose next call date is before
/// `now`, marking its verdict not executed with [`PAST_AT_EXECUTION`];
/// returns how many it removed. A write without a next call date (a
/// Discard, a custom disposition without one) always stays.
pub fn drop_past_writes(event: &mut ProcessedEvent, now: Timestamp) -> usize {
    let (past, kept): (Vec<RecordWrite>, Vec<RecordWrite>) = std::mem::take(&mut event.writes)
        .into_iter()
        .partition(|write| write.next_calldate.is_some_and(|at| at < now));
    event.writes = kept;
    for write in &past {
        tracing::warn!(event = %event.event_id, record = %write.record_id,
            plugin = %write.plugin, "next call date passed before execution; not executed");
        annotate(&mut event.decisions, write, now);
    }
    past.len()
}

/// The verdict `write` came from: the first accepted one of its plugin on
/// its record that no executor has marked yet. Executors mark it
/// (`executed`) as they carry the write out, so a second write of the same
/// plugin on the same record finds the next one.
pub(crate) fn unmarked_verdict<'a>(
    decisions: &'a mut [DecisionRecord],
    write: &RecordWrite,
) -> Option<&'a mut serde_json::Value> {
    decisions
        .iter_mut()
        .filter(|d| d.plugin == write.plugin)
        .filter_map(|d| d.verdicts.as_array_mut())
        .flatten()
        .find(|v| {
            v["accepted"] == true
                && v["action"]["recordId"] == json!(write.record_id)
                && v.get("executed").is_none()
        })
}

/// Marks the accepted verdict `write` came from as not executed.
fn annotate(decisions: &mut [DecisionRecord], write: &RecordWrite, now: Timestamp) {
    let Some(verdict) = unmarked_verdict(decisions, write) else {
        return;
    };
    let at = write.next_calldate.unwrap_or_default();
    verdict["executed"] = json!(false);
    verdict["executionError"] = json!({
        "code": PAST_AT_EXECUTION,
        "message": format!(
            "the next call date {} had passed when the action was to execute ({})",
            rfc3339(at),
            rfc3339(now)
        ),
        "nextCalldate": at,
        "executedAt": now,
    });
}

fn rfc3339(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| at.to_string(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventId, RecordId, TenantId};

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
            opted_out: None,
            processed_at: 0,
            plugin_cpu: Default::default(),
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
        assert_eq!(drop_past_writes(&mut processed, now), 1);
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
}
