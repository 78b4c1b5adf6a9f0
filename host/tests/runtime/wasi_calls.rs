//! Every WASI function a plugin can link, called, and held to its promise.
//!
//! The host links the interfaces in `LINKED_WASI` and nothing else. The
//! hostile plugin's `every-wasi-call` attack calls each of their functions
//! once (stream methods once per stream, pollable methods once per
//! pollable) and logs one line per call, `interface#function(arguments) ->
//! what it returned`. The tests here hold every line to what the sandbox
//! promises: nothing waits, nothing tells the plugin about the host (no
//! environment, arguments, working directory or terminal), stdin is
//! closed, stdout discards, stderr stops at its cap, the wall clock reads
//! the event's time, the monotonic clock stands still, and randomness is a
//! function of the event. `exit` and oversized random requests end the
//! call, as the plugin's failure.
//!
//! Completeness is checked against the component itself: the functions
//! the report names must be exactly the functions of linked interfaces
//! that the hostile component imports (read from its import section by
//! wasmtime), and it must import every linked interface. So a function the
//! attack stops calling, or an interface added to `LINKED_WASI` without a
//! call here, fails the test. What it cannot see is a function a later
//! wasmtime-wasi adds to an interface already linked, until the plugin's
//! `wasip2` bindings are updated to call it: wasmtime's linker cannot list
//! what it defines.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::runtime::limits::{MAX_RANDOM_BYTES, MAX_STDERR_BYTES, MAX_WASI_RESOURCES};
use smstrigger_host::runtime::{Error, LINKED_WASI, LimitExceeded, Limits};
use smstrigger_test_components as components;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::*;

/// The event's time, which the wall clock must read.
const EVENT_TIME: Timestamp = 1_800_000_000;

/// How long a test waits for a call before declaring that the call is
/// waiting in the host: neither fuel nor the epoch deadline can stop a host
/// call, so a wait there would otherwise hang the test instead of failing it.
const WATCHDOG: Duration = Duration::from_secs(30);

fn receipt(message_id: &str) -> SmsEvent {
    let mut event = outbound(
        &record(1, "+36301234567"),
        DeliveryStatus::Delivered,
        EVENT_TIME,
    );
    if let SmsEvent::Outbound(status) = &mut event {
        status.message_id = message_id.into();
    }
    event
}

/// Runs a hostile attack on `event` with the default limits on a thread of
/// its own; returns the outcome and how long the call took, or fails the
/// test if the call is still running after [`WATCHDOG`].
fn run(event: SmsEvent, config: &[(&str, &str)]) -> (Outcome, Duration) {
    let config: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let described = format!("{config:?}");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let config: Vec<(&str, &str)> = config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let plugin = load(components::HOSTILE_PLUGIN);
        let started = Instant::now();
        let outcome = invoke(&plugin, &event, &config);
        let _ = sender.send((outcome, started.elapsed()));
    });
    receiver
        .recv_timeout(WATCHDOG)
        .unwrap_or_else(|_| panic!("{described} held the host for {WATCHDOG:?}: a host call waits"))
}

/// The report of one `every-wasi-call` run: what each call returned, keyed
/// by `interface#function(arguments)`, and which lines a test has checked.
struct Report {
    lines: BTreeMap<String, String>,
    checked: BTreeSet<String>,
    text: String,
}

impl Report {
    fn of(outcome: &Outcome) -> Self {
        let text: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
        let mut lines = BTreeMap::new();
        for line in &text {
            let (call, value) = line
                .split_once(" -> ")
                .unwrap_or_else(|| panic!("a report line without ` -> `: {line}"));
            let previous = lines.insert(call.to_string(), value.to_string());
            assert!(previous.is_none(), "{call} reported twice");
        }
        Self {
            lines,
            checked: BTreeSet::new(),
            text: text.join("\n"),
        }
    }

    /// What `call` returned; marks the line checked.
    fn returned(&mut self, call: &str) -> String {
        self.checked.insert(call.to_string());
        self.lines
            .get(call)
            .unwrap_or_else(|| panic!("no line for {call} in the report:\n{}", self.text))
            .clone()
    }

    fn expect(&mut self, call: &str, expected: &str) {
        let value = self.returned(call);
        assert_eq!(value, expected, "{call}; the report:\n{}", self.text);
    }

