//! The keyword rule written in JavaScript (`plugins-js/keyword-disposition`,
//! built with componentize-js from the same `wit/`) through the real
//! runtime, on the scenarios of its Rust twin `keyword-disposition`: every
//! scenario runs both components and asserts they decided alike, then what
//! they decided. It shows the contract is the WIT world, not a Rust ABI.
//!
//! `smstrigger-test-components` builds the component with npm (Node.js 20
//! or later) as part of `cargo test`; without npm the build fails and says
//! so. These tests are never skipped.

use smstrigger_host::model::{DeliveryStatus, Disposition, RecordId, SetDisposition};
use smstrigger_host::runtime::{Error, LogLevel, LogLine};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

const KEYWORDS: &str = "CALLBACK=2@30m, PAID=41, WRONG NUMBER=42, LATER=43@2d";

/// The JavaScript keyword plugin, compiled once for the test binary.
fn javascript() -> Plugin {
    load(components::KEYWORD_DISPOSITION_JS)
}

/// Runs `event` through the Rust and the JavaScript keyword plugins with
/// the default limits, asserts they answered and logged the same, and
/// returns the JavaScript outcome.
fn both(event: &SmsEvent, config: &[(&str, &str)]) -> Outcome {
    let rust = invoke(&load(components::KEYWORD_DISPOSITION), event, config);
    let js = invoke(&javascript(), event, config);
    assert_eq!(
        js.result, rust.result,
        "JavaScript and Rust answered differently with config {config:?}"
    );
    assert_eq!(
        js.logs, rust.logs,
        "JavaScript and Rust logged differently with config {config:?}"
    );
    js
}

fn reply(message: &str, matches: &[u64], at: Timestamp) -> SmsEvent {
    let records: Vec<ContactRecord> = matches.iter().map(|&id| record(id, PHONE)).collect();
    let records: Vec<&ContactRecord> = records.iter().collect();
    inbound(&records, PHONE, message, at)
}

fn custom(record_id: u64, id: u32, note: &str) -> smstrigger_host::model::Action {
    smstrigger_host::model::Action::SetDisposition(SetDisposition {
        record_id: RecordId(record_id),
        disposition: Disposition::Custom {
            id,
            next_calldate: None,
        },
        note: Some(note.into()),
    })
}

#[test]
fn a_keyword_sets_its_disposition_on_every_matched_record_in_both_languages() {
    let now = local("2026-12-01 10:00");
    let config = [("keywords", "PAID=41, CALLBACK=2@30m")];
    let outcome = both(&reply("paid.", &[6], now), &config);
    assert_eq!(
        outcome.result,
        Ok(vec![custom(6, 41, "customer replied PAID")])
    );
    let outcome = both(
        &reply(" Wrong number! ", &[6, 7], now),
        &[("keywords", KEYWORDS)],
    );
    let expected = |id| custom(id, 42, "customer replied WRONG NUMBER");
    assert_eq!(outcome.result, Ok(vec![expected(6), expected(7)]));
    // Upper-casing beyond ASCII agrees too.
    let outcome = both(
        &reply("köszönöm!", &[6], now),
        &[("keywords", "KÖSZÖNÖM=44")],
    );
    assert_eq!(
        outcome.result,
        Ok(vec![custom(6, 44, "customer replied KÖSZÖNÖM")])
    );
}

#[test]
fn callback_with_a_delay_is_a_shared_callback_30_minutes_later_in_both_languages() {
    let now = local("2026-12-01 10:00");
    let config = [("keywords", "PAID=41, CALLBACK=2@30m")];
    let outcome = both(&reply("Callback", &[6], now), &config);
    let actions = outcome.result.expect("the plugin answers");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].record_id(), RecordId(6));
    assert_eq!(
        actions[0].set_disposition().unwrap().disposition,
        Disposition::SharedCallback {
            at: local("2026-12-01 10:30")
        }
    );
    assert_eq!(
        actions[0].set_disposition().unwrap().note.as_deref(),
        Some("customer replied CALLBACK")
    );
    // Days are 24 real hours, across the autumn DST change as well.
    let outcome = both(
        &reply("later", &[6], local("2026-10-24 12:00")),
        &[("keywords", KEYWORDS)],
    );
    assert_eq!(
        outcome.result.unwrap()[0]
            .set_disposition()
            .unwrap()
            .disposition,
        Disposition::Custom {
            id: 43,
            next_calldate: Some(local("2026-10-26 11:00"))
        }
    );
}

