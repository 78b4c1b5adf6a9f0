//! [`Store`] on one SQLite file (rusqlite, SQLite bundled).
//!
//! One connection behind a mutex: SQLite has one writer at a time anyway,
//! and the pipeline batches its writes, so the lock is held for short,
//! plugin-free stretches. Plugins never run while it is held.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::schema::MIGRATIONS;
use super::*;
use crate::model::{DISCARD_ID, SHARED_CALLBACK_ID};
use crate::phone::DEFAULT_OPT_OUT_KEYWORDS;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "smstrigger.db";

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and runs any
    /// migrations it has not had.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let conn = Connection::open(data_dir.join(DATABASE_FILE))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound { what: what.into() }
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<(StoredRecord, String)> {
    Ok((
        StoredRecord {
            id: RecordId(row.get(0)?),
            project_id: ProjectId(row.get(1)?),
            phone: row.get(2)?,
            time_zone: row.get(3)?,
            fields: Vec::new(),
            disposition_id: row.get(5)?,
            next_calldate: row.get(6)?,
        },
        row.get(4)?,
    ))
}

fn with_fields((mut record, fields): (StoredRecord, String)) -> Result<StoredRecord> {
    record.fields = serde_json::from_str(&fields)?;
    Ok(record)
}

const RECORD_COLUMNS: &str =
    "id, project_id, phone, time_zone, fields, disposition_id, next_calldate";

fn decision_from_row(row: &Row<'_>) -> rusqlite::Result<[String; 2]> {
    Ok([row.get(9)?, row.get(10)?])
}

impl Store for SqliteStore {
    fn create_tenant(&self, name: &str, webhook_secret: &str) -> Result<Tenant> {
        let keywords = serde_json::to_string(DEFAULT_OPT_OUT_KEYWORDS)?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO tenants (name, webhook_secret, opt_out_keywords, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![name, webhook_secret, keywords, now()],
        )?;
        Ok(Tenant {
            id: TenantId(conn.last_insert_rowid() as u64),
            name: name.into(),
            webhook_secret: webhook_secret.into(),
        })
    }

