//! Runs one event through one plugin version, sandboxed and limited.
//!
//! One [`Runtime`] per process holds the engine, the linker with the host
//! imports and a locked-down WASI, and the epoch ticker. [`Runtime::load`]
//! compiles a component once (or loads it from the on-disk cache) and
//! checks it against the world; the [`Plugin`] it returns is cheap to clone
//! and to call from many threads. [`Runtime::invoke`] gives every call a
//! fresh `Store` and instance with every limit on: nothing a plugin keeps
//! survives to the next event or reaches another tenant.
//!
//! Every published version of the world runs side by side: the linker
//! links each version's `host` interface, [`Runtime::load`] finds which
//! version a component targets ([`WorldVersion`]), and each call converts
//! the event and the answer with that version's types.
//!
//! The runtime knows nothing of tenants, HTTP, storage or validation; the
//! caller passes the limits, the config and a [`RecordLookup`] already
//! scoped to the event's tenant and project.

mod bindings;
mod cache;
pub mod compile;
mod convert;
mod engine;
mod error;
mod host;
pub mod limits;
mod linked;
pub mod precheck;
mod refused;
mod state;
mod wasi;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, ComponentExportIndex, HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};

pub use cache::CompileCache;
pub use compile::CompileWorker;
pub use engine::{
    EPOCH_TICK, MAX_CONCURRENT_CALLS, MAX_WASM_STACK_BYTES, MEMORY_CEILING_BYTES, new_engine,
    pooled_engine,
};
pub use error::Error;
pub use limits::{LimitExceeded, Limits};
pub use linked::linked_interfaces;
pub use refused::Refused;
pub use state::PluginConfig;
pub use wasi::LINKED as LINKED_WASI;

use bindings::{v1, v2};
use limits::{MAX_ERROR_BYTES, MAX_SMS_TEXT_BYTES, StoreLimiter};
use state::CallState;

pub use crate::model::WorldVersion;
use crate::model::{Action, ContactRecord, SmsEvent};

/// Answers a plugin's `find-records` calls.
///
/// Implementations are scoped by the caller to the event's tenant and
/// project: the runtime passes the phone through and returns what it gets.
/// An error is the host's outage, not an empty answer: the call traps with
/// [`Error::LookupFailed`], so no plugin decides on records it could not see.
pub trait RecordLookup: Send + Sync {
    fn find_records(&self, phone: &str) -> Result<Vec<ContactRecord>, LookupFailed>;
}

/// The host could not look records up (its store failed); the reason is
/// for the operator's log and the event's retry, never for the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupFailed(pub String);

/// Answers from recorded lookups (a replay); a phone not recorded finds
/// nothing, as a deterministic plugin asks the same questions again.
impl RecordLookup for Vec<Lookup> {
    fn find_records(&self, phone: &str) -> Result<Vec<ContactRecord>, LookupFailed> {
        Ok(self
            .iter()
            .find(|lookup| lookup.phone == phone)
            .map(|lookup| lookup.records.clone())
            .unwrap_or_default())
    }
}

/// A fixed set of records, matched on the digits of their phone; for dry
/// runs, local runs and tests.
#[derive(Debug, Clone, Default)]
pub struct StaticRecords(pub Vec<ContactRecord>);

impl RecordLookup for StaticRecords {
    fn find_records(&self, phone: &str) -> Result<Vec<ContactRecord>, LookupFailed> {
        let digits = |p: &str| p.chars().filter(char::is_ascii_digit).collect::<String>();
        let wanted = digits(phone);
        Ok(self
            .0
            .iter()
            .filter(|record| !wanted.is_empty() && digits(&record.phone) == wanted)
            .cloned()
            .collect())
    }
}

/// The severity of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A line a plugin logged during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// The hex SHA-256 of a component: the identity of a plugin version's code.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A compiled plugin version, checked against the world and ready to
/// instantiate; cheap to clone and shareable across threads.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<LoadedPlugin>,
}

struct LoadedPlugin {
    pre: InstancePre<CallState>,
    on_event: ComponentExportIndex,
    world: WorldVersion,
    sha256: String,
    /// The compiled code's size: what keeping the plugin loaded costs.
    code_bytes: usize,
}

impl Plugin {
    /// The hex SHA-256 of the component's bytes: its identity.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Bytes of compiled code the loaded plugin maps: what keeping it
    /// loaded costs.
    pub fn code_bytes(&self) -> usize {
        self.inner.code_bytes
    }

    /// The world version the component targets.
    pub fn world(&self) -> WorldVersion {
        self.inner.world
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("sha256", &self.inner.sha256)
            .field("world", &self.inner.world)
            .finish()
    }
}

/// One call's inputs besides the plugin.
pub struct Call<'a> {
    pub event: &'a SmsEvent,
    pub config: Arc<PluginConfig>,
    pub lookup: Arc<dyn RecordLookup>,
    pub limits: Limits,
}

/// One `find-records` call and what it returned: recorded so a replay can
/// answer it exactly as the live run was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub phone: String,
    pub records: Vec<ContactRecord>,
}

