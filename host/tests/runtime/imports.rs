//! What a plugin can import, and that nothing it imports can wait.
//!
//! The host links only the WASI interfaces in `LINKED_WASI`; a component
//! importing anything else (files, sockets, name lookups) is refused when
//! it loads, with the import named. Of what is linked, every function that
//! could wait (clock pollables, `poll`, `pollable.block`, blocking stream
//! reads and writes) returns at once, so a call's wall-clock limit holds
//! whatever the plugin asks of the host: a plugin that sleeps sleeps no
//! time, one that waits for the clock to move waits in its own code, where
//! fuel and the deadline stop it. Each attack below was a plugin that held a
//! worker for as long as it liked before.

use std::time::{Duration, Instant};

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::runtime::{Error, LINKED_WASI, Limits};
use smstrigger_test_components as components;

use super::*;

/// A deadline small enough that a test of it is quick, large enough that a
/// loaded machine does not trip it on a plugin that returns at once.
const DEADLINE: Duration = Duration::from_secs(1);

/// Runs a hostile attack with fuel to spare, so the deadline is what would
/// stop a wait; returns the outcome and how long the call took.
fn attack(name: &str) -> (Outcome, Duration) {
    let limits = Limits {
        fuel: u64::MAX / 2,
        wall_deadline: DEADLINE,
        ..Limits::default()
    };
    let event = outbound(&record(1, "+36301234567"), DeliveryStatus::Delivered, 0);
    let started = Instant::now();
    let outcome = invoke_with(
        &load(components::HOSTILE_PLUGIN),
        &event,
        &[("attack", name)],
        limits,
        vec![],
    );
    (outcome, started.elapsed())
}

/// The promise: the call is over within twice its deadline.
fn assert_within_twice_the_deadline(name: &str, took: Duration) {
    assert!(
        took < 2 * DEADLINE,
        "{name} held the host for {took:?}, past twice the {DEADLINE:?} deadline"
    );
}

#[test]
fn a_plugin_that_sleeps_three_seconds_sleeps_no_time() {
    let (outcome, took) = attack("sleep");
    assert_eq!(outcome.result, Ok(vec![]));
    assert_within_twice_the_deadline("sleep", took);
}

#[test]
fn blocking_on_a_clock_pollable_due_in_584_years_returns_at_once() {
    let (outcome, took) = attack("block-forever");
    assert_eq!(
        outcome.result,
        Err(Error::Plugin {
            message: "block returned at once".into()
        })
    );
    assert_within_twice_the_deadline("block-forever", took);
}

#[test]
fn polling_a_pollable_due_at_the_end_of_time_returns_at_once() {
    let (outcome, took) = attack("poll-forever");
    assert_eq!(
        outcome.result,
        Err(Error::Plugin {
            message: "poll returned at once, ready: [0]".into()
        })
    );
    assert_within_twice_the_deadline("poll-forever", took);
}

#[test]
fn waiting_for_the_clock_to_move_is_stopped_by_the_deadline() {
    let (outcome, took) = attack("wait-for-clock");
    assert_eq!(
        outcome.result,
        Err(Error::Deadline {
            millis: DEADLINE.as_millis() as u64
        })
    );
    assert_eq!(outcome.result.unwrap_err().code(), "deadline_exceeded");
    assert_within_twice_the_deadline("wait-for-clock", took);
}

#[test]
fn a_blocking_read_of_stdin_finds_it_closed_at_once() {
    let (outcome, took) = attack("read-stdin");
    match outcome.result {
        Err(Error::Plugin { message }) => assert!(message.contains("Closed"), "{message}"),
        other => panic!("expected the plugin's report of a closed stdin, got {other:?}"),
    }
    assert_within_twice_the_deadline("read-stdin", took);
}

#[test]
fn flooding_stderr_stops_at_its_cap_without_waiting() {
    let (outcome, took) = attack("stderr-flood");
    match outcome.result {
        Err(Error::Plugin { message }) => {
            assert!(message.starts_with("refused after 4 KiB"), "{message}")
        }
        Err(Error::Trap { message }) => assert!(message.contains("capacity"), "{message}"),
        other => panic!("expected stderr to refuse the flood, got {other:?}"),
    }
    assert_within_twice_the_deadline("stderr-flood", took);
}

#[test]
fn flooding_stdout_is_discarded_without_waiting() {
    let (outcome, took) = attack("stdout-flood");
    // 100 MiB of writes finish, or run into the deadline: never a wait.
    assert!(
        matches!(outcome.result, Ok(_) | Err(Error::Deadline { .. })),
        "{:?}",
        outcome.result
    );
    assert_within_twice_the_deadline("stdout-flood", took);
}

/// A component importing one function `name` of `interface` (taking and
/// returning nothing) and exporting an `on-event` of the wrong type: the
/// upload check passes it on to the linker when the interface is one the
/// host links, and the linker, which resolves imports first, names the
/// function it lacks.
fn importing(interface: &str, name: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (import "{interface}" (instance (export "{name}" (func))))
             (core module $m (func (export "f") (result i32) i32.const 0))
             (core instance $i (instantiate $m))
             (func (export "on-event") (result u32) (canon lift (core func $i "f")))
           )"#
    ))
    .unwrap()
}

#[test]
fn components_importing_files_or_sockets_are_refused_with_the_import_named() {
    for interface in [
        "wasi:filesystem/preopens@0.2.6",
        "wasi:filesystem/types@0.2.6",
        "wasi:sockets/tcp-create-socket@0.2.6",
        "wasi:sockets/udp-create-socket@0.2.6",
        "wasi:sockets/instance-network@0.2.6",
        "wasi:sockets/ip-name-lookup@0.2.6",
        "wasi:http/outgoing-handler@0.2.6",
    ] {
        let error = runtime()
            .load(&importing(interface, "anything"))
            .expect_err(interface);
        assert_eq!(error.code(), "contract_mismatch", "{interface}: {error}");
        assert!(
            error.to_string().contains(interface),
            "{interface}: {error}"
        );
    }
}

/// Every linked interface is really linked (a component importing it gets
/// past the name check, to the type check), and nothing else is: the list
/// the docs and the upload checks rely on is the linker's.
#[test]
fn every_interface_in_the_linked_list_is_linked_at_any_0_2_version() {
    for interface in LINKED_WASI {
        for version in ["0.2.0", "0.2.6"] {
            let name = format!("{interface}@{version}");
            let error = runtime()
                .load(&importing(&name, "no-such-function"))
                .expect_err(&name);
            assert!(
                error.to_string().contains("no-such-function"),
                "{name} is not linked: {error}"
            );
        }
    }
}
