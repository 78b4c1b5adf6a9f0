//! A **hostile** trigger plugin. Test-only: it exists to prove the sandbox's
//! limits hold, and must never be installed for a real tenant.
//!
//! Every attack is something a buggy or malicious tenant plugin could do.
//! The end-to-end tests install this plugin, pick an attack with the
//! `attack` config key, and check that the host stops it, contains it, or
//! rejects its answer, and that nothing else in the host is affected:
//!
//! | `attack` | what the plugin does |
//! | --- | --- |
//! | `ok` or unset | returns no actions (the control case) |
//! | `loop` | spins forever |
//! | `memory` | allocates and touches 1 MiB blocks forever |
//! | `recursion` | recurses without bound (not a tail call) on the engine's stack |
//! | `shadow-stack` | recurses without bound with big frames in linear memory |
//! | `panic` | panics |
//! | `many-actions`, `actions-17` | returns 1,000,000 actions, or 17 (one over a 16 cap) |
//! | `huge-string`, `huge-error`, `huge-sms` | returns a 100 MiB note, a 100 MiB error, or an SMS of 100 MiB |
//! | `sleep` | sleeps 3 s (`std::thread::sleep`), then returns no actions |
//! | `block-forever` | blocks on a monotonic-clock pollable due in 584 years |
//! | `poll-forever` | `wasi:io/poll.poll` on a pollable due at the end of time |
//! | `wait-for-clock` | sleeps in 10 ms steps until the monotonic clock has moved 1 s |
//! | `read-stdin` | a blocking read of stdin, then a block on its pollable |
//! | `stderr-flood`, `stdout-flood` | blocking writes of 1 KiB until the stream refuses, 100,000 at most |
//! | `env` | reads environment variables, arguments and the working directory |
//! | `clock-and-random` | reports the wall clock and a few WASI-seeded hashes |
//! | `every-wasi-call` | calls every function of every WASI interface the host links and logs what each returned (see [`every_call`]) |
//! | `exit` | `wasi:cli/exit.exit` with config `status` (`ok`, the default, or `err`) |
//! | `exit-with-code` | `wasi:cli/exit.exit-with-code` with config `code` (0 by default) |
//! | `random-bytes`, `insecure-random-bytes` | asks `wasi:random` for config `len` bytes; the note says how many came |
//! | `hoard-pollables` | subscribes to the monotonic clock config `count` times, keeping every pollable |
//! | `log-flood`, `lookup-flood` | calls `log`, or `find_records`, 1,000,000 times |
//! | `state` | counts its invocations in a `static` |
//! | `foreign-record` | discards the record with id `record_id` from config |
//! | `foreign-lookup` | looks up `phone` from config and discards what it finds |
//! | `sms` | texts config `text` to config `record_id` (the event's record by default) |
//!
//! An unknown attack is an error naming it.
//!
//! It imports only the WASI its attacks reach: with `every-wasi-call`, every
//! function of every interface the host links, which the runtime tests
//! check against this component's own import section. Files and sockets
//! are not linked by the host at all, so a component importing them could
//! not even be loaded; the runtime tests prove that with components of
//! their own.
//!
//! The probe (`env`) returns `Err` describing what it saw when the sandbox
//! gave it nothing, and `Ok` with one action whose note holds what leaked
//! otherwise, so a test that expects `Err` catches any leak and its failure
//! message shows what leaked.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use smstrigger_sdk::{Action, Event, Level, Trigger, config, find_records, log};

/// The actions `many-actions` returns: far over any sane per-event cap.
pub const MANY_ACTIONS: u64 = 1_000_000;

/// The actions `actions-17` returns: one over a cap of 16.
pub const OVER_CAP_ACTIONS: u64 = 17;

/// The length in bytes of the note of `huge-string` and the error of
/// `huge-error`: 100 MiB.
pub const HUGE_LEN: usize = 100 << 20;

/// How many host calls `log-flood` and `lookup-flood` make.
pub const FLOOD_CALLS: u32 = 1_000_000;

/// The size of each block `memory` allocates.
const MIB: usize = 1 << 20;

/// The plugin; exported as its `on-event`.
pub struct Hostile;

