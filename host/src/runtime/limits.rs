//! What one plugin call may consume, and how the store enforces it.
//!
//! Every call runs with all limits on. The defaults are documented consts;
//! a tenant may be given other values through [`Limits`], but never more
//! than the engine-wide ceilings in [`super::engine`], which size the
//! pooling allocator.

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Fuel per call: about 10 ms of guest CPU at the fastest rate wasm burns
/// fuel (a tight loop: 200 M units in 7.6 ms on the reference machine, see
/// BENCHMARKS.md). A real rule uses 10–50 thousand units.
///
/// Fuel, not a wall-clock deadline, is the CPU budget because it is
/// deterministic: the same plugin on the same event stops at the same point
/// however loaded the machine is, so a dry run or a replay decides exactly
/// as the live run did. Measured, fuel costs about 7% per event and epoch
/// interruption about 2% (BENCHMARKS.md); the epoch deadline below is kept
/// only as a backstop.
pub const DEFAULT_FUEL: u64 = 250_000_000;

/// Wall-clock backstop per call, enforced by epoch interruption in guest
/// code and checked on entry to every `host` import: catches time that
/// fuel does not count (slow memory-bound code, a slow lookup, a stalled
/// machine) without making normal outcomes depend on it. No import can
/// block (see `runtime::wasi`), so no host call sleeps past it.
/// A second, a hundred times the fuel budget: at 100 ms, a saturated
/// machine (load 9 on 2 cores under the load proofs) descheduled healthy
/// plugins long enough to trip it.
pub const DEFAULT_WALL_DEADLINE: Duration = Duration::from_secs(1);

/// Linear memory a plugin may grow to. A Rust rule needs about 1–2 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 16 << 20;

/// Table elements a plugin may grow to (function pointers for indirect calls).
pub const DEFAULT_TABLE_ELEMENTS: usize = 10_000;

/// Actions one answer may hold; an answer over it fails the call. The copy
/// of the answer out of the guest is itself bounded by the guest's memory
/// limit and wasmtime's per-call copy budget (hostcall fuel), so an oversized
/// answer cannot make the host allocate without bound.
pub const DEFAULT_MAX_ACTIONS: usize = 16;

/// Bytes of one action's note (and of an SMS's sender or template id); a
/// longer one fails the call.
pub const DEFAULT_MAX_NOTE_BYTES: usize = 1024;

/// Bytes of one SMS's text; a longer text fails the call. Room for the
/// longest text validation may let through (ten UCS-2 segments of
/// four-byte characters); validation then holds it to the project's
/// segments.
pub const MAX_SMS_TEXT_BYTES: usize = 4096;

/// Bytes of the error message a plugin may return; longer ones are cut.
pub const MAX_ERROR_BYTES: usize = 4096;

/// Log lines per call; the line over the limit traps.
pub const DEFAULT_MAX_LOG_LINES: usize = 100;

/// Bytes of one log line; longer lines are cut, not refused.
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// `find-records` calls per call; the call over the limit traps.
pub const DEFAULT_MAX_LOOKUPS: usize = 16;

/// Bytes of stderr kept per call (a panic message lands there).
pub const MAX_STDERR_BYTES: usize = 4096;

/// Bytes one `wasi:random` `get-random-bytes` (or
/// `get-insecure-random-bytes`) call may ask for; a call asking more traps
/// with a message naming this limit, so a plugin cannot make the host
/// allocate a list of the size it chooses.
pub const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// WASI resources (streams, pollables, stream errors) one call may hold
/// at once; taking one more traps with [`LimitExceeded::WasiResources`].
/// A Rust plugin holds a handful (its stdio streams, a pollable while it
/// sleeps). Without this bound a plugin that keeps every pollable it asks
/// for would hold host memory for up to wasmtime's defaults (a million
/// table entries, a hundred thousand handles) in every call.
pub const MAX_WASI_RESOURCES: usize = 256;

/// Core instances, memories and tables one plugin instance may create.
/// A Rust `wasm32-wasip2` component uses about 4, 1 and 2.
pub const MAX_INSTANCES: usize = 16;
pub const MAX_MEMORIES: usize = 2;
pub const MAX_TABLES: usize = 8;

/// The limits of one plugin call; [`Limits::default`] is the documented
/// defaults above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: u64,
    pub wall_deadline: Duration,
    pub memory_bytes: usize,
    pub table_elements: usize,
    pub max_actions: usize,
    pub max_note_bytes: usize,
    pub max_log_lines: usize,
    pub max_lookups: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            wall_deadline: DEFAULT_WALL_DEADLINE,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            max_actions: DEFAULT_MAX_ACTIONS,
            max_note_bytes: DEFAULT_MAX_NOTE_BYTES,
            max_log_lines: DEFAULT_MAX_LOG_LINES,
            max_lookups: DEFAULT_MAX_LOOKUPS,
        }
    }
}

/// A limit a plugin call ran into; raised as the trap's error so the call's
/// outcome names exactly which limit stopped it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("memory limit of {limit} bytes exceeded (the plugin asked for {requested})")]
    Memory { limit: usize, requested: usize },
    #[error("table limit of {limit} elements exceeded (the plugin asked for {requested})")]
    Table { limit: usize, requested: usize },
    #[error("log limit of {limit} lines per event exceeded")]
    LogLines { limit: usize },
    #[error("lookup limit of {limit} find-records calls per event exceeded")]
    Lookups { limit: usize },
    #[error("limit of {limit} WASI resources (streams, pollables) held at once exceeded")]
    WasiResources { limit: usize },
}

/// The call's wall-clock deadline passed while the host was answering one
/// of its imports: raised as the import's trap, named `deadline_exceeded`
/// like the epoch interruption that catches the same in guest code, so
/// the deadline covers host time too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the wall-clock deadline passed during a host call")]
pub struct DeadlinePassed;

/// The store's [`ResourceLimiter`]: caps growth at the tenant's limits and
/// traps with a [`LimitExceeded`] instead of letting `memory.grow` return -1,
/// so a plugin cannot mistake the limit for an allocator failure it may
/// retry, and the outcome says which limit it was.
pub(crate) struct StoreLimiter {
    memory_bytes: usize,
    table_elements: usize,
}

impl StoreLimiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
        }
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                limit: self.memory_bytes,
                requested: desired,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                limit: self.table_elements,
                requested: desired,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// A tenant's overrides meet the runtime's limits here, so `model` (where
/// the value type lives) knows nothing of the runtime.
impl crate::model::TenantLimits {
    /// `defaults` with this tenant's overrides applied.
    pub fn apply(&self, defaults: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            memory_bytes: self
                .memory_mib
                .map_or(defaults.memory_bytes, |mib| mib << 20),
            wall_deadline: self
                .wall_deadline_ms
                .map_or(defaults.wall_deadline, std::time::Duration::from_millis),
            ..defaults
        }
    }
}