/// What one call produced: the actions or why there are none, and what it
/// logged, looked up and used either way.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub result: Result<Vec<Action>, Error>,
    pub logs: Vec<LogLine>,
    pub lookups: Vec<Lookup>,
    pub fuel_used: u64,
    pub elapsed: Duration,
    /// The CPU time the calling thread spent in the call, host calls
    /// included: unlike `elapsed`, not the time it waited for a core.
    pub cpu: Duration,
}

impl Outcome {
    /// The outcome of a plugin that could not even be started.
    pub fn failed(error: Error) -> Self {
        Self {
            result: Err(error),
            logs: Vec::new(),
            lookups: Vec::new(),
            fuel_used: 0,
            elapsed: Duration::ZERO,
            cpu: Duration::ZERO,
        }
    }
}

/// The engine, the linker and the compile cache; one per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<CompileCache>,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// A runtime with the pooling engine; compiled components are cached in
    /// `cache` when given.
    pub fn new(cache: Option<CompileCache>) -> Result<Self, Error> {
        let engine = new_engine().map_err(engine_error)?;
        Self::with_engine(engine, cache)
    }

    /// A runtime on a given engine; it must enable the component model,
    /// fuel and epoch interruption, as [`new_engine`] does.
    pub fn with_engine(engine: Engine, cache: Option<CompileCache>) -> Result<Self, Error> {
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(engine_error)?;
        v2::Trigger::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |state| state)
            .map_err(engine_error)?;
        v1::Trigger::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |state| state)
            .map_err(engine_error)?;
        let ticker = engine::EpochTicker::start(&engine);
        Ok(Self {
            engine,
            linker,
            cache,
            _ticker: ticker,
        })
    }

    /// The engine, for callers that need to compile alongside the runtime.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes` (or loads it from the cache) and checks it against
    /// a version of the world: an import the host does not give, or a
    /// missing or mistyped `on-event` export, is an [`Error::Contract`]
    /// naming it.
    ///
    /// Before compiling, [`precheck`] reads the component's shape and
    /// refuses one over a bound ([`Error::Refused`]) without compiling it;
    /// the artifact is cached only once the component passed every check.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, Error> {
        let sha256 = sha256_hex(bytes);
        if let Some(plugin) = self.load_cached(&sha256) {
            return plugin;
        }
        precheck::check(bytes, linked::links)?;
        let Some(cache) = &self.cache else {
            return self.checked(compile::in_process(&self.engine, bytes)?, sha256);
        };
        let compiled = cache.compile(&self.engine, bytes)?;
        let plugin = self.checked(compiled.component.clone(), sha256)?;
        cache.keep(plugin.sha256(), &compiled)?;
        Ok(plugin)
    }

    /// Deletes the compiled artifact of a component no version uses any
    /// more; best effort (a leftover file is only disk).
    pub fn forget(&self, sha256: &str) {
        if let Some(cache) = &self.cache {
            cache.remove(sha256);
        }
    }

    /// Whether the component with `sha256` is in the compile cache, so
    /// loading it costs no compile.
    pub fn is_compiled(&self, sha256: &str) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.contains(sha256))
    }

    /// The plugin whose component has `sha256`, from the compile cache
    /// alone (no bytes to read or hash): `None` when it is not cached.
    pub fn load_cached(&self, sha256: &str) -> Option<Result<Plugin, Error>> {
        let component = self.cache.as_ref()?.cached(&self.engine, sha256)?;
        Some(self.checked(component, sha256.to_string()))
    }

    fn checked(&self, component: Component, sha256: String) -> Result<Plugin, Error> {
        let contract = |e: wasmtime::Error| Error::Contract {
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(contract)?;
        let world = world_of(&pre).map_err(contract)?;
        let on_event = component
            .get_export_index(None, "on-event")
            .ok_or_else(|| Error::Contract {
                reason: "no export named `on-event`".into(),
            })?;
        let image = component.image_range();
        Ok(Plugin {
            inner: Arc::new(LoadedPlugin {
                pre,
                on_event,
                world,
                sha256,
                code_bytes: (image.end as usize).saturating_sub(image.start as usize),
            }),
        })
    }

    /// Runs `plugin` on one event in a fresh instance with `call.limits`.
    ///
    /// Never fails as a whole: a trap, a limit or the plugin's own error is
    /// the outcome's `result`, with whatever it logged before it stopped.
    pub fn invoke(&self, plugin: &Plugin, call: Call<'_>) -> Outcome {
        let started = Instant::now();
        let cpu = crate::priority::thread_cpu_time();
        let limits = call.limits;
        let (wasi, stderr) = wasi::context(call.event);
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                table: wasi::table(),
                limiter: StoreLimiter::new(&limits),
                stderr,
                config: call.config,
                lookup: call.lookup,
                limits,
                deadline: started + limits.wall_deadline,
                logs: Vec::new(),
                lookups: Vec::new(),
            },
        );
        store.limiter(|state| &mut state.limiter);
        let ticks = limits.wall_deadline.as_nanos() / EPOCH_TICK.as_nanos();
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
        let result = store
            .set_fuel(limits.fuel)
            .map_err(CallError::Wasm)
            .and_then(|()| run(&mut store, plugin, call.event));
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let state = store.into_data();
        let result = result.map_err(|e| match e {
            CallError::Wasm(error) => Error::from_call(error, &limits, &state.stderr.contents()),
            CallError::Answer(error) => error,
        });
        Outcome {
            result,
            logs: state.logs,
            lookups: state.lookups,
            fuel_used,
            elapsed: started.elapsed(),
            cpu: crate::priority::thread_cpu_time().saturating_sub(cpu),
        }
    }
}

