//! An inbound message naming a local time as `YYYY-MM-DD hh:mm` → Shared
//! Callback at that time on every record in the event's `matches`, each read
//! in the record's own time zone (so one reply can mean different instants
//! for records in different zones).
//!
//! A time that is malformed, impossible (`2026-02-30 10:00`, `24:10`),
//! skipped by a daylight-saving change in the record's zone, or earlier
//! than the message's timestamp → no action and a `warn` line saying which.
//! A message with no date at all, or with no matching records, → nothing.
//! Delivery receipts → nothing.
//!
//! Config: `disposition_id` (default 2, the Shared Callback),
//! `template_id` (unset: any reply; set: only replies to SMS built from
//! that template, e.g. `call-attempt-sms`).

use smstrigger_sdk::time::{find_datetime, local_to_timestamp};
use smstrigger_sdk::{
    Action, Event, Level, SHARED_CALLBACK_ID, Trigger, config_or, in_campaign, log,
};

/// The rule; exported as the plugin's `on-event`.
pub struct ReplyCallTime;

impl Trigger for ReplyCallTime {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::Inbound(sms) = event else {
            return Ok(Vec::new());
        };
        if !in_campaign(&sms) {
            return Ok(Vec::new());
        }
        let disposition: u32 = config_or("disposition_id", SHARED_CALLBACK_ID)?;
        if sms.matches.is_empty() {
            log(
                Level::Info,
                "no records match the sender: nothing to schedule",
            );
            return Ok(Vec::new());
        }
        let local = match find_datetime(&sms.message) {
            Ok(Some(local)) => local,
            Ok(None) => return Ok(Vec::new()),
            Err(err) => {
                log(Level::Warn, &format!("no callback: {err}"));
                return Ok(Vec::new());
            }
        };
        let wanted = local.format("%Y-%m-%d %H:%M");
        let mut actions = Vec::new();
        for record in &sms.matches {
            match local_to_timestamp(local, &record.time_zone) {
                Ok(at) if at < sms.timestamp => log(
                    Level::Warn,
                    &format!(
                        "no callback for record {}: {wanted} in {} is in the past",
                        record.id, record.time_zone
                    ),
                ),
                Ok(at) => actions.push(
                    Action::disposition(record.id, disposition, Some(at))?
                        .with_note(format!("customer asked for a call at {wanted}")),
                ),
                Err(err) => log(
                    Level::Warn,
                    &format!("no callback for record {}: {err}", record.id),
                ),
            }
        }
        Ok(actions)
    }
}