impl Trigger for Hostile {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let attack = config("attack").unwrap_or_else(|| "ok".to_string());
        let subject = subject(&event);
        match attack.as_str() {
            "ok" => Ok(Vec::new()),
            "loop" => spin_forever(),
            "memory" => hoard_memory(),
            "recursion" => noted(subject, format!("recursed {}", recurse(0))),
            "shadow-stack" => noted(subject, format!("recursed {}", recurse_in_memory(0))),
            "panic" => panic!("hostile plugin panicked on purpose"),
            "many-actions" => Ok(discards(MANY_ACTIONS)),
            "actions-17" => Ok(discards(OVER_CAP_ACTIONS)),
            "huge-string" => noted(subject, huge_string()),
            "huge-error" => Err(huge_string()),
            "huge-sms" => Ok(vec![Action::send_sms(subject, huge_string())]),
            "sleep" => sleep(),
            "block-forever" => waits::block_forever(),
            "poll-forever" => waits::poll_forever(),
            "wait-for-clock" => wait_for_clock(),
            "read-stdin" => waits::read_stdin(),
            "stderr-flood" => waits::flood_stream(waits::Stream::Stderr),
            "stdout-flood" => waits::flood_stream(waits::Stream::Stdout),
            "env" => read_environment(subject),
            "clock-and-random" => noted(subject, clock_and_random()),
            "every-wasi-call" => every_call::every_wasi_call(),
            "exit" => every_call::exit(&config("status").unwrap_or_else(|| "ok".into())),
            "exit-with-code" => every_call::exit_with_code(number("code")?),
            "random-bytes" => noted(subject, random_bytes(true)?),
            "insecure-random-bytes" => noted(subject, random_bytes(false)?),
            "hoard-pollables" => {
                let count = every_call::hoard_pollables(number("count")?)?;
                noted(subject, format!("{count} pollables"))
            }
            "log-flood" => flood_log(),
            "lookup-flood" => flood_lookups(&event),
            "state" => noted(subject, count_invocations()),
            "foreign-record" => foreign_record(),
            "foreign-lookup" => foreign_lookup(),
            "sms" => text(subject),
            other => Err(format!("hostile plugin: unknown attack `{other}`")),
        }
    }
}

smstrigger_sdk::export_trigger!(Hostile);

pub mod every_call;

/// The number in config `key` (0 when unset).
fn number<T: std::str::FromStr>(key: &str) -> Result<T, String> {
    let value = config(key).unwrap_or_else(|| "0".into());
    value
        .parse()
        .map_err(|_| format!("{key} `{value}` is not a number in range"))
}

/// `<n> bytes`: what `get-random-bytes` (or the insecure one, when not
/// `secure`) returned for config `len`.
fn random_bytes(secure: bool) -> Result<String, String> {
    let len = every_call::random_bytes(number("len")?, secure)?;
    Ok(format!("{len} bytes"))
}

/// Discards the record whose id is in config `record_id`: a record the
/// event does not name, perhaps another tenant's.
fn foreign_record() -> Result<Vec<Action>, String> {
    let id = config("record_id").unwrap_or_default();
    let id: u64 = id
        .parse()
        .map_err(|_| format!("record_id `{id}` is not a number"))?;
    Ok(vec![Action::discard(id)])
}

/// An SMS of config `text` to config `record_id`, or to `subject`.
fn text(subject: u64) -> Result<Vec<Action>, String> {
    let record = match config("record_id") {
        Some(id) => id
            .parse()
            .map_err(|_| format!("record_id `{id}` is not a number"))?,
        None => subject,
    };
    let text = config("text").unwrap_or_default();
    Ok(vec![
        Action::send_sms(record, text).with_template("hostile"),
    ])
}

/// Looks up the phone in config `phone` (perhaps another tenant's
/// customer) and discards every record the host returns.
fn foreign_lookup() -> Result<Vec<Action>, String> {
    let phone = config("phone").unwrap_or_default();
    Ok(find_records(&phone)
        .iter()
        .map(|record| Action::discard(record.id).with_note(format!("found {}", record.phone)))
        .collect())
}

/// The record the event is about (the receipt's contact, or the sender's
/// first match), so single-action attacks name a record the host accepts.
fn subject(event: &Event) -> u64 {
    match event {
        Event::Outbound(receipt) => receipt.contact.id,
        Event::Inbound(sms) => sms.matches.first().map_or(0, |record| record.id),
        Event::CallDisposition(call) => call.contact.id,
    }
}

