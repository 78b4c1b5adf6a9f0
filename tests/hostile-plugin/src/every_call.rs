//! Attacks that call WASI functions directly: `every-wasi-call` calls every
//! function of every interface the host links, once (or once per stream or
//! pollable), and the others call the few that end the call or trap, or
//! hold more resources than the host allows.
//!
//! Each call is reported as one log line, `interface#function(arguments) ->
//! what it returned`, written before the next call is made, so a call that
//! traps or never returns shows as the last line missing. The names are the
//! component model's (`[method]output-stream.write`), the ones the
//! component's import section lists, so a test can check the report covers
//! every function the component imports.

/// The interface names the report lines start with (unversioned, as the
/// host's `LINKED_WASI` lists them).
pub mod interface {
    pub const ENVIRONMENT: &str = "wasi:cli/environment";
    pub const EXIT: &str = "wasi:cli/exit";
    pub const STDIN: &str = "wasi:cli/stdin";
    pub const STDOUT: &str = "wasi:cli/stdout";
    pub const STDERR: &str = "wasi:cli/stderr";
    pub const TERMINAL_STDIN: &str = "wasi:cli/terminal-stdin";
    pub const TERMINAL_STDOUT: &str = "wasi:cli/terminal-stdout";
    pub const TERMINAL_STDERR: &str = "wasi:cli/terminal-stderr";
    pub const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock";
    pub const WALL_CLOCK: &str = "wasi:clocks/wall-clock";
    pub const ERROR: &str = "wasi:io/error";
    pub const POLL: &str = "wasi:io/poll";
    pub const STREAMS: &str = "wasi:io/streams";
    pub const RANDOM: &str = "wasi:random/random";
    pub const INSECURE: &str = "wasi:random/insecure";
    pub const INSECURE_SEED: &str = "wasi:random/insecure-seed";
}

/// How many 4 KiB `blocking-write-and-flush` calls `every-wasi-call` makes
/// on each output stream to find its cap (stderr's is 4 KiB; stdout has
/// none and takes them all).
pub const FILL_WRITES: usize = 16;

/// The bytes `every-wasi-call` asks of each `get-*-random-bytes`.
pub const RANDOM_LEN: u64 = 16;

#[cfg(target_arch = "wasm32")]
mod calls {
    use smstrigger_sdk::Action;
    use wasip2::cli::{
        environment, exit, stderr, stdin, stdout, terminal_stderr, terminal_stdin, terminal_stdout,
    };
    use wasip2::clocks::{monotonic_clock, wall_clock};
    use wasip2::io::error::Error as IoError;
    use wasip2::io::poll::{self, Pollable};
    use wasip2::io::streams::{InputStream, OutputStream, StreamError};
    use wasip2::random::{insecure, insecure_seed, random};

    use super::interface::*;
    use super::{FILL_WRITES, RANDOM_LEN};

    /// Logs one report line: `interface#function(arguments) -> value`.
    fn report(interface: &str, function: &str, arguments: &str, value: impl std::fmt::Display) {
        smstrigger_sdk::log(
            smstrigger_sdk::Level::Info,
            &format!("{interface}#{function}({arguments}) -> {value}"),
        );
    }

    /// Calls every function once (stream methods once per stream, pollable
    /// methods once per pollable) and reports each; answers no actions.
    pub fn every_wasi_call() -> Result<Vec<Action>, String> {
        let mut errors = Vec::new();
        environment_calls();
        terminal_calls();
        clock_calls();
        let mut pollables = clock_pollables();

        let input = stdin::get_stdin();
        report(STDIN, "get-stdin", "", "input-stream");
        pollables.push(("stdin", input_calls(&input, &mut errors)));
        let out = stdout::get_stdout();
        report(STDOUT, "get-stdout", "", "output-stream");
        pollables.push(("stdout", output_calls("stdout", &out, &input, &mut errors)));
        let err = stderr::get_stderr();
        report(STDERR, "get-stderr", "", "output-stream");
        pollables.push(("stderr", output_calls("stderr", &err, &input, &mut errors)));

        poll_calls(&pollables);
        // A stream's pollable is its child: dropping the stream first
        // would trap (`resource has children`).
        drop(pollables);
        error_calls(&errors);
        random_calls();
        Ok(Vec::new())
    }

    fn environment_calls() {
        let vars = environment::get_environment();
        report(ENVIRONMENT, "get-environment", "", format!("{vars:?}"));
        let args = environment::get_arguments();
        report(ENVIRONMENT, "get-arguments", "", format!("{args:?}"));
        let cwd = environment::initial_cwd();
        report(ENVIRONMENT, "initial-cwd", "", format!("{cwd:?}"));
    }