    /// The functions the report covers: `interface#function`.
    fn functions(&self) -> BTreeSet<String> {
        self.lines
            .keys()
            .map(|call| call.split_once('(').map_or(call.as_str(), |(f, _)| f))
            .map(str::to_string)
            .collect()
    }
}

/// Runs `every-wasi-call` on the event with `message_id`; it must answer
/// no actions, having made every call.
fn every_wasi_call(message_id: &str) -> (Outcome, Duration) {
    let (outcome, took) = run(receipt(message_id), &[("attack", "every-wasi-call")]);
    // Every `log` checks the deadline, so an `Ok` also says no call before
    // the last line used up the call's wall-clock limit.
    assert_eq!(outcome.result, Ok(vec![]), "{:?}", outcome.logs);
    (outcome, took)
}

#[test]
fn every_linked_wasi_function_returns_at_once_and_keeps_its_promise() {
    let (outcome, took) = every_wasi_call("m-1");
    // Each call is ready at once or would wait for ever (the clock
    // pollables are due at the end of time), so the whole call, some
    // sixty WASI calls, must end within one deadline: the bound leaves
    // room for a loaded machine, not for a wait.
    let deadline = Limits::default().wall_deadline;
    assert!(
        took < deadline,
        "calling every WASI function took {took:?}, the deadline is {deadline:?}"
    );
    let mut report = Report::of(&outcome);

    // Nothing of the host: no environment, arguments, directory, terminal.
    report.expect("wasi:cli/environment#get-environment()", "[]");
    report.expect("wasi:cli/environment#get-arguments()", "[]");
    report.expect("wasi:cli/environment#initial-cwd()", "None");
    report.expect("wasi:cli/terminal-stdin#get-terminal-stdin()", "none");
    report.expect("wasi:cli/terminal-stdout#get-terminal-stdout()", "none");
    report.expect("wasi:cli/terminal-stderr#get-terminal-stderr()", "none");

    // The wall clock is the event's time; the monotonic clock stands still
    // and its pollables, due at the end of time, are ready at once.
    report.expect(
        "wasi:clocks/wall-clock#now()",
        &format!("{EVENT_TIME}s 0ns"),
    );
    report.expect("wasi:clocks/wall-clock#resolution()", "1s 0ns");
    report.expect("wasi:clocks/monotonic-clock#now()", "0");
    report.expect("wasi:clocks/monotonic-clock#resolution()", "1");
    let never = u64::MAX;
    for function in ["subscribe-instant", "subscribe-duration"] {
        let call = format!("wasi:clocks/monotonic-clock#{function}({never})");
        report.expect(&call, "pollable");
    }

    // Stdin is closed: every read ends at once.
    report.expect("wasi:cli/stdin#get-stdin()", "input-stream");
    for method in ["read", "blocking-read", "skip", "blocking-skip"] {
        let call = format!("wasi:io/streams#[method]input-stream.{method}(stdin, 1)");
        report.expect(&call, "closed");
    }
    report.expect(
        "wasi:io/streams#[method]input-stream.subscribe(stdin)",
        "pollable",
    );

    // Stdout and stderr take writes at once; splicing from the closed
    // stdin ends at once.
    for stream in ["stdout", "stderr"] {
        report.expect(
            &format!("wasi:cli/{stream}#get-{stream}()"),
            "output-stream",
        );
        let method =
            |m: &str, args: &str| format!("wasi:io/streams#[method]output-stream.{m}({args})");
        for (m, args) in [
            ("write", format!("{stream}, 1 byte")),
            ("blocking-write-and-flush", format!("{stream}, 1 byte")),
            ("flush", stream.to_string()),
            ("blocking-flush", stream.to_string()),
            ("write-zeroes", format!("{stream}, 1")),
            ("blocking-write-zeroes-and-flush", format!("{stream}, 1")),
        ] {
            report.expect(&method(m, &args), "ok ()");
        }
        for m in ["splice", "blocking-splice"] {
            report.expect(&method(m, &format!("{stream}, stdin, 1")), "closed");
        }
        report.expect(&method("subscribe", stream), "pollable");
    }

    // Stdout discards: it keeps offering the same room however much it
    // took, and took every write.
    let check_write =
        |args: &str| format!("wasi:io/streams#[method]output-stream.check-write({args})");
    let fill = |stream: &str| {
        format!(
            "wasi:io/streams#[method]output-stream.blocking-write-and-flush({stream}, 4096 bytes x 16)"
        )
    };
    let room = report.returned(&check_write("stdout"));
    let permit: u64 = room
        .strip_prefix("ok ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("stdout's check-write: {room}"));
    assert!(permit > 0, "stdout offers no room: {room}");
    report.expect(&check_write("stdout after"), &room);
    report.expect(&fill("stdout"), "16 taken, last ok ()");
    report.expect(&check_write("stdout filled"), &room);

    // Stderr is capped: it offers its cap, less what was written, and
    // closes when full, without waiting.
    report.expect(&check_write("stderr"), &format!("ok {MAX_STDERR_BYTES}"));
    report.expect(
        &check_write("stderr after"),
        &format!("ok {}", MAX_STDERR_BYTES - 4),
    );
    report.expect(&fill("stderr"), "0 taken, last closed");
    report.expect(&check_write("stderr filled"), "closed");

    // Every pollable is ready: `poll` names them all, `block` returns.
    let pollables = [
        "clock-instant",
        "clock-duration",
        "stdin",
        "stdout",
        "stderr",
    ];
    report.expect(
        &format!("wasi:io/poll#poll({})", pollables.join(", ")),
        "[0, 1, 2, 3, 4]",
    );
    for pollable in pollables {
        report.expect(
            &format!("wasi:io/poll#[method]pollable.ready({pollable})"),
            "true",
        );
        report.expect(
            &format!("wasi:io/poll#[method]pollable.block({pollable})"),
            "returned",
        );
    }

    // No stream fails with an error a plugin could read host details from:
    // each ends `closed` or traps, so there is no `error` to ask.
    report.expect(
        "wasi:io/error#[method]error.to-debug-string()",
        "no stream call failed: no error to ask",
    );

    // Randomness answers (its values are the next test's).
    for call in [
        "wasi:random/random#get-random-bytes(16)",
        "wasi:random/insecure#get-insecure-random-bytes(16)",
    ] {
        let hex = report.returned(call);
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{call}: {hex}"
        );
    }
    for call in [
        "wasi:random/random#get-random-u64()",
        "wasi:random/insecure#get-insecure-random-u64()",
    ] {
        let number = report.returned(call);
        assert!(number.parse::<u64>().is_ok(), "{call}: {number}");
    }
    let seed = report.returned("wasi:random/insecure-seed#insecure-seed()");
    assert!(seed.starts_with('(') && seed.ends_with(')'), "{seed}");

    let unchecked: Vec<&String> = report
        .lines
        .keys()
        .filter(|call| !report.checked.contains(*call))
        .collect();
    assert!(
        unchecked.is_empty(),
        "report lines no test checks: {unchecked:?}"
    );
}

