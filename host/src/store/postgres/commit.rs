//! A commit group's writes on PostgreSQL: a handful of statements per
//! group, not several per event.
//!
//! Each table a group touches gets one statement over arrays (`unnest`),
//! so a group of hundreds of events costs about as many round trips as a
//! group of one: per-row statements made the database's round trips, not
//! its work, the bound on how fast a host decided (BENCHMARKS.md,
//! `cluster`). Rows are sent in a fixed order (events, records and keys
//! sorted) so two hosts committing groups that share a record, or a
//! binding's config, lock the rows in the same order and cannot deadlock.

use std::collections::BTreeMap;

use super::pool::Tx;
use super::*;

/// Marks the events of `processed` decided that are still leased to
/// `host`, locking them; returns the ids it marked. An event another host
/// took over is not marked and must not be written.
pub(super) fn mark_decided(
    tx: &mut Tx<'_>,
    host: &str,
    processed: &[&ProcessedEvent],
    decided_us: i64,
) -> Result<HashSet<i64>> {
    let mut events: Vec<&ProcessedEvent> = processed.to_vec();
    events.sort_by_key(|event| event.event_id);
    let ids = column(&events, |event| big(event.event_id.0))?;
    let tenants = column(&events, |event| big(event.tenant_id.0))?;
    let states: Vec<&str> = events.iter().map(|e| e.state().as_str()).collect();
    let resolved: Vec<&str> = events.iter().map(|e| e.resolved.as_str()).collect();
    let processed_at: Vec<i64> = events.iter().map(|e| e.processed_at).collect();
    let rows = tx.query_prepared(
        "UPDATE events e SET state = u.state, resolved = CAST(u.resolved AS jsonb),
             processed_at = u.processed_at, decided_us = $5
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $6::bigint[])
             AS u(id, tenant_id, state, resolved, processed_at)
         WHERE e.id = u.id AND e.tenant_id = u.tenant_id
           AND e.state = 'pending' AND e.lease_owner = $7
         RETURNING e.id",
        &[
            &ids,
            &tenants,
            &states,
            &resolved,
            &decided_us,
            &processed_at,
            &host,
        ],
    )?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

/// Everything of `events` but their done marks, inside the commit's
/// transaction: decisions (a binding's config stored once), opt-outs and
/// re-subscriptions, outbox items, sent messages, record changes and their
/// event-list entries. `events` are those whose done mark took, so nothing
/// of an event decided elsewhere is written twice.
pub(super) fn write_processed(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    write_decisions(tx, events)?;
    write_opt_outs(tx, events)?;
    write_opt_ins(tx, events)?;
    queue_outbox(tx, events)?;
    write_messages(tx, events)?;
    write_contacts(tx, events)?;
    write_records(tx, events)
}

/// A binding's config is stored once, however many decisions its plugin
/// makes; its key is the SHA-256 of the JSON text, as on SQLite. An empty
/// config stays inline.
fn config_sha(config: &serde_json::Value) -> Option<String> {
    use sha2::Digest;
    config
        .as_object()
        .is_none_or(|config| !config.is_empty())
        .then(|| hex::encode(sha2::Sha256::digest(config.to_string().as_bytes())))
}

