//! Why loading or running a plugin failed, named so callers can branch on it.

use wasmtime::component::ResourceTableError;
use wasmtime::{PoolConcurrencyLimitError, Trap};
use wasmtime_wasi::I32Exit;

use super::LookupFailed;
use super::engine::MAX_WASM_STACK_BYTES;
use super::limits::{DeadlinePassed, LimitExceeded, Limits, MAX_WASI_RESOURCES};
use super::refused::Refused;

/// A plugin that could not be loaded, or a call that produced no actions.
///
/// A call's failure is the plugin's problem, never the host's: it is
/// recorded with the plugin's name and version and nothing else is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the component does not compile: {reason}")]
    Compile { reason: String },
    #[error("the component does not implement world smstrigger:plugin/trigger: {reason}")]
    Contract { reason: String },
    /// Refused for its shape before compiling, or stopped at a compile
    /// limit; the message names the limit.
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("the plugin ran out of fuel after {fuel} units (its CPU budget)")]
    OutOfFuel { fuel: u64 },
    #[error("the plugin ran past its wall-clock deadline of {millis} ms")]
    Deadline { millis: u64 },
    #[error("the plugin overflowed its wasm stack of {bytes} bytes")]
    StackOverflow { bytes: usize },
    #[error("the plugin hit a limit: {0}")]
    Limit(LimitExceeded),
    #[error("the plugin answered {count} actions; the limit is {limit}")]
    TooManyActions { count: usize, limit: usize },
    #[error("action {index} has a note or text of {len} bytes; the limit is {limit}")]
    NoteTooLong {
        index: usize,
        len: usize,
        limit: usize,
    },
    #[error("the plugin trapped: {message}")]
    Trap { message: String },
    #[error("the plugin returned an error: {message}")]
    Plugin { message: String },
    #[error("the plugin could not be started: {reason}")]
    Instantiate { reason: String },
    #[error("the host has no instance free to run the plugin: {reason}")]
    Busy { reason: String },
    #[error("the host could not answer the plugin's find-records: {reason}")]
    LookupFailed { reason: String },
    #[error("the compile cache failed: {reason}")]
    Cache { reason: String },
    #[error("the wasm engine could not start: {reason}")]
    Engine { reason: String },
}

impl Error {
    /// A stable snake_case code for decisions, metrics and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Compile { .. } => "compile_failed",
            Error::Contract { .. } => "contract_mismatch",
            Error::Refused(refused) => refused.code(),
            Error::OutOfFuel { .. } => "out_of_fuel",
            Error::Deadline { .. } => "deadline_exceeded",
            Error::StackOverflow { .. } => "stack_overflow",
            Error::Limit(LimitExceeded::Memory { .. }) => "memory_limit",
            Error::Limit(LimitExceeded::Table { .. }) => "table_limit",
            Error::Limit(LimitExceeded::LogLines { .. }) => "log_limit",
            Error::Limit(LimitExceeded::Lookups { .. }) => "lookup_limit",
            Error::Limit(LimitExceeded::WasiResources { .. }) => "wasi_resource_limit",
            Error::TooManyActions { .. } => "too_many_actions",
            Error::NoteTooLong { .. } => "note_too_long",
            Error::Trap { .. } => "trap",
            Error::Plugin { .. } => "plugin_error",
            Error::Instantiate { .. } => "instantiate_failed",
            Error::Busy { .. } => "host_busy",
            Error::LookupFailed { .. } => "lookup_failed",
            Error::Cache { .. } => "cache_failed",
            Error::Engine { .. } => "engine_failed",
        }
    }

    /// True when the call failed for a reason of the host's, not the
    /// plugin's: no instance free, a lookup or a load the host could not
    /// answer, the cache or the engine. Such an outcome says nothing about
    /// the plugin, so an event that meets one is retried, never decided.
    pub fn is_host_fault(&self) -> bool {
        matches!(
            self,
            Error::Busy { .. }
                | Error::LookupFailed { .. }
                | Error::Instantiate { .. }
                | Error::Cache { .. }
                | Error::Engine { .. }
        )
    }

    /// Names what stopped a call, from the error wasmtime raised and what the
    /// plugin wrote to stderr (where a Rust panic leaves its message).
    pub(crate) fn from_call(error: wasmtime::Error, limits: &Limits, stderr: &[u8]) -> Self {
        if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
            return Error::Limit(limit.clone());
        }
        if let Some(ResourceTableError::Full) = error.downcast_ref::<ResourceTableError>() {
            return Error::Limit(LimitExceeded::WasiResources {
                limit: MAX_WASI_RESOURCES,
            });
        }
        if let Some(failed) = error.downcast_ref::<LookupFailed>() {
            return Error::LookupFailed {
                reason: failed.0.clone(),
            };
        }
        if error.is::<DeadlinePassed>() {
            return Error::Deadline {
                millis: limits.wall_deadline.as_millis() as u64,
            };
        }
        if let Some(busy) = error.downcast_ref::<PoolConcurrencyLimitError>() {
            return Error::Busy {
                reason: busy.to_string(),
            };
        }
        if let Some(I32Exit(status)) = error.downcast_ref::<I32Exit>() {
            // `wasi:cli/exit` ends the call without an answer, whatever the
            // status: the plugin's failure, named for what it did.
            let message =
                format!("the plugin called exit with status {status} instead of answering");
            return Error::Trap {
                message: with_stderr(message, stderr),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Error::OutOfFuel { fuel: limits.fuel },
            Some(Trap::Interrupt) => Error::Deadline {
                millis: limits.wall_deadline.as_millis() as u64,
            },
            Some(Trap::StackOverflow) => Error::StackOverflow {
                bytes: MAX_WASM_STACK_BYTES,
            },
            _ => Error::Trap {
                message: with_stderr(format!("{error:#}"), stderr),
            },
        }
    }
}

/// `message`, followed by what the plugin wrote to stderr if anything.
fn with_stderr(message: String, stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let stderr = stderr.trim();
    if stderr.is_empty() {
        message
    } else {
        format!("{message}; stderr: {stderr}")
    }
}
