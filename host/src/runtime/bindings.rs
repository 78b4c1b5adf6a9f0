//! The one `bindgen!` over `wit/`: the generated host traits and types.
//!
//! Host imports are `trappable` so an import can stop a plugin that is over
//! a limit; nothing outside `runtime` sees these types (`convert` maps them
//! to [`crate::model`]).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "trigger",
    imports: { default: trappable },
});

pub use smstrigger::plugin::host::{self as host_api, Level};
pub use smstrigger::plugin::types as wit_types;
