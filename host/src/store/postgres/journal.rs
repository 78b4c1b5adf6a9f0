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

use std::collections::HashMap;

use super::commit;
use super::pool::Tx;
use super::*;
use crate::store::sql::{DECISION_COLUMN_COUNT, decision_columns};

/// Now in Unix microseconds: when events are journaled and decided, so the
/// time from one to the other can be measured (as on SQLite).
fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A [`PendingEvent`] from the columns [`LEASE`] returns.
fn pending_from_row(row: &::postgres::Row) -> Result<PendingEvent> {
    Ok(PendingEvent {
        id: EventId(get_unsigned(row, 0)?),
        tenant_id: TenantId(get_unsigned(row, 1)?),
        project_id: ProjectId(get_unsigned(row, 2)?),
        subject: row.try_get(3)?,
        input: row.try_get(4)?,
    })
}

/// The events of the keys `($1[i], $2[i])` (tenant, dedupe key) the
/// journal has.
const KNOWN_KEYS: &str = "
SELECT e.tenant_id, e.dedupe_key, e.id FROM events e
JOIN unnest($1::bigint[], $2::text[]) AS k(t, key) ON e.tenant_id = k.t AND e.dedupe_key = k.key";

/// New events from arrays, inserted in the arrays' order (their ids
/// follow it); a key another transaction holds is skipped.
const INSERT_EVENTS: &str = "
INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                    received_at, state, accepted_us)
SELECT t, p, k, m, s, CAST(i AS jsonb), r, st, $9
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
            $6::text[], $7::bigint[], $8::text[])
    WITH ORDINALITY AS u(t, p, k, m, s, i, r, st, n)
ORDER BY n
ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
RETURNING tenant_id, dedupe_key, id";

/// What becomes of one entry of a batch, decided in the batch's order.
enum Plan {
    /// Already journaled (or earlier in this batch) under this key.
    Duplicate,
    /// New, pending or superseded on arrival.
    New(EventState),
}