fn write_decisions(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let decisions: Vec<(i64, &DecisionRecord, Option<String>)> = events
        .iter()
        .flat_map(|event| {
            event
                .decisions
                .iter()
                .map(move |d| (event.event_id.0, d, config_sha(&d.config)))
        })
        .map(|(event, decision, sha)| Ok((big(event)?, decision, sha)))
        .collect::<Result<_>>()?;
    if decisions.is_empty() {
        return Ok(());
    }
    let configs: BTreeMap<&str, &serde_json::Value> = decisions
        .iter()
        .filter_map(|(_, d, sha)| Some((sha.as_deref()?, &d.config)))
        .collect();
    if !configs.is_empty() {
        let (shas, values): (Vec<&str>, Vec<&serde_json::Value>) = configs.into_iter().unzip();
        tx.execute_prepared(
            "INSERT INTO binding_configs (sha256, config)
             SELECT * FROM unnest($1::text[], $2::jsonb[]) ON CONFLICT DO NOTHING",
            &[&shas, &values],
        )?;
    }
    let inline_empty = serde_json::json!({});
    let event_ids: Vec<i64> = decisions.iter().map(|(e, _, _)| *e).collect();
    let plugins: Vec<&str> = decisions
        .iter()
        .map(|(_, d, _)| d.plugin.as_str())
        .collect();
    let versions: Vec<Option<i64>> = decisions
        .iter()
        .map(|(_, d, _)| d.version.map(i64::from))
        .collect();
    let priorities: Vec<i32> = decisions.iter().map(|(_, d, _)| d.priority).collect();
    let outcomes: Vec<&str> = decisions
        .iter()
        .map(|(_, d, _)| d.outcome.as_str())
        .collect();
    let codes: Vec<Option<&str>> = decisions
        .iter()
        .map(|(_, d, _)| d.error_code.as_deref())
        .collect();
    let errors: Vec<Option<&str>> = decisions
        .iter()
        .map(|(_, d, _)| d.error.as_deref())
        .collect();
    let fuel = decisions
        .iter()
        .map(|(_, d, _)| big(d.fuel_used))
        .collect::<Result<Vec<_>>>()?;
    let durations = decisions
        .iter()
        .map(|(_, d, _)| big(d.duration_us))
        .collect::<Result<Vec<_>>>()?;
    let json = |field: fn(&DecisionRecord) -> &serde_json::Value| -> Vec<&serde_json::Value> {
        decisions.iter().map(|(_, d, _)| field(d)).collect()
    };
    let configs: Vec<&serde_json::Value> = decisions
        .iter()
        .map(|(_, d, sha)| {
            if sha.is_some() {
                &inline_empty
            } else {
                &d.config
            }
        })
        .collect();
    let shas: Vec<Option<&str>> = decisions.iter().map(|(_, _, sha)| sha.as_deref()).collect();
    tx.execute_prepared(
        "INSERT INTO decisions (event_id, plugin, version, priority, outcome,
             error_code, error, fuel_used, duration_us, logs, verdicts, actions,
             config, lookups, config_sha)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::text[],
             $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::jsonb[], $11::jsonb[],
             $12::jsonb[], $13::jsonb[], $14::jsonb[], $15::text[])",
        &[
            &event_ids,
            &plugins,
            &versions,
            &priorities,
            &outcomes,
            &codes,
            &errors,
            &fuel,
            &durations,
            &json(|d| &d.logs),
            &json(|d| &d.verdicts),
            &json(|d| &d.actions),
            &configs,
            &json(|d| &d.lookups),
            &shas,
        ],
    )?;
    Ok(())
}

fn write_opt_outs(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let mut opt_outs: Vec<(i64, &str, i64, i64)> = events
        .iter()
        .filter_map(|event| {
            let phone = event.opted_out.as_deref()?;
            Some((event, phone))
        })
        .map(|(event, phone)| {
            Ok((
                big(event.tenant_id.0)?,
                phone,
                big(event.event_id.0)?,
                event.processed_at,
            ))
        })
        .collect::<Result<_>>()?;
    if opt_outs.is_empty() {
        return Ok(());
    }
    opt_outs.sort();
    let tenants: Vec<i64> = opt_outs.iter().map(|o| o.0).collect();
    let phones: Vec<&str> = opt_outs.iter().map(|o| o.1).collect();
    let event_ids: Vec<i64> = opt_outs.iter().map(|o| o.2).collect();
    let at: Vec<i64> = opt_outs.iter().map(|o| o.3).collect();
    tx.execute_prepared(
            "INSERT INTO do_not_contact (tenant_id, phone, source, event_id, created_at)
         SELECT t, p, 'opt-out', e, c FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])
             AS u(t, p, e, c)
         ON CONFLICT DO NOTHING",
        &[&tenants, &phones, &event_ids, &at],
    )?;
    Ok(())
}

