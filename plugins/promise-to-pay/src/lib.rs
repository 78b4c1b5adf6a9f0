//! A customer's promise to pay → Shared Callback on every record in the
//! inbound message's `matches`:
//! - the whole message is the keyword (`YES`; any case, surrounding space
//!   and trailing punctuation ignored) → call at the message's time;
//! - the message contains a date `YYYY-MM-DD` → call at `call_at` (08:00)
//!   local to each record, on the day after that date, to check whether
//!   they paid.
//!
//! Anything else → nothing. A date with a time of day (`2027-03-28 02:30`,
//! even an impossible one such as `25:10`) asks for a call at that time,
//! which is `reply-call-time`'s to answer, not a payment date → nothing. A
//! malformed or impossible date (`2025-02-30`), a date already over when
//! the message arrived, or a call time the record's zone skips for daylight
//! saving → nothing and a `warn` line saying which. Delivery receipts →
//! nothing.
//!
//! Config: `disposition_id` (default 2, the Shared Callback), `keyword`
//! (default `YES`), `call_at` (default `08:00`, local time of day `hh:mm`),
//! `template_id` (unset: any reply; set: only replies to SMS built from
//! that template).

use smstrigger_sdk::text::is_keyword;
use smstrigger_sdk::time::{TimeError, find_date, find_datetime, local_to_timestamp};
use smstrigger_sdk::{
    Action, Event, Level, SHARED_CALLBACK_ID, Trigger, config_or, in_campaign, log,
};

/// The rule; exported as the plugin's `on-event`.
pub struct PromiseToPay;

