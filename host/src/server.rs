//! `run`: the whole service on one listener, until a shutdown future
//! resolves; then it stops accepting, drains in-flight events for at most
//! the configured grace period, and returns.
//!
//! Connections are served by hyper's HTTP/1 directly (not `axum::serve`,
//! which has no header-read timeout): a client gets
//! `config.header_timeout()` to send a request's headers, from the moment
//! the connection opens or the previous answer went out, or the connection
//! is closed; so half-sent headers and idle keep-alive connections hold
//! nothing for long. Each request then has `config.request_timeout()`,
//! body included, before it is answered 408 (a slowly trickled body is
//! cut). On shutdown, idle connections close at once and busy ones after
//! their answer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::actions::outbox::OutboxPolicy;
use crate::actions::remote::client::RemoteClient;
use crate::actions::sms::SmsSender;
use crate::actions::{RemoteExecutor, TenantRouter};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::pipeline::{Acceptance, Pipeline, PipelineConfig};
use crate::registry::{Registry, RegistryConfig};
use crate::runtime::{CompileCache, Runtime};
use crate::store::{Cached, PgStore, SqliteStore, Store};

/// How often the journal depth (for 503s and metrics) is refreshed.
const DEPTH_REFRESH: Duration = Duration::from_millis(250);
/// The same on a store shared by hosts: each of them counts the whole
/// cluster's pending events, a cost the database pays per host (a fifth
/// of a core at 250 ms over an 80,000-event backlog, the cluster proof).
const SHARED_DEPTH_REFRESH: Duration = Duration::from_secs(1);
/// And at least this many times as long as the last count took: a count
/// grows with the backlog (60 ms over 230,000 pending events), and
/// counting must not take more than a small share of the database while
/// the hosts drain it.
const DEPTH_COUNT_SHARE: u32 = 50;

/// Opens the data directory and builds the state every handler shares,
/// with every active plugin loaded: ready means ready.
pub fn state(config: Config) -> anyhow::Result<AppState> {
    let state = open(config)?;
    // Ready means ready: every active plugin is loaded before the first
    // request (from the compile cache, after a restart).
    let started = Instant::now();
    let loaded = state.registry.preload()?;
    tracing::info!(
        loaded,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plugins loaded"
    );
    Ok(state)
}

/// The composition root: the store, the runtime, the registry, the
/// tenants' executors and the pipeline, built from `config` the one way
/// every command that runs events builds them (`serve`, `ingest`, `demo`).
/// Plugins load on first use.
pub fn open(config: Config) -> anyhow::Result<AppState> {
    config.check_public_url()?;
    let store = open_store(&config)?;
    let mut cache = CompileCache::open(config.data_dir.join("compiled"))?;
    if let Some(worker) = config.compile.worker() {
        cache = cache.with_worker(worker);
    }
    let runtime = Arc::new(Runtime::new(Some(cache))?);
    let remote = RemoteExecutor::from_config(Arc::clone(&store), &config.remote)?;
    let sms = SmsSender::new(
        RemoteClient::from_config(&config.remote)?,
        config.public_root(),
    );
    let executor = Arc::new(TenantRouter::with_remote(
        Arc::clone(&store),
        remote,
        sms,
        OutboxPolicy::default(),
        config.clock.clone(),
    ));
    let registry = Registry::new(
        store,
        runtime,
        RegistryConfig {
            limits: config.limits.limits(),
            quotas: config.quotas.clone(),
            compile: config.compile.clone(),
        },
    );
    let mut pipeline_config = PipelineConfig {
        acceptance: Acceptance::Window {
            default: config.accept_window.defaults(),
            clock: config.clock.clone(),
        },
        ..PipelineConfig::default()
    };
    if config.workers > 0 {
        pipeline_config.workers = config.workers;
    }
    let pipeline = Pipeline::with_registry(registry, executor, pipeline_config, Arc::default());
    Ok(AppState::new(pipeline, Arc::new(config)))
}

/// The store `config` names, behind the settings cache: PostgreSQL when it
/// has a database URL (any number of hosts share it), else the SQLite file
/// in the data directory (one host).
fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let Some(url) = &config.database_url else {
        return Ok(Arc::new(Cached::new(SqliteStore::open_with_key(
            &config.data_dir,
            config.secrets_key.clone(),
        )?)));
    };
    // A key generated into one host's data directory would not open the
    // secrets another host sealed: every host must be given the same one.
    let key = config.secrets_key.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "a database URL needs a secrets key (secrets_key, or SMSTRIGGER_SECRETS_KEY: \
             32 bytes as hex or base64), the same on every host sharing the database"
        )
    })?;
    let store = crate::store::blocking(|| PgStore::open(url.as_str(), key))
        .map_err(|error| anyhow::anyhow!("opening the database at {url:?}: {error}"))?;
    tracing::info!(host = store.host(), database = ?url, "serving on PostgreSQL");
    Ok(Arc::new(Cached::new(store)))
}

