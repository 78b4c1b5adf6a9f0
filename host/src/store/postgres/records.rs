//! Records, their event lists, and the do-not-contact list on PostgreSQL.

use std::collections::BTreeSet;

use ::postgres::GenericClient;

use super::*;
use crate::store::sql::MESSAGE_COLUMNS;

const RECORD_COLUMNS: &str =
    "id, project_id, phone, time_zone, fields, disposition_id, next_calldate";

const RECORD_EVENT_COLUMNS: &str = "event_id, event_type, user_name, created_at, disposition_id,
    next_calldate, plugin, plugin_version, note";

/// How many times a manual disposition is tried again after another host
/// stored the same idempotency key first: the retry finds that entry.
const IDEMPOTENT_ATTEMPTS: usize = 2;

fn record_from_row(row: &::postgres::Row) -> Result<StoredRecord> {
    Ok(StoredRecord {
        id: RecordId(get_unsigned(row, 0)?),
        project_id: ProjectId(get_unsigned(row, 1)?),
        phone: row.try_get(2)?,
        time_zone: row.try_get(3)?,
        fields: serde_json::from_value(row.try_get(4)?)?,
        disposition_id: get_opt_unsigned(row, 5)?,
        next_calldate: row.try_get(6)?,
    })
}

fn record_event_from_row(row: &::postgres::Row) -> Result<RecordEvent> {
    Ok(RecordEvent {
        event_id: get_opt_unsigned(row, 0)?.map(EventId),
        event_type: row.try_get(1)?,
        user: row.try_get(2)?,
        created_at: row.try_get(3)?,
        disposition_id: Some(get_unsigned(row, 4)?),
        next_calldate: row.try_get(5)?,
        plugin: row.try_get(6)?,
        plugin_version: get_opt_unsigned(row, 7)?,
        note: row.try_get(8)?,
        message_id: None,
        message_status: None,
    })
}

/// Stores `record` in `tenant`'s project (checked by the caller).
fn insert_record(
    conn: &mut impl GenericClient,
    tenant: TenantId,
    record: &NewRecord,
) -> Result<StoredRecord> {
    let row = conn.query_one(
        "INSERT INTO records (tenant_id, project_id, phone, time_zone, fields)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            &big(tenant.0)?,
            &big(record.project_id.0)?,
            &record.phone,
            &record.time_zone,
            &serde_json::to_value(&record.fields)?,
        ],
    )?;
    Ok(StoredRecord {
        id: RecordId(get_unsigned(&row, 0)?),
        project_id: record.project_id,
        phone: record.phone.clone(),
        time_zone: record.time_zone.clone(),
        fields: record.fields.clone(),
        disposition_id: None,
        next_calldate: None,
    })
}

impl Records for PgStore {
    fn usage(&self, tenant: TenantId) -> Result<Usage> {
        let row = self.conn()?.query_one(
            "SELECT (SELECT count(*) FROM projects WHERE tenant_id = $1),
                    (SELECT count(*) FROM records WHERE tenant_id = $1),
                    (SELECT count(*) FROM do_not_contact WHERE tenant_id = $1)",
            &[&big(tenant.0)?],
        )?;
        Ok(Usage {
            projects: get_unsigned(&row, 0)?,
            records: get_unsigned(&row, 1)?,
            do_not_contact: get_unsigned(&row, 2)?,
        })
    }

