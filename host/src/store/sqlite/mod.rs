//! [`Store`] on one SQLite file (rusqlite, SQLite bundled).
//!
//! One writer connection behind a mutex: SQLite has one writer at a time
//! anyway, and both the journal and the pipeline commit in groups, so the
//! lock is held for short, plugin-free stretches. Plugins never run while
//! it is held. Reads go to a small pool of reader connections, and a
//! background thread checkpoints the write-ahead log ([`checkpoint`]).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::schema::MIGRATIONS;
use super::*;

mod audit;
mod checkpoint;
mod error;
mod journal;
mod outbox;
mod plugins;
mod records;
mod sealed;
mod shadows;
mod sms;
mod tenants;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "smstrigger.db";

/// How many reader connections the store keeps: enough for the pipeline's
/// workers, its dispatcher and the HTTP handlers to read side by side.
const READERS: usize = 6;

/// The writer (journal, commits, changes) and a few readers. In WAL mode a
/// reader never waits for the writer or its fsync, so the workers' reads
/// and the dispatcher's claims proceed while webhooks are being made
/// durable; each read sees everything committed before it.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// Where a reader that finds every connection busy queues.
    next_reader: AtomicUsize,
    /// Copies the write-ahead log into the file, off the writer's path.
    _checkpointer: checkpoint::Checkpointer,
    /// Seals and opens the secrets kept at rest (executor tokens).
    secrets: crate::secrets::SecretsKey,
}

/// One host per file: its quotas' buckets stay in memory.
impl RateLimits for SqliteStore {
    fn shared_by_hosts(&self) -> bool {
        false
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and runs any
    /// migrations it has not had; secrets at rest are sealed under the
    /// key file in `data_dir` (generated if missing, see
    /// [`crate::secrets::SecretsKey::load_or_create`]).
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with_key(data_dir, None)
    }

    /// Like [`Self::open`], with the operator's secrets key when one is
    /// configured. A key other than the one the database's secrets were
    /// sealed under fails here, naming the problem, not at the first use.
    pub fn open_with_key(data_dir: &Path, key: Option<crate::secrets::SecretsKey>) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let secrets = match key {
            Some(key) => key,
            None => crate::secrets::SecretsKey::load_or_create(data_dir)?,
        };
        let path = data_dir.join(DATABASE_FILE);
        let writer = connect(&path)?;
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::WRITER_BACKSTOP_PAGES,
        )?;
        migrate(&writer)?;
        sealed::seal_at_rest(&writer, &secrets)?;
        // A claim's lease keeps hosts sharing a database apart; this file
        // has one host, so a restart drops the leases and takes up its due
        // SMS at once (one cut short by a crash mid-send goes again, under
        // its idempotency key); those waiting for their time still wait.
        writer.execute(
            "UPDATE messages SET leased_until = NULL WHERE leased_until IS NOT NULL",
            [],
        )?;
        let readers = (0..READERS)
            .map(|_| connect(&path).map(Mutex::new))
            .collect::<Result<_>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            _checkpointer: checkpoint::Checkpointer::start(&path, checkpoint::EVERY)?,
            secrets,
        })
    }

    /// The writer, for changes (and reads that must see them in the same
    /// transaction).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A free reader, for reads of committed data (or, when all are busy,
    /// the next one in turn).
    pub(crate) fn read(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poison)) => return poison.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let turn = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[turn]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Opens a connection with the store's durability and planner settings.
///
/// The query planner stability guarantee keeps SQLite (built with STAT4)
/// from re-planning cached statements whenever a bound value changes,
/// which measured as most of the cost of the pipeline's reads.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: usize = conn
        .prepare_cached("PRAGMA user_version")?
        .query_row([], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

/// Now in Unix microseconds: when events are journaled and decided, so the
/// time from one to the other can be measured.
pub(crate) fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub(crate) fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound { what: what.into() }
}

pub(crate) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<(StoredRecord, String)> {
    Ok((
        StoredRecord {
            id: RecordId(row.get(0)?),
            project_id: ProjectId(row.get(1)?),
            phone: row.get(2)?,
            time_zone: row.get(3)?,
            fields: Vec::new(),
            disposition_id: row.get(5)?,
            next_calldate: row.get(6)?,
        },
        row.get(4)?,
    ))
}

pub(crate) fn with_fields((mut record, fields): (StoredRecord, String)) -> Result<StoredRecord> {
    record.fields = serde_json::from_str(&fields)?;
    Ok(record)
}

pub(crate) const RECORD_COLUMNS: &str =
    "id, project_id, phone, time_zone, fields, disposition_id, next_calldate";

/// Fails unless `project` belongs to `tenant`.
pub(crate) fn owned_project(conn: &Connection, tenant: TenantId, project: ProjectId) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM projects WHERE id = ?1 AND tenant_id = ?2")?
        .query_row(params![project.0, tenant.0], |_| Ok(()))
        .optional()?
        .ok_or_else(|| not_found(format!("project {project}")))
}