smstrigger_sdk::export_trigger!(ReplyCallTime);

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::testing::{self, Run, TestHost};
    use smstrigger_sdk::{ContactRecord, DeliveryStatus};

    const PHONE: &str = "+36301234567";

    fn reply(message: &str, at: &str) -> Run {
        let record = testing::record(11, PHONE);
        TestHost::new().run::<ReplyCallTime>(testing::inbound(&record, message, testing::local(at)))
    }

    fn in_zone(id: u64, zone: &str) -> ContactRecord {
        ContactRecord {
            time_zone: zone.to_string(),
            ..testing::record(id, PHONE)
        }
    }

    #[track_caller]
    fn assert_warned_nothing(run: &Run, needle: &str) {
        assert_eq!(run.actions(), &[]);
        assert!(
            run.logs
                .iter()
                .any(|(level, line)| *level == Level::Warn && line.contains(needle)),
            "no warning containing {needle:?} in {:?}",
            run.logs
        );
    }

    #[test]
    fn a_named_time_becomes_a_shared_callback_in_the_records_zone() {
        let run = reply("Call me 2026-12-01 14:30 please", "2026-11-30 09:00");
        assert_eq!(
            run.actions(),
            &[
                Action::shared_callback(11, testing::local("2026-12-01 14:30"))
                    .with_note("customer asked for a call at 2026-12-01 14:30")
            ]
        );
    }

    #[test]
    fn each_matching_record_gets_the_time_in_its_own_zone() {
        let (budapest, london) = (in_zone(1, "Europe/Budapest"), in_zone(2, "Europe/London"));
        let event = testing::inbound_matching(
            PHONE,
            "2026-12-01 14:30",
            testing::local("2026-11-30 09:00"),
            vec![budapest, london],
        );
        let run = TestHost::new().run::<ReplyCallTime>(event);
        let times: Vec<_> = run
            .actions()
            .iter()
            .map(|a| (a.record_id(), a.next_calldate()))
            .collect();
        let london_at = testing::local_in("2026-12-01 14:30", "Europe/London");
        assert_eq!(
            times,
            [
                (1, Some(testing::local("2026-12-01 14:30"))),
                (2, Some(london_at))
            ]
        );
        assert_eq!(london_at - testing::local("2026-12-01 14:30"), 3600);
    }

    #[test]
    fn a_malformed_time_warns_and_does_nothing() {
        assert_warned_nothing(&reply("2026-12-1 14:30", "2026-11-30 09:00"), "malformed");
        assert_warned_nothing(
            &reply("on 2026-12-01 at noon", "2026-11-30 09:00"),
            "malformed",
        );
    }

    #[test]
    fn an_impossible_time_warns_and_does_nothing() {
        assert_warned_nothing(&reply("2026-02-30 10:00", "2026-01-30 09:00"), "impossible");
        assert_warned_nothing(&reply("2026-12-01 24:10", "2026-11-30 09:00"), "impossible");
    }

    #[test]
    fn a_time_in_the_dst_gap_warns_and_does_nothing() {
        // Budapest skips 02:00-03:00 on 2026-03-29.
        assert_warned_nothing(
            &reply("2026-03-29 02:30", "2026-03-28 09:00"),
            "daylight saving",
        );
    }

    #[test]
    fn a_gap_in_one_records_zone_skips_only_that_record() {
        // London skips 01:00-02:00 on 2026-03-29; 01:30 exists in Budapest.
        let event = testing::inbound_matching(
            PHONE,
            "2026-03-29 01:30",
            testing::local("2026-03-28 09:00"),
            vec![in_zone(1, "Europe/Budapest"), in_zone(2, "Europe/London")],
        );
        let run = TestHost::new().run::<ReplyCallTime>(event);
        assert_eq!(run.actions().len(), 1);
        assert_eq!(run.actions()[0].record_id(), 1);
        assert!(run.logged("record 2") && run.logged("daylight saving"));
    }

    #[test]
    fn a_time_before_the_message_warns_and_does_nothing() {
        assert_warned_nothing(
            &reply("2026-12-01 09:59", "2026-12-01 10:00"),
            "in the past",
        );
        assert_eq!(
            reply("2026-12-01 10:00", "2026-12-01 10:00")
                .actions()
                .len(),
            1
        );
    }

    #[test]
    fn a_message_without_a_date_does_nothing_quietly() {
        let run = reply("call me tomorrow", "2026-12-01 10:00");
        assert_eq!(run.actions(), &[]);
        assert_eq!(run.logs, []);
    }

    #[test]
    fn no_matching_records_does_nothing() {
        let event = testing::inbound_matching(PHONE, "2026-12-01 14:30", 0, vec![]);
        let run = TestHost::new().run::<ReplyCallTime>(event);
        assert_eq!(run.actions(), &[]);
        assert!(run.logged("no records match"));
    }

    #[test]
    fn delivery_receipts_do_nothing() {
        let record = testing::record(11, PHONE);
        let event = testing::outbound(&record, DeliveryStatus::Delivered, 0);
        assert_eq!(TestHost::new().run::<ReplyCallTime>(event).actions(), &[]);
    }

    #[test]
    fn the_disposition_comes_from_config() {
        let record = testing::record(11, PHONE);
        let at = testing::local("2026-11-30 09:00");
        let run = TestHost::new()
            .config("disposition_id", "41")
            .run::<ReplyCallTime>(testing::inbound(&record, "2026-12-01 14:30", at));
        assert_eq!(
            run.actions(),
            &[
                Action::custom(11, 41, Some(testing::local("2026-12-01 14:30")))
                    .with_note("customer asked for a call at 2026-12-01 14:30")
            ]
        );
        let run = TestHost::new()
            .config("disposition_id", "two")
            .run::<ReplyCallTime>(testing::inbound(&record, "2026-12-01 14:30", at));
        assert!(run.result.unwrap_err().contains("disposition_id"));
    }

    #[test]
    fn with_a_template_it_answers_only_replies_to_that_campaign() {
        let record = testing::record(11, PHONE);
        let at = testing::local("2026-11-30 09:00");
        let host = TestHost::new().config("template_id", "call-attempt-sms");
        let mut event = testing::inbound(&record, "2026-12-01 14:30", at);
        assert_eq!(host.run::<ReplyCallTime>(event.clone()).actions(), &[]);
        if let Event::Inbound(sms) = &mut event {
            sms.last_outbound = Some(smstrigger_sdk::SentSms {
                message_id: "sms-7-11-ask".into(),
                template_id: Some("call-attempt-sms".into()),
                timestamp: at - 60,
            });
        }
        assert_eq!(host.run::<ReplyCallTime>(event).actions().len(), 1);
    }
}