/// Re-subscriptions: each sender's opt-out leaves the list (a number the
/// tenant listed itself stays). After the group's opt-outs, as if its
/// events had committed one by one; a group holds one event per phone.
fn write_opt_ins(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let mut tenants = Vec::new();
    let mut phones = Vec::new();
    for event in events {
        if let Some(phone) = event.opted_in.as_deref() {
            tenants.push(big(event.tenant_id.0)?);
            phones.push(phone);
        }
    }
    if tenants.is_empty() {
        return Ok(());
    }
    tx.execute_prepared(
        "DELETE FROM do_not_contact d
         USING unnest($1::bigint[], $2::text[]) AS u(t, p)
         WHERE d.tenant_id = u.t AND d.phone = u.p AND d.source = 'opt-out'",
        &[&tenants, &phones],
    )?;
    Ok(())
}

/// The SMS the group's decisions send, in order.
fn write_messages(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let rows: Vec<(&ProcessedEvent, &MessageWrite)> = events
        .iter()
        .flat_map(|event| event.messages.iter().map(move |message| (*event, message)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let tenants = column(&rows, |(e, _)| big(e.tenant_id.0))?;
    let projects = column(&rows, |(_, m)| big(m.project_id.0))?;
    let records = column(&rows, |(_, m)| m.record_id.map(|r| big(r.0)).transpose())?;
    let event_ids = column(&rows, |(e, _)| big(e.event_id.0))?;
    let ids = column(&rows, |(e, m)| Ok(m.message_id(e.event_id)))?;
    let phones = column(&rows, |(_, m)| Ok(m.phone.as_str()))?;
    let texts = column(&rows, |(_, m)| Ok(m.text.as_str()))?;
    let senders = column(&rows, |(_, m)| Ok(m.sender_id.as_deref()))?;
    let templates = column(&rows, |(_, m)| Ok(m.template_id.as_deref()))?;
    let plugins = column(&rows, |(_, m)| Ok(m.plugin.as_str()))?;
    let versions = column(&rows, |(_, m)| Ok(m.plugin_version.map(i64::from)))?;
    let at = column(&rows, |(e, _)| Ok(e.processed_at))?;
    let statuses = column(&rows, |(_, m)| Ok(m.status.as_str()))?;
    let send_at = column(&rows, |(_, m)| Ok(m.send_at))?;
    tx.execute_prepared(
        "INSERT INTO messages (tenant_id, project_id, record_id, event_id, message_id, phone,
             text, sender_id, template_id, plugin, plugin_version, status, created_at,
             next_attempt_at)
         SELECT t, p, r, e, id, ph, tx, s, tm, pl, v, st, at,
             CASE WHEN st = 'queued' THEN COALESCE(sa, at) END
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[],
                     $12::bigint[], $13::text[], $14::bigint[])
             WITH ORDINALITY AS u(t, p, r, e, id, ph, tx, s, tm, pl, v, at, st, sa, k)
         ORDER BY k",
        &[
            &tenants, &projects, &records, &event_ids, &ids, &phones, &texts, &senders, &templates,
            &plugins, &versions, &at, &statuses, &send_at,
        ],
    )?;
    Ok(())
}

