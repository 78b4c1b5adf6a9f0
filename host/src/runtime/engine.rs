//! The one wasmtime `Engine` and its pooling allocator, and the epoch ticker.
//!
//! Instances live for one event, so the pool bounds how many plugin calls
//! run at once, not how many tenants or plugins are installed: compiled
//! components and their `InstancePre`s sit outside the pool. Slots are
//! reserved address space; memory is committed only when a guest touches
//! it, and after the call only the pages it dirtied are reset.

use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::{MAX_MEMORIES, MAX_TABLES};

/// Plugin calls that can be in flight at once across all tenants.
///
/// Workers run one call each and there are about as many as cores, plus
/// dry runs and replays from the API; 256 leaves room for a large machine.
/// Each slot reserves virtual address space (4 GiB + guard for its memory,
/// so about 1 TiB in all of the 128 TiB a process has), not RAM.
pub const MAX_CONCURRENT_CALLS: u32 = 256;

/// The most linear memory any tenant may be granted; per-tenant limits
/// are checked against it.
pub const MEMORY_CEILING_BYTES: usize = 256 << 20;

/// Linear memory kept resident (reset with memset, not `madvise`) per slot
/// between calls: a Rust rule touches about 1 MiB (its shadow stack and a
/// small heap), so reuse costs a scan of dirty pages, not page faults.
pub const MEMORY_KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Table bytes kept resident per slot, for the same reason.
pub const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// The wasm stack a call may use. Small enough that runaway recursion hits
/// it (a `StackOverflow` trap that names the limit) well before the host
/// thread's own stack.
pub const MAX_WASM_STACK_BYTES: usize = 512 << 10;

/// Core instances per component: a Rust component has its module plus the
/// adapter shims the component model adds.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// How often the epoch advances; the wall-clock backstop is counted in
/// these ticks, so it is accurate to one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Builds the engine: component model, fuel, epoch interruption, and the
/// pooling allocator sized by the consts above.
pub fn new_engine() -> wasmtime::Result<Engine> {
    Engine::new(&config(MAX_CONCURRENT_CALLS))
}

/// The engine of [`new_engine`] with room for `calls` plugin calls at once;
/// a call beyond them fails as [`super::Error::Busy`] (the host's fault, so
/// its event is retried). Tests use a small pool to run out of it.
pub fn pooled_engine(calls: u32) -> wasmtime::Result<Engine> {
    Engine::new(&config(calls))
}

/// The engine a compile worker uses: the same code generation, so its
/// artifacts load into [`new_engine`]'s, but compiling on one thread, so
/// one compile takes one core, and without the instance pool, so it
/// reserves no address space for instances it never makes (the pool's
/// tables are writable mappings a data limit counts; see
/// [`super::compile`]). Neither setting is recorded in an artifact.
pub(crate) fn new_compile_engine() -> wasmtime::Result<Engine> {
    let mut config = code_config();
    config.parallel_compilation(false);
    Engine::new(&config)
}

/// The engine's configuration with a pool for `calls` calls at once.
fn config(calls: u32) -> Config {
    let mut config = code_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(calls)));
    config
}

/// What code is generated for: the component model, fuel, epochs and the
/// wasm stack limit; the settings an artifact must agree on to load.
fn code_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK_BYTES);
    config
}

/// The instance pool for `calls` calls at once.
fn pool(calls: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(calls)
        .total_core_instances(calls * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(calls * MAX_MEMORIES as u32)
        .total_tables(calls * MAX_TABLES as u32)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32)
        .max_memory_size(MEMORY_CEILING_BYTES)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_BYTES)
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread,
/// until the ticker is dropped.
pub struct EpochTicker {
    _stop: Arc<()>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(());
        let alive: Weak<()> = Arc::downgrade(&stop);
        let engine = engine.weak();
        thread::Builder::new()
            .name("smstrigger-epoch".into())
            .spawn(move || {
                while alive.strong_count() > 0 {
                    thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch thread");
        Self { _stop: stop }
    }
}
