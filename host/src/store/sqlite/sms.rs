//! The SMS outbox on SQLite: messages queued by `commit` for a provider,
//! claimed and settled by the SMS outbox's workers (`actions::sms`), and
//! advanced by the provider's status callbacks.

use rusqlite::params;

use super::records::message_from_row;
use super::*;
use crate::store::sql::MESSAGE_COLUMNS;

impl SmsOutbox for SqliteStore {
    fn sms_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT DISTINCT tenant_id FROM messages
             WHERE status = 'queued' AND next_attempt_at <= ?1
               AND (leased_until IS NULL OR leased_until <= ?1)",
        )?;
        let tenants = statement
            .query_map([now], |row| Ok(TenantId(row.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(tenants)
    }

    fn claim_messages(
        &self,
        tenant: TenantId,
        now: Timestamp,
        lease_secs: u32,
        limit: usize,
    ) -> Result<Vec<SentMessage>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let claimed = tx
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE tenant_id = ?1 AND status = 'queued' AND next_attempt_at <= ?2
                   AND (leased_until IS NULL OR leased_until <= ?2)
                 ORDER BY id LIMIT ?3"
            ))?
            .query_map(
                params![tenant.0, now, i64::try_from(limit).unwrap_or(i64::MAX)],
                message_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut lease = tx.prepare_cached(
            "UPDATE messages SET leased_until = ?2 WHERE id = ?1 AND status = 'queued'",
        )?;
        for message in &claimed {
            lease.execute(params![message.id, now + i64::from(lease_secs)])?;
        }
        drop(lease);
        tx.commit()?;
        Ok(claimed)
    }

    fn settle_message(
        &self,
        tenant: TenantId,
        id: u64,
        settlement: &MessageSettlement,
    ) -> Result<()> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE messages
                 SET status = CASE WHEN status = 'queued' THEN ?3 ELSE status END,
                     attempts = ?4,
                     next_attempt_at = CASE WHEN status = 'queued' AND ?3 = 'queued' THEN ?5 END,
                     provider_sid = COALESCE(?6, provider_sid),
                     error = ?7,
                     leased_until = NULL
                 WHERE id = ?1 AND tenant_id = ?2",
            )?
            .execute(params![
                id,
                tenant.0,
                settlement.status.as_str(),
                settlement.attempts,
                settlement.next_attempt_at,
                settlement.provider_sid,
                settlement.error,
            ])?;
        if changed != 1 {
            return Err(not_found(format!("message {id}")));
        }
        Ok(())
    }

    fn advance_message(
        &self,
        tenant: TenantId,
        message_id: &str,
        status: MessageStatus,
    ) -> Result<Option<SentMessage>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let read = |tx: &rusqlite::Transaction<'_>| -> Result<Option<SentMessage>> {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE tenant_id = ?1 AND message_id = ?2"
                ))?
                .query_row(params![tenant.0, message_id], message_from_row)
                .optional()?)
        };
        let Some(message) = read(&tx)? else {
            return Ok(None);
        };
        if status.rank() <= message.status.rank() {
            return Ok(Some(message));
        }
        tx.prepare_cached("UPDATE messages SET status = ?2, next_attempt_at = NULL WHERE id = ?1")?
            .execute(params![message.id, status.as_str()])?;
        let advanced = read(&tx)?;
        tx.commit()?;
        Ok(advanced)
    }

    fn sms_queued_count(&self) -> Result<u64> {
        Ok(self
            .read()
            .prepare_cached("SELECT COUNT(*) FROM messages WHERE status = 'queued'")?
            .query_row([], |row| row.get::<_, i64>(0))? as u64)
    }
}