/// Burns CPU forever; `black_box` keeps the optimizer from proving the loop
/// does nothing and deleting it.
fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks filled with a non-zero byte (so every page is
/// touched, not just reserved) and keeps them all, forever.
fn hoard_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(black_box(vec![0xA5; MIB]));
        black_box(&hoard);
    }
}

/// Recurses without bound on the engine's call stack: each level keeps
/// only wasm locals, and uses its callee's result through `black_box`, so it
/// is neither a tail call nor an accumulator loop in disguise. Under
/// wasmtime this exhausts the wasm stack (`call stack exhausted`).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // Never true; it only keeps the recursion from being unconditional in
    // the compiler's eyes (a lint, not a different program).
    if depth == black_box(u64::MAX) {
        return depth;
    }
    let below = black_box(recurse(depth + 1));
    below.rotate_left(1) ^ depth
}

/// Recurses without bound with a 512-byte frame in linear memory at each
/// level, so Rust's shadow stack (1 MiB at the bottom of linear memory)
/// runs out before the engine's call stack does: the stack pointer goes
/// below address 0 and the next store is out of bounds.
#[inline(never)]
fn recurse_in_memory(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    if depth == black_box(u64::MAX) {
        return depth;
    }
    let below = recurse_in_memory(depth + 1);
    black_box(frame)
        .iter()
        .fold(below, |sum, x| sum.wrapping_add(*x))
}

/// One Discard action on `subject` carrying `note`.
fn noted(subject: u64, note: String) -> Result<Vec<Action>, String> {
    Ok(vec![Action::discard(subject).with_note(note)])
}

/// `count` Discard actions on records `0..count`.
fn discards(count: u64) -> Vec<Action> {
    (0..count).map(Action::discard).collect()
}

/// A [`HUGE_LEN`]-byte string.
fn huge_string() -> String {
    "x".repeat(HUGE_LEN)
}

/// Sleeps three seconds of the host's time, if the host lets it.
fn sleep() -> Result<Vec<Action>, String> {
    std::thread::sleep(std::time::Duration::from_secs(3));
    Ok(Vec::new())
}

/// Sleeps until the monotonic clock has moved a second: forever, when it
/// stands still, so only fuel or the deadline ends it.
fn wait_for_clock() -> Result<Vec<Action>, String> {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(1) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(Vec::new())
}

/// Attacks on the raw WASI imports that could wait: clock pollables,
/// `poll`, and blocking stream calls. Each returns `Ok` with no actions if
/// the host lets it through (having waited or not: the caller measures),
/// or `Err` describing what the host answered instead.
#[cfg(target_arch = "wasm32")]
mod waits {
    use smstrigger_sdk::Action;
    use wasip2::cli::{stderr, stdin, stdout};
    use wasip2::clocks::monotonic_clock;
    use wasip2::io::poll;
    use wasip2::io::streams::OutputStream;

    pub fn block_forever() -> Result<Vec<Action>, String> {
        monotonic_clock::subscribe_duration(u64::MAX).block();
        Err("block returned at once".into())
    }

    pub fn poll_forever() -> Result<Vec<Action>, String> {
        let never = monotonic_clock::subscribe_instant(u64::MAX);
        let ready = poll::poll(&[&never]);
        Err(format!("poll returned at once, ready: {ready:?}"))
    }

    pub fn read_stdin() -> Result<Vec<Action>, String> {
        let input = stdin::get_stdin();
        let read = input.blocking_read(1);
        input.subscribe().block();
        Err(format!("stdin: {read:?}"))
    }

    pub enum Stream {
        Stdout,
        Stderr,
    }

    pub fn flood_stream(stream: Stream) -> Result<Vec<Action>, String> {
        let out: OutputStream = match stream {
            Stream::Stdout => stdout::get_stdout(),
            Stream::Stderr => stderr::get_stderr(),
        };
        let chunk = [b'x'; 1024];
        for written in 0..100_000 {
            if let Err(error) = out.blocking_write_and_flush(&chunk) {
                return Err(format!("refused after {written} KiB: {error:?}"));
            }
            out.subscribe().block();
        }
        Ok(Vec::new())
    }
}

/// The raw WASI attacks need the WASI imports; natively they are errors.
#[cfg(not(target_arch = "wasm32"))]
mod waits {
    use smstrigger_sdk::Action;

    pub enum Stream {
        Stdout,
        Stderr,
    }

    fn native() -> Result<Vec<Action>, String> {
        Err("only in a wasm32 build".into())
    }