/// Journals `entries` in one transaction with three statements whatever
/// their number: which of their keys (and the keys that would supersede
/// them) the journal has; the new ones inserted in arrival order (event ids
/// follow it, so a subject's events are decided in the order they came);
/// and, only when another host journaled one of the same keys at once,
/// its id. An entry is a duplicate, or superseded, exactly as if the
/// entries had been journaled one by one.
fn journal_entries(
    tx: &mut Tx<'_>,
    entries: &[JournalEntry],
    accepted_us: i64,
) -> Result<Vec<Journaled>> {
    type Key = (i64, String);
    let key = |entry: &JournalEntry, k: &str| Ok((big(entry.tenant_id.0)?, k.to_owned()));
    let mut asked: Vec<Key> = Vec::new();
    for entry in entries {
        asked.push(key(entry, &entry.dedupe_key)?);
        for later in &entry.superseded_by {
            asked.push(key(entry, later)?);
        }
    }
    let known = |tx: &mut Tx<'_>, keys: &[Key]| -> Result<HashMap<Key, i64>> {
        let (tenants, names): (Vec<i64>, Vec<&str>) =
            keys.iter().map(|(t, k)| (*t, k.as_str())).unzip();
        tx.query_prepared(KNOWN_KEYS, &[&tenants, &names])?
            .iter()
            .map(|row| Ok(((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?)))
            .collect()
    };
    let mut ids = known(tx, &asked)?;
    let mut seen: HashSet<Key> = ids.keys().cloned().collect();
    let mut plans = Vec::with_capacity(entries.len());
    for entry in entries {
        let own = key(entry, &entry.dedupe_key)?;
        if seen.contains(&own) {
            plans.push(Plan::Duplicate);
            continue;
        }
        let superseded = entry
            .superseded_by
            .iter()
            .any(|later| seen.contains(&(own.0, later.clone())));
        seen.insert(own);
        plans.push(Plan::New(if superseded {
            EventState::Superseded
        } else {
            EventState::Pending
        }));
    }

    let new: Vec<(&JournalEntry, EventState)> = entries
        .iter()
        .zip(&plans)
        .filter_map(|(entry, plan)| match plan {
            Plan::New(state) => Some((entry, *state)),
            Plan::Duplicate => None,
        })
        .collect();
    if !new.is_empty() {
        let tenants = new
            .iter()
            .map(|(e, _)| big(e.tenant_id.0))
            .collect::<Result<Vec<_>>>()?;
        let projects = new
            .iter()
            .map(|(e, _)| big(e.project_id.0))
            .collect::<Result<Vec<_>>>()?;
        let text = |field: fn(&JournalEntry) -> &str| -> Vec<&str> {
            new.iter().map(|(e, _)| field(e)).collect()
        };
        let received: Vec<i64> = new.iter().map(|(e, _)| e.received_at).collect();
        let states: Vec<&str> = new.iter().map(|(_, state)| state.as_str()).collect();
        // Another host journaling one of the keys at once: ours waits for
        // its transaction, then inserts nothing, and the look-up below
        // finds its event.
        let inserted = tx.query_prepared(
            INSERT_EVENTS,
            &[
                &tenants,
                &projects,
                &text(|e| &e.dedupe_key),
                &text(|e| &e.message_id),
                &text(|e| &e.subject),
                &text(|e| &e.input),
                &received,
                &states,
                &accepted_us,
            ],
        )?;
        let mut fresh = HashSet::new();
        for row in &inserted {
            let own: Key = (row.try_get(0)?, row.try_get(1)?);
            ids.insert(own.clone(), row.try_get(2)?);
            fresh.insert(own);
        }
        let raced: Vec<Key> = new
            .iter()
            .map(|(e, _)| key(e, &e.dedupe_key))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|own| !fresh.contains(own))
            .collect();
        if !raced.is_empty() {
            ids.extend(known(tx, &raced)?);
        }
        // Entries another host journaled first are duplicates of its events.
        for (plan, entry) in plans.iter_mut().zip(entries) {
            if matches!(plan, Plan::New(_)) && !fresh.contains(&key(entry, &entry.dedupe_key)?) {
                *plan = Plan::Duplicate;
            }
        }
    }
    entries
        .iter()
        .zip(plans)
        .map(|(entry, plan)| {
            let own = key(entry, &entry.dedupe_key)?;
            let id = EventId(
                u64::try_from(*ids.get(&own).ok_or_else(|| Error::Backend {
                    what: format!("event {} was neither journaled nor found", entry.dedupe_key),
                })?)
                .unwrap_or_default(),
            );
            Ok(match plan {
                Plan::Duplicate => Journaled::Duplicate(id),
                Plan::New(EventState::Superseded) => Journaled::Superseded(id),
                Plan::New(_) => Journaled::Accepted(id),
            })
        })
        .collect()
}

/// Up to `$4` of tenant `$1`'s pending events free for this host (`$2`)
/// to lease, oldest first, locked: no live lease of another host's, and
/// none this host holds up to `$3` (those it has read already). Rows
/// another transaction has locked are skipped, never waited for.
const CANDIDATES: &str = "
SELECT id, subject FROM events
WHERE tenant_id = $1 AND state = 'pending'
  AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until <= now())
  AND (id > $3 OR lease_owner IS DISTINCT FROM $2 OR lease_until <= now())
ORDER BY id LIMIT $4
FOR UPDATE SKIP LOCKED";

/// Every pending event of tenant `$1` of the subjects `$2` before id
/// `$3`, and whether this host (`$4`) holds it: what says which
/// candidates may go ahead. One scan whichever index the planner takes
/// (the pending events of a few subjects, or the tenant's pending events
/// below an id), never one per candidate: with statistics from before a
/// backlog, a per-candidate check was planned as a walk over the whole
/// backlog for each candidate (27 s per claim of 1,024 over 26,000).
const SUBJECTS_BEFORE: &str = "
SELECT id, subject, COALESCE(lease_owner = $4 AND lease_until > now(), false) FROM events
WHERE tenant_id = $1 AND state = 'pending' AND subject = ANY($2) AND id < $3";

