//! The remote tenants' outbox on PostgreSQL: rows queued by `commit`, read
//! and settled by the outbox's workers (`actions::outbox`), one host per
//! tenant at a time.
//!
//! Every host runs a deliverer, so a tenant's outbox has a lease
//! (`outbox_leases`, on the database's clock): [`Outbox::outbox_pending`]
//! takes or renews it and hands out nothing while another host holds it;
//! [`Outbox::settle`] renews it and refuses (`Conflict`) once another host
//! took it over. A host that dies mid-delivery loses the lease when it
//! runs out; the next host re-sends the item in hand with the same
//! idempotency key, which the remote answers with its first result.

use ::postgres::GenericClient;

use super::*;

/// Takes tenant `$1`'s outbox lease for host `$2` (for `$3` ms), or renews
/// it; returns a row only when the lease is (now) this host's.
const TAKE_LEASE: &str = "
INSERT INTO outbox_leases (tenant_id, host, until)
VALUES ($1, $2, now() + $3::float8 * interval '1 millisecond')
ON CONFLICT (tenant_id) DO UPDATE SET host = EXCLUDED.host, until = EXCLUDED.until
WHERE outbox_leases.host = EXCLUDED.host OR outbox_leases.until <= now()
RETURNING 1";

impl Outbox for PgStore {
    /// Leaves out tenants whose outbox another host holds now.
    fn outbox_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>> {
        self.conn()?
            .query(
                "SELECT o.tenant_id FROM outbox o
                 WHERE o.state = 'pending' AND o.next_attempt_at <= $1
                   AND o.id = (SELECT MIN(id) FROM outbox
                               WHERE tenant_id = o.tenant_id AND state = 'pending')
                   AND NOT EXISTS (SELECT 1 FROM outbox_leases l
                                   WHERE l.tenant_id = o.tenant_id AND l.host <> $2
                                     AND l.until > now())",
                &[&now, &self.host],
            )?
            .iter()
            .map(|row| Ok(TenantId(get_unsigned(row, 0)?)))
            .collect()
    }

    fn outbox_pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<OutboxItem>> {
        let tenant_id = big(tenant.0)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        let leased = conn
            .query_opt(TAKE_LEASE, &[&tenant_id, &self.host, &self.lease_ms()])?
            .is_some();
        if !leased {
            return Ok(Vec::new());
        }
        conn.query(
            "SELECT id, event_id, record_id, disposition_id, next_calldate, plugin,
                    plugin_version, note, attempts, queued_at, next_attempt_at
             FROM outbox WHERE tenant_id = $1 AND state = 'pending' ORDER BY id LIMIT $2",
            &[&tenant_id, &limit],
        )?
        .iter()
        .map(|row| {
            Ok(OutboxItem {
                id: get_unsigned(row, 0)?,
                tenant_id: tenant,
                event_id: EventId(get_unsigned(row, 1)?),
                write: RecordWrite {
                    record_id: RecordId(get_unsigned(row, 2)?),
                    disposition_id: get_unsigned(row, 3)?,
                    next_calldate: row.try_get(4)?,
                    plugin: row.try_get(5)?,
                    plugin_version: get_opt_unsigned(row, 6)?,
                    note: row.try_get(7)?,
                },
                attempts: get_unsigned(row, 8)?,
                queued_at: row.try_get(9)?,
                next_attempt_at: row.try_get(10)?,
            })
        })
        .collect()
    }

    fn settle(&self, item: &OutboxItem, settlement: &Settlement) -> Result<()> {
        let tenant_id = big(item.tenant_id.0)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // Renewing locks the lease: no other host takes it over before
        // this settlement commits.
        let ours = tx.execute(
            "UPDATE outbox_leases SET until = now() + $3::float8 * interval '1 millisecond'
             WHERE tenant_id = $1 AND host = $2",
            &[&tenant_id, &self.host, &self.lease_ms()],
        )?;
        if ours != 1 {
            return Err(Error::Conflict {
                what: format!(
                    "tenant {}'s outbox is no longer delivered by this host",
                    item.tenant_id
                ),
            });
        }
        let changed = tx.execute(
            "UPDATE outbox SET state = $3, attempts = $4, next_attempt_at = $5, result = $6
             WHERE id = $1 AND tenant_id = $2 AND state = 'pending'",
            &[
                &big(item.id)?,
                &tenant_id,
                &settlement.state.as_str(),
                &i64::from(settlement.attempts),
                &settlement.next_attempt_at,
                &settlement.result,
            ],
        )?;
        if changed != 1 {
            return Err(Error::Conflict {
                what: format!("outbox item {} is no longer pending", item.id),
            });
        }
        tx.execute(
            "UPDATE decisions SET verdicts = $3 WHERE event_id = $1 AND plugin = $2",
            &[
                &big(item.event_id.0)?,
                &item.write.plugin,
                &settlement.verdicts,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn outbox_pending_count(&self) -> Result<u64> {
        let row = self
            .conn()?
            .query_one("SELECT count(*) FROM outbox WHERE state = 'pending'", &[])?;
        get_unsigned(&row, 0)
    }
}

/// The outbox items of event `event_id`, as the event's view shows them.
pub(super) fn of_event(conn: &mut impl GenericClient, event_id: i64) -> Result<Vec<OutboxView>> {
    conn.query(
        "SELECT record_id, plugin, state, attempts, next_attempt_at, result
         FROM outbox WHERE event_id = $1 ORDER BY id",
        &[&event_id],
    )?
    .iter()
    .map(|row| {
        let state: String = row.try_get(2)?;
        Ok(OutboxView {
            record_id: RecordId(get_unsigned(row, 0)?),
            plugin: row.try_get(1)?,
            state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
            attempts: get_unsigned(row, 3)?,
            next_attempt_at: row.try_get(4)?,
            result: row.try_get(5)?,
        })
    })
    .collect()
}
