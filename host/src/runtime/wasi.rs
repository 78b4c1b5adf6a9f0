//! The WASI a plugin gets: only what Rust's standard library imports,
//! deterministic, without authority, and unable to block.
//!
//! Rust's standard library imports WASI, so the host must satisfy it, but
//! every import a component can link is attack surface. [`add_to_linker`]
//! links exactly the interfaces in [`LINKED`] and nothing else: no
//! `wasi:filesystem`, no `wasi:sockets`, so a component that imports either
//! is refused when it is loaded, with the import named. Of what is linked:
//! - the context has no preopened files, no environment, no arguments, no
//!   working directory and no terminals, closed stdin, stdout discarded
//!   and stderr captured up to `MAX_STDERR_BYTES` (a panic message lands
//!   there; past the cap the stream is closed), so nothing in it leaks the
//!   host or grows with what the plugin writes;
//! - the wall clock reads the event's timestamp, the monotonic clock stands
//!   still, and all randomness comes from a seed derived from the event, so
//!   a plugin is a function of (event, config, lookups) alone; one request
//!   for more than `MAX_RANDOM_BYTES` random bytes traps, naming the limit;
//! - `exit` (with any status) ends the call as the plugin's failure, a
//!   trap that names the status;
//! - a call holds at most `MAX_WASI_RESOURCES` streams and pollables at
//!   once (see [`table`]); one more traps, naming the limit, so a plugin
//!   that keeps every pollable it asks for holds no more host memory than
//!   that;
//! - nothing can wait: every pollable a plugin can make is ready at once.
//!   The stock monotonic clock's `subscribe-*` would really sleep (and a
//!   `pollable.block` on it would hold a worker past every limit, since
//!   neither fuel nor the epoch deadline can interrupt a host call), so
//!   [`StillClock`] implements that interface here with pollables that are
//!   always ready. Streams are the only other source of pollables, and
//!   closed stdin, the discarding stdout and the in-memory stderr are always
//!   ready too.
//!
//! The runtime tests (`host/tests/runtime/wasi_calls.rs`) call every
//! function of every interface in [`LINKED`] through the hostile plugin and
//! hold each to the above, and fail when the plugin imports a linked
//! function they do not call.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxBuilder, WasiView};

use super::limits::{MAX_RANDOM_BYTES, MAX_STDERR_BYTES, MAX_WASI_RESOURCES};
use crate::model::SmsEvent;

/// Every WASI interface a plugin may import, all at version 0.2 (a
/// component built against any 0.2.x links). Anything else a component
/// imports (files, sockets, name lookups) is refused when it is loaded.
pub const LINKED: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
];

/// Links the interfaces in [`LINKED`] into `linker`, the monotonic clock
/// being this module's [`StillClock`].
pub(crate) fn add_to_linker<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let l = linker;
    cli::environment::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, <T as WasiCliView>::cli)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, <T as WasiClocksView>::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, HasStillClock>(l, |t| StillClock {
        table: t.ctx().table,
    })?;
    sync::io::error::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    random::random::add_to_linker::<T, WasiRandom>(l, <T as WasiRandomView>::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, <T as WasiRandomView>::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, <T as WasiRandomView>::random)?;
    Ok(())
}

/// Builds the context for one call on `event`; returns it with the pipe that
/// collects the plugin's stderr.
pub(crate) fn context(event: &SmsEvent) -> (WasiCtx, MemoryOutputPipe) {
    let seed = seed(event);
    let stderr = MemoryOutputPipe::new(MAX_STDERR_BYTES);
    let ctx = WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .wall_clock(EventClock(event.timestamp()))
        .secure_random(StdRng::seed_from_u64(seed))
        .insecure_random(StdRng::seed_from_u64(seed.rotate_left(32)))
        .insecure_random_seed(u128::from(seed))
        .max_random_size(MAX_RANDOM_BYTES)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    (ctx, stderr)
}

/// The resource table of one call: where its WASI streams and pollables
/// live, at most [`MAX_WASI_RESOURCES`] at once.
pub(crate) fn table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_WASI_RESOURCES);
    table
}

/// A stable 64-bit seed from the event's identity (FNV-1a over the message
/// id and timestamp), the same in every run and every build of the host.
pub(crate) fn seed(event: &SmsEvent) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let timestamp = event.timestamp().to_le_bytes();
    for byte in event.message_id().bytes().chain(timestamp) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A wall clock that reads the event's timestamp.
struct EventClock(i64);

impl HostWallClock for EventClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(self.0.max(0).unsigned_abs())
    }
}

/// The `wasi:io` interfaces' view of a call: its resource table.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

/// `wasi:clocks/monotonic-clock` for plugins: a clock that never advances,
/// so elapsed time inside a plugin is always zero and no decision can
/// depend on how fast it ran, and whose pollables are ready at once, so
/// `thread::sleep` or a `pollable.block` returns immediately instead of
/// holding the host. A plugin that waits for the clock to move waits
/// forever in its own code, where fuel and the deadline stop it.
pub(crate) struct StillClock<'a> {
    table: &'a mut ResourceTable,
}

/// Names [`StillClock`] as the monotonic clock's view of a call.
struct HasStillClock;

impl HasData for HasStillClock {
    type Data<'a> = StillClock<'a>;
}

impl clocks::monotonic_clock::Host for StillClock<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        ready(self.table)
    }

    fn subscribe_duration(&mut self, _duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        ready(self.table)
    }
}

/// A pollable that is ready as soon as it is asked.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

fn ready(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let resource = table.push(Ready)?;
    subscribe(table, resource)
}