    pub fn block_forever() -> Result<Vec<Action>, String> {
        native()
    }

    pub fn poll_forever() -> Result<Vec<Action>, String> {
        native()
    }

    pub fn read_stdin() -> Result<Vec<Action>, String> {
        native()
    }

    pub fn flood_stream(_: Stream) -> Result<Vec<Action>, String> {
        native()
    }
}

/// Reads the environment, the arguments and the working directory.
///
/// A working directory of `/` is not a leak: it is wasi-libc's default when
/// the host gives none.
fn read_environment(subject: u64) -> Result<Vec<Action>, String> {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let (cwd, cwd_leaks) = match std::env::current_dir() {
        Ok(dir) => (dir.display().to_string(), dir != std::path::Path::new("/")),
        Err(e) => (format!("<{e}>"), false),
    };
    let seen = format!("env: {} vars, {} args, cwd {cwd}", vars.len(), args.len());
    if vars.is_empty() && args.is_empty() && !cwd_leaks {
        return Err(seen);
    }
    let listed = format!("vars [{}]; args [{}]", vars.join(", "), args.join(", "));
    noted(subject, format!("{seen}; {listed}"))
}

/// `now=<unix seconds> hashes=<h1>,<h2>,<h3>`.
///
/// The host's clock should read the event's timestamp, and the hashes
/// (keyed from WASI randomness through `RandomState`) should be the same
/// every time the same event runs.
fn clock_and_random() -> String {
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    };
    let hashes: Vec<String> = (0..3)
        .map(|_| RandomState::new().hash_one(0x5EED_u64).to_string())
        .collect();
    format!("now={now} hashes={}", hashes.join(","))
}

/// Logs [`FLOOD_CALLS`] lines; returns no actions if the host lets it.
fn flood_log() -> Result<Vec<Action>, String> {
    for i in 0..FLOOD_CALLS {
        log(Level::Info, &format!("hostile plugin: log line {i}"));
    }
    Ok(Vec::new())
}

/// Makes [`FLOOD_CALLS`] record lookups; returns no actions if the host
/// lets it.
fn flood_lookups(event: &Event) -> Result<Vec<Action>, String> {
    let phone = match event {
        Event::Outbound(receipt) => receipt.contact.phone.clone(),
        Event::Inbound(sms) => sms.source_phone_number.clone(),
        Event::CallDisposition(call) => call.contact.phone.clone(),
    };
    for _ in 0..FLOOD_CALLS {
        black_box(find_records(&phone));
    }
    Ok(Vec::new())
}

/// Counts invocations in a `static`: `counter=<n>`, always `counter=1`
/// when the host gives every event a fresh instance.
fn count_invocations() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    format!("counter={n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::DeliveryStatus;
    use smstrigger_sdk::testing::{self, Run, TestHost};

    fn run(attack: Option<&str>) -> Run {
        let record = testing::record(5, "+36301234567");
        let host = match attack {
            Some(attack) => TestHost::new().config("attack", attack),
            None => TestHost::new(),
        };
        host.run::<Hostile>(testing::outbound(
            &record,
            DeliveryStatus::Delivered,
            1_800_000_000,
        ))
    }

    #[test]
    fn ok_and_unset_return_no_actions() {
        assert_eq!(run(None).actions(), &[]);
        assert_eq!(run(Some("ok")).actions(), &[]);
    }

    #[test]
    fn an_unknown_attack_is_an_error_naming_it() {
        let err = run(Some("teleport")).result.unwrap_err();
        assert!(err.contains("`teleport`"), "{err}");
    }

    #[test]
    fn action_floods_return_the_promised_counts() {
        assert_eq!(run(Some("actions-17")).actions().len(), 17);
        assert_eq!(run(Some("many-actions")).actions().len(), 1_000_000);
    }

    #[test]
    #[should_panic(expected = "hostile plugin panicked on purpose")]
    fn panic_panics() {
        run(Some("panic"));
    }

    #[test]
    fn clock_and_random_note_has_the_documented_shape() {
        let note = clock_and_random();
        let (now, hashes) = note.split_once(' ').unwrap();
        assert!(
            now.strip_prefix("now=").unwrap().parse::<i64>().is_ok(),
            "{note}"
        );
        let hashes = hashes.strip_prefix("hashes=").unwrap();
        assert_eq!(hashes.split(',').count(), 3, "{note}");
    }
}
