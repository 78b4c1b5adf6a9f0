//! Compiling a component into machine code: in this process, or in a
//! worker process with a hard CPU limit.
//!
//! A compile's cost is chosen by whoever wrote the component, so the
//! service compiles in a child process: its own executable re-run as
//! `smstrigger compile-worker` ([`WORKER_SUBCOMMAND`]), the component on
//! stdin, the serialized artifact on stdout. Before the child runs its
//! first instruction it gets `RLIMIT_CPU` (the kernel stops it at the
//! limit, however many threads it uses), `RLIMIT_DATA` (an allocation past
//! the limit fails), no core dumps and a lower CPU priority (`nice`, the
//! idle class), and compiles on one thread, so a compile bomb costs at most
//! one core for the CPU limit and the memory limit while webhooks and
//! plugins keep the rest. The parent also kills it at a wall-clock limit.
//! Each limit is its own [`Refused`]: `CompileCpuLimit`,
//! `CompileMemoryLimit`, `CompileWallLimit`.
//!
//! The memory limit is on data, not address space: `RLIMIT_AS` would also
//! count reservations that cost no memory (an engine with an instance pool
//! reserves terabytes), while `RLIMIT_DATA` counts private writable
//! mappings, what the compiler's allocations become. The worker's engine
//! has no instance pool (see `engine::new_compile_engine`), so its data is
//! the compile's. A compile that runs out of it dies one of two ways, both
//! read as `CompileMemoryLimit`: an allocation fails and Rust aborts
//! (`SIGABRT` after `memory allocation of … failed`), or a mapping fails
//! and the compile ends with `ENOMEM` in its reason.
//!
//! Without a worker (tools, tests, `smstrigger plugin run`, a runtime with
//! no cache) the compile runs in this process, unlimited: the caller chose
//! the component. The server configures the worker (`config.compile`).

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::engine;
use super::error::Error;
use super::refused::Refused;

/// The hidden subcommand of the `smstrigger` binary that compiles one
/// component from stdin to stdout.
pub const WORKER_SUBCOMMAND: &str = "compile-worker";

/// The largest artifact read back from a worker; more is cut off and then
/// fails to deserialize (the JavaScript plugin's is about 40 MiB).
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// The largest component a worker reads from stdin.
const MAX_INPUT_BYTES: u64 = 256 << 20;

/// What a failing worker wrote to stderr that is kept for the message.
const MAX_WORKER_STDERR_BYTES: u64 = 4 << 10;

/// How often the parent looks whether the worker has finished.
const POLL: Duration = Duration::from_millis(10);

/// How compiles run in a worker process, and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileWorker {
    /// The `smstrigger` executable (the server's own, by default).
    pub program: PathBuf,
    /// CPU seconds one compile may use, all its threads together; the
    /// kernel stops the worker at this limit.
    pub cpu_secs: u64,
    /// Wall-clock time one compile may take before it is killed (waiting
    /// for a core included, as the worker runs at a lower priority).
    pub wall: Duration,
    /// Bytes of data (heap and other private writable memory) one compile
    /// may use; an allocation past it fails and ends the compile.
    pub memory_bytes: u64,
}

/// Compiles `bytes` to a component in this process.
pub(crate) fn in_process(engine: &Engine, bytes: &[u8]) -> Result<Component, Error> {
    Component::new(engine, bytes).map_err(|e| Error::Compile {
        reason: format!("{e:#}"),
    })
}

/// Compiles `bytes` in this process to a serialized artifact.
pub(crate) fn artifact_in_process(engine: &Engine, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    engine
        .precompile_component(bytes)
        .map_err(|e| Error::Compile {
            reason: format!("{e:#}"),
        })
}

/// Compiles `bytes` in a worker process under `worker`'s limits and
/// returns the serialized artifact.
pub(crate) fn artifact_in_worker(worker: &CompileWorker, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let cpu_secs = worker.cpu_secs.max(1);
    let memory_bytes = worker.memory_bytes.max(1);
    let mut command = Command::new(&worker.program);
    command
        .arg(WORKER_SUBCOMMAND)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls:
    // setrlimit, setpriority and sched_setscheduler, on this process, with
    // no allocation.
    unsafe {
        command.pre_exec(move || {
            let cpu = libc::rlimit {
                rlim_cur: cpu_secs as libc::rlim_t,
                rlim_max: (cpu_secs + 1) as libc::rlim_t,
            };
            let data = libc::rlimit {
                rlim_cur: memory_bytes as libc::rlim_t,
                rlim_max: memory_bytes as libc::rlim_t,
            };
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CPU, &cpu) != 0
                || libc::setrlimit(libc::RLIMIT_DATA, &data) != 0
                || libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The lowest priority and the idle class, best effort (a failure
            // leaves it as it was): a compile gets only the CPU live events
            // leave.
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            #[cfg(target_os = "linux")]
            {
                let idle = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle);
            }
            Ok(())
        });
    }
    let worker_error = |reason: String| Error::Compile {
        reason: format!("the compile worker {}: {reason}", worker.program.display()),
    };
    let mut child = command
        .spawn()
        .map_err(|e| worker_error(format!("did not start: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let input = bytes.to_vec();
    // A worker that dies early closes its stdin: the write fails, and the
    // exit status says why.
    let writer = thread::spawn(move || stdin.write_all(&input));
    let reader = thread::spawn(move || {
        let mut artifact = Vec::new();
        (&mut stdout)
            .take(MAX_ARTIFACT_BYTES)
            .read_to_end(&mut artifact)
            .map(|_| artifact)
    });
    let errors = thread::spawn(move || {
        let mut text = String::new();
        (&mut stderr)
            .take(MAX_WORKER_STDERR_BYTES)
            .read_to_string(&mut text)
            .ok();
        text
    });

    let started = Instant::now();
    let (status, killed) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status, false),
            Ok(None) if started.elapsed() >= worker.wall => {
                child.kill().ok();
                break (child.wait().map_err(|e| worker_error(e.to_string()))?, true);
            }
            Ok(None) => thread::sleep(POLL),
            Err(e) => {
                child.kill().ok();
                child.wait().ok();
                return Err(worker_error(e.to_string()));
            }
        }
    };
    writer.join().ok();
    let artifact = reader.join().ok().and_then(Result::ok);
    let stderr = errors.join().unwrap_or_default();
    if killed {
        return Err(Refused::CompileWallLimit {
            secs: worker.wall.as_secs().max(1),
        }
        .into());
    }
    if out_of_memory(status, &stderr) {
        return Err(Refused::CompileMemoryLimit {
            mib: memory_bytes.div_ceil(1 << 20),
        }
        .into());
    }
    match status.signal() {
        // The kernel sends SIGXCPU at the soft limit and SIGKILL at the
        // hard one.
        Some(libc::SIGXCPU) | Some(libc::SIGKILL) => {
            return Err(Refused::CompileCpuLimit { secs: cpu_secs }.into());
        }
        Some(signal) => return Err(worker_error(format!("stopped by signal {signal}"))),
        None => {}
    }
    if !status.success() {
        // The worker writes why the component does not compile to stderr.
        return Err(Error::Compile {
            reason: stderr.trim().to_string(),
        });
    }
    artifact.ok_or_else(|| worker_error("its output could not be read".into()))
}