/// Leases events `$1` to host `$2` for `$3` ms.
const LEASE: &str = "
UPDATE events SET lease_owner = $2, lease_until = now() + $3::float8 * interval '1 millisecond'
WHERE id = ANY($1)
RETURNING id, tenant_id, project_id, subject, input::text";

/// The candidates (in id order) that may be leased: one whose subject has
/// an earlier pending event goes ahead only when this host holds that
/// event or leases it now too, so a subject's events are decided one at a
/// time and in order, across hosts.
fn free_of_earlier(candidates: &[(i64, String)], earlier: &[(i64, String, bool)]) -> Vec<i64> {
    let mut by_subject: HashMap<&str, Vec<(i64, bool)>> = HashMap::new();
    for (id, subject, mine) in earlier {
        by_subject.entry(subject).or_default().push((*id, *mine));
    }
    let mut taken: HashSet<i64> = HashSet::new();
    let mut kept = Vec::new();
    for (id, subject) in candidates {
        let free = by_subject.get(subject.as_str()).is_none_or(|events| {
            events
                .iter()
                .filter(|(b, _)| b < id)
                .all(|(b, mine)| *mine || taken.contains(b))
        });
        if free {
            taken.insert(*id);
            kept.push(*id);
        }
    }
    kept
}

impl Journal for PgStore {
    fn journal_batch(&self, entries: &[JournalEntry]) -> Result<Vec<Journaled>> {
        let mut conn = self.conn()?;
        let mut tx = conn.prepared_transaction()?;
        let accepted_us = now_us();
        let journaled = journal_entries(&mut tx, entries, accepted_us)?;
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
        let tenant = big(tenant.0)?;
        let after = i64::try_from(after.0).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        let mut tx = conn.prepared_transaction()?;
        let candidates: Vec<(i64, String)> = tx
            .query_prepared(CANDIDATES, &[&tenant, &self.host, &after, &limit])?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_>>()?;
        let Some(last) = candidates.last().map(|(id, _)| *id) else {
            return Ok(Vec::new());
        };
        let subjects: Vec<&str> = candidates.iter().map(|(_, s)| s.as_str()).collect();
        let earlier: Vec<(i64, String, bool)> = tx
            .query_prepared(SUBJECTS_BEFORE, &[&tenant, &subjects, &last, &self.host])?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect::<Result<_>>()?;
        let kept = free_of_earlier(&candidates, &earlier);
        let rows = tx.query_prepared(LEASE, &[&kept, &self.host, &self.lease_ms()])?;
        let mut events = rows
            .iter()
            .map(pending_from_row)
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
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
        let mut tx = conn.prepared_transaction()?;
        let all: Vec<&ProcessedEvent> = processed.iter().collect();
        let marked = commit::mark_decided(&mut tx, &self.host, &all, now_us())?;
        let (mine, skipped): (Vec<&ProcessedEvent>, Vec<&ProcessedEvent>) = all
            .into_iter()
            .partition(|event| marked.contains(&(event.event_id.0 as i64)));
        commit::write_processed(&mut tx, &mine)?;
        tx.commit()?;
        {
            let mut claimed = self.claimed();
            for event in processed {
                claimed.remove(&(event.event_id.0 as i64));
            }
        }
        if !skipped.is_empty() {
            let events: Vec<EventId> = skipped.iter().map(|event| event.event_id).collect();
            tracing::warn!(
                host = %self.host,
                ?events,
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
            outbox: super::outbox::of_event(&mut **conn, id)?,
        })
    }

    fn recorded_runs(
        &self,
        tenant: TenantId,
        plugin: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<RecordedRun>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (from, order) = match after {
            Some(after) => (big(after.0)?, "ASC"),
            None => (-1, "DESC"),
        };
        self.conn()?
            .query(
                &format!(
                    "SELECT {}, e.id, e.resolved FROM decisions d
                     JOIN events e ON e.id = d.event_id
                     WHERE d.plugin = $2 AND d.event_id > $4 AND e.tenant_id = $1
                         AND e.resolved IS NOT NULL
                     ORDER BY d.event_id {order} LIMIT $3",
                    decision_columns("d.")
                ),
                &[&big(tenant.0)?, &plugin, &limit, &from],
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