    fn terminal_calls() {
        let present = |some: bool| if some { "terminal" } else { "none" };
        let stdin = terminal_stdin::get_terminal_stdin().is_some();
        report(TERMINAL_STDIN, "get-terminal-stdin", "", present(stdin));
        let stdout = terminal_stdout::get_terminal_stdout().is_some();
        report(TERMINAL_STDOUT, "get-terminal-stdout", "", present(stdout));
        let stderr = terminal_stderr::get_terminal_stderr().is_some();
        report(TERMINAL_STDERR, "get-terminal-stderr", "", present(stderr));
    }

    fn clock_calls() {
        let datetime = |d: wall_clock::Datetime| format!("{}s {}ns", d.seconds, d.nanoseconds);
        report(WALL_CLOCK, "now", "", datetime(wall_clock::now()));
        report(
            WALL_CLOCK,
            "resolution",
            "",
            datetime(wall_clock::resolution()),
        );
        report(MONOTONIC_CLOCK, "now", "", monotonic_clock::now());
        report(
            MONOTONIC_CLOCK,
            "resolution",
            "",
            monotonic_clock::resolution(),
        );
    }

    /// Pollables due at the end of time: ready at once, or they would wait
    /// for ever.
    fn clock_pollables() -> Vec<(&'static str, Pollable)> {
        let never = u64::MAX;
        let instant = monotonic_clock::subscribe_instant(never);
        report(
            MONOTONIC_CLOCK,
            "subscribe-instant",
            &never.to_string(),
            "pollable",
        );
        let duration = monotonic_clock::subscribe_duration(never);
        report(
            MONOTONIC_CLOCK,
            "subscribe-duration",
            &never.to_string(),
            "pollable",
        );
        vec![("clock-instant", instant), ("clock-duration", duration)]
    }

    /// What a stream call returned; an error resource is kept for
    /// `to-debug-string`.
    fn outcome<T: std::fmt::Debug>(
        result: Result<T, StreamError>,
        errors: &mut Vec<IoError>,
    ) -> String {
        match result {
            Ok(value) => format!("ok {value:?}"),
            Err(StreamError::Closed) => "closed".into(),
            Err(StreamError::LastOperationFailed(error)) => {
                errors.push(error);
                "failed".into()
            }
        }
    }

    fn input_calls(input: &InputStream, errors: &mut Vec<IoError>) -> Pollable {
        let method = |name: &str| format!("[method]input-stream.{name}");
        let read = outcome(input.read(1), errors);
        report(STREAMS, &method("read"), "stdin, 1", read);
        let read = outcome(input.blocking_read(1), errors);
        report(STREAMS, &method("blocking-read"), "stdin, 1", read);
        let skipped = outcome(input.skip(1), errors);
        report(STREAMS, &method("skip"), "stdin, 1", skipped);
        let skipped = outcome(input.blocking_skip(1), errors);
        report(STREAMS, &method("blocking-skip"), "stdin, 1", skipped);
        let pollable = input.subscribe();
        report(STREAMS, &method("subscribe"), "stdin", "pollable");
        pollable
    }

    /// Every output-stream method on `out` once, then [`FILL_WRITES`]
    /// blocking 4 KiB writes to find where it stops taking bytes, then
    /// `check-write` again; `input` (stdin) is the splices' source.
    fn output_calls(
        name: &str,
        out: &OutputStream,
        input: &InputStream,
        errors: &mut Vec<IoError>,
    ) -> Pollable {
        let method = |m: &str| format!("[method]output-stream.{m}");
        let permit = outcome(out.check_write(), errors);
        report(STREAMS, &method("check-write"), name, permit);
        let done = outcome(out.write(b"x"), errors);
        report(STREAMS, &method("write"), &format!("{name}, 1 byte"), done);
        let done = outcome(out.blocking_write_and_flush(b"x"), errors);
        let one_byte = format!("{name}, 1 byte");
        report(
            STREAMS,
            &method("blocking-write-and-flush"),
            &one_byte,
            done,
        );
        let done = outcome(out.flush(), errors);
        report(STREAMS, &method("flush"), name, done);
        let done = outcome(out.blocking_flush(), errors);
        report(STREAMS, &method("blocking-flush"), name, done);
        let done = outcome(out.write_zeroes(1), errors);
        report(
            STREAMS,
            &method("write-zeroes"),
            &format!("{name}, 1"),
            done,
        );
        let done = outcome(out.blocking_write_zeroes_and_flush(1), errors);
        let one = format!("{name}, 1");
        report(
            STREAMS,
            &method("blocking-write-zeroes-and-flush"),
            &one,
            done,
        );
        let spliced = outcome(out.splice(input, 1), errors);
        let from_stdin = format!("{name}, stdin, 1");
        report(STREAMS, &method("splice"), &from_stdin, spliced);
        let spliced = outcome(out.blocking_splice(input, 1), errors);
        report(STREAMS, &method("blocking-splice"), &from_stdin, spliced);
        let pollable = out.subscribe();
        report(STREAMS, &method("subscribe"), name, "pollable");
        let permit = outcome(out.check_write(), errors);
        report(
            STREAMS,
            &method("check-write"),
            &format!("{name} after"),
            permit,
        );

        let chunk = [b'f'; 4096];
        let mut taken = 0;
        let mut last = String::from("none made");
        for _ in 0..FILL_WRITES {
            last = outcome(out.blocking_write_and_flush(&chunk), errors);
            if !last.starts_with("ok") {
                break;
            }
            taken += 1;
        }
        let fill = format!("{name}, 4096 bytes x {FILL_WRITES}");
        let value = format!("{taken} taken, last {last}");
        report(STREAMS, &method("blocking-write-and-flush"), &fill, value);
        let permit = outcome(out.check_write(), errors);
        report(
            STREAMS,
            &method("check-write"),
            &format!("{name} filled"),
            permit,
        );
        pollable
    }