#[test]
fn wasi_randomness_is_the_same_for_the_same_event_and_other_for_another() {
    let first = Report::of(&every_wasi_call("m-1").0);
    let again = Report::of(&every_wasi_call("m-1").0);
    let other = Report::of(&every_wasi_call("m-2").0);
    assert_eq!(
        first.text, again.text,
        "the same event must get the same answers"
    );
    for call in [
        "wasi:random/random#get-random-bytes(16)",
        "wasi:random/random#get-random-u64()",
        "wasi:random/insecure#get-insecure-random-bytes(16)",
        "wasi:random/insecure#get-insecure-random-u64()",
        "wasi:random/insecure-seed#insecure-seed()",
    ] {
        assert_ne!(
            first.lines.get(call),
            other.lines.get(call),
            "{call}: another event must get other randomness"
        );
    }
}

#[test]
fn random_bytes_up_to_the_cap_are_given_and_one_more_traps_naming_the_cap() {
    for attack in ["random-bytes", "insecure-random-bytes"] {
        let at_cap = MAX_RANDOM_BYTES.to_string();
        let (outcome, _) = run(receipt("m-1"), &[("attack", attack), ("len", &at_cap)]);
        let actions = outcome.result.expect(attack);
        assert_eq!(
            actions[0].set_disposition().unwrap().note.as_deref(),
            Some(&*format!("{at_cap} bytes"))
        );

        let over = (MAX_RANDOM_BYTES + 1).to_string();
        let (outcome, took) = run(receipt("m-1"), &[("attack", attack), ("len", &over)]);
        match outcome.result {
            Err(Error::Trap { message }) => assert!(
                message.contains(&format!("exceeds limit {MAX_RANDOM_BYTES}")),
                "{attack}: {message}"
            ),
            other => panic!("{attack} of {over} bytes: expected a trap, got {other:?}"),
        }
        assert!(
            took < Limits::default().wall_deadline,
            "{attack} took {took:?}"
        );
    }
}

