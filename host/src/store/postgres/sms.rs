//! The SMS outbox on PostgreSQL: messages queued by `commit` for a
//! provider, claimed (`FOR UPDATE SKIP LOCKED`, then leased) and settled by any host's SMS outbox, and advanced
//! by the provider's status callbacks.

use super::records::message_from_row;
use super::*;
use crate::store::sql::MESSAGE_COLUMNS;

impl SmsOutbox for PgStore {
    fn sms_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>> {
        self.conn()?
            .query(
                "SELECT DISTINCT tenant_id FROM messages
                 WHERE status = 'queued' AND next_attempt_at <= $1
                   AND (leased_until IS NULL OR leased_until <= $1)",
                &[&now],
            )?
            .iter()
            .map(|row| Ok(TenantId(get_unsigned(row, 0)?)))
            .collect()
    }

    fn claim_messages(
        &self,
        tenant: TenantId,
        now: Timestamp,
        lease_secs: u32,
        limit: usize,
    ) -> Result<Vec<SentMessage>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let columns = MESSAGE_COLUMNS
            .split(',')
            .map(|column| format!("m.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = self.conn()?.query(
            &format!(
                "UPDATE messages m SET leased_until = $2 + $4
                 FROM (SELECT id FROM messages
                       WHERE tenant_id = $1 AND status = 'queued' AND next_attempt_at <= $2
                         AND (leased_until IS NULL OR leased_until <= $2)
                       ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) due
                 WHERE m.id = due.id
                 RETURNING {columns}"
            ),
            &[&big(tenant.0)?, &now, &limit, &i64::from(lease_secs)],
        )?;
        let mut claimed = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|message| message.id);
        Ok(claimed)
    }

    fn settle_message(
        &self,
        tenant: TenantId,
        id: u64,
        settlement: &MessageSettlement,
    ) -> Result<()> {
        let changed = self.conn()?.execute(
            "UPDATE messages
             SET status = CASE WHEN status = 'queued' THEN $3::text ELSE status END,
                 attempts = $4,
                 next_attempt_at = CASE WHEN status = 'queued' AND $3::text = 'queued'
                                        THEN $5::bigint END,
                 provider_sid = COALESCE($6, provider_sid),
                 error = $7,
                 leased_until = NULL
             WHERE id = $1 AND tenant_id = $2",
            &[
                &big(id)?,
                &big(tenant.0)?,
                &settlement.status.as_str(),
                &i64::from(settlement.attempts),
                &settlement.next_attempt_at,
                &settlement.provider_sid,
                &settlement.error,
            ],
        )?;
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
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let row = tx.query_opt(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE tenant_id = $1 AND message_id = $2 FOR UPDATE"
            ),
            &[&big(tenant.0)?, &message_id],
        )?;
        let Some(mut message) = row.as_ref().map(message_from_row).transpose()? else {
            return Ok(None);
        };
        if status.rank() > message.status.rank() {
            tx.execute(
                "UPDATE messages SET status = $2, next_attempt_at = NULL, leased_until = NULL
                 WHERE id = $1",
                &[&big(message.id)?, &status.as_str()],
            )?;
            message.status = status;
            message.next_attempt_at = None;
        }
        tx.commit()?;
        Ok(Some(message))
    }

    fn sms_queued_count(&self) -> Result<u64> {
        let count: i64 = self
            .conn()?
            .query_one("SELECT COUNT(*) FROM messages WHERE status = 'queued'", &[])?
            .try_get(0)?;
        Ok(count as u64)
    }
}