/// Serves on `listener` until `shutdown` resolves, then drains.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let dispatcher = state.pipeline.start(Arc::clone(&stop));
    let depth = tokio::spawn(refresh_depth(state.clone()));
    let shadows =
        tokio::spawn(Arc::clone(&state.registry).shadow_worker(Arc::clone(&state.metrics)));

    tracing::info!(address = %listener.local_addr()?, "smstrigger listening");
    let died = pipeline_died(Arc::clone(&state.pipeline));
    let (stopping, stopped) = tokio::sync::oneshot::channel::<bool>();
    let shutdown = async move {
        let died = tokio::select! {
            () = shutdown => false,
            () = died => true,
        };
        stopping.send(died).ok();
    };
    let deadlines = Deadlines {
        request: state.config.request_timeout(),
        upload: state.config.request_timeout()
            + Duration::from_secs(state.config.compile.wall_secs),
    };
    let app = api::app(state.clone()).layer(axum::middleware::from_fn_with_state(
        deadlines,
        request_timeout,
    ));
    serve(listener, app, state.config.header_timeout(), shutdown).await;
    if stopped.await.unwrap_or(false) {
        anyhow::bail!(
            "the pipeline stopped unexpectedly (see the log); exiting so a supervisor restarts the server"
        );
    }

    // No new events arrive now. One host alone gives the ones journaled
    // time to finish; a host of many stops at once: its workers finish
    // the events in hand, and the rest of its claims go back to the
    // others (the cluster's backlog is not its to drain).
    let alone = !state.pipeline.store().shared_by_hosts();
    let grace = if alone {
        state.config.shutdown_grace()
    } else {
        Duration::ZERO
    };
    let started = Instant::now();
    let store = Arc::clone(state.pipeline.store());
    let pipeline = Arc::clone(&state.pipeline);
    tokio::task::spawn_blocking(move || {
        while started.elapsed() < grace && store.pending_count().unwrap_or(0) > 0 {
            pipeline.notify();
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Release);
        pipeline.notify();
        dispatcher.join().ok();
        let left = if alone {
            store.pending_count().unwrap_or(0)
        } else {
            0
        };
        if left > 0 {
            tracing::warn!(
                left,
                "shut down with events pending; they run at the next start"
            );
        }
    })
    .await?;
    depth.abort();
    shadows.abort();
    tracing::info!("smstrigger stopped");
    Ok(())
}

/// Resolves if the pipeline dies (see [`Pipeline::is_healthy`]): a server
/// that acknowledges webhooks it will never decide must not stay up.
async fn pipeline_died(pipeline: Arc<Pipeline>) {
    while pipeline.is_healthy() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Accepts connections until `shutdown` resolves and serves each with
/// hyper's HTTP/1 under `header_timeout`; then waits for open connections
/// to finish their answers.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        stream.set_nodelay(true).ok();
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// How long a request may take, body included.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    /// Every request but uploads.
    request: Duration,
    /// A plugin upload (`PUT /v1/plugins/{name}`): the request's time plus
    /// the compile's own wall-clock limit (`compile.wall_secs`), which
    /// bounds it already; cut at the request's time, an upload the
    /// compile limits admit was answered 408 on a busy machine, where the
    /// low-priority compile waits for a core.
    upload: Duration,
}

impl Deadlines {
    fn of(&self, request: &Request) -> Duration {
        let path = request.uri().path();
        let upload = request.method() == axum::http::Method::PUT
            && path
                .strip_prefix("/v1/plugins/")
                .is_some_and(|name| !name.is_empty() && !name.contains('/'));
        if upload { self.upload } else { self.request }
    }
}

/// Answers 408 when a request (reading its body included) takes longer
/// than its deadline; the handler is dropped, so nothing it had not
/// committed happens.
async fn request_timeout(
    State(deadlines): State<Deadlines>,
    request: Request,
    next: Next,
) -> Response {
    let limit = deadlines.of(&request);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => api::ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request took longer than {} s, body included (request_timeout_secs; an upload also has compile.wall_secs)",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn refresh_depth(state: AppState) {
    let every = if state.pipeline.store().shared_by_hosts() {
        SHARED_DEPTH_REFRESH
    } else {
        DEPTH_REFRESH
    };
    loop {
        let store = Arc::clone(state.pipeline.store());
        let started = Instant::now();
        if let Ok(Ok(depth)) = tokio::task::spawn_blocking(move || store.pending_by_tenant()).await
        {
            state.journal_depth.set(depth);
        }
        tokio::time::sleep(every.max(started.elapsed() * DEPTH_COUNT_SHARE)).await;
    }
}