#[test]
fn exit_ends_the_call_as_the_plugins_failure_not_the_hosts() {
    for (config, status) in [
        (("status", "ok"), 0),
        (("status", "err"), 1),
        (("code", "0"), 0),
        (("code", "7"), 7),
    ] {
        let attack = if config.0 == "status" {
            "exit"
        } else {
            "exit-with-code"
        };
        let (outcome, took) = run(receipt("m-1"), &[("attack", attack), config]);
        let error = outcome.result.expect_err(attack);
        assert_eq!(error.code(), "trap", "{attack} {config:?}: {error}");
        assert!(!error.is_host_fault(), "{attack} {config:?}: {error}");
        assert_eq!(
            error,
            Error::Trap {
                message: format!(
                    "the plugin called exit with status {status} instead of answering"
                )
            }
        );
        assert_eq!(
            outcome.logs.len(),
            1,
            "the report of the call: {:?}",
            outcome.logs
        );
        assert!(
            took < Limits::default().wall_deadline,
            "{attack} took {took:?}"
        );
    }
}

/// The functions of linked interfaces the hostile component imports, as
/// `interface#function` (unversioned): read by wasmtime from the
/// component's own import section.
fn linked_functions_imported_by_the_hostile_plugin() -> (BTreeSet<String>, BTreeSet<String>) {
    let bytes = std::fs::read(components::HOSTILE_PLUGIN).unwrap();
    let engine = runtime().engine();
    let component = Component::new(engine, &bytes).unwrap();
    let mut interfaces = BTreeSet::new();
    let mut functions = BTreeSet::new();
    for (name, import) in component.component_type().imports(engine) {
        let interface = name.split_once('@').map_or(name, |(i, _)| i);
        if !LINKED_WASI.contains(&interface) {
            continue;
        }
        interfaces.insert(interface.to_string());
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            panic!("{name} is imported as something other than an instance");
        };
        for (function, item) in instance.exports(engine) {
            if let ComponentItem::ComponentFunc(_) = item.ty {
                functions.insert(format!("{interface}#{function}"));
            }
        }
    }
    (interfaces, functions)
}

#[test]
fn the_report_covers_every_function_of_every_linked_wasi_interface() {
    let (interfaces, imported) = linked_functions_imported_by_the_hostile_plugin();
    let linked: BTreeSet<String> = LINKED_WASI.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        interfaces, linked,
        "the hostile plugin must import every linked interface, so each is called"
    );

    let mut covered = Report::of(&every_wasi_call("m-1").0).functions();
    for (attack, config) in [
        ("exit", ("status", "ok")),
        ("exit-with-code", ("code", "0")),
    ] {
        let (outcome, _) = run(receipt("m-1"), &[("attack", attack), config]);
        covered.extend(Report::of(&outcome).functions());
    }
    let missing: Vec<&String> = imported.difference(&covered).collect();
    let unknown: Vec<&String> = covered.difference(&imported).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "imported but not called and reported: {missing:?}; reported but not imported: {unknown:?}"
    );
}

#[test]
fn holding_more_wasi_resources_than_the_cap_traps_naming_it() {
    // A clock pollable takes two entries (the pollable and what it
    // watches), so the cap holds half as many pollables.
    let fits = (MAX_WASI_RESOURCES / 2).to_string();
    let (outcome, _) = run(
        receipt("m-1"),
        &[("attack", "hoard-pollables"), ("count", &fits)],
    );
    let actions = outcome.result.expect("pollables up to the cap");
    assert_eq!(
        actions[0].set_disposition().unwrap().note.as_deref(),
        Some(&*format!("{fits} pollables"))
    );

    for count in [MAX_WASI_RESOURCES / 2 + 1, 1_000_000] {
        let count = count.to_string();
        let (outcome, took) = run(
            receipt("m-1"),
            &[("attack", "hoard-pollables"), ("count", &count)],
        );
        let error = outcome.result.expect_err(&count);
        assert_eq!(
            error,
            Error::Limit(LimitExceeded::WasiResources {
                limit: MAX_WASI_RESOURCES
            })
        );
        assert_eq!(error.code(), "wasi_resource_limit");
        assert!(!error.is_host_fault());
        assert!(took < Limits::default().wall_deadline, "{count}: {took:?}");
    }
}
