//! Not traceable → Shared Callback at the receipt's time plus
//! `delay_minutes` (default 60). Sent and Delivered → nothing.
//!
//! Config: `delay_minutes` (default 60), `disposition_id` (default 2, the
//! Shared Callback).

use smstrigger_sdk::{Action, DeliveryStatus, Event, SHARED_CALLBACK_ID, Trigger, config_or};

/// The rule; exported as the plugin's `on-event`.
pub struct NotTraceableCallback;

impl Trigger for NotTraceableCallback {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::Outbound(receipt) = event else {
            return Ok(Vec::new());
        };
        if receipt.status != DeliveryStatus::NotTraceable {
            return Ok(Vec::new());
        }
        let delay_minutes: i64 = config_or("delay_minutes", 60)?;
        let disposition: u32 = config_or("disposition_id", SHARED_CALLBACK_ID)?;
        let at = receipt.timestamp + delay_minutes * 60;
        let action = Action::disposition(receipt.contact.id, disposition, Some(at))?
            .with_note(format!("not traceable: call back in {delay_minutes} min"));
        Ok(vec![action])
    }
}

smstrigger_sdk::export_trigger!(NotTraceableCallback);

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::testing::{self, TestHost};

    #[test]
    fn not_traceable_calls_back_after_an_hour_by_default() {
        let record = testing::record(11, "+36301234567");
        let at = testing::local("2026-12-01 10:00");
        let run = TestHost::new().run::<NotTraceableCallback>(testing::outbound(
            &record,
            DeliveryStatus::NotTraceable,
            at,
        ));
        assert_eq!(run.actions().len(), 1);
        assert_eq!(run.actions()[0].record_id(), 11);
        assert_eq!(
            run.actions()[0].next_calldate(),
            Some(testing::local("2026-12-01 11:00"))
        );
    }

    #[test]
    fn sent_and_delivered_do_nothing() {
        let record = testing::record(11, "+36301234567");
        for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered] {
            let run = TestHost::new().run::<NotTraceableCallback>(testing::outbound(
                &record,
                status,
                1_800_000_000,
            ));
            assert_eq!(run.actions(), &[], "{status:?}");
        }
    }

    #[test]
    fn delay_and_disposition_come_from_config() {
        let record = testing::record(11, "+36301234567");
        let at = testing::local("2026-12-01 10:00");
        let run = TestHost::new()
            .config("delay_minutes", "15")
            .config("disposition_id", "31")
            .run::<NotTraceableCallback>(testing::outbound(
                &record,
                DeliveryStatus::NotTraceable,
                at,
            ));
        assert_eq!(
            run.actions(),
            &[Action::custom(11, 31, Some(at + 15 * 60))
                .with_note("not traceable: call back in 15 min")]
        );
    }

    #[test]
    fn a_bad_config_value_fails_with_its_name() {
        let record = testing::record(11, "+36301234567");
        let run = TestHost::new()
            .config("delay_minutes", "soon")
            .run::<NotTraceableCallback>(testing::outbound(
                &record,
                DeliveryStatus::NotTraceable,
                0,
            ));
        assert!(run.result.unwrap_err().contains("delay_minutes"));
    }
}
