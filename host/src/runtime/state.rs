//! What one `Store` holds for one plugin call, and nothing that outlives it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::{Limits, StoreLimiter};
use super::{LogLine, Lookup, RecordLookup};

/// Settings of one installation of a plugin (the binding's config).
pub type PluginConfig = BTreeMap<String, String>;

/// The data of one call's `Store`: the sandbox's WASI context, the inputs
/// the host imports answer from, and what the call has used so far.
pub(crate) struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: StoreLimiter,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) config: Arc<PluginConfig>,
    pub(crate) lookup: Arc<dyn RecordLookup>,
    pub(crate) limits: Limits,
    /// When the call's wall-clock limit runs out; every `host` import
    /// checks it, so the limit covers host time as well as guest time.
    pub(crate) deadline: Instant,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) lookups: Vec<Lookup>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
