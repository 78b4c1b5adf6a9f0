//! Shadows on SQLite.

use rusqlite::{OptionalExtension, params};

use super::*;

const SHADOW_COLUMNS: &str = "tenant_id, plugin, version, started_at, after_event, cursor";

fn shadow_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Shadow> {
    Ok(Shadow {
        tenant_id: TenantId(row.get(0)?),
        plugin: row.get(1)?,
        version: row.get(2)?,
        started_at: row.get(3)?,
        after_event: EventId(row.get(4)?),
        cursor: EventId(row.get(5)?),
    })
}

impl Shadows for SqliteStore {
    fn start_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        after_event: EventId,
    ) -> Result<Shadow> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let known: Option<u32> = tx
            .query_row(
                "SELECT version FROM plugin_versions
                 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
                params![tenant.0, name, version],
                |row| row.get(0),
            )
            .optional()?;
        known.ok_or_else(|| not_found(format!("plugin {name} version {version}")))?;
        tx.execute(
            "DELETE FROM shadow_runs WHERE tenant_id = ?1 AND plugin = ?2",
            params![tenant.0, name],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO shadows
                 (tenant_id, plugin, version, started_at, after_event, cursor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![tenant.0, name, version, now(), after_event.0],
        )?;
        tx.commit()?;
        drop(conn);
        self.shadow(tenant, name)?
            .ok_or_else(|| not_found(format!("the shadow of {name}")))
    }

    fn stop_shadow(&self, tenant: TenantId, name: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM shadow_runs WHERE tenant_id = ?1 AND plugin = ?2",
            params![tenant.0, name],
        )?;
        let stopped = tx.execute(
            "DELETE FROM shadows WHERE tenant_id = ?1 AND plugin = ?2",
            params![tenant.0, name],
        )?;
        tx.commit()?;
        Ok(stopped == 1)
    }

    fn shadow(&self, tenant: TenantId, name: &str) -> Result<Option<Shadow>> {
        Ok(self
            .read()
            .prepare_cached(&format!(
                "SELECT {SHADOW_COLUMNS} FROM shadows WHERE tenant_id = ?1 AND plugin = ?2"
            ))?
            .query_row(params![tenant.0, name], shadow_from_row)
            .optional()?)
    }

    fn shadows(&self) -> Result<Vec<Shadow>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {SHADOW_COLUMNS} FROM shadows ORDER BY tenant_id, plugin"
        ))?;
        let shadows = statement
            .query_map([], shadow_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(shadows)
    }

    fn advance_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        cursor: EventId,
        runs: &[ShadowRun],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let moved = tx.execute(
            "UPDATE shadows SET cursor = max(cursor, ?4)
             WHERE tenant_id = ?1 AND plugin = ?2 AND version = ?3",
            params![tenant.0, name, version, cursor.0],
        )?;
        if moved == 1 {
            for run in runs {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO shadow_runs
                         (tenant_id, plugin, version, event_id, outcome, active, candidate)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    tenant.0,
                    name,
                    version,
                    run.event_id.0,
                    run.outcome.as_str(),
                    run.active.to_string(),
                    run.candidate.to_string(),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn shadow_counts(&self, tenant: TenantId, name: &str, version: u32) -> Result<ShadowCounts> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT outcome, count(*) FROM shadow_runs
             WHERE tenant_id = ?1 AND plugin = ?2 AND version = ?3 GROUP BY outcome",
        )?;
        let rows = statement
            .query_map(params![tenant.0, name, version], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ShadowCounts::from_rows(rows))
    }

    fn shadow_differences(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        limit: usize,
    ) -> Result<Vec<ShadowRun>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT event_id, outcome, active, candidate FROM shadow_runs
             WHERE tenant_id = ?1 AND plugin = ?2 AND version = ?3 AND outcome != 'same'
             ORDER BY event_id DESC LIMIT ?4",
        )?;
        let rows = statement
            .query_map(params![tenant.0, name, version, limit as i64], |row| {
                Ok((
                    row.get::<_, u64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(event, outcome, active, candidate)| {
                Ok(ShadowRun {
                    event_id: EventId(event),
                    outcome: ShadowOutcome::parse(&outcome).ok_or_else(|| Error::Backend {
                        what: format!("a shadow run's outcome {outcome:?}"),
                    })?,
                    active: serde_json::from_str(&active)?,
                    candidate: serde_json::from_str(&candidate)?,
                })
            })
            .collect()
    }
}
