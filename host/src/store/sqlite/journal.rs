//! Journal on SQLite.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};

use super::*;
use crate::store::sql::{DECISION_COLUMN_COUNT, decision_columns};

/// Journals one entry inside the batch's transaction.
fn journal_one(
    tx: &rusqlite::Transaction<'_>,
    entry: &JournalEntry,
    accepted_us: i64,
) -> Result<Journaled> {
    let mut find =
        tx.prepare_cached("SELECT id FROM events WHERE tenant_id = ?1 AND dedupe_key = ?2")?;
    if let Some(id) = find
        .query_row(params![entry.tenant_id.0, entry.dedupe_key], |row| {
            row.get::<_, u64>(0)
        })
        .optional()?
    {
        return Ok(Journaled::Duplicate(EventId(id)));
    }
    let mut superseded = false;
    for key in &entry.superseded_by {
        superseded |= find
            .query_row(params![entry.tenant_id.0, key], |_| Ok(()))
            .optional()?
            .is_some();
    }
    tx.prepare_cached(
        "INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                             received_at, state, accepted_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        entry.tenant_id.0,
        entry.project_id.0,
        entry.dedupe_key,
        entry.message_id,
        entry.subject,
        entry.input,
        entry.received_at,
        if superseded {
            EventState::Superseded
        } else {
            EventState::Pending
        },
        accepted_us,
    ])?;
    let id = EventId(tx.last_insert_rowid() as u64);
    Ok(if superseded {
        Journaled::Superseded(id)
    } else {
        Journaled::Accepted(id)
    })
}

impl Journal for SqliteStore {
    fn journal_batch(&self, entries: &[JournalEntry]) -> Result<Vec<Journaled>> {
        let mut conn = self.conn();
        // IMMEDIATE: the write lock is taken at BEGIN (waiting as long as
        // the busy timeout allows) rather than on the first insert, where
        // SQLite would refuse an upgrade from reading at once ("database
        // is locked", seen under the load proofs).
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let accepted_us = now_us();
        let journaled = entries
            .iter()
            .map(|entry| journal_one(&tx, entry, accepted_us))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(journaled)
    }

    fn pending_tenants(&self) -> Result<Vec<TenantId>> {
        let conn = self.read();
        // A loose index scan: one seek per tenant with pending events, not a
        // walk over every pending row of a tenant with a backlog.
        let mut next_tenant = conn.prepare_cached(
            "SELECT MIN(tenant_id) FROM events WHERE state = 'pending' AND tenant_id > ?1",
        )?;
        let mut tenants = Vec::new();
        let mut after = -1_i64;
        while let Some(tenant) =
            next_tenant.query_row([after], |row| row.get::<_, Option<i64>>(0))?
        {
            tenants.push(TenantId(tenant as u64));
            after = tenant;
        }
        Ok(tenants)
    }

