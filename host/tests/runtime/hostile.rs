//! The hostile plugin's attacks: each is stopped with an error that names
//! the limit (or gets the denial its import gives), uses no more than its
//! budget, and leaves the engine fit for the next event.

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::runtime::{Error, LimitExceeded, Limits, MEMORY_CEILING_BYTES};
use smstrigger_test_components as components;

use super::*;

fn hostile() -> Plugin {
    load(components::HOSTILE_PLUGIN)
}

fn event() -> SmsEvent {
    outbound(
        &record(1, "+36301234567"),
        DeliveryStatus::Delivered,
        1_800_000_000,
    )
}

fn attack_with(attack: &str, limits: Limits) -> Outcome {
    let outcome = invoke_with(&hostile(), &event(), &[("attack", attack)], limits, vec![]);
    assert!(
        outcome.fuel_used <= limits.fuel,
        "{attack} used {} fuel of a budget of {}",
        outcome.fuel_used,
        limits.fuel
    );
    assert_the_next_event_succeeds();
    outcome
}

fn attack(attack: &str) -> Outcome {
    attack_with(attack, Limits::default())
}

/// The engine, the pool and the other plugins are unaffected.
fn assert_the_next_event_succeeds() {
    let outcome = invoke(&hostile(), &event(), &[("attack", "ok")]);
    assert_eq!(outcome.result, Ok(vec![]));
    let plugin = load(components::NOT_TRACEABLE_CALLBACK);
    let receipt = outbound(&record(1, "+36301234567"), DeliveryStatus::NotTraceable, 0);
    assert_eq!(invoke(&plugin, &receipt, &[]).result.unwrap().len(), 1);
}

/// Limits large enough that the answer caps, not memory or fuel, are what
/// an oversized answer runs into.
fn roomy() -> Limits {
    Limits {
        memory_bytes: MEMORY_CEILING_BYTES,
        fuel: 4_000_000_000,
        wall_deadline: std::time::Duration::from_secs(10),
        ..Limits::default()
    }
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let outcome = attack("loop");
    assert_eq!(
        outcome.result,
        Err(Error::OutOfFuel {
            fuel: Limits::default().fuel
        })
    );
}

#[test]
fn the_wall_clock_backstop_stops_a_loop_that_fuel_would_not() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        wall_deadline: std::time::Duration::from_millis(50),
        ..Limits::default()
    };
    let outcome = attack_with("loop", limits);
    assert_eq!(outcome.result, Err(Error::Deadline { millis: 50 }));
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let outcome = attack("memory");
    match outcome.result {
        Err(Error::Limit(LimitExceeded::Memory { limit, .. })) => {
            assert_eq!(limit, Limits::default().memory_bytes)
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
}

#[test]
fn runaway_recursion_overflows_the_wasm_stack() {
    let outcome = attack("recursion");
    assert!(
        matches!(outcome.result, Err(Error::StackOverflow { .. })),
        "{:?}",
        outcome.result
    );
}

#[test]
fn a_panic_is_a_trap_that_carries_the_panic_message() {
    let outcome = attack("panic");
    let err = outcome.result.unwrap_err();
    assert_eq!(err.code(), "trap");
    assert!(
        err.to_string()
            .contains("hostile plugin panicked on purpose"),
        "{err}"
    );
}

#[test]
fn a_million_actions_are_refused_by_the_action_cap() {
    let outcome = attack_with("many-actions", roomy());
    assert_eq!(
        outcome.result,
        Err(Error::TooManyActions {
            count: 1_000_000,
            limit: 16
        })
    );
}

#[test]
fn a_million_actions_within_default_limits_hit_the_memory_limit_first() {
    let outcome = attack("many-actions");
    assert_eq!(outcome.result.unwrap_err().code(), "memory_limit");
}

#[test]
fn one_action_over_the_cap_is_refused() {
    let outcome = attack("actions-17");
    assert_eq!(
        outcome.result,
        Err(Error::TooManyActions {
            count: 17,
            limit: 16
        })
    );
}

#[test]
fn a_100_mib_note_or_sms_text_is_refused() {
    assert_eq!(
        attack("huge-string").result.unwrap_err().code(),
        "memory_limit"
    );
    for (huge, limit) in [("huge-string", 1024), ("huge-sms", 4096)] {
        let outcome = attack_with(huge, roomy());
        assert_eq!(
            outcome.result,
            Err(Error::NoteTooLong {
                index: 0,
                len: 100 << 20,
                limit
            }),
            "{huge}"
        );
    }
}

#[test]
fn a_100_mib_error_message_is_cut() {
    let outcome = attack_with("huge-error", roomy());
    match outcome.result {
        Err(Error::Plugin { message }) => assert!(message.len() <= 4096, "{}", message.len()),
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}

/// The probe attacks return `Err` listing the denials, or `Ok` with what
/// leaked.
fn denied(attack_name: &str) -> String {
    match attack(attack_name).result {
        Err(Error::Plugin { message }) => message,
        other => panic!("{attack_name} got through the sandbox: {other:?}"),
    }
}

#[test]
fn environment_and_arguments_are_empty() {
    let message = denied("env");
    assert!(message.contains("0 vars, 0 args"), "{message}");
}

#[test]
fn a_log_flood_stops_at_the_log_limit_with_the_lines_so_far() {
    let outcome = attack("log-flood");
    assert_eq!(
        outcome.result,
        Err(Error::Limit(LimitExceeded::LogLines { limit: 100 }))
    );
    assert_eq!(outcome.logs.len(), 100);
}

#[test]
fn a_lookup_flood_stops_at_the_lookup_limit() {
    let outcome = attack("lookup-flood");
    assert_eq!(
        outcome.result,
        Err(Error::Limit(LimitExceeded::Lookups { limit: 16 }))
    );
}
