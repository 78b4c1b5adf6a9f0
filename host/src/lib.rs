//! smstrigger: turns SMS events into actions on customer records by running
//! each tenant's sandboxed WebAssembly trigger plugins.
//!
//! # Layout
//!
//! - [`model`]: the domain types every layer shares (events, records,
//!   actions, ids).
//! - [`wire`]: the JSON shapes the API serves and its clients parse (the
//!   `smstrigger plugin` commands, the remote `/v2` executor), declared once.
//! - [`runtime`]: the wasmtime engine, the host imports and a locked-down
//!   WASI, limits, the compile cache; runs one event through one plugin.
//! - [`phone`]: phone numbers to E.164 under a project's default country,
//!   and the opt-out keywords.
//! - [`actions`]: what the host checks before it executes an action
//!   (validation, calling hours, judging proposals against the store) and
//!   the executors that carry actions out.
//! - [`store`]: the embedded SQLite store behind the `Store` trait.
//! - [`registry`]: every use case on a tenant's plugins (install, activate,
//!   rollback, dry run, replay) and the one way a plugin runs on an event,
//!   with the loaded plugins, upload admission and the tool threads.
//! - [`directory`]: every use case on a tenant's own data (tenants and
//!   their credentials, projects, records, the do-not-contact list), with
//!   the data quotas.
//! - [`pipeline`]: journal → dedupe → opt-out → records → plugins (through
//!   the registry) → validation → execution, exactly once per accepted
//!   event.
//! - [`config`]: the server's configuration (TOML, environment, flags).
//! - [`secrets`]: the operator's key for secrets at rest, and sealing
//!   (encrypting) and opening values with it.
//! - [`api`]: the HTTP interface (axum): routes, auth, errors; handlers
//!   parse and answer, the directory, the registry and the pipeline do the
//!   work.
//! - [`server`]: `open`, the one composition root (store, runtime,
//!   registry, executors, pipeline), and `run`, the service on a listener
//!   with graceful shutdown.
//! - [`watch`]: development only; reinstalls components as their files
//!   change, through the registry.
//! - [`metrics`]: the Prometheus metrics the pipeline and the API record
//!   and `GET /metrics` renders.
//!
//! Dependencies flow `api → {directory, pipeline, registry}`, `directory →
//! store`, `pipeline → registry → {runtime, actions, store}`, never back:
//! nothing in `runtime` knows about tenants, storage or HTTP, and neither
//! the registry nor the directory knows HTTP. `wire` and `model` are types
//! every layer may use.

pub mod actions;
pub mod api;
pub mod config;
pub mod directory;
pub mod metrics;
pub mod model;
pub mod phone;
pub mod pipeline;
pub(crate) mod priority;
pub mod registry;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod store;
pub mod watch;
pub mod wire;
