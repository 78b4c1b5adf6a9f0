//! The event journal on PostgreSQL, with claims as leases.
//!
//! Many hosts share the journal. An event is decided by the host that
//! holds its lease (`lease_owner`, `lease_until` on the database's clock):
//! [`Journal::claim`] leases pending events to this host with `FOR UPDATE
//! SKIP LOCKED`, never an event another host holds a live lease on, and of
//! a subject only while every earlier pending event of it is this host's
//! (one event per customer at a time, in order, across hosts). The
//! pipeline renews its leases every second; a dead host's run out and the
//! others claim its events. [`Journal::commit`] marks each event decided
//! only while its lease is still this host's, in the same transaction as
//! its decisions, record changes and outbox items: an event another host
//! took over is skipped whole and the rest of the group commits, so no
//! event is decided twice. A lease that ran out but that no other host
//! took is still this host's (nobody else can have decided the event).

use super::*;
use crate::store::sql::{DECISION_COLUMN_COUNT, decision_columns};

/// Now in Unix microseconds: when events are journaled and decided, so the
/// time from one to the other can be measured (as on SQLite).
fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A [`PendingEvent`] from the columns [`CLAIM`] returns.
fn pending_from_row(row: &::postgres::Row) -> Result<PendingEvent> {
    Ok(PendingEvent {
        id: EventId(get_unsigned(row, 0)?),
        tenant_id: TenantId(get_unsigned(row, 1)?),
        project_id: ProjectId(get_unsigned(row, 2)?),
        subject: row.try_get(3)?,
        input: row.try_get(4)?,
    })
}

/// Journals one entry inside the batch's transaction.
fn journal_one(
    tx: &mut ::postgres::Transaction<'_>,
    entry: &JournalEntry,
    accepted_us: i64,
) -> Result<Journaled> {
    let tenant = big(entry.tenant_id.0)?;
    let find = "SELECT id FROM events WHERE tenant_id = $1 AND dedupe_key = $2";
    if let Some(row) = tx.query_opt(find, &[&tenant, &entry.dedupe_key])? {
        return Ok(Journaled::Duplicate(EventId(get_unsigned(&row, 0)?)));
    }
    let superseded = !entry.superseded_by.is_empty()
        && tx
            .query_opt(
                "SELECT 1 FROM events WHERE tenant_id = $1 AND dedupe_key = ANY($2) LIMIT 1",
                &[&tenant, &entry.superseded_by],
            )?
            .is_some();
    let state = if superseded {
        EventState::Superseded
    } else {
        EventState::Pending
    };
    // Another host journaling the same key at once: ours waits for its
    // transaction, then inserts nothing, and the look-up finds its event.
    let inserted = tx.query_opt(
        "INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                             received_at, state, accepted_us)
         VALUES ($1, $2, $3, $4, $5, CAST($6::text AS jsonb), $7, $8, $9)
         ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
         RETURNING id",
        &[
            &tenant,
            &big(entry.project_id.0)?,
            &entry.dedupe_key,
            &entry.message_id,
            &entry.subject,
            &entry.input,
            &entry.received_at,
            &state.as_str(),
            &accepted_us,
        ],
    )?;
    let Some(row) = inserted else {
        let row = tx.query_one(find, &[&tenant, &entry.dedupe_key])?;
        return Ok(Journaled::Duplicate(EventId(get_unsigned(&row, 0)?)));
    };
    let id = EventId(get_unsigned(&row, 0)?);
    Ok(if superseded {
        Journaled::Superseded(id)
    } else {
        Journaled::Accepted(id)
    })
}

