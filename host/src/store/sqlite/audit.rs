//! The audit trail on SQLite.

use rusqlite::params;

use super::*;
use crate::model::{AuditEntry, AuditFilter, Change};

impl AuditTrail for SqliteStore {
    fn record_change(&self, tenant: TenantId, change: &Change) -> Result<u64> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO audit (tenant_id, at, kind, plugin, change) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            tenant.0,
            now(),
            change.kind.as_str(),
            change.plugin,
            serde_json::to_string(change)?,
        ])?;
        Ok(conn.last_insert_rowid() as u64)
    }

    fn audit_entries(&self, tenant: TenantId, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT id, at, change FROM audit
             WHERE tenant_id = ?1 AND id > ?2
                 AND (?3 IS NULL OR plugin = ?3) AND (?4 IS NULL OR kind = ?4)
             ORDER BY id LIMIT ?5",
        )?;
        let rows = statement
            .query_map(
                params![
                    tenant.0,
                    filter.after,
                    filter.plugin,
                    filter.kind.map(|kind| kind.as_str()),
                    filter.limit as i64,
                ],
                |row| {
                    Ok((
                        row.get::<_, u64>(0)?,
                        row.get::<_, Timestamp>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, at, change)| {
                Ok(AuditEntry {
                    id,
                    at,
                    change: serde_json::from_str(&change)?,
                })
            })
            .collect()
    }
}