impl Trigger for PromiseToPay {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::Inbound(sms) = event else {
            return Ok(Vec::new());
        };
        if !in_campaign(&sms) {
            return Ok(Vec::new());
        }
        let disposition: u32 = config_or("disposition_id", SHARED_CALLBACK_ID)?;
        let keyword: String = config_or("keyword", "YES".to_string())?;
        let (hour, minute) = call_at()?;
        if is_keyword(&sms.message, &keyword) {
            let note = format!("customer answered {keyword}");
            return (sms.matches.iter())
                .map(|record| {
                    Action::disposition(record.id, disposition, Some(sms.timestamp))
                        .map(|action| action.with_note(note.clone()))
                })
                .collect();
        }
        let date = match find_date(&sms.message) {
            Ok(Some(date)) => date,
            Ok(None) => return Ok(Vec::new()),
            Err(err) => {
                log(Level::Warn, &format!("no callback: {err}"));
                return Ok(Vec::new());
            }
        };
        if !matches!(
            find_datetime(&sms.message),
            Err(TimeError::Malformed { .. })
        ) {
            log(
                Level::Info,
                &format!("{date} comes with a time of day: a call time, not a payment date"),
            );
            return Ok(Vec::new());
        }
        let Some(next_day) = date.succ_opt() else {
            log(Level::Warn, &format!("no callback: no day after {date}"));
            return Ok(Vec::new());
        };
        let Some(local) = next_day.and_hms_opt(hour, minute, 0) else {
            log(Level::Warn, &format!("no callback: no day after {date}"));
            return Ok(Vec::new());
        };
        let mut actions = Vec::new();
        for record in &sms.matches {
            // A day already over where the customer lives is no promise.
            let over = next_day
                .and_hms_opt(0, 0, 0)
                .map(|midnight| local_to_timestamp(midnight, &record.time_zone));
            if let Some(Ok(end)) = over
                && end <= sms.timestamp
            {
                log(
                    Level::Warn,
                    &format!(
                        "no callback for record {}: {date} is already over in {}",
                        record.id, record.time_zone
                    ),
                );
                continue;
            }
            match local_to_timestamp(local, &record.time_zone) {
                Ok(at) => actions.push(
                    Action::disposition(record.id, disposition, Some(at))?
                        .with_note(format!("customer promised to pay on {date}")),
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

/// Reads `call_at` as a local time of day `hh:mm` (or `h:mm`).
fn call_at() -> Result<(u32, u32), String> {
    let raw: String = config_or("call_at", "08:00".to_string())?;
    let number = |s: &str, max_len: usize| {
        let digits = (1..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| s.parse::<u32>().ok()).flatten()
    };
    raw.trim()
        .split_once(':')
        .filter(|(_, minute)| minute.len() == 2)
        .and_then(|(hour, minute)| Some((number(hour, 2)?, number(minute, 2)?)))
        .filter(|&(hour, minute)| hour < 24 && minute < 60)
        .ok_or_else(|| format!("config `call_at` = `{raw}` is not a local time of day hh:mm"))
}

smstrigger_sdk::export_trigger!(PromiseToPay);

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::testing::{self, Run, TestHost};
    use smstrigger_sdk::{ContactRecord, DeliveryStatus};

    const PHONE: &str = "+36301234567";

    fn reply_with(host: TestHost, message: &str, at: &str) -> Run {
        let record = testing::record(11, PHONE);
        host.run::<PromiseToPay>(testing::inbound(&record, message, testing::local(at)))
    }

    fn reply(message: &str, at: &str) -> Run {
        reply_with(TestHost::new(), message, at)
    }

    fn calls_at(run: &Run) -> Vec<Option<i64>> {
        run.actions().iter().map(Action::next_calldate).collect()
    }

    #[test]
    fn yes_calls_back_at_the_message_time() {
        for message in ["YES", "yes", "  Yes! ", "yes."] {
            let run = reply(message, "2026-12-01 10:00");
            assert_eq!(
                run.actions(),
                &[
                    Action::shared_callback(11, testing::local("2026-12-01 10:00"))
                        .with_note("customer answered YES")
                ],
                "{message:?}"
            );
        }
    }

    #[test]
    fn a_promised_date_calls_back_at_eight_the_day_after() {
        for (message, expected) in [
            ("I will pay on 2025-12-31", "2026-01-01 08:00"),
            ("2024-02-28", "2024-02-29 08:00"),
            ("paying 2025-02-28, promise", "2025-03-01 08:00"),
        ] {
            let run = reply(message, "2024-01-10 10:00");
            assert_eq!(
                calls_at(&run),
                [Some(testing::local(expected))],
                "{message}"
            );
            assert!(run.actions()[0].note().unwrap().contains("promised"));
        }
    }

    #[test]
    fn the_day_after_is_at_eight_in_each_records_own_zone() {
        let london = ContactRecord {
            time_zone: "Europe/London".into(),
            ..testing::record(2, PHONE)
        };
        let event = testing::inbound_matching(
            PHONE,
            "2026-06-10",
            testing::local("2026-06-01 10:00"),
            vec![testing::record(1, PHONE), london],
        );
        let run = TestHost::new().run::<PromiseToPay>(event);
        assert_eq!(
            calls_at(&run),
            [
                Some(testing::local("2026-06-11 08:00")),
                Some(testing::local_in("2026-06-11 08:00", "Europe/London"))
            ]
        );
    }

    /// What the seed's demo met: a reply naming a time (even one a DST
    /// change skips, or no clock has) asks for a call, so it is
    /// `reply-call-time`'s, never a payment promise.
    #[test]
    fn a_date_with_a_time_of_day_is_no_payment_promise() {
        for message in [
            "2027-03-28 02:30",
            "call me 2026-12-02 14:30",
            "2026-12-02 25:10",
            "2026-12-02T9:15",
        ] {
            let run = reply(message, "2026-12-01 10:00");
            assert_eq!(run.actions(), &[], "{message}");
            assert!(run.logged("a call time"), "{message}: {:?}", run.logs);
        }
        assert_eq!(
            reply("paying 2026-12-02 14", "2026-12-01 10:00")
                .actions()
                .len(),
            1
        );
    }

    #[test]
    fn a_date_already_over_is_no_promise_today_is() {
        let run = reply("I paid on 2026-11-30", "2026-12-01 10:00");
        assert_eq!(run.actions(), &[]);
        assert!(run.logged("already over"), "{:?}", run.logs);
        assert_eq!(
            calls_at(&reply("paying today 2026-12-01", "2026-12-01 23:30")),
            [Some(testing::local("2026-12-02 08:00"))]
        );
    }

    #[test]
    fn with_a_template_it_answers_only_replies_to_that_campaign() {
        let record = testing::record(11, PHONE);
        let at = testing::local("2026-12-01 10:00");
        let mut event = testing::inbound(&record, "YES", at);
        let host = TestHost::new().config("template_id", "collections-1");
        assert_eq!(host.run::<PromiseToPay>(event.clone()).actions(), &[]);
        if let Event::Inbound(sms) = &mut event {
            sms.last_outbound = Some(smstrigger_sdk::SentSms {
                message_id: "sms-1".into(),
                template_id: Some("collections-1".into()),
                timestamp: at - 600,
            });
        }
        assert_eq!(host.run::<PromiseToPay>(event.clone()).actions().len(), 1);
        let other = TestHost::new().config("template_id", "ask-time");
        assert_eq!(other.run::<PromiseToPay>(event.clone()).actions(), &[]);
        assert_eq!(
            TestHost::new().run::<PromiseToPay>(event).actions().len(),
            1
        );
    }

    #[test]
    fn an_impossible_date_warns_and_does_nothing() {
        let run = reply("I pay on 2025-02-30", "2025-01-10 10:00");
        assert_eq!(run.actions(), &[]);
        assert!(run.logs.iter().any(|(level, line)| *level == Level::Warn
            && line.contains("impossible")
            && line.contains("2025-02-30")));
    }

    #[test]
    fn a_call_time_in_the_dst_gap_warns_and_does_nothing() {
        // Budapest skips 02:00-03:00 on 2026-03-29.
        let host = TestHost::new().config("call_at", "02:30");
        let run = reply_with(host, "2026-03-28", "2026-03-20 10:00");
        assert_eq!(run.actions(), &[]);
        assert!(run.logged("daylight saving"));
    }

    #[test]
    fn anything_else_does_nothing() {
        for message in ["no", "yes, but not today", "call me later", ""] {
            let run = reply(message, "2026-12-01 10:00");
            assert_eq!(run.actions(), &[], "{message:?}");
            assert_eq!(run.logs, [], "{message:?}");
        }
    }

    #[test]
    fn delivery_receipts_do_nothing() {
        let record = testing::record(11, PHONE);
        let event = testing::outbound(&record, DeliveryStatus::Delivered, 0);
        assert_eq!(TestHost::new().run::<PromiseToPay>(event).actions(), &[]);
    }

    #[test]
    fn keyword_call_time_and_disposition_come_from_config() {
        let host = TestHost::new()
            .config("keyword", "IGEN")
            .config("call_at", "9:30")
            .config("disposition_id", "41");
        let run = reply_with(host.clone(), "igen!", "2026-12-01 10:00");
        let at = testing::local("2026-12-01 10:00");
        assert_eq!(
            run.actions(),
            &[Action::custom(11, 41, Some(at)).with_note("customer answered IGEN")]
        );
        assert_eq!(
            reply_with(host.clone(), "yes", "2026-12-01 10:00").actions(),
            &[]
        );
        let run = reply_with(host, "2026-12-05", "2026-12-01 10:00");
        assert_eq!(calls_at(&run), [Some(testing::local("2026-12-06 09:30"))]);
    }

    #[test]
    fn a_bad_call_time_fails_with_its_name() {
        for value in ["25:00", "08:60", "8", "08:5", "+8:00", "noon"] {
            let host = TestHost::new().config("call_at", value);
            let err = reply_with(host, "YES", "2026-12-01 10:00")
                .result
                .unwrap_err();
            assert!(err.contains("call_at"), "{value}: {err}");
        }
    }
}