/// Leases to `$2` (this host, for `$5` ms) up to `$4` of tenant `$1`'s
/// pending events, oldest first, skipping those it holds up to `$3`.
///
/// `candidates` are the events free to take (no live lease of another
/// host), locked, except those behind an earlier event of their subject
/// that another host holds. Rows another transaction has locked are
/// skipped, so a concurrent claim may have taken an earlier event of a
/// candidate's subject: `taken` keeps a candidate only when every earlier
/// pending event of its subject is a candidate too or already this
/// host's.
const CLAIM: &str = "
WITH candidates AS (
    SELECT e.id, e.subject FROM events e
    WHERE e.tenant_id = $1 AND e.state = 'pending'
      AND (e.lease_owner IS NULL OR e.lease_owner = $2 OR e.lease_until <= now())
      AND (e.id > $3 OR e.lease_owner IS DISTINCT FROM $2 OR e.lease_until <= now())
      AND NOT EXISTS (
          SELECT 1 FROM events b
          WHERE b.tenant_id = $1 AND b.subject = e.subject AND b.state = 'pending'
            AND b.id < e.id AND b.lease_owner <> $2 AND b.lease_until > now())
    ORDER BY e.id LIMIT $4
    FOR UPDATE OF e SKIP LOCKED
), taken AS (
    SELECT c.id FROM candidates c
    WHERE NOT EXISTS (
        SELECT 1 FROM events b
        WHERE b.tenant_id = $1 AND b.subject = c.subject AND b.state = 'pending'
          AND b.id < c.id
          AND NOT (b.lease_owner IS NOT DISTINCT FROM $2 AND b.lease_until > now())
          AND b.id NOT IN (SELECT id FROM candidates))
)
UPDATE events SET lease_owner = $2, lease_until = now() + $5::float8 * interval '1 millisecond'
FROM taken WHERE events.id = taken.id
RETURNING events.id, events.tenant_id, events.project_id, events.subject, events.input::text";