    fn create_record(&self, tenant: TenantId, record: &NewRecord) -> Result<StoredRecord> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        owned_project(&mut tx, tenant, record.project_id, false)?;
        let created = insert_record(&mut tx, tenant, record)?;
        tx.commit()?;
        Ok(created)
    }

    fn create_records(&self, tenant: TenantId, records: &[NewRecord]) -> Result<Vec<StoredRecord>> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        for project in records
            .iter()
            .map(|r| r.project_id)
            .collect::<BTreeSet<_>>()
        {
            owned_project(&mut tx, tenant, project, false)?;
        }
        let created = records
            .iter()
            .map(|record| insert_record(&mut tx, tenant, record))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(created)
    }

    fn record(&self, tenant: TenantId, record: RecordId) -> Result<StoredRecord> {
        let mut conn = self.conn()?;
        let row = conn
            .query_prepared(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1 AND tenant_id = $2"),
                &[&big(record.0)?, &big(tenant.0)?],
            )?
            .into_iter()
            .next()
            .ok_or_else(|| not_found(format!("record {record}")))?;
        record_from_row(&row)
    }

    fn records(
        &self,
        tenant: TenantId,
        project: ProjectId,
        after: RecordId,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let mut conn = self.conn()?;
        owned_project(&mut **conn, tenant, project, false)?;
        let after = i64::try_from(after.0).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        conn.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM records
                 WHERE tenant_id = $1 AND project_id = $2 AND id > $3 ORDER BY id LIMIT $4"
            ),
            &[&big(tenant.0)?, &big(project.0)?, &after, &limit],
        )?
        .iter()
        .map(record_from_row)
        .collect()
    }

    fn records_by_phone(
        &self,
        tenant: TenantId,
        project: ProjectId,
        phone: &str,
    ) -> Result<Vec<StoredRecord>> {
        let mut conn = self.conn()?;
        conn.query_prepared(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM records
                 WHERE tenant_id = $1 AND project_id = $2 AND phone = $3 ORDER BY id"
            ),
            &[&big(tenant.0)?, &big(project.0)?, &phone],
        )?
        .iter()
        .map(record_from_row)
        .collect()
    }

    fn record_events(&self, tenant: TenantId, record: RecordId) -> Result<Vec<RecordEvent>> {
        let mut conn = self.conn()?;
        let record_id = big(record.0)?;
        conn.query_opt(
            "SELECT 1 FROM records WHERE id = $1 AND tenant_id = $2",
            &[&record_id, &big(tenant.0)?],
        )?
        .ok_or_else(|| not_found(format!("record {record}")))?;
        conn.query(
            &format!(
                "SELECT {RECORD_EVENT_COLUMNS} FROM record_events WHERE record_id = $1 ORDER BY id"
            ),
            &[&record_id],
        )?
        .iter()
        .map(record_event_from_row)
        .collect()
    }

    fn messages(&self, tenant: TenantId, filter: &MessageFilter<'_>) -> Result<Vec<SentMessage>> {
        let mut conn = self.conn()?;
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let rows = conn.query(
            &format!(
                "SELECT {MESSAGE_COLUMNS}
                 FROM messages
                 WHERE tenant_id = $1 AND project_id = $2
                     AND ($3::bigint IS NULL OR record_id = $3)
                     AND ($4::text IS NULL OR phone = $4)
                     AND id > $5
                 ORDER BY id {order} LIMIT $6"
            ),
            &[
                &big(tenant.0)?,
                &big(filter.project.0)?,
                &filter.record.map(|r| big(r.0)).transpose()?,
                &filter.phone,
                &big(filter.after)?,
                &i64::try_from(filter.limit).unwrap_or(i64::MAX),
            ],
        )?;
        rows.iter().map(message_from_row).collect()
    }

    fn set_disposition(
        &self,
        tenant: TenantId,
        record: RecordId,
        entry: &ManualDisposition,
    ) -> Result<RecordEvent> {
        let mut attempts = 0;
        loop {
            match self.try_set_disposition(tenant, record, entry) {
                // Another call stored the same key between our look-up and
                // our insert: the next attempt finds its entry.
                Err(Error::Conflict { .. })
                    if entry.idempotency_key.is_some() && attempts + 1 < IDEMPOTENT_ATTEMPTS =>
                {
                    attempts += 1;
                }
                result => return result,
            }
        }
    }

    fn add_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO do_not_contact (tenant_id, phone, source, created_at)
             VALUES ($1, $2, 'api', $3) ON CONFLICT DO NOTHING",
            &[&big(tenant.0)?, &phone, &now()],
        )?;
        Ok(())
    }

    fn remove_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<bool> {
        Ok(self.conn()?.execute(
            "DELETE FROM do_not_contact WHERE tenant_id = $1 AND phone = $2",
            &[&big(tenant.0)?, &phone],
        )? > 0)
    }

    fn do_not_contact_list(
        &self,
        tenant: TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn()?
            .query(
                "SELECT phone FROM do_not_contact WHERE tenant_id = $1 AND phone > $2
                 ORDER BY phone LIMIT $3",
                &[&big(tenant.0)?, &after, &limit],
            )?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect()
    }

    fn do_not_contact(&self, tenant: TenantId, phones: &[String]) -> Result<Vec<String>> {
        let mut conn = self.conn()?;
        conn.query_prepared(
            "SELECT phone FROM do_not_contact WHERE tenant_id = $1 AND phone = ANY($2)
             ORDER BY phone",
            &[&big(tenant.0)?, &phones],
        )?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }

    fn contact_attempts(
        &self,
        tenant: TenantId,
        record: RecordId,
        since: Timestamp,
        limit: u32,
    ) -> Result<u32> {
        let rows = self.conn()?.query_prepared(
            "SELECT count(*) FROM (SELECT 1 FROM contact_attempts
                 WHERE tenant_id = $1 AND record_id = $2 AND at >= $3 LIMIT $4) AS a",
            &[&big(tenant.0)?, &big(record.0)?, &since, &i64::from(limit)],
        )?;
        match rows.first() {
            Some(row) => get_unsigned(row, 0),
            None => Ok(0),
        }
    }
}

