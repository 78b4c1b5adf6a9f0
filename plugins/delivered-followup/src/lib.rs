//! Delivered → Shared Callback at the receipt's time plus `delay_hours`
//! (default 48). Sent and Not traceable → nothing; inbound messages →
//! nothing.
//!
//! The delay is real elapsed time, not wall-clock time: 48 hours across a
//! daylight-saving change lands an hour later (spring) or earlier (autumn)
//! on the record's local clock.
//!
//! Config: `delay_hours` (default 48), `disposition_id` (default 2, the
//! Shared Callback).

use smstrigger_sdk::{Action, DeliveryStatus, Event, SHARED_CALLBACK_ID, Trigger, config_or};

/// The rule; exported as the plugin's `on-event`.
pub struct DeliveredFollowup;

impl Trigger for DeliveredFollowup {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::Outbound(receipt) = event else {
            return Ok(Vec::new());
        };
        if receipt.status != DeliveryStatus::Delivered {
            return Ok(Vec::new());
        }
        let delay_hours: i64 = config_or("delay_hours", 48)?;
        let disposition: u32 = config_or("disposition_id", SHARED_CALLBACK_ID)?;
        let at = delay_hours
            .checked_mul(3600)
            .and_then(|delay| receipt.timestamp.checked_add(delay))
            .ok_or_else(|| format!("config `delay_hours` = {delay_hours} is out of range"))?;
        let action = Action::disposition(receipt.contact.id, disposition, Some(at))?
            .with_note(format!("delivered: follow up in {delay_hours} h"));
        Ok(vec![action])
    }
}

smstrigger_sdk::export_trigger!(DeliveredFollowup);

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::testing::{self, TestHost};

    fn delivered_at(at: i64) -> Event {
        testing::outbound(
            &testing::record(11, "+36301234567"),
            DeliveryStatus::Delivered,
            at,
        )
    }

    #[test]
    fn delivered_calls_back_after_48_hours_by_default() {
        let run = TestHost::new()
            .run::<DeliveredFollowup>(delivered_at(testing::local("2026-12-01 10:00")));
        assert_eq!(
            run.actions(),
            &[
                Action::shared_callback(11, testing::local("2026-12-03 10:00"))
                    .with_note("delivered: follow up in 48 h")
            ]
        );
    }

    #[test]
    fn across_the_spring_change_48_hours_end_an_hour_later_on_the_clock() {
        // Budapest jumps from 02:00 to 03:00 on 2026-03-29.
        let run = TestHost::new()
            .run::<DeliveredFollowup>(delivered_at(testing::local("2026-03-27 12:00")));
        assert_eq!(
            run.actions()[0].next_calldate(),
            Some(testing::local("2026-03-29 13:00"))
        );
    }

    #[test]
    fn across_the_autumn_change_48_hours_end_an_hour_earlier_on_the_clock() {
        // Budapest falls back from 03:00 to 02:00 on 2026-10-25.
        let at = testing::local("2026-10-23 12:00");
        let run = TestHost::new().run::<DeliveredFollowup>(delivered_at(at));
        let next = run.actions()[0].next_calldate();
        assert_eq!(next, Some(testing::local("2026-10-25 11:00")));
        assert_eq!(next, Some(at + 48 * 3600));
    }

    #[test]
    fn sent_and_not_traceable_do_nothing() {
        let record = testing::record(11, "+36301234567");
        for status in [DeliveryStatus::Sent, DeliveryStatus::NotTraceable] {
            let event = testing::outbound(&record, status, 1_800_000_000);
            let run = TestHost::new().run::<DeliveredFollowup>(event);
            assert_eq!(run.actions(), &[], "{status:?}");
        }
    }

    #[test]
    fn inbound_messages_do_nothing() {
        let record = testing::record(11, "+36301234567");
        let event = testing::inbound(&record, "thanks", 1_800_000_000);
        assert_eq!(
            TestHost::new().run::<DeliveredFollowup>(event).actions(),
            &[]
        );
    }

    #[test]
    fn delay_and_disposition_come_from_config() {
        let at = testing::local("2026-12-01 10:00");
        let run = TestHost::new()
            .config("delay_hours", "24")
            .config("disposition_id", "31")
            .run::<DeliveredFollowup>(delivered_at(at));
        assert_eq!(
            run.actions(),
            &[Action::custom(11, 31, Some(at + 24 * 3600))
                .with_note("delivered: follow up in 24 h")]
        );
    }

    #[test]
    fn a_bad_config_value_fails_with_its_name() {
        for (key, value) in [("delay_hours", "two days"), ("disposition_id", "-1")] {
            let run = TestHost::new()
                .config(key, value)
                .run::<DeliveredFollowup>(delivered_at(0));
            assert!(run.result.unwrap_err().contains(key), "{key}");
        }
    }

    #[test]
    fn an_overflowing_delay_is_an_error_not_a_wrap() {
        let run = TestHost::new()
            .config("delay_hours", &i64::MAX.to_string())
            .run::<DeliveredFollowup>(delivered_at(0));
        assert!(run.result.unwrap_err().contains("out of range"));
    }
}