impl Journal for PgStore {
    fn journal_batch(&self, entries: &[JournalEntry]) -> Result<Vec<Journaled>> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let accepted_us = now_us();
        let journaled = entries
            .iter()
            .map(|entry| journal_one(&mut tx, entry, accepted_us))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(journaled)
    }

    fn pending_tenants(&self) -> Result<Vec<TenantId>> {
        // A loose index scan: one seek per tenant with pending events, not
        // a walk over every pending row of a tenant with a backlog.
        self.conn()?
            .query(
                "WITH RECURSIVE tenants(id) AS (
                     (SELECT tenant_id FROM events WHERE state = 'pending'
                      ORDER BY tenant_id LIMIT 1)
                     UNION ALL
                     SELECT (SELECT tenant_id FROM events
                             WHERE state = 'pending' AND tenant_id > tenants.id
                             ORDER BY tenant_id LIMIT 1)
                     FROM tenants WHERE tenants.id IS NOT NULL
                 )
                 SELECT id FROM tenants WHERE id IS NOT NULL",
                &[],
            )?
            .iter()
            .map(|row| Ok(TenantId(get_unsigned(row, 0)?)))
            .collect()
    }

    fn claim(&self, tenant: TenantId, after: EventId, limit: usize) -> Result<Vec<PendingEvent>> {
        let after = i64::try_from(after.0).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.conn()?.query(
            CLAIM,
            &[
                &big(tenant.0)?,
                &self.host,
                &after,
                &limit,
                &self.lease_ms(),
            ],
        )?;
        let mut events = rows
            .iter()
            .map(pending_from_row)
            .collect::<Result<Vec<_>>>()?;
        events.sort_by_key(|event| event.id);
        self.claimed()
            .extend(events.iter().map(|event| event.id.0 as i64));
        Ok(events)
    }

    /// Rows this host is committing are locked by that commit: they are
    /// skipped (decided or not, they are renewed next time), never waited
    /// for. Waiting made renewals and commits of one host deadlock (each
    /// holding rows the other wanted, in another order), stalling both a
    /// second at a time (the cluster proof's first full run).
    fn renew_claims(&self) -> Result<()> {
        let held: Vec<i64> = self.claimed().iter().copied().collect();
        if held.is_empty() {
            return Ok(());
        }
        self.conn()?.execute(
            "UPDATE events SET lease_until = now() + $3::float8 * interval '1 millisecond'
             WHERE id IN (SELECT id FROM events
                          WHERE id = ANY($1) AND state = 'pending' AND lease_owner = $2
                          ORDER BY id FOR UPDATE SKIP LOCKED)",
            &[&held, &self.host, &self.lease_ms()],
        )?;
        Ok(())
    }

    fn release_claims(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let events = tx.execute(
            "UPDATE events SET lease_owner = NULL, lease_until = NULL
             WHERE state = 'pending' AND lease_owner = $1",
            &[&self.host],
        )?;
        let outboxes = tx.execute("DELETE FROM outbox_leases WHERE host = $1", &[&self.host])?;
        tx.commit()?;
        self.claimed().clear();
        tracing::info!(host = %self.host, events, outboxes, "released this host's claims");
        Ok(())
    }

    fn commit(&self, processed: &[ProcessedEvent]) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let decided_us = now_us();
        let mut skipped = Vec::new();
        for event in processed {
            // First, and locking the event's row: is it still ours?
            let marked = tx.execute(
                "UPDATE events SET state = $3, resolved = CAST($4::text AS jsonb),
                     processed_at = $5, decided_us = $6
                 WHERE id = $1 AND tenant_id = $2 AND state = 'pending' AND lease_owner = $7",
                &[
                    &big(event.event_id.0)?,
                    &big(event.tenant_id.0)?,
                    &event.state().as_str(),
                    &event.resolved,
                    &event.processed_at,
                    &decided_us,
                    &self.host,
                ],
            )?;
            if marked != 1 {
                skipped.push(event.event_id);
                continue;
            }
            write_processed(&mut tx, event)?;
        }
        tx.commit()?;
        {
            let mut claimed = self.claimed();
            for event in processed {
                claimed.remove(&(event.event_id.0 as i64));
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                host = %self.host,
                events = ?skipped,
                "events no longer leased to this host were not committed; another host decides them"
            );
        }
        Ok(())
    }

    fn event(&self, tenant: TenantId, event: EventId) -> Result<EventView> {
        let mut conn = self.conn()?;
        let id = big(event.0)?;
        let row = conn
            .query_opt(
                "SELECT project_id, message_id, state, received_at, processed_at, input, resolved
                 FROM events WHERE id = $1 AND tenant_id = $2",
                &[&id, &big(tenant.0)?],
            )?
            .ok_or_else(|| not_found(format!("event {event}")))?;
        let state: String = row.try_get(2)?;
        let decisions = conn
            .query(
                &format!(
                    "SELECT {} FROM decisions WHERE event_id = $1 ORDER BY id",
                    decision_columns("")
                ),
                &[&id],
            )?
            .iter()
            .map(decision_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(EventView {
            id: event,
            project_id: ProjectId(get_unsigned(&row, 0)?),
            message_id: row.try_get(1)?,
            state: EventState::parse(&state).ok_or_else(|| Error::Backend {
                what: format!("event {event} has an unknown state {state:?}"),
            })?,
            received_at: row.try_get(3)?,
            processed_at: row.try_get(4)?,
            input: row.try_get(5)?,
            resolved: row.try_get(6)?,
            decisions,
            outbox: super::outbox::of_event(&mut *conn, id)?,
        })
    }

    fn recorded_runs(
        &self,
        tenant: TenantId,
        plugin: &str,
        limit: usize,
    ) -> Result<Vec<RecordedRun>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn()?
            .query(
                &format!(
                    "SELECT {}, e.id, e.resolved FROM decisions d
                     JOIN events e ON e.id = d.event_id
                     WHERE e.tenant_id = $1 AND d.plugin = $2 AND e.resolved IS NOT NULL
                     ORDER BY e.id DESC LIMIT $3",
                    decision_columns("d.")
                ),
                &[&big(tenant.0)?, &plugin, &limit],
            )?
            .iter()
            .map(|row| {
                Ok(RecordedRun {
                    decision: decision_from_row(row)?,
                    event_id: EventId(get_unsigned(row, DECISION_COLUMN_COUNT)?),
                    event: row.try_get(DECISION_COLUMN_COUNT + 1)?,
                })
            })
            .collect()
    }

    fn pending_count(&self) -> Result<u64> {
        let row = self
            .conn()?
            .query_one("SELECT count(*) FROM events WHERE state = 'pending'", &[])?;
        get_unsigned(&row, 0)
    }

    fn pending_by_tenant(&self) -> Result<Vec<(TenantId, u64)>> {
        self.conn()?
            .query(
                "SELECT tenant_id, count(*) FROM events WHERE state = 'pending'
                 GROUP BY tenant_id ORDER BY tenant_id",
                &[],
            )?
            .iter()
            .map(|row| Ok((TenantId(get_unsigned(row, 0)?), get_unsigned(row, 1)?)))
            .collect()
    }
}

