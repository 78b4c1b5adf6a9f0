//! Records on SQLite.

use rusqlite::{OptionalExtension, params};

use super::*;
use crate::store::sql::MESSAGE_COLUMNS;
use std::collections::BTreeSet;

impl Records for SqliteStore {
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

    fn create_records(&self, tenant: TenantId, records: &[NewRecord]) -> Result<Vec<StoredRecord>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for project in records
            .iter()
            .map(|r| r.project_id)
            .collect::<BTreeSet<_>>()
        {
            owned_project(&tx, tenant, project)?;
        }
        let mut created = Vec::with_capacity(records.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO records (tenant_id, project_id, phone, time_zone, fields)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for record in records {
                insert.execute(params![
                    tenant.0,
                    record.project_id.0,
                    record.phone,
                    record.time_zone,
                    serde_json::to_string(&record.fields)?
                ])?;
                created.push(StoredRecord {
                    id: RecordId(tx.last_insert_rowid() as u64),
                    project_id: record.project_id,
                    phone: record.phone.clone(),
                    time_zone: record.time_zone.clone(),
                    fields: record.fields.clone(),
                    disposition_id: None,
                    next_calldate: None,
                });
            }
        }
        tx.commit()?;
        Ok(created)
    }

    fn record(&self, tenant: TenantId, record: RecordId) -> Result<StoredRecord> {
        let row = self
            .read()
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1 AND tenant_id = ?2"
            ))?
            .query_row(params![record.0, tenant.0], record_from_row)
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
        let conn = self.read();
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
        let conn = self.read();
        let owned: Option<u64> = conn
            .prepare_cached("SELECT id FROM records WHERE id = ?1 AND tenant_id = ?2")?
            .query_row(params![record.0, tenant.0], |row| row.get(0))
            .optional()?;
        owned.ok_or_else(|| not_found(format!("record {record}")))?;
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {RECORD_EVENT_COLUMNS} FROM record_events WHERE record_id = ?1 ORDER BY id"
        ))?;
        let events = statement
            .query_map([record.0], record_event_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(events)
    }

    fn messages(&self, tenant: TenantId, filter: &MessageFilter<'_>) -> Result<Vec<SentMessage>> {
        let conn = self.read();
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS}
             FROM messages
             WHERE tenant_id = ?1 AND project_id = ?2
                 AND (?3 IS NULL OR record_id = ?3) AND (?4 IS NULL OR phone = ?4)
                 AND id > ?5
             ORDER BY id {order} LIMIT ?6"
        ))?;
        let rows = statement.query_map(
            params![
                tenant.0,
                filter.project.0,
                filter.record.map(|r| r.0),
                filter.phone,
                filter.after,
                i64::try_from(filter.limit).unwrap_or(i64::MAX),
            ],
            message_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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
        let conn = self.read();
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

    fn contact_attempts(
        &self,
        tenant: TenantId,
        record: RecordId,
        since: Timestamp,
        limit: u32,
    ) -> Result<u32> {
        let count = self
            .read()
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM contact_attempts
                     WHERE tenant_id = ?1 AND record_id = ?2 AND at >= ?3 LIMIT ?4)",
            )?
            .query_row(params![tenant.0, record.0, since, limit], |row| {
                row.get::<_, u32>(0)
            })?;
        Ok(count)
    }

    fn records(
        &self,
        tenant: TenantId,
        project: ProjectId,
        after: RecordId,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let conn = self.read();
        owned_project(&conn, tenant, project)?;
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE tenant_id = ?1 AND project_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
        ))?;
        let after = i64::try_from(after.0).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(
                params![tenant.0, project.0, after, limit as i64],
                record_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_fields).collect()
    }

    fn set_disposition(
        &self,
        tenant: TenantId,
        record: RecordId,
        entry: &ManualDisposition,
    ) -> Result<RecordEvent> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(key) = &entry.idempotency_key {
            let seen: Option<i64> = tx
                .prepare_cached(
                    "SELECT record_event_id FROM manual_dispositions
                     WHERE tenant_id = ?1 AND idempotency_key = ?2",
                )?
                .query_row(params![tenant.0, key], |row| row.get(0))
                .optional()?;
            if let Some(id) = seen {
                return record_event_by_id(&tx, id);
            }
        }
        let created_at = now();
        let changed = tx.execute(
            "UPDATE records SET disposition_id = ?4, next_calldate = ?5
             WHERE id = ?1 AND tenant_id = ?2 AND project_id = ?3",
            params![
                record.0,
                tenant.0,
                entry.project_id.0,
                entry.disposition_id,
                entry.next_calldate
            ],
        )?;
        if changed != 1 {
            return Err(not_found(format!("record {record}")));
        }
        tx.execute(
            "INSERT INTO record_events (record_id, event_type, user, created_at, disposition_id,
                 next_calldate, note)
             VALUES (?1, 'API', ?2, ?3, ?4, ?5, ?6)",
            params![
                record.0,
                entry.user,
                created_at,
                entry.disposition_id,
                entry.next_calldate,
                entry.description
            ],
        )?;
        let id = tx.last_insert_rowid();
        if let Some(key) = &entry.idempotency_key {
            tx.execute(
                "INSERT INTO manual_dispositions (tenant_id, idempotency_key, record_event_id)
                 VALUES (?1, ?2, ?3)",
                params![tenant.0, key, id],
            )?;
        }
        let event = record_event_by_id(&tx, id)?;
        tx.commit()?;
        Ok(event)
    }

    fn remove_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM do_not_contact WHERE tenant_id = ?1 AND phone = ?2",
            params![tenant.0, phone],
        )? > 0)
    }

    fn usage(&self, tenant: TenantId) -> Result<Usage> {
        let conn = self.read();
        let count = |sql: &str| -> Result<u64> {
            Ok(conn
                .prepare_cached(sql)?
                .query_row([tenant.0], |row| row.get::<_, i64>(0))? as u64)
        };
        Ok(Usage {
            projects: count("SELECT COUNT(*) FROM projects WHERE tenant_id = ?1")?,
            records: count("SELECT COUNT(*) FROM records WHERE tenant_id = ?1")?,
            do_not_contact: count("SELECT COUNT(*) FROM do_not_contact WHERE tenant_id = ?1")?,
        })
    }

    fn do_not_contact_list(
        &self,
        tenant: TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT phone FROM do_not_contact WHERE tenant_id = ?1 AND phone > ?2
             ORDER BY phone LIMIT ?3",
        )?;
        Ok(statement
            .query_map(params![tenant.0, after, limit as i64], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }
}

