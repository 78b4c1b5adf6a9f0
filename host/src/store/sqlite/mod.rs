//! [`Store`] on one SQLite file (rusqlite, SQLite bundled).
//!
//! One connection behind a mutex: SQLite has one writer at a time anyway,
//! and the pipeline batches its writes, so the lock is held for short,
//! plugin-free stretches. Plugins never run while it is held.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::schema::MIGRATIONS;
use super::*;

mod journal;
mod plugins;
mod records;
mod tenants;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "smstrigger.db";

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and runs any
    /// migrations it has not had.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let conn = Connection::open(data_dir.join(DATABASE_FILE))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
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
    conn.query_row(
        "SELECT 1 FROM projects WHERE id = ?1 AND tenant_id = ?2",
        params![project.0, tenant.0],
        |_| Ok(()),
    )
    .optional()?
    .ok_or_else(|| not_found(format!("project {project}")))
}
