//! Why an uploaded component is refused before or while it compiles.
//!
//! Compiling is the one step of an upload whose cost the uploader chooses:
//! a single function with thousands of live values can keep the compiler
//! busy for minutes. So the component's shape is read first (see
//! [`super::precheck`]) and each bound it breaks is its own variant, with a
//! stable code naming the limit; a compile that still runs too long or
//! needs too much memory is stopped and named here too (see
//! [`super::compile`]). Every variant is
//! the uploader's problem: the API answers 422, and nothing of the
//! component is kept.

/// A component refused for its shape or for what compiling it cost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the upload is a core wasm module, not a component (build for wasm32-wasip2)")]
    NotAComponent,
    #[error("the component cannot be read: {reason}")]
    Malformed { reason: String },
    #[error("the component imports `{name}`, which the host does not link")]
    ImportNotLinked { name: String },
    #[error("the component imports {count} items; the limit is {limit}")]
    TooManyImports { count: usize, limit: usize },
    #[error("the component does not export `on-event`")]
    MissingOnEvent,
    #[error("the component has {count} core modules; the limit is {limit}")]
    TooManyModules { count: usize, limit: usize },
    #[error("core module {module} has {count} functions; the limit is {limit}")]
    TooManyFunctions {
        module: usize,
        count: u64,
        limit: u64,
    },
    #[error("function {function} of core module {module} is {bytes} bytes; the limit is {limit}")]
    FunctionTooLarge {
        module: usize,
        function: u32,
        bytes: usize,
        limit: usize,
    },
    #[error(
        "function {function} of core module {module} declares {count} locals; the limit is {limit}"
    )]
    TooManyLocals {
        module: usize,
        function: u32,
        count: u64,
        limit: u64,
    },
    #[error("the component has {bytes} bytes of code; the limit is {limit}")]
    CodeTooLarge { bytes: usize, limit: usize },
    #[error("compiling the component used more than its CPU limit of {secs} s")]
    CompileCpuLimit { secs: u64 },
    #[error("compiling the component took more than its wall-clock limit of {secs} s")]
    CompileWallLimit { secs: u64 },
    #[error("compiling the component needed more than its memory limit of {mib} MiB")]
    CompileMemoryLimit { mib: u64 },
}

impl Refused {
    /// A stable snake_case code naming the limit or the reason.
    ///
    /// Bytes that are not a readable component keep the code a failed
    /// compile has (`compile_failed`), and a component outside the world
    /// the code of a failed type check (`contract_mismatch`), as before
    /// they were caught ahead of the compile; each bound has its own code.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::NotAComponent | Refused::Malformed { .. } => "compile_failed",
            Refused::ImportNotLinked { .. } | Refused::MissingOnEvent => "contract_mismatch",
            Refused::TooManyImports { .. } => "too_many_imports",
            Refused::TooManyModules { .. } => "too_many_modules",
            Refused::TooManyFunctions { .. } => "too_many_functions",
            Refused::FunctionTooLarge { .. } => "function_too_large",
            Refused::TooManyLocals { .. } => "too_many_locals",
            Refused::CodeTooLarge { .. } => "code_too_large",
            Refused::CompileCpuLimit { .. }
            | Refused::CompileWallLimit { .. }
            | Refused::CompileMemoryLimit { .. } => "compile_limit",
        }
    }
}
