//! `smstrigger-proof floor`: the floor the real server is compared to.
//!
//! A bare axum handler at `POST /v1/webhooks/sms/inbound` that parses the
//! inbound webhook's JSON body and journals one row into an `events` table
//! of the real one's shape, with the same durability (WAL,
//! `synchronous = FULL`), through one writer thread with group commit:
//! the writer blocks for the first request, drains whatever else is queued
//! (up to [`MAX_BATCH`]), inserts them all in one transaction, commits and
//! only then answers each request (202). No auth, no plugins.
//!
//! With `--database-url` the rows go to PostgreSQL instead (a table of
//! the PostgreSQL `events` shape, `synchronous_commit = on`), with the
//! same group commit: the floor of hosts on a shared database.
//! `GET /healthz` answers 200 once it listens. On SIGTERM or Ctrl-C it
//! stops, and prints what it journaled.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::report::Report;

/// The most requests one commit takes.
pub const MAX_BATCH: usize = 1024;

/// The `events` table of the real server (`host/src/store/schema.rs`),
/// with its indexes and the `accepted_us` column; no foreign keys, as the
/// floor has no tenants or projects.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    project_id  INTEGER NOT NULL,
    dedupe_key  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    input       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state       TEXT NOT NULL,
    resolved    TEXT,
    processed_at INTEGER,
    accepted_us INTEGER,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX IF NOT EXISTS events_pending ON events(tenant_id, id) WHERE state = 'pending';
";

/// The `events` table of the PostgreSQL back end
/// (`host/src/store/postgres/schema.rs`), with its indexes; no foreign
/// keys, as the floor has no tenants or projects.
const PG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS floor_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT NOT NULL,
    project_id   BIGINT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    subject      TEXT NOT NULL,
    input        JSONB NOT NULL,
    received_at  BIGINT NOT NULL,
    state        TEXT NOT NULL,
    resolved     JSONB,
    processed_at BIGINT,
    accepted_us  BIGINT,
    decided_us   BIGINT,
    lease_owner  TEXT,
    lease_until  TIMESTAMPTZ,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX IF NOT EXISTS floor_events_pending ON floor_events(tenant_id, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS floor_events_pending_subject
    ON floor_events(tenant_id, subject, id) WHERE state = 'pending';
";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Where its `floor.db` goes.
    #[arg(long)]
    data_dir: PathBuf,
    /// Journal into this PostgreSQL database instead of `floor.db`.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

/// Where the writer commits.
enum Writer {
    Sqlite(Connection),
    Postgres(postgres::Client),
}

/// The inbound webhook's body, in the source system's field names.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct InboundBody {
    direction: String,
    message: String,
    #[serde(default)]
    number_id: serde_json::Value,
    project_id: u64,
    source_phone_number: String,
    timestamp: serde_json::Value,
    #[serde(default)]
    message_id: Option<String>,
}

/// One request for the writer.
struct Job {
    row: Row,
    answer: oneshot::Sender<Result<Journaled, String>>,
}

struct Row {
    project_id: u64,
    dedupe_key: String,
    message_id: String,
    subject: String,
    input: String,
}

enum Journaled {
    Accepted(i64),
    Duplicate,
}

/// What the writer did, for the report.
#[derive(Default)]
struct Tally {
    accepted: u64,
    duplicates: u64,
    commits: u64,
    largest_batch: usize,
}

pub fn run(args: Args) -> Result<Report> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let conn = match &args.database_url {
        Some(url) => Writer::Postgres(open_postgres(url)?),
        None => Writer::Sqlite(open(&args.data_dir.join("floor.db"))?),
    };
    let (jobs, queue) = mpsc::channel::<Job>();
    let writer = std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || write_loop(conn, queue))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let app = Router::new()
            .route("/v1/webhooks/sms/inbound", post(inbound))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(jobs);
        eprintln!("floor listening on {}", listener.local_addr()?);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await?;
        anyhow::Ok(())
    })?;
    drop(runtime);
    let tally = writer.join().expect("the writer panicked")?;
    let mut report = Report::new("floor", false);
    report.figure("accepted", tally.accepted as f64, "events");
    report.figure("duplicates", tally.duplicates as f64, "events");
    report.figure("commits", tally.commits as f64, "transactions");
    report.figure(
        "mean_batch",
        if tally.commits > 0 {
            (tally.accepted + tally.duplicates) as f64 / tally.commits as f64
        } else {
            0.0
        },
        "events",
    );
    report.figure("largest_batch", tally.largest_batch as f64, "events");
    Ok(report)
}