/// The contact attempts the group's decisions count.
fn write_contacts(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let rows: Vec<(&ProcessedEvent, &ContactAttempt)> = events
        .iter()
        .flat_map(|event| event.contacts.iter().map(move |contact| (*event, contact)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let tenants = column(&rows, |(e, _)| big(e.tenant_id.0))?;
    let records = column(&rows, |(_, c)| big(c.record_id.0))?;
    let event_ids = column(&rows, |(e, _)| big(e.event_id.0))?;
    let kinds = column(&rows, |(_, c)| Ok(c.kind.as_str()))?;
    let at = column(&rows, |(_, c)| Ok(c.at))?;
    tx.execute_prepared(
        "INSERT INTO contact_attempts (tenant_id, record_id, event_id, kind, at)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])",
        &[&tenants, &records, &event_ids, &kinds, &at],
    )?;
    Ok(())
}

/// One row per write: the arrays a statement over record writes takes.
#[derive(Default)]
struct Writes<'a> {
    tenants: Vec<i64>,
    events: Vec<i64>,
    records: Vec<i64>,
    dispositions: Vec<i64>,
    next_calldates: Vec<Option<i64>>,
    plugins: Vec<&'a str>,
    versions: Vec<Option<i64>>,
    notes: Vec<Option<&'a str>>,
    at: Vec<i64>,
}

impl<'a> Writes<'a> {
    fn of(
        events: &[&'a ProcessedEvent],
        writes: fn(&'a ProcessedEvent) -> &'a [RecordWrite],
    ) -> Result<Self> {
        let mut rows = Self::default();
        for event in events {
            for write in writes(event) {
                rows.tenants.push(big(event.tenant_id.0)?);
                rows.events.push(big(event.event_id.0)?);
                rows.records.push(big(write.record_id.0)?);
                rows.dispositions.push(i64::from(write.disposition_id));
                rows.next_calldates.push(write.next_calldate);
                rows.plugins.push(&write.plugin);
                rows.versions.push(write.plugin_version.map(i64::from));
                rows.notes.push(write.note.as_deref());
                rows.at.push(event.processed_at);
            }
        }
        Ok(rows)
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

fn queue_outbox(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let rows = Writes::of(events, |event| &event.outbox)?;
    if rows.is_empty() {
        return Ok(());
    }
    tx.execute_prepared(
        "INSERT INTO outbox (tenant_id, event_id, record_id, disposition_id, next_calldate,
             plugin, plugin_version, note, queued_at, next_attempt_at)
         SELECT t, e, r, d, n, p, v, note, at, at
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::text[], $7::bigint[], $8::text[], $9::bigint[])
             WITH ORDINALITY AS u(t, e, r, d, n, p, v, note, at, k)
         ORDER BY k",
        &[
            &rows.tenants,
            &rows.events,
            &rows.records,
            &rows.dispositions,
            &rows.next_calldates,
            &rows.plugins,
            &rows.versions,
            &rows.notes,
            &rows.at,
        ],
    )?;
    Ok(())
}

/// The records' new dispositions and their event-list entries. A record
/// written twice in one group ends as the later write left it, as if the
/// events had committed one by one.
fn write_records(tx: &mut Tx<'_>, events: &[&ProcessedEvent]) -> Result<()> {
    let rows = Writes::of(events, |event| &event.writes)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut last: BTreeMap<i64, usize> = BTreeMap::new();
    for (k, record) in rows.records.iter().enumerate() {
        last.insert(*record, k);
    }
    let ks: Vec<usize> = last.into_values().collect();
    let records: Vec<i64> = ks.iter().map(|&k| rows.records[k]).collect();
    let tenants: Vec<i64> = ks.iter().map(|&k| rows.tenants[k]).collect();
    let dispositions: Vec<i64> = ks.iter().map(|&k| rows.dispositions[k]).collect();
    let next_calldates: Vec<Option<i64>> = ks.iter().map(|&k| rows.next_calldates[k]).collect();
    let changed = tx.query_prepared(
        "UPDATE records r SET disposition_id = u.d, next_calldate = u.n
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, t, d, n)
         WHERE r.id = u.id AND r.tenant_id = u.t
         RETURNING r.id",
        &[&records, &tenants, &dispositions, &next_calldates],
    )?;
    if changed.len() != records.len() {
        let found: HashSet<i64> = changed
            .iter()
            .map(|row| row.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let missing = records.iter().find(|id| !found.contains(id)).copied();
        return Err(not_found(format!("record {}", missing.unwrap_or_default())));
    }
    tx.execute_prepared(
        "INSERT INTO record_events (record_id, event_id, event_type, user_name, created_at,
             disposition_id, next_calldate, plugin, plugin_version, note)
         SELECT r, e, 'SMS', 'System', at, d, n, p, v, note
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::text[], $7::bigint[], $8::text[])
             WITH ORDINALITY AS u(r, e, at, d, n, p, v, note, k)
         ORDER BY k",
        &[
            &rows.records,
            &rows.events,
            &rows.at,
            &rows.dispositions,
            &rows.next_calldates,
            &rows.plugins,
            &rows.versions,
            &rows.notes,
        ],
    )?;
    Ok(())
}

/// One column of `rows` for an array parameter.
fn column<T, R>(rows: &[T], value: impl Fn(&T) -> Result<R>) -> Result<Vec<R>> {
    rows.iter().map(value).collect()
}
