//! The audit trail on PostgreSQL.

use super::*;
use crate::model::{AuditEntry, AuditFilter, Change};

impl AuditTrail for PgStore {
    fn record_change(&self, tenant: TenantId, change: &Change) -> Result<u64> {
        let rows = self.conn()?.query_prepared(
            "INSERT INTO audit (tenant_id, at, kind, plugin, change)
             VALUES ($1, EXTRACT(EPOCH FROM now())::bigint, $2, $3, $4) RETURNING id",
            &[
                &big(tenant.0)?,
                &change.kind.as_str(),
                &change.plugin,
                &serde_json::to_value(change)?,
            ],
        )?;
        let row = rows.first().ok_or_else(|| Error::Backend {
            what: "an audit entry was inserted without an id".into(),
        })?;
        get_unsigned(row, 0)
    }

    fn audit_entries(&self, tenant: TenantId, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>> {
        let limit = big(filter.limit.min(i64::MAX as usize) as u64)?;
        let rows = self.conn()?.query_prepared(
            "SELECT id, at, change FROM audit
             WHERE tenant_id = $1 AND id > $2
                 AND ($3::text IS NULL OR plugin = $3) AND ($4::text IS NULL OR kind = $4)
             ORDER BY id LIMIT $5",
            &[
                &big(tenant.0)?,
                &big(filter.after)?,
                &filter.plugin,
                &filter.kind.map(|kind| kind.as_str()),
                &limit,
            ],
        )?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: get_unsigned(row, 0)?,
                    at: row.try_get(1)?,
                    change: serde_json::from_value(row.try_get(2)?)?,
                })
            })
            .collect()
    }
}
