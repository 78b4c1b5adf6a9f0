//! smstrigger: turns SMS events into actions on customer records by running
//! each tenant's sandboxed WebAssembly trigger plugins.
//!
//! # Layout
//!
//! - [`model`]: the domain types every layer shares (events, records,
//!   actions, ids).
//! - [`runtime`]: the wasmtime engine, the host imports and a locked-down
//!   WASI, limits, the compile cache; runs one event through one plugin.
//! - [`phone`]: phone numbers to E.164 under a project's default country,
//!   and the opt-out keywords.
//! - [`actions`]: what the host checks before it executes an action
//!   (validation, calling hours) and the executors that carry actions out.
//! - [`store`]: the embedded SQLite store behind the `Store` trait.
//! - [`config`]: the server's configuration (TOML, environment, flags).
//! - [`secrets`]: the operator's key for secrets at rest, and sealing
//!   (encrypting) and opening values with it.
//! - [`api`]: the HTTP interface (axum): routes, auth, errors.
//! - [`server`]: `run`, the service on a listener with graceful shutdown.
//! - [`watch`]: development only; reinstalls components as their files change.
//! - [`metrics`]: the Prometheus metrics the pipeline and the API record
//!   and `GET /metrics` renders.
//! - [`pipeline`]: journal → dedupe → opt-out → records → plugins →
//!   validation → execution, exactly once per accepted event.
//!
//! Dependencies flow `api → pipeline → {runtime, actions, store}`, never back:
//! nothing in `runtime` knows about tenants, storage or HTTP.

pub mod actions;
pub mod api;
pub mod config;
pub mod metrics;
pub mod model;
pub mod phone;
pub mod pipeline;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod store;
pub mod watch;
