//! smstrigger: turns SMS events into actions on customer records by running
//! each tenant's sandboxed WebAssembly trigger plugins.
//!
//! # Layout
//!
//! - [`model`]: the domain types every layer shares (events, records,
//!   actions, ids).
//! - [`runtime`]: the wasmtime engine, the host imports and a locked-down
//!   WASI, limits, the compile cache; runs one event through one plugin.
//!
//! Dependencies flow from the outside in: nothing in `runtime` knows about
//! tenants, storage or HTTP.

pub mod model;
pub mod runtime;