    fn opt_out_keywords(&self, tenant: TenantId) -> Result<Vec<String>> {
        let json: String = self
            .conn()
            .query_row(
                "SELECT opt_out_keywords FROM tenants WHERE id = ?1",
                [tenant.0],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?;
        Ok(serde_json::from_str(&json)?)
    }

    fn set_opt_out_keywords(&self, tenant: TenantId, keywords: &[String]) -> Result<()> {
        let upper: Vec<String> = keywords.iter().map(|k| k.trim().to_uppercase()).collect();
        self.conn().execute(
            "UPDATE tenants SET opt_out_keywords = ?2 WHERE id = ?1",
            params![tenant.0, serde_json::to_string(&upper)?],
        )?;
        Ok(())
    }

    fn create_project(&self, tenant: TenantId, settings: &ProjectSettings) -> Result<Project> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let hours = settings.calling_hours.as_ref();
        tx.execute(
            "INSERT INTO projects (tenant_id, name, time_zone, default_country, hours_start,
                 hours_end, hours_policy, horizon_days, max_actions)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                tenant.0,
                settings.name,
                settings.time_zone,
                settings.default_country,
                hours.map(|h| h.start.format("%H:%M").to_string()),
                hours.map(|h| h.end.format("%H:%M").to_string()),
                serde_json::to_value(settings.calling_hours_policy)?.as_str(),
                settings.horizon_days,
                settings.max_actions_per_event as i64,
            ],
        )?;
        let id = ProjectId(tx.last_insert_rowid() as u64);
        for (disposition, name) in [
            (SHARED_CALLBACK_ID, "Shared Callback"),
            (DISCARD_ID, "Discard"),
        ] {
            tx.execute(
                "INSERT INTO dispositions (project_id, id, name, active, system)
                 VALUES (?1, ?2, ?3, 1, 1)",
                params![id.0, disposition, name],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.project(tenant, id)
    }

    fn project(&self, tenant: TenantId, project: ProjectId) -> Result<Project> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT name, time_zone, default_country, hours_start, hours_end, hours_policy,
                        horizon_days, max_actions
                 FROM projects WHERE id = ?1 AND tenant_id = ?2",
                params![project.0, tenant.0],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, u32>(6)?,
                        row.get::<_, i64>(7)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| not_found(format!("project {project}")))?;
        let (name, time_zone, default_country, start, end, policy, horizon_days, max_actions) = row;
        let calling_hours = match (start, end) {
            (Some(start), Some(end)) => {
                Some(CallingHours::parse(&start, &end).map_err(|what| Error::Conflict { what })?)
            }
            _ => None,
        };
        let mut statement = conn.prepare_cached(
            "SELECT id, name, active, system FROM dispositions WHERE project_id = ?1 ORDER BY id",
        )?;
        let dispositions = statement
            .query_map([project.0], |row| {
                Ok(DispositionDef {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    active: row.get(2)?,
                    system: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Project {
            id: project,
            tenant_id: tenant,
            settings: ProjectSettings {
                name,
                time_zone,
                default_country,
                calling_hours,
                calling_hours_policy: serde_json::from_value(serde_json::Value::String(policy))?,
                horizon_days,
                max_actions_per_event: max_actions as usize,
            },
            dispositions,
        })
    }

    fn upsert_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
    ) -> Result<()> {
        let conn = self.conn();
        owned_project(&conn, tenant, project)?;
        let system: Option<bool> = conn
            .query_row(
                "SELECT system FROM dispositions WHERE project_id = ?1 AND id = ?2",
                params![project.0, disposition.id],
                |row| row.get(0),
            )
            .optional()?;
        if system == Some(true) {
            return Err(Error::Conflict {
                what: format!("disposition {} is a system disposition", disposition.id),
            });
        }
        conn.execute(
            "INSERT INTO dispositions (project_id, id, name, active, system) VALUES (?1, ?2, ?3, ?4, 0)
             ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name, active = excluded.active",
            params![project.0, disposition.id, disposition.name, disposition.active],
        )?;
        Ok(())
    }

    fn create_record(&self, tenant: TenantId, record: &NewRecord) -> Result<StoredRecord> {
        let conn = self.conn();
        owned_project(&conn, tenant, record.project_id)?;
        conn.execute(
            "INSERT INTO records (tenant_id, project_id, phone, time_zone, fields)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                tenant.0,
                record.project_id.0,
                record.phone,
                record.time_zone,
                serde_json::to_string(&record.fields)?
            ],
        )?;
        Ok(StoredRecord {
            id: RecordId(conn.last_insert_rowid() as u64),
            project_id: record.project_id,
            phone: record.phone.clone(),
            time_zone: record.time_zone.clone(),
            fields: record.fields.clone(),
            disposition_id: None,
            next_calldate: None,
        })
    }

    fn record(&self, tenant: TenantId, record: RecordId) -> Result<StoredRecord> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1 AND tenant_id = ?2"),
                params![record.0, tenant.0],
                record_from_row,
            )
            .optional()?
            .ok_or_else(|| not_found(format!("record {record}")))?;
        with_fields(row)
    }

    fn records_by_phone(
        &self,
        tenant: TenantId,
        project: ProjectId,
        phone: &str,
    ) -> Result<Vec<StoredRecord>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE tenant_id = ?1 AND project_id = ?2 AND phone = ?3 ORDER BY id"
        ))?;
        let rows = statement
            .query_map(params![tenant.0, project.0, phone], record_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_fields).collect()
    }

    fn record_events(&self, tenant: TenantId, record: RecordId) -> Result<Vec<RecordEvent>> {
        let conn = self.conn();
        let owned: Option<u64> = conn
            .query_row(
                "SELECT id FROM records WHERE id = ?1 AND tenant_id = ?2",
                params![record.0, tenant.0],
                |row| row.get(0),
            )
            .optional()?;
        owned.ok_or_else(|| not_found(format!("record {record}")))?;
        let mut statement = conn.prepare_cached(
            "SELECT event_id, event_type, user, created_at, disposition_id, next_calldate,
                    plugin, plugin_version, note
             FROM record_events WHERE record_id = ?1 ORDER BY id",
        )?;
        let events = statement
            .query_map([record.0], |row| {
                Ok(RecordEvent {
                    event_id: row.get::<_, Option<u64>>(0)?.map(EventId),
                    event_type: row.get(1)?,
                    user: row.get(2)?,
                    created_at: row.get(3)?,
                    disposition_id: row.get(4)?,
                    next_calldate: row.get(5)?,
                    plugin: row.get(6)?,
                    plugin_version: row.get(7)?,
                    note: row.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(events)
    }

    fn add_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO do_not_contact (tenant_id, phone, source, created_at)
             VALUES (?1, ?2, 'api', ?3) ON CONFLICT DO NOTHING",
            params![tenant.0, phone, now()],
        )?;
        Ok(())
    }

    fn do_not_contact(&self, tenant: TenantId, phones: &[String]) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT phone FROM do_not_contact WHERE tenant_id = ?1 AND phone = ?2",
        )?;
        let mut listed = Vec::new();
        for phone in phones.iter().collect::<BTreeSet<_>>() {
            if let Some(found) = statement
                .query_row(params![tenant.0, phone], |row| row.get(0))
                .optional()?
            {
                listed.push(found);
            }
        }
        Ok(listed)
    }

    fn add_plugin_version(
        &self,
        tenant: TenantId,
        name: &str,
        sha256: &str,
        component: &[u8],
    ) -> Result<u32> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let version: u32 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions
             WHERE tenant_id = ?1 AND name = ?2",
            params![tenant.0, name],
            |row| row.get(0),
        )?;
        tx.execute(
            "INSERT INTO plugin_versions (tenant_id, name, version, sha256, component, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tenant.0, name, version, sha256, component, now()],
        )?;
        tx.execute(
            "INSERT INTO plugins (tenant_id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![tenant.0, name],
        )?;
        tx.commit()?;
        Ok(version)
    }

    fn activate_plugin(&self, tenant: TenantId, name: &str, version: u32) -> Result<()> {
        let conn = self.conn();
        let exists: Option<u32> = conn
            .query_row(
                "SELECT version FROM plugin_versions
                 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
                params![tenant.0, name, version],
                |row| row.get(0),
            )
            .optional()?;
        exists.ok_or_else(|| not_found(format!("plugin {name} version {version}")))?;
        conn.execute(
            "UPDATE plugins SET previous_version = active_version, active_version = ?3
             WHERE tenant_id = ?1 AND name = ?2",
            params![tenant.0, name, version],
        )?;
        Ok(())
    }

    fn plugin_component(&self, tenant: TenantId, name: &str, version: u32) -> Result<Vec<u8>> {
        self.conn()
            .query_row(
                "SELECT component FROM plugin_versions
                 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
                params![tenant.0, name, version],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| not_found(format!("plugin {name} version {version}")))
    }

    fn set_bindings(
        &self,
        tenant: TenantId,
        project: ProjectId,
        bindings: &[Binding],
    ) -> Result<()> {
        let mut conn = self.conn();
        owned_project(&conn, tenant, project)?;
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM bindings WHERE project_id = ?1", [project.0])?;
        for binding in bindings {
            let known: Option<String> = tx
                .query_row(
                    "SELECT name FROM plugins WHERE tenant_id = ?1 AND name = ?2",
                    params![tenant.0, binding.plugin],
                    |row| row.get(0),
                )
                .optional()?;
            known.ok_or_else(|| not_found(format!("plugin {}", binding.plugin)))?;
            tx.execute(
                "INSERT INTO bindings (project_id, plugin, priority, config) VALUES (?1, ?2, ?3, ?4)",
                params![
                    project.0,
                    binding.plugin,
                    binding.priority,
                    serde_json::to_string(&binding.config)?
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn active_bindings(&self, tenant: TenantId, project: ProjectId) -> Result<Vec<ActiveBinding>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT b.plugin, b.priority, b.config, p.active_version, v.sha256
             FROM bindings b
             JOIN projects j ON j.id = b.project_id AND j.tenant_id = ?1
             JOIN plugins p ON p.tenant_id = ?1 AND p.name = b.plugin
             LEFT JOIN plugin_versions v
                 ON v.tenant_id = ?1 AND v.name = b.plugin AND v.version = p.active_version
             WHERE b.project_id = ?2
             ORDER BY b.priority DESC, b.plugin",
        )?;
        let rows = statement
            .query_map(params![tenant.0, project.0], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i32>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<u32>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(plugin, priority, config, version, sha256)| {
                Ok(ActiveBinding {
                    binding: Binding {
                        plugin,
                        priority,
                        config: serde_json::from_str(&config)?,
                    },
                    version,
                    sha256,
                })
            })
            .collect()
    }

    fn journal(&self, entry: &JournalEntry) -> Result<Journaled> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing: Option<u64> = tx
            .query_row(
                "SELECT id FROM events WHERE tenant_id = ?1 AND dedupe_key = ?2",
                params![entry.tenant_id.0, entry.dedupe_key],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Ok(Journaled::Duplicate(EventId(id)));
        }
        let mut superseded = false;
        for key in &entry.superseded_by {
            superseded |= tx
                .query_row(
                    "SELECT 1 FROM events WHERE tenant_id = ?1 AND dedupe_key = ?2",
                    params![entry.tenant_id.0, key],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
        }
        tx.execute(
            "INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                                 received_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                entry.tenant_id.0,
                entry.project_id.0,
                entry.dedupe_key,
                entry.message_id,
                entry.subject,
                entry.input,
                entry.received_at,
                if superseded { "superseded" } else { "pending" },
            ],
        )?;
        let id = EventId(tx.last_insert_rowid() as u64);
        tx.commit()?;
        Ok(if superseded {
            Journaled::Superseded(id)
        } else {
            Journaled::Accepted(id)
        })
    }

    fn claim_pending(&self, per_tenant: usize, max: usize) -> Result<Vec<PendingEvent>> {
        let conn = self.conn();
        let mut tenants = conn.prepare_cached(
            "SELECT DISTINCT tenant_id FROM events WHERE state = 'pending' ORDER BY tenant_id",
        )?;
        let tenant_ids = tenants
            .query_map([], |row| row.get::<_, u64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut oldest = conn.prepare_cached(
            "SELECT id, tenant_id, project_id, subject, input FROM events
             WHERE state = 'pending' AND tenant_id = ?1 ORDER BY id LIMIT ?2",
        )?;
        // Round-robin: the first pending event of every tenant, then the
        // second, …, so one tenant's burst cannot starve another's event.
        let mut queues = Vec::with_capacity(tenant_ids.len());
        for tenant in tenant_ids {
            let events = oldest
                .query_map(params![tenant, per_tenant as i64], |row| {
                    Ok(PendingEvent {
                        id: EventId(row.get(0)?),
                        tenant_id: TenantId(row.get(1)?),
                        project_id: ProjectId(row.get(2)?),
                        subject: row.get(3)?,
                        input: row.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            queues.push(events.into_iter());
        }
        let mut subjects = BTreeSet::new();
        let mut blocked = BTreeSet::new();
        let mut claimed = Vec::new();
        while claimed.len() < max {
            let mut progressed = false;
            for queue in queues.iter_mut() {
                let Some(event) = queue.next() else { continue };
                progressed = true;
                let subject = (event.tenant_id, event.subject.clone());
                // A subject's later events wait for its earlier one.
                if blocked.contains(&subject) || !subjects.insert(subject.clone()) {
                    blocked.insert(subject);
                    continue;
                }
                claimed.push(event);
                if claimed.len() == max {
                    break;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(claimed)
    }

    fn commit(&self, processed: &[ProcessedEvent]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for event in processed {
            for decision in &event.decisions {
                tx.execute(
                    "INSERT INTO decisions (event_id, plugin, version, priority, outcome,
                         error_code, error, fuel_used, duration_us, logs, verdicts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        event.event_id.0,
                        decision.plugin,
                        decision.version,
                        decision.priority,
                        decision.outcome,
                        decision.error_code,
                        decision.error,
                        decision.fuel_used as i64,
                        decision.duration_us as i64,
                        decision.logs.to_string(),
                        decision.verdicts.to_string(),
                    ],
                )?;
            }
            if let Some(phone) = &event.opted_out {
                tx.execute(
                    "INSERT INTO do_not_contact (tenant_id, phone, source, event_id, created_at)
                     VALUES (?1, ?2, 'opt-out', ?3, ?4) ON CONFLICT DO NOTHING",
                    params![
                        event.tenant_id.0,
                        phone,
                        event.event_id.0,
                        event.processed_at
                    ],
                )?;
            }
            for write in &event.writes {
                let changed = tx.execute(
                    "UPDATE records SET disposition_id = ?3, next_calldate = ?4
                     WHERE id = ?1 AND tenant_id = ?2",
                    params![
                        write.record_id.0,
                        event.tenant_id.0,
                        write.disposition_id,
                        write.next_calldate
                    ],
                )?;
                if changed != 1 {
                    return Err(not_found(format!("record {}", write.record_id)));
                }
                tx.execute(
                    "INSERT INTO record_events (record_id, event_id, event_type, user, created_at,
                         disposition_id, next_calldate, plugin, plugin_version, note)
                     VALUES (?1, ?2, 'SMS', 'System', ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        write.record_id.0,
                        event.event_id.0,
                        event.processed_at,
                        write.disposition_id,
                        write.next_calldate,
                        write.plugin,
                        write.plugin_version,
                        write.note,
                    ],
                )?;
            }
            let state = if event.decisions.iter().any(|d| d.outcome == "failed") {
                "failed"
            } else {
                "done"
            };
            let marked = tx.execute(
                "UPDATE events SET state = ?2, resolved = ?3, processed_at = ?4
                 WHERE id = ?1 AND state = 'pending'",
                params![event.event_id.0, state, event.resolved, event.processed_at],
            )?;
            if marked != 1 {
                return Err(Error::Conflict {
                    what: format!("event {} is not pending", event.event_id),
                });
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn event(&self, tenant: TenantId, event: EventId) -> Result<EventView> {
        let conn = self.conn();
        let (project, message_id, state, received_at, processed_at, input, resolved) = conn
            .query_row(
                "SELECT project_id, message_id, state, received_at, processed_at, input, resolved
                 FROM events WHERE id = ?1 AND tenant_id = ?2",
                params![event.0, tenant.0],
                |row| {
                    Ok((
                        ProjectId(row.get(0)?),
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Timestamp>(3)?,
                        row.get::<_, Option<Timestamp>>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<String>>(6)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| not_found(format!("event {event}")))?;
        let mut statement = conn.prepare_cached(
            "SELECT plugin, version, priority, outcome, error_code, error, fuel_used, duration_us,
                    id, logs, verdicts
             FROM decisions WHERE event_id = ?1 ORDER BY id",
        )?;
        let rows = statement
            .query_map([event.0], |row| {
                Ok((
                    DecisionRecord {
                        plugin: row.get(0)?,
                        version: row.get(1)?,
                        priority: row.get(2)?,
                        outcome: row.get(3)?,
                        error_code: row.get(4)?,
                        error: row.get(5)?,
                        fuel_used: row.get::<_, i64>(6)? as u64,
                        duration_us: row.get::<_, i64>(7)? as u64,
                        logs: serde_json::Value::Null,
                        verdicts: serde_json::Value::Null,
                    },
                    decision_from_row(row)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let decisions = rows
            .into_iter()
            .map(|(mut decision, [logs, verdicts])| {
                decision.logs = serde_json::from_str(&logs)?;
                decision.verdicts = serde_json::from_str(&verdicts)?;
                Ok(decision)
            })
            .collect::<Result<Vec<_>>>()?;
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
        })
    }

    fn pending_count(&self) -> Result<u64> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM events WHERE state = 'pending'",
            [],
            |row| row.get::<_, i64>(0),
        )? as u64)
    }
}

/// Fails unless `project` belongs to `tenant`.
fn owned_project(conn: &Connection, tenant: TenantId, project: ProjectId) -> Result<()> {
    conn.query_row(
        "SELECT 1 FROM projects WHERE id = ?1 AND tenant_id = ?2",
        params![project.0, tenant.0],
        |_| Ok(()),
    )
    .optional()?
    .ok_or_else(|| not_found(format!("project {project}")))
}
