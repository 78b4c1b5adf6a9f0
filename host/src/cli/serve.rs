//! `smstrigger serve`: the HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use smstrigger_host::config::Config;
use smstrigger_host::server;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SMSTRIGGER_LISTEN")]
    listen: Option<SocketAddr>,
    /// The data directory (embedded database, compile cache) [default: ./smstrigger-data].
    #[arg(long, env = "SMSTRIGGER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database shared by every host
    /// (`postgres://user@host:port/database`) instead of the embedded
    /// SQLite file; needs a secrets key shared by the hosts
    /// (SMSTRIGGER_SECRETS_KEY).
    #[arg(long, env = "SMSTRIGGER_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// A TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "SMSTRIGGER_CONFIG")]
    config: Option<PathBuf>,
    /// Development only: install and activate `NAME.wasm` files in DIR as
    /// plugins of --watch-tenant whenever they change.
    #[arg(long, value_name = "DIR", requires = "watch_tenant")]
    watch: Option<PathBuf>,
    /// The tenant --watch installs plugins for.
    #[arg(long, value_name = "ID")]
    watch_tenant: Option<u64>,
}

/// The configuration from a file (if given), then `SMSTRIGGER_*`
/// environment variables, then a flag's data directory: the one way every
/// command that opens a data directory reads its settings.
pub(crate) fn load_config(
    file: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Config> {
    let mut config = Config::load(file)?;
    config.apply_env(|name| std::env::var(name).ok())?;
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    Ok(config)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = load_config(args.config.as_deref(), args.data_dir)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(url) = args.database_url {
        config.database_url = Some(smstrigger_host::config::DatabaseUrl(url));
    }
    // Uploads compile in this executable's `compile-worker`, CPU-limited.
    if config.compile.worker.is_none() {
        config.compile.worker = Some(std::env::current_exe()?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let state = server::state(config)?;
        let watcher = match (args.watch, args.watch_tenant) {
            (Some(dir), Some(tenant)) => Some(tokio::spawn(smstrigger_host::watch::watch(
                std::sync::Arc::clone(&state.registry),
                dir,
                smstrigger_host::model::TenantId(tenant),
            ))),
            _ => None,
        };
        let served = server::run(listener, state, shutdown_signal()).await;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: no new requests, draining events");
}