#[test]
fn a_malformed_config_fails_with_the_same_plugin_error_naming_the_entry() {
    let sms = reply("PAID", &[6], local("2026-12-01 10:00"));
    let outcome = both(&sms, &[("keywords", "PAID=forty-one")]);
    let err = outcome.result.unwrap_err();
    assert_eq!(err.code(), "plugin_error");
    assert_eq!(
        err,
        Error::Plugin {
            message: "config `keywords`: entry `PAID=forty-one`: `forty-one` is not a \
                      disposition id"
                .into()
        }
    );
    // Every kind of bad entry the Rust unit tests know, with the same message.
    for (setting, why) in [
        ("PAID=41, WRONG", "KEYWORD=ID"),
        ("=41", "keyword is empty"),
        ("?!=41", "keyword is empty"),
        ("PAID=-1", "not a disposition id"),
        ("PAID=99999999999", "not a disposition id"),
        ("LATER=43@30", "not a delay"),
        ("LATER=43@30s", "not a delay"),
        ("LATER=43@h", "not a delay"),
        ("LATER=43@1h@2h", "not a delay"),
        ("CALLBACK=2", "needs a delay"),
        ("PAID=41, paid!=42", "same keyword"),
    ] {
        let bad = setting.rsplit(',').next().unwrap().trim();
        let err = both(&sms, &[("keywords", setting)]).result.unwrap_err();
        assert_eq!(err.code(), "plugin_error", "{setting}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("entry `{bad}`: ")) && message.contains(why),
            "{setting}: {message}"
        );
    }
}

#[test]
fn a_message_that_is_not_exactly_a_keyword_does_nothing_in_both_languages() {
    let now = local("2026-12-01 10:00");
    for message in ["paid already, thanks", "PAIDX", "", "callback tomorrow"] {
        let outcome = both(&reply(message, &[6], now), &[("keywords", KEYWORDS)]);
        assert_eq!(outcome.result, Ok(vec![]), "{message:?}");
    }
    let outcome = both(&reply("PAID", &[], now), &[("keywords", KEYWORDS)]);
    assert_eq!(outcome.result, Ok(vec![]), "no matched records");
}

#[test]
fn an_outbound_event_does_nothing_in_both_languages_whatever_the_config() {
    let customer = record(6, PHONE);
    let at = local("2026-12-01 10:00");
    for status in [
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::NotTraceable,
    ] {
        let event = outbound(&customer, status, at);
        assert_eq!(both(&event, &[("keywords", KEYWORDS)]).result, Ok(vec![]));
        assert_eq!(both(&event, &[("keywords", "oops")]).result, Ok(vec![]));
    }
}

#[test]
fn unset_keywords_do_nothing_and_say_so_in_both_languages() {
    let sms = reply("PAID", &[6], local("2026-12-01 10:00"));
    for config in [&[][..], &[("keywords", "")][..], &[("keywords", " , ")][..]] {
        let outcome = both(&sms, config);
        assert_eq!(outcome.result, Ok(vec![]));
        let line = LogLine {
            level: LogLevel::Info,
            message: "no `keywords` configured: nothing to do".into(),
        };
        assert_eq!(outcome.logs, [line]);
    }
}

/// What the JavaScript plugin needs from the sandbox: StarlingMonkey's
/// snapshot starts at about 9.1 MiB of linear memory, inside the 16 MiB
/// default, and an event costs about 3 M units of fuel, 1.2% of the
/// default budget (the Rust twin: tens of thousands).
#[test]
fn the_javascript_plugin_runs_within_the_default_limits() {
    let sms = reply("Callback", &[6], local("2026-12-01 10:00"));
    let config = [("keywords", KEYWORDS)];
    let js = invoke(&javascript(), &sms, &config);
    assert!(js.result.is_ok(), "{:?}", js.result);
    assert!(
        js.fuel_used < Limits::default().fuel / 25,
        "fuel used: {}",
        js.fuel_used
    );
    let tight = Limits {
        memory_bytes: 9 << 20,
        ..Limits::default()
    };
    let outcome = invoke_with(&javascript(), &sms, &config, tight, vec![]);
    assert_eq!(outcome.result.unwrap_err().code(), "memory_limit");
}
