//! Shadows on PostgreSQL.

use super::*;

const SHADOW_COLUMNS: &str = "tenant_id, plugin, version, started_at, after_event, cursor";

fn shadow_from_row(row: &::postgres::Row) -> Result<Shadow> {
    Ok(Shadow {
        tenant_id: TenantId(get_unsigned(row, 0)?),
        plugin: row.try_get(1)?,
        version: get_unsigned(row, 2)?,
        started_at: row.try_get(3)?,
        after_event: EventId(get_unsigned(row, 4)?),
        cursor: EventId(get_unsigned(row, 5)?),
    })
}

impl Shadows for PgStore {
    fn start_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        after_event: EventId,
    ) -> Result<Shadow> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.query_opt(
            "SELECT 1 FROM plugin_versions WHERE tenant_id = $1 AND name = $2 AND version = $3",
            &[&tenant_id, &name, &i64::from(version)],
        )?
        .ok_or_else(|| not_found(format!("plugin {name} version {version}")))?;
        tx.execute(
            "DELETE FROM shadow_runs WHERE tenant_id = $1 AND plugin = $2",
            &[&tenant_id, &name],
        )?;
        let row = tx.query_one(
            &format!(
                "INSERT INTO shadows (tenant_id, plugin, version, started_at, after_event, cursor)
                 VALUES ($1, $2, $3, EXTRACT(EPOCH FROM now())::bigint, $4, $4)
                 ON CONFLICT (tenant_id, plugin) DO UPDATE SET version = EXCLUDED.version,
                     started_at = EXCLUDED.started_at, after_event = EXCLUDED.after_event,
                     cursor = EXCLUDED.cursor
                 RETURNING {SHADOW_COLUMNS}"
            ),
            &[&tenant_id, &name, &i64::from(version), &big(after_event.0)?],
        )?;
        let shadow = shadow_from_row(&row)?;
        tx.commit()?;
        Ok(shadow)
    }

    fn stop_shadow(&self, tenant: TenantId, name: &str) -> Result<bool> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM shadow_runs WHERE tenant_id = $1 AND plugin = $2",
            &[&tenant_id, &name],
        )?;
        let stopped = tx.execute(
            "DELETE FROM shadows WHERE tenant_id = $1 AND plugin = $2",
            &[&tenant_id, &name],
        )?;
        tx.commit()?;
        Ok(stopped == 1)
    }

    fn shadow(&self, tenant: TenantId, name: &str) -> Result<Option<Shadow>> {
        self.conn()?
            .query_opt(
                &format!(
                    "SELECT {SHADOW_COLUMNS} FROM shadows WHERE tenant_id = $1 AND plugin = $2"
                ),
                &[&big(tenant.0)?, &name],
            )?
            .as_ref()
            .map(shadow_from_row)
            .transpose()
    }

    fn shadows(&self) -> Result<Vec<Shadow>> {
        self.conn()?
            .query(
                &format!("SELECT {SHADOW_COLUMNS} FROM shadows ORDER BY tenant_id, plugin"),
                &[],
            )?
            .iter()
            .map(shadow_from_row)
            .collect()
    }

    fn advance_shadow(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        cursor: EventId,
        runs: &[ShadowRun],
    ) -> Result<()> {
        let tenant_id = big(tenant.0)?;
        let version = i64::from(version);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let moved = tx.execute(
            "UPDATE shadows SET cursor = greatest(cursor, $4)
             WHERE tenant_id = $1 AND plugin = $2 AND version = $3",
            &[&tenant_id, &name, &version, &big(cursor.0)?],
        )?;
        if moved == 1 {
            for run in runs {
                tx.execute(
                    "INSERT INTO shadow_runs
                         (tenant_id, plugin, version, event_id, outcome, active, candidate)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT DO NOTHING",
                    &[
                        &tenant_id,
                        &name,
                        &version,
                        &big(run.event_id.0)?,
                        &run.outcome.as_str(),
                        &run.active,
                        &run.candidate,
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn shadow_counts(&self, tenant: TenantId, name: &str, version: u32) -> Result<ShadowCounts> {
        let rows = self.conn()?.query(
            "SELECT outcome, count(*) FROM shadow_runs
             WHERE tenant_id = $1 AND plugin = $2 AND version = $3 GROUP BY outcome",
            &[&big(tenant.0)?, &name, &i64::from(version)],
        )?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get(0)?, get_unsigned(row, 1)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(ShadowCounts::from_rows(rows))
    }

    fn shadow_differences(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        limit: usize,
    ) -> Result<Vec<ShadowRun>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn()?
            .query(
                "SELECT event_id, outcome, active, candidate FROM shadow_runs
                 WHERE tenant_id = $1 AND plugin = $2 AND version = $3 AND outcome <> 'same'
                 ORDER BY event_id DESC LIMIT $4",
                &[&big(tenant.0)?, &name, &i64::from(version), &limit],
            )?
            .iter()
            .map(|row| {
                let outcome: String = row.try_get(1)?;
                Ok(ShadowRun {
                    event_id: EventId(get_unsigned(row, 0)?),
                    outcome: ShadowOutcome::parse(&outcome).ok_or_else(|| Error::Backend {
                        what: format!("a shadow run's outcome {outcome:?}"),
                    })?,
                    active: row.try_get(2)?,
                    candidate: row.try_get(3)?,
                })
            })
            .collect()
    }
}
