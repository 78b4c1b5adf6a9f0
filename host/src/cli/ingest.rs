//! `smstrigger ingest`: journal events from JSON lines on stdin into a data
//! directory and process them, then exit when nothing is pending.
//!
//! For batch imports and for driving the pipeline without the HTTP
//! service. It reads the same configuration as `serve` and builds the same
//! service (`server::open`): the tenants' executors (a remote tenant's
//! events go to its remote), limits and workers are the server's. Plugins
//! load on first use, so input is acknowledged from the first line. Each input line is `{"tenant": ID, "event": INCOMING}`; each
//! output line says what became of it (`accepted 17`, `duplicate 17`,
//! `superseded 17`, `refused <code>: <reason>`), printed only once the event
//! is on disk, so a line on stdout is an acknowledgement. An event is taken
//! in exactly as a webhook's is (`Pipeline::prepare`): one stamped outside
//! its tenant's acceptance window is `refused outside_accept_window: …`,
//! and nothing of it is journaled.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use smstrigger_host::model::TenantId;
use smstrigger_host::pipeline::Incoming;
use smstrigger_host::server;
use smstrigger_host::store::Journaled;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory (embedded database, compile cache) [default: ./smstrigger-data].
    #[arg(long, env = "SMSTRIGGER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML configuration file, as `serve` reads it.
    #[arg(long, env = "SMSTRIGGER_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Line {
    tenant: TenantId,
    event: Incoming,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = super::serve::load_config(args.config.as_deref(), args.data_dir)?;
    let state = server::open(config)?;
    let (store, pipeline) = (
        Arc::clone(state.pipeline.store()),
        Arc::clone(&state.pipeline),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let dispatcher = pipeline.start(Arc::clone(&stop));

    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Line>(&line) {
            Err(error) => format!("refused invalid_line: {error}"),
            Ok(Line { tenant, event }) => match pipeline.accept(tenant, event) {
                Ok(Journaled::Accepted(id)) => format!("accepted {id}"),
                Ok(Journaled::Duplicate(id)) => format!("duplicate {id}"),
                Ok(Journaled::Superseded(id)) => format!("superseded {id}"),
                Err(error) => format!("refused {}: {error}", error.code()),
            },
        };
        let mut out = stdout.lock();
        writeln!(out, "{answer}")?;
        out.flush()?;
    }

    while store.pending_count()? > 0 {
        pipeline.notify();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Remote tenants' actions go out through their outbox after the
    // decisions commit: give them the shutdown grace to be delivered.
    let grace = std::time::Instant::now() + state.config.shutdown_grace();
    while store.outbox_pending_count()? > 0 && std::time::Instant::now() < grace {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let undelivered = store.outbox_pending_count()?;
    if undelivered > 0 {
        tracing::warn!(
            undelivered,
            "remote actions still queued; they are delivered at the next start"
        );
    }
    stop.store(true, Ordering::Release);
    pipeline.notify();
    dispatcher.join().expect("the dispatcher panicked");
    Ok(ExitCode::SUCCESS)
}