fn open(path: &std::path::Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn open_postgres(url: &str) -> Result<postgres::Client> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .with_context(|| format!("connecting to {url}"))?;
    client.batch_execute("SET synchronous_commit = on")?;
    client.batch_execute(PG_SCHEMA)?;
    Ok(client)
}

async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}

async fn inbound(State(jobs): State<mpsc::Sender<Job>>, body: Bytes) -> Response {
    let parsed: InboundBody = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if parsed.direction != "in" {
        return (StatusCode::UNPROCESSABLE_ENTITY, "direction must be in").into_response();
    }
    let message_id = parsed
        .message_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| format!("{}:{}", parsed.source_phone_number, parsed.timestamp));
    let row = Row {
        project_id: parsed.project_id,
        dedupe_key: format!("inbound:{message_id}"),
        message_id,
        subject: parsed.source_phone_number.clone(),
        input: serde_json::to_string(&parsed).unwrap_or_default(),
    };
    let (answer, answered) = oneshot::channel();
    if jobs.send(Job { row, answer }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match answered.await {
        Ok(Ok(Journaled::Accepted(id))) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "eventId": id, "status": "accepted" })),
        )
            .into_response(),
        Ok(Ok(Journaled::Duplicate)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "status": "duplicate" })),
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the writer stopped").into_response(),
    }
}

/// The writer: one group commit per wake-up until every sender is gone.
fn write_loop(mut conn: Writer, queue: mpsc::Receiver<Job>) -> Result<Tally> {
    let mut tally = Tally::default();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        tally.largest_batch = tally.largest_batch.max(batch.len());
        let committed = match &mut conn {
            Writer::Sqlite(conn) => commit(conn, &batch),
            Writer::Postgres(client) => commit_postgres(client, &batch),
        };
        match committed {
            Ok(results) => {
                tally.commits += 1;
                for (job, result) in batch.into_iter().zip(results) {
                    match result {
                        Journaled::Accepted(_) => tally.accepted += 1,
                        Journaled::Duplicate => tally.duplicates += 1,
                    }
                    job.answer.send(Ok(result)).ok();
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                for job in batch {
                    job.answer.send(Err(message.clone())).ok();
                }
            }
        }
    }
    Ok(tally)
}

fn commit(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Journaled>> {
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                                 received_at, state, accepted_us)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)
             ON CONFLICT (tenant_id, dedupe_key) DO NOTHING",
        )?;
        for job in batch {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
            let row = &job.row;
            let inserted = insert.execute(params![
                row.project_id,
                row.dedupe_key,
                row.message_id,
                row.subject,
                row.input,
                now.as_secs() as i64,
                now.as_micros() as i64,
            ])?;
            results.push(if inserted == 1 {
                Journaled::Accepted(tx.last_insert_rowid())
            } else {
                Journaled::Duplicate
            });
        }
    }
    tx.commit()?;
    Ok(results)
}

/// [`commit`] into PostgreSQL: one transaction, one prepared insert per row.
fn commit_postgres(client: &mut postgres::Client, batch: &[Job]) -> Result<Vec<Journaled>> {
    let mut tx = client.transaction()?;
    let insert = tx.prepare(
        "INSERT INTO floor_events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                                   received_at, state, accepted_us)
         VALUES (1, $1, $2, $3, $4, CAST($5::text AS jsonb), $6, 'pending', $7)
         ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
         RETURNING id",
    )?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
        let row = &job.row;
        let inserted = tx.query_opt(
            &insert,
            &[
                &(row.project_id as i64),
                &row.dedupe_key,
                &row.message_id,
                &row.subject,
                &row.input,
                &(now.as_secs() as i64),
                &(now.as_micros() as i64),
            ],
        )?;
        results.push(match inserted {
            Some(id) => Journaled::Accepted(id.get(0)),
            None => Journaled::Duplicate,
        });
    }
    tx.commit()?;
    Ok(results)
}