impl PgStore {
    /// One attempt of [`Records::set_disposition`], in one transaction.
    fn try_set_disposition(
        &self,
        tenant: TenantId,
        record: RecordId,
        entry: &ManualDisposition,
    ) -> Result<RecordEvent> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        if let Some(key) = &entry.idempotency_key {
            let seen = tx.query_opt(
                "SELECT record_event_id FROM manual_dispositions
                 WHERE tenant_id = $1 AND idempotency_key = $2",
                &[&tenant_id, key],
            )?;
            if let Some(seen) = seen {
                let id: i64 = seen.try_get(0)?;
                return record_event_by_id(&mut tx, id);
            }
        }
        let disposition = i64::from(entry.disposition_id);
        let changed = tx.execute(
            "UPDATE records SET disposition_id = $4, next_calldate = $5
             WHERE id = $1 AND tenant_id = $2 AND project_id = $3",
            &[
                &big(record.0)?,
                &tenant_id,
                &big(entry.project_id.0)?,
                &disposition,
                &entry.next_calldate,
            ],
        )?;
        if changed != 1 {
            return Err(not_found(format!("record {record}")));
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO record_events (record_id, event_type, user_name, created_at,
                     disposition_id, next_calldate, note)
                 VALUES ($1, 'API', $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &big(record.0)?,
                    &entry.user,
                    &now(),
                    &disposition,
                    &entry.next_calldate,
                    &entry.description,
                ],
            )?
            .try_get(0)?;
        if let Some(key) = &entry.idempotency_key {
            tx.execute(
                "INSERT INTO manual_dispositions (tenant_id, idempotency_key, record_event_id)
                 VALUES ($1, $2, $3)",
                &[&tenant_id, key, &id],
            )?;
        }
        let event = record_event_by_id(&mut tx, id)?;
        tx.commit()?;
        Ok(event)
    }
}

fn record_event_by_id(conn: &mut impl GenericClient, id: i64) -> Result<RecordEvent> {
    let row = conn.query_one(
        &format!("SELECT {RECORD_EVENT_COLUMNS} FROM record_events WHERE id = $1"),
        &[&id],
    )?;
    record_event_from_row(&row)
}

/// A message read by [`MESSAGE_COLUMNS`].
pub(super) fn message_from_row(row: &::postgres::Row) -> Result<SentMessage> {
    let status: String = row.try_get(11)?;
    Ok(SentMessage {
        id: get_unsigned(row, 0)?,
        message_id: row.try_get(1)?,
        project_id: ProjectId(get_unsigned(row, 2)?),
        record_id: get_opt_unsigned(row, 3)?.map(RecordId),
        event_id: EventId(get_unsigned(row, 4)?),
        phone: row.try_get(5)?,
        text: row.try_get(6)?,
        sender_id: row.try_get(7)?,
        template_id: row.try_get(8)?,
        plugin: row.try_get(9)?,
        plugin_version: get_opt_unsigned(row, 10)?,
        status: MessageStatus::parse(&status).ok_or_else(|| Error::Backend {
            what: format!("message status {status:?}"),
        })?,
        created_at: row.try_get(12)?,
        attempts: u32::try_from(row.try_get::<_, i64>(13)?).unwrap_or(u32::MAX),
        next_attempt_at: row.try_get(14)?,
        provider_sid: row.try_get(15)?,
        error: row.try_get(16)?,
    })
}
