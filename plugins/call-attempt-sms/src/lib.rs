//! A call disposition assessed *not reached*, on the `after_attempts`-th
//! attempt or later (default 3) → an SMS to the record asking for a good
//! time, in the format `reply-call-time` reads (`YYYY-MM-DD hh:mm`), tagged
//! with the template id `template_id` (default `call-attempt-sms`) so the
//! reply can be told apart from other campaigns'. Calls that reached the
//! customer, earlier attempts, and SMS events → nothing.
//!
//! Config: `after_attempts` (default 3), `text` (a `{field}` template filled
//! from the record's fields; default [`DEFAULT_TEXT`]), `template_id`.
//! A `text` naming a field the record lacks fails the event with the
//! field's name rather than texting a customer a gap.

use smstrigger_sdk::{Action, Assessment, Event, Level, Trigger, config_or, log, template};

/// The text sent when the binding sets none.
pub const DEFAULT_TEXT: &str = "We tried to call you. When may we call you back? \
    Reply with a time as YYYY-MM-DD hh:mm, e.g. 2026-12-24 10:30.";

/// The template id the SMS carries when the binding sets none.
pub const DEFAULT_TEMPLATE: &str = "call-attempt-sms";

/// The rule; exported as the plugin's `on-event`.
pub struct CallAttemptSms;

impl Trigger for CallAttemptSms {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::CallDisposition(call) = event else {
            return Ok(Vec::new());
        };
        if call.disposition.assessment != Assessment::NotReached {
            return Ok(Vec::new());
        }
        let after: u32 = config_or("after_attempts", 3)?;
        if call.attempts < after {
            log(
                Level::Debug,
                &format!(
                    "attempt {} of {after} before an SMS: nothing yet",
                    call.attempts
                ),
            );
            return Ok(Vec::new());
        }
        let text: String = config_or("text", DEFAULT_TEXT.to_string())?;
        let template_id: String = config_or("template_id", DEFAULT_TEMPLATE.to_string())?;
        let text = template::fill(&text, &call.contact)?;
        log(
            Level::Info,
            &format!(
                "not reached ({}) on attempt {}: asking for a time by SMS",
                call.disposition.name, call.attempts
            ),
        );
        Ok(vec![
            Action::send_sms(call.contact.id, text).with_template(template_id),
        ])
    }
}

smstrigger_sdk::export_trigger!(CallAttemptSms);

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::DeliveryStatus;
    use smstrigger_sdk::testing::{self, TestHost};

    fn not_reached(attempts: u32) -> Event {
        testing::call_disposition(
            &testing::record(5, "+36301234567"),
            (7, "No answer", Assessment::NotReached),
            attempts,
            testing::local("2026-12-01 10:00"),
        )
    }

    #[test]
    fn the_third_unanswered_attempt_asks_for_a_time() {
        let run = TestHost::new().run::<CallAttemptSms>(not_reached(3));
        assert_eq!(
            run.actions(),
            &[Action::send_sms(5, DEFAULT_TEXT).with_template(DEFAULT_TEMPLATE)]
        );
        assert!(run.logged("attempt 3"));
        let later = TestHost::new().run::<CallAttemptSms>(not_reached(7));
        assert_eq!(later.actions().len(), 1);
    }

    #[test]
    fn earlier_attempts_reached_customers_and_sms_events_get_nothing() {
        let host = TestHost::new();
        assert_eq!(host.run::<CallAttemptSms>(not_reached(2)).actions(), &[]);
        for assessment in [Assessment::Reached, Assessment::GoalAchieved] {
            let reached = testing::call_disposition(
                &testing::record(5, "+36301234567"),
                (1, "Talked", assessment),
                5,
                0,
            );
            assert_eq!(host.run::<CallAttemptSms>(reached).actions(), &[]);
        }
        let receipt = testing::outbound(
            &testing::record(5, "+36301234567"),
            DeliveryStatus::Delivered,
            0,
        );
        assert_eq!(host.run::<CallAttemptSms>(receipt).actions(), &[]);
    }

    #[test]
    fn the_text_and_attempts_come_from_config_filled_from_the_record() {
        let mut record = testing::record(5, "+36301234567");
        record.fields.push(("first_name".into(), "Anna".into()));
        let call = testing::call_disposition(&record, (7, "Busy", Assessment::NotReached), 1, 0);
        let host = TestHost::new()
            .config("after_attempts", "1")
            .config("text", "{first_name}, when may we call?")
            .config("template_id", "ask-time-v2");
        assert_eq!(
            host.run::<CallAttemptSms>(call.clone()).actions(),
            &[Action::send_sms(5, "Anna, when may we call?").with_template("ask-time-v2")]
        );
        let gap = TestHost::new()
            .config("after_attempts", "1")
            .config("text", "{nickname}?")
            .run::<CallAttemptSms>(call);
        assert!(gap.result.unwrap_err().contains("nickname"));
    }
}
