//! The `bindgen!`s over `wit/`, one per published version of the world: the
//! generated host traits and types.
//!
//! Host imports are `trappable` so an import can stop a plugin that is over
//! a limit; nothing outside `runtime` sees these types (`convert` maps them
//! to [`crate::model`]).

/// `smstrigger:plugin@0.2.0`, the current world.
pub mod v2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "trigger",
        imports: { default: trappable },
    });

    pub use smstrigger::plugin::host::{self as host_api, Level};
    pub use smstrigger::plugin::types as wit_types;
}

/// `smstrigger:plugin@0.1.0`, the first world: its components run
/// unchanged, forever.
pub mod v1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "trigger",
        imports: { default: trappable },
    });

    pub use smstrigger::plugin::host::{self as host_api, Level};
    pub use smstrigger::plugin::types as wit_types;
}