/// Everything of `event` but its done mark, inside the commit's
/// transaction: decisions (a binding's config stored once), the opt-out,
/// outbox items, record changes and their event-list entries.
fn write_processed(tx: &mut ::postgres::Transaction<'_>, event: &ProcessedEvent) -> Result<()> {
    let event_id = big(event.event_id.0)?;
    let tenant_id = big(event.tenant_id.0)?;
    for decision in &event.decisions {
        // A binding's config is stored once, however many decisions its
        // plugin makes; its key is the SHA-256 of the JSON text, as on
        // SQLite.
        let config_sha = decision
            .config
            .as_object()
            .is_none_or(|config| !config.is_empty())
            .then(|| {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(decision.config.to_string().as_bytes()))
            });
        if let Some(sha) = &config_sha {
            tx.execute(
                "INSERT INTO binding_configs (sha256, config) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[sha, &decision.config],
            )?;
        }
        let inline = match config_sha {
            Some(_) => serde_json::json!({}),
            None => decision.config.clone(),
        };
        tx.execute(
            "INSERT INTO decisions (event_id, plugin, version, priority, outcome,
                 error_code, error, fuel_used, duration_us, logs, verdicts, actions,
                 config, lookups, config_sha)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &[
                &event_id,
                &decision.plugin,
                &decision.version.map(i64::from),
                &decision.priority,
                &decision.outcome.as_str(),
                &decision.error_code,
                &decision.error,
                &big(decision.fuel_used)?,
                &big(decision.duration_us)?,
                &decision.logs,
                &decision.verdicts,
                &decision.actions,
                &inline,
                &decision.lookups,
                &config_sha,
            ],
        )?;
    }
    if let Some(phone) = &event.opted_out {
        tx.execute(
            "INSERT INTO do_not_contact (tenant_id, phone, source, event_id, created_at)
             VALUES ($1, $2, 'opt-out', $3, $4) ON CONFLICT DO NOTHING",
            &[&tenant_id, phone, &event_id, &event.processed_at],
        )?;
    }
    super::outbox::queue(tx, event)?;
    for write in &event.writes {
        let disposition = i64::from(write.disposition_id);
        let changed = tx.execute(
            "UPDATE records SET disposition_id = $3, next_calldate = $4
             WHERE id = $1 AND tenant_id = $2",
            &[
                &big(write.record_id.0)?,
                &tenant_id,
                &disposition,
                &write.next_calldate,
            ],
        )?;
        if changed != 1 {
            return Err(not_found(format!("record {}", write.record_id)));
        }
        tx.execute(
            "INSERT INTO record_events (record_id, event_id, event_type, user_name, created_at,
                 disposition_id, next_calldate, plugin, plugin_version, note)
             VALUES ($1, $2, 'SMS', 'System', $3, $4, $5, $6, $7, $8)",
            &[
                &big(write.record_id.0)?,
                &event_id,
                &event.processed_at,
                &disposition,
                &write.next_calldate,
                &write.plugin,
                &write.plugin_version.map(i64::from),
                &write.note,
            ],
        )?;
    }
    Ok(())
}

fn decision_from_row(row: &::postgres::Row) -> Result<DecisionRecord> {
    let outcome: String = row.try_get(3)?;
    Ok(DecisionRecord {
        plugin: row.try_get(0)?,
        version: get_opt_unsigned(row, 1)?,
        priority: row.try_get(2)?,
        outcome: DecisionOutcome::parse(&outcome).ok_or_else(|| Error::Backend {
            what: format!("a decision has an unknown outcome {outcome:?}"),
        })?,
        error_code: row.try_get(4)?,
        error: row.try_get(5)?,
        fuel_used: get_unsigned(row, 6)?,
        duration_us: get_unsigned(row, 7)?,
        logs: row.try_get(8)?,
        verdicts: row.try_get(9)?,
        actions: row.try_get(10)?,
        config: row.try_get(11)?,
        lookups: row.try_get(12)?,
    })
}