    fn poll_calls(pollables: &[(&str, Pollable)]) {
        let names: Vec<&str> = pollables.iter().map(|(name, _)| *name).collect();
        let all: Vec<&Pollable> = pollables.iter().map(|(_, p)| p).collect();
        let ready = poll::poll(&all);
        report(POLL, "poll", &names.join(", "), format!("{ready:?}"));
        for (name, pollable) in pollables {
            report(POLL, "[method]pollable.ready", name, pollable.ready());
            pollable.block();
            report(POLL, "[method]pollable.block", name, "returned");
        }
    }

    /// `to-debug-string` on every error a stream call gave; there is none
    /// to be had when every stream error is `closed`, and then the line
    /// says so.
    fn error_calls(errors: &[IoError]) {
        let function = "[method]error.to-debug-string";
        if errors.is_empty() {
            report(
                ERROR,
                function,
                "",
                "no stream call failed: no error to ask",
            );
        }
        for (index, error) in errors.iter().enumerate() {
            report(ERROR, function, &index.to_string(), error.to_debug_string());
        }
    }

    fn random_calls() {
        let len = RANDOM_LEN.to_string();
        let bytes = random::get_random_bytes(RANDOM_LEN);
        report(RANDOM, "get-random-bytes", &len, hex(&bytes));
        report(RANDOM, "get-random-u64", "", random::get_random_u64());
        let bytes = insecure::get_insecure_random_bytes(RANDOM_LEN);
        report(INSECURE, "get-insecure-random-bytes", &len, hex(&bytes));
        let number = insecure::get_insecure_random_u64();
        report(INSECURE, "get-insecure-random-u64", "", number);
        let (low, high) = insecure_seed::insecure_seed();
        report(
            INSECURE_SEED,
            "insecure-seed",
            "",
            format!("({low}, {high})"),
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `exit` with `ok` or `err`; reports the call first, since it does
    /// not return.
    pub fn exit(status: &str) -> Result<Vec<Action>, String> {
        let status = match status {
            "ok" => Ok(()),
            "err" => Err(()),
            other => return Err(format!("exit status `{other}` is not ok or err")),
        };
        report(EXIT, "exit", &format!("{status:?}"), "calling");
        exit::exit(status);
        Err("exit returned".into())
    }

    /// `exit-with-code` with `code`; reports the call first.
    pub fn exit_with_code(code: u8) -> Result<Vec<Action>, String> {
        report(EXIT, "exit-with-code", &code.to_string(), "calling");
        exit::exit_with_code(code);
        Err("exit-with-code returned".into())
    }

    /// Subscribes to the monotonic clock up to `count` times, keeping every
    /// pollable; answers how many it got.
    pub fn hoard_pollables(count: u64) -> Result<usize, String> {
        let mut hoard = Vec::new();
        for _ in 0..count {
            hoard.push(monotonic_clock::subscribe_duration(0));
        }
        Ok(hoard.len())
    }

    /// `get-random-bytes(len)`, or `get-insecure-random-bytes(len)`;
    /// answers how many bytes came back.
    pub fn random_bytes(len: u64, secure: bool) -> Result<usize, String> {
        Ok(if secure {
            random::get_random_bytes(len).len()
        } else {
            insecure::get_insecure_random_bytes(len).len()
        })
    }
}

/// The raw WASI attacks need the WASI imports; natively they are errors.
#[cfg(not(target_arch = "wasm32"))]
mod calls {
    use smstrigger_sdk::Action;

    fn native<T>() -> Result<T, String> {
        Err("only in a wasm32 build".into())
    }

    pub fn every_wasi_call() -> Result<Vec<Action>, String> {
        native()
    }

    pub fn exit(_: &str) -> Result<Vec<Action>, String> {
        native()
    }

    pub fn exit_with_code(_: u8) -> Result<Vec<Action>, String> {
        native()
    }

    pub fn random_bytes(_: u64, _: bool) -> Result<usize, String> {
        native()
    }

    pub fn hoard_pollables(_: u64) -> Result<usize, String> {
        native()
    }
}

pub use calls::{every_wasi_call, exit, exit_with_code, hoard_pollables, random_bytes};
