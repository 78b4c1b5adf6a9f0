//! The remote tenants' outbox on SQLite: rows queued by `commit`, read and
//! settled by the outbox's workers (`actions::outbox`).

use rusqlite::params;

use super::*;

impl Outbox for SqliteStore {
    fn outbox_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT o.tenant_id FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
               AND o.id = (SELECT MIN(id) FROM outbox
                           WHERE tenant_id = o.tenant_id AND state = 'pending')",
        )?;
        let tenants = statement
            .query_map([now], |row| Ok(TenantId(row.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(tenants)
    }

    fn outbox_pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<OutboxItem>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT id, event_id, record_id, disposition_id, next_calldate, plugin,
                    plugin_version, note, attempts, queued_at, next_attempt_at
             FROM outbox WHERE tenant_id = ?1 AND state = 'pending' ORDER BY id LIMIT ?2",
        )?;
        let items = statement
            .query_map(params![tenant.0, limit as i64], |row| {
                Ok(OutboxItem {
                    id: row.get(0)?,
                    tenant_id: tenant,
                    event_id: EventId(row.get(1)?),
                    write: RecordWrite {
                        record_id: RecordId(row.get(2)?),
                        disposition_id: row.get(3)?,
                        next_calldate: row.get(4)?,
                        plugin: row.get(5)?,
                        plugin_version: row.get(6)?,
                        note: row.get(7)?,
                    },
                    attempts: row.get(8)?,
                    queued_at: row.get(9)?,
                    next_attempt_at: row.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(items)
    }

    fn settle(&self, item: &OutboxItem, settlement: &Settlement) -> Result<()> {
        let result = serde_json::to_string(&settlement.result)?;
        let verdicts = serde_json::to_string(&settlement.verdicts)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let changed = tx
            .prepare_cached(
                "UPDATE outbox SET state = ?3, attempts = ?4, next_attempt_at = ?5, result = ?6
                 WHERE id = ?1 AND tenant_id = ?2 AND state = 'pending'",
            )?
            .execute(params![
                item.id,
                item.tenant_id.0,
                settlement.state.as_str(),
                settlement.attempts,
                settlement.next_attempt_at,
                result,
            ])?;
        if changed != 1 {
            return Err(Error::Conflict {
                what: format!("outbox item {} is no longer pending", item.id),
            });
        }
        tx.prepare_cached(
            "UPDATE decisions SET verdicts = ?3 WHERE event_id = ?1 AND plugin = ?2",
        )?
        .execute(params![item.event_id.0, item.write.plugin, verdicts])?;
        tx.commit()?;
        Ok(())
    }

    fn outbox_pending_count(&self) -> Result<u64> {
        Ok(self
            .read()
            .prepare_cached("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?
            .query_row([], |row| row.get::<_, i64>(0))? as u64)
    }
}

/// Queues `event`'s remote writes inside the commit's transaction.
pub(super) fn queue(tx: &rusqlite::Transaction<'_>, event: &ProcessedEvent) -> Result<()> {
    for write in &event.outbox {
        tx.prepare_cached(
            "INSERT INTO outbox (tenant_id, event_id, record_id, disposition_id, next_calldate,
                 plugin, plugin_version, note, queued_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        )?
        .execute(params![
            event.tenant_id.0,
            event.event_id.0,
            write.record_id.0,
            write.disposition_id,
            write.next_calldate,
            write.plugin,
            write.plugin_version,
            write.note,
            event.processed_at,
        ])?;
    }
    Ok(())
}

/// The outbox items of `event`, as the event's view shows them.
pub(super) fn of_event(conn: &Connection, event: EventId) -> Result<Vec<OutboxView>> {
    let mut statement = conn.prepare_cached(
        "SELECT record_id, plugin, state, attempts, next_attempt_at, result
         FROM outbox WHERE event_id = ?1 ORDER BY id",
    )?;
    let views = statement
        .query_map([event.0], |row| {
            let state: String = row.get(2)?;
            let result: String = row.get(5)?;
            Ok(OutboxView {
                record_id: RecordId(row.get(0)?),
                plugin: row.get(1)?,
                state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
                attempts: row.get(3)?,
                next_attempt_at: row.get(4)?,
                result: serde_json::from_str(&result).unwrap_or(serde_json::Value::Null),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(views)
}