/// Whether a worker that ended with `status`, having written `stderr`, ran
/// out of memory: Rust's answer to a failed allocation (the message, then
/// `SIGABRT`), or a failure whose reason is `ENOMEM` (a mapping refused).
fn out_of_memory(status: ExitStatus, stderr: &str) -> bool {
    let aborted = status.signal() == Some(libc::SIGABRT);
    let enomem = format!("(os error {})", libc::ENOMEM);
    (aborted && stderr.contains("memory allocation of"))
        || (!status.success() && stderr.contains(&enomem))
}

/// The worker's side: reads a component from `input`, compiles it on one
/// thread with the service's engine configuration and writes the
/// serialized artifact to `output`.
///
/// The caller (the hidden `compile-worker` subcommand) prints the error's
/// reason alone to stderr and exits non-zero; the parent reads that as
/// [`Error::Compile`] with the reason.
pub fn serve_worker(input: impl Read, mut output: impl Write) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Compile {
        reason: e.to_string(),
    };
    let mut bytes = Vec::new();
    input
        .take(MAX_INPUT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let engine = engine::new_compile_engine().map_err(|e| Error::Engine {
        reason: format!("{e:#}"),
    })?;
    let artifact = artifact_in_process(&engine, &bytes)?;
    output.write_all(&artifact).map_err(io)?;
    output.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_cannot_start_is_a_compile_error_naming_it() {
        let worker = CompileWorker {
            program: "/nonexistent/smstrigger".into(),
            cpu_secs: 1,
            wall: Duration::from_secs(1),
            memory_bytes: 1 << 30,
        };
        let err = artifact_in_worker(&worker, b"\0asm").unwrap_err();
        assert_eq!(err.code(), "compile_failed");
        assert!(err.to_string().contains("/nonexistent/smstrigger"), "{err}");
    }

    /// A shell script standing in for a worker: reads the component, then
    /// runs `then`.
    fn fake_worker(dir: &std::path::Path, then: &str) -> CompileWorker {
        let program = dir.join("worker");
        std::fs::write(&program, format!("#!/bin/sh\ncat >/dev/null\n{then}\n")).unwrap();
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        CompileWorker {
            program,
            cpu_secs: 5,
            wall: Duration::from_secs(30),
            memory_bytes: 64 << 20,
        }
    }

    #[test]
    fn a_worker_that_fails_reports_its_stderr_as_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let worker = fake_worker(dir.path(), "echo 'bad magic' >&2\nexit 1");
        let err = artifact_in_worker(&worker, b"not wasm").unwrap_err();
        assert_eq!(
            err,
            Error::Compile {
                reason: "bad magic".into()
            }
        );
    }

    /// Both ways a compile dies for want of memory name the memory limit;
    /// an abort for another reason, or another failure, does not.
    #[test]
    fn a_worker_out_of_memory_is_the_memory_limit_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let memory_limit = Error::Refused(Refused::CompileMemoryLimit { mib: 64 });
        for then in [
            "echo 'memory allocation of 4096 bytes failed' >&2\nkill -ABRT $$",
            "echo 'mmap failed to allocate 0x1000 bytes: Cannot allocate memory (os error 12)' >&2\nexit 1",
        ] {
            let err = artifact_in_worker(&fake_worker(dir.path(), then), b"x").unwrap_err();
            assert_eq!(err, memory_limit, "{then}");
            assert_eq!(err.code(), "compile_limit");
            assert!(err.to_string().contains("memory limit of 64 MiB"), "{err}");
        }
        let aborted = artifact_in_worker(&fake_worker(dir.path(), "kill -ABRT $$"), b"x");
        assert!(
            aborted
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("signal 6"),
            "{aborted:?}"
        );
        let failed = artifact_in_worker(
            &fake_worker(dir.path(), "echo 'out of fuel' >&2\nexit 1"),
            b"x",
        );
        assert_eq!(
            failed.unwrap_err(),
            Error::Compile {
                reason: "out of fuel".into()
            }
        );
    }
}