/// The world version whose export `pre`'s component has: the newest whose
/// `on-event` type checks. The imports were checked by linking: a component
/// may import either version's `host`, or none.
fn world_of(pre: &InstancePre<CallState>) -> wasmtime::Result<WorldVersion> {
    match v2::TriggerPre::new(pre.clone()) {
        Ok(_) => Ok(WorldVersion::V0_2_0),
        Err(current) => match v1::TriggerPre::new(pre.clone()) {
            Ok(_) => Ok(WorldVersion::V0_1_0),
            // Name the current world's mismatch: it is what a new plugin targets.
            Err(_) => Err(current),
        },
    }
}

fn engine_error(error: wasmtime::Error) -> Error {
    Error::Engine {
        reason: format!("{error:#}"),
    }
}

/// A call's failure before it is named: raw from wasmtime, or already
/// named by the answer checks.
enum CallError {
    Wasm(wasmtime::Error),
    Answer(Error),
}

impl From<wasmtime::Error> for CallError {
    fn from(error: wasmtime::Error) -> Self {
        CallError::Wasm(error)
    }
}

/// The plugin's answer, copied out of guest memory while the call returns.
///
/// It cannot stay in guest memory to be measured first (a lazy `WasmList` /
/// `WasmStr`): wasmtime runs the export's post-return, where the guest frees
/// the answer, before `call` returns, so reading it afterwards reads freed
/// memory that the guest's allocator may already have overwritten (a
/// JavaScript plugin's error message and notes came back corrupted). The
/// copy is bounded by the guest's memory and by wasmtime's hostcall fuel
/// (128 MiB of data per call by default); the answer limits are checked on
/// the copy.
type Answer<A> = (Result<Vec<A>, String>,);

fn run(
    store: &mut Store<CallState>,
    plugin: &Plugin,
    event: &SmsEvent,
) -> Result<Vec<Action>, CallError> {
    let instance = plugin.inner.pre.instantiate(&mut *store)?;
    let index = plugin.inner.on_event;
    let answer = match plugin.inner.world {
        WorldVersion::V0_2_0 => {
            let on_event = instance
                .get_typed_func::<(v2::wit_types::Event,), Answer<_>>(&mut *store, index)?;
            let (answer,) = on_event.call(&mut *store, (convert::current::event_to_wit(event),))?;
            answer.map(|list| {
                let actions = list.into_iter().map(convert::current::action_from_wit);
                actions.collect()
            })
        }
        WorldVersion::V0_1_0 => {
            let on_event = instance
                .get_typed_func::<(v1::wit_types::SmsEvent,), Answer<_>>(&mut *store, index)?;
            let event = convert::first::event_to_wit(event).ok_or_else(|| {
                CallError::Answer(Error::Contract {
                    reason: "world 0.1.0 has no call-disposition events".into(),
                })
            })?;
            let (answer,) = on_event.call(&mut *store, (event,))?;
            answer.map(|list| {
                let actions = list.into_iter().map(convert::first::action_from_wit);
                actions.collect()
            })
        }
    };
    let actions = answer.map_err(|message| {
        let message = host::truncated(&message, MAX_ERROR_BYTES);
        CallError::Answer(Error::Plugin { message })
    })?;
    checked_answer(actions, &store.data().limits).map_err(CallError::Answer)
}

/// `actions` when they are within the answer limits: how many, and how
/// long each note or text.
fn checked_answer(actions: Vec<Action>, limits: &Limits) -> Result<Vec<Action>, Error> {
    if actions.len() > limits.max_actions {
        return Err(Error::TooManyActions {
            count: actions.len(),
            limit: limits.max_actions,
        });
    }
    for (index, action) in actions.iter().enumerate() {
        let (notes, text) = match action {
            Action::SetDisposition(set) => ([set.note.as_ref(), None], None),
            Action::SendSms(sms) => (
                [sms.sender_id.as_ref(), sms.template_id.as_ref()],
                Some(&sms.text),
            ),
        };
        let over = |len: usize, limit: usize| {
            (len > limit).then_some(Error::NoteTooLong { index, len, limit })
        };
        let note = notes.into_iter().flatten().map(String::len).max();
        let too_long = note
            .and_then(|len| over(len, limits.max_note_bytes))
            .or_else(|| text.and_then(|text| over(text.len(), MAX_SMS_TEXT_BYTES)));
        if let Some(error) = too_long {
            return Err(error);
        }
    }
    Ok(actions)
}

#[cfg(test)]
mod tests;