fn record_event_by_id(conn: &rusqlite::Connection, id: i64) -> Result<RecordEvent> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {RECORD_EVENT_COLUMNS} FROM record_events WHERE id = ?1"
        ))?
        .query_row([id], record_event_from_row)?)
}

const RECORD_EVENT_COLUMNS: &str = "event_id, event_type, user, created_at, disposition_id,
    next_calldate, plugin, plugin_version, note";

fn record_event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordEvent> {
    Ok(RecordEvent {
        event_id: row.get::<_, Option<u64>>(0)?.map(EventId),
        event_type: row.get(1)?,
        user: row.get(2)?,
        created_at: row.get(3)?,
        disposition_id: Some(row.get(4)?),
        next_calldate: row.get(5)?,
        plugin: row.get(6)?,
        plugin_version: row.get(7)?,
        note: row.get(8)?,
        message_id: None,
        message_status: None,
    })
}

/// A message read by [`MESSAGE_COLUMNS`].
pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<SentMessage> {
    let status: String = row.get(11)?;
    Ok(SentMessage {
        id: row.get(0)?,
        message_id: row.get(1)?,
        project_id: ProjectId(row.get(2)?),
        record_id: row.get::<_, Option<u64>>(3)?.map(RecordId),
        event_id: EventId(row.get(4)?),
        phone: row.get(5)?,
        text: row.get(6)?,
        sender_id: row.get(7)?,
        template_id: row.get(8)?,
        plugin: row.get(9)?,
        plugin_version: row.get(10)?,
        status: MessageStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::InvalidColumnType(
                11,
                format!("message status {status:?}"),
                rusqlite::types::Type::Text,
            )
        })?,
        created_at: row.get(12)?,
        attempts: row.get(13)?,
        next_attempt_at: row.get(14)?,
        provider_sid: row.get(15)?,
        error: row.get(16)?,
    })
}