    /// One host: the pending events after `after`, nothing leased.
    fn claim(&self, tenant: TenantId, after: EventId, limit: usize) -> Result<Vec<PendingEvent>> {
        let conn = self.read();
        let mut oldest = conn.prepare_cached(
            "SELECT id, tenant_id, project_id, subject, input FROM events
             WHERE state = 'pending' AND tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let events = oldest.query_map(params![tenant.0, after.0, limit as i64], |row| {
            Ok(PendingEvent {
                id: EventId(row.get(0)?),
                tenant_id: TenantId(row.get(1)?),
                project_id: ProjectId(row.get(2)?),
                subject: row.get(3)?,
                input: row.get(4)?,
            })
        })?;
        Ok(events.collect::<rusqlite::Result<_>>()?)
    }

    /// One host: no leases to renew.
    fn renew_claims(&self) -> Result<()> {
        Ok(())
    }

    /// One host: no leases to give back.
    fn release_claims(&self) -> Result<()> {
        Ok(())
    }

    /// Atomic but not fsynced on its own (`synchronous = NORMAL` for this
    /// transaction): the next journal commit's fsync makes it durable, and
    /// a power cut before that loses the decision and its record changes
    /// together, so the event is simply decided again. Nothing is ever
    /// executed twice; a webhook's 202 still waits for a full fsync.
    fn commit(&self, processed: &[ProcessedEvent]) -> Result<()> {
        // The JSON columns are written out before the writer is taken: the
        // journal shares that connection, so it is held for SQL only.
        let json = processed
            .iter()
            .map(|event| event.decisions.iter().map(DecisionJson::of).collect())
            .collect::<Vec<Vec<_>>>();
        let mut conn = self.conn();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let committed = commit_processed(&mut conn, processed, &json);
        conn.pragma_update(None, "synchronous", "FULL")?;
        committed
    }

    fn event(&self, tenant: TenantId, event: EventId) -> Result<EventView> {
        let conn = self.read();
        let (project, message_id, state, received_at, processed_at, input, resolved) = conn
            .prepare_cached(
                "SELECT project_id, message_id, state, received_at, processed_at, input, resolved
                 FROM events WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row(params![event.0, tenant.0], |row| {
                Ok((
                    ProjectId(row.get(0)?),
                    row.get::<_, String>(1)?,
                    row.get::<_, EventState>(2)?,
                    row.get::<_, Timestamp>(3)?,
                    row.get::<_, Option<Timestamp>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .optional()?
            .ok_or_else(|| not_found(format!("event {event}")))?;
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {} FROM decisions WHERE event_id = ?1 ORDER BY id",
            decision_columns("")
        ))?;
        let decisions = statement
            .query_map([event.0], decision_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let outbox = super::outbox::of_event(&conn, event)?;
        Ok(EventView {
            id: event,
            project_id: project,
            message_id,
            state,
            received_at,
            processed_at,
            input: serde_json::from_str(&input)?,
            resolved: resolved.as_deref().map(serde_json::from_str).transpose()?,
            decisions,
            outbox,
        })
    }

    fn pending_count(&self) -> Result<u64> {
        Ok(self
            .read()
            .prepare_cached("SELECT COUNT(*) FROM events WHERE state = 'pending'")?
            .query_row([], |row| row.get::<_, i64>(0))? as u64)
    }

    fn pending_by_tenant(&self) -> Result<Vec<(TenantId, u64)>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT tenant_id, COUNT(*) FROM events WHERE state = 'pending' GROUP BY tenant_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((TenantId(row.get(0)?), row.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn recorded_runs(
        &self,
        tenant: TenantId,
        plugin: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<RecordedRun>> {
        let conn = self.read();
        let columns = decision_columns("d.");
        let (from, order) = match after {
            Some(after) => (after.0 as i64, "ASC"),
            None => (-1, "DESC"),
        };
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {columns}, e.id, e.resolved FROM decisions d
             JOIN events e ON e.id = d.event_id
             WHERE d.plugin = ?2 AND d.event_id > ?4 AND e.tenant_id = ?1
                 AND e.resolved IS NOT NULL
             ORDER BY d.event_id {order} LIMIT ?3"
        ))?;
        let rows = statement
            .query_map(params![tenant.0, plugin, limit as i64, from], |row| {
                Ok((
                    decision_from_row(row)?,
                    row.get::<_, u64>(DECISION_COLUMN_COUNT)?,
                    row.get::<_, String>(DECISION_COLUMN_COUNT + 1)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(decision, event_id, resolved)| {
                Ok(RecordedRun {
                    event_id: EventId(event_id),
                    event: serde_json::from_str(&resolved)?,
                    decision,
                })
            })
            .collect()
    }
}

/// A decision's JSON columns, as text.
struct DecisionJson([String; 5], Option<String>);

impl DecisionJson {
    /// The JSON columns of `decision`, and its config's SHA-256 when the
    /// config is stored apart (see `binding_configs`).
    fn of(decision: &DecisionRecord) -> Self {
        let json = [
            &decision.logs,
            &decision.verdicts,
            &decision.actions,
            &decision.config,
            &decision.lookups,
        ]
        .map(ToString::to_string);
        let config = &json[3];
        let sha = (config != EMPTY_CONFIG).then(|| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(config.as_bytes()))
        });
        Self(json, sha)
    }
}

/// The decisions, record changes and done marks of `processed` (with each
/// decision's JSON in `json`, in the same order), in one transaction.
fn commit_processed(
    conn: &mut rusqlite::Connection,
    processed: &[ProcessedEvent],
    json: &[Vec<DecisionJson>],
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let decided_us = now_us();
    for (event, json) in processed.iter().zip(json) {
        for (decision, DecisionJson([logs, verdicts, actions, config, lookups], config_sha)) in
            event.decisions.iter().zip(json)
        {
            // A binding's config is stored once, however many decisions
            // its plugin makes.
            if let Some(sha) = config_sha {
                tx.prepare_cached(
                    "INSERT INTO binding_configs (sha256, config) VALUES (?1, ?2)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![sha, config])?;
            }
            let inline = if config_sha.is_some() {
                EMPTY_CONFIG
            } else {
                config.as_str()
            };
            tx.prepare_cached(
                "INSERT INTO decisions (event_id, plugin, version, priority, outcome,
                     error_code, error, fuel_used, duration_us, logs, verdicts, actions,
                     config, lookups, config_sha)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                event.event_id.0,
                decision.plugin,
                decision.version,
                decision.priority,
                decision.outcome,
                decision.error_code,
                decision.error,
                decision.fuel_used as i64,
                decision.duration_us as i64,
                logs,
                verdicts,
                actions,
                inline,
                lookups,
                config_sha,
            ])?;
        }
        if let Some(phone) = &event.opted_out {
            tx.prepare_cached(
                "INSERT INTO do_not_contact (tenant_id, phone, source, event_id, created_at)
                 VALUES (?1, ?2, 'opt-out', ?3, ?4) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                event.tenant_id.0,
                phone,
                event.event_id.0,
                event.processed_at
            ])?;
        }
        if let Some(phone) = &event.opted_in {
            tx.prepare_cached(
                "DELETE FROM do_not_contact
                 WHERE tenant_id = ?1 AND phone = ?2 AND source = 'opt-out'",
            )?
            .execute(params![event.tenant_id.0, phone])?;
        }
        super::outbox::queue(&tx, event)?;
        for write in &event.writes {
            let changed = tx
                .prepare_cached(
                    "UPDATE records SET disposition_id = ?3, next_calldate = ?4
                 WHERE id = ?1 AND tenant_id = ?2",
                )?
                .execute(params![
                    write.record_id.0,
                    event.tenant_id.0,
                    write.disposition_id,
                    write.next_calldate
                ])?;
            if changed != 1 {
                return Err(not_found(format!("record {}", write.record_id)));
            }
            tx.prepare_cached(
                "INSERT INTO record_events (record_id, event_id, event_type, user, created_at,
                     disposition_id, next_calldate, plugin, plugin_version, note)
                 VALUES (?1, ?2, 'SMS', 'System', ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                write.record_id.0,
                event.event_id.0,
                event.processed_at,
                write.disposition_id,
                write.next_calldate,
                write.plugin,
                write.plugin_version,
                write.note,
            ])?;
        }
        for contact in &event.contacts {
            tx.prepare_cached(
                "INSERT INTO contact_attempts (tenant_id, record_id, event_id, kind, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                event.tenant_id.0,
                contact.record_id.0,
                event.event_id.0,
                contact.kind.as_str(),
                contact.at,
            ])?;
        }
        let state = event.state(); // store::rules decides
        let marked = tx
            .prepare_cached(
                "UPDATE events SET state = ?2, resolved = ?3, processed_at = ?4, decided_us = ?5
             WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![
                event.event_id.0,
                state,
                event.resolved,
                event.processed_at,
                decided_us
            ])?;
        if marked != 1 {
            return Err(Error::Conflict {
                what: format!("event {} is not pending", event.event_id),
            });
        }
        // After the mark: an event decided already is a conflict, not a
        // second send refused by the messages' uniqueness.
        for message in &event.messages {
            tx.prepare_cached(
                "INSERT INTO messages (tenant_id, project_id, record_id, event_id, message_id,
                     phone, text, sender_id, template_id, plugin, plugin_version, status,
                     created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                     CASE WHEN ?12 = 'queued' THEN COALESCE(?14, ?13) END)",
            )?
            .execute(params![
                event.tenant_id.0,
                message.project_id.0,
                message.record_id.map(|r| r.0),
                event.event_id.0,
                message.message_id(event.event_id),
                message.phone,
                message.text,
                message.sender_id,
                message.template_id,
                message.plugin,
                message.plugin_version,
                message.status.as_str(),
                event.processed_at,
                message.send_at,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The config JSON of a decision with nothing in it: kept inline.
const EMPTY_CONFIG: &str = "{}";

/// A decision row; its JSON columns parse leniently (a row never fails to
/// load over its log).
fn decision_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DecisionRecord> {
    let json = |index: usize| -> rusqlite::Result<serde_json::Value> {
        let text: String = row.get(index)?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    };
    Ok(DecisionRecord {
        plugin: row.get(0)?,
        version: row.get(1)?,
        priority: row.get(2)?,
        outcome: row.get(3)?,
        error_code: row.get(4)?,
        error: row.get(5)?,
        fuel_used: row.get::<_, i64>(6)? as u64,
        duration_us: row.get::<_, i64>(7)? as u64,
        logs: json(8)?,
        verdicts: json(9)?,
        actions: json(10)?,
        config: json(11)?,
        lookups: json(12)?,
    })
}

/// Outcomes and states are stored as their spelling (`ok`, `pending`...).
macro_rules! stored_as_text {
    ($($name:ty),*) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$name>::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {text:?}", stringify!($name)).into())
                })
            }
        }
    )*};
}

stored_as_text!(DecisionOutcome, EventState);
