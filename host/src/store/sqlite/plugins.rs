//! Plugins on SQLite.

use rusqlite::{OptionalExtension, params};

use super::*;

impl Plugins for SqliteStore {
    fn latest_plugin_version(&self, tenant: TenantId, name: &str) -> Result<Option<u32>> {
        Ok(self
            .read()
            .prepare_cached(
                "SELECT MAX(version) FROM plugin_versions WHERE tenant_id = ?1 AND name = ?2",
            )?
            .query_row(params![tenant.0, name], |row| row.get(0))?)
    }

    fn insert_plugin_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        sha256: &str,
        component: &[u8],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO plugin_versions (tenant_id, name, version, sha256, component, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tenant.0, name, version, sha256, component, now()],
        )
        .map_err(|error| {
            super::error::conflict_on_unique(error, || {
                format!("plugin {name} version {version} is taken")
            })
        })?;
        tx.execute(
            "INSERT INTO plugins (tenant_id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![tenant.0, name],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn prune_plugin_versions(
        &self,
        tenant: TenantId,
        name: &str,
        keep: usize,
    ) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let doomed: Vec<(u32, String)> = tx
            .prepare_cached(
                "SELECT v.version, v.sha256 FROM plugin_versions v
                 JOIN plugins p ON p.tenant_id = v.tenant_id AND p.name = v.name
                 WHERE v.tenant_id = ?1 AND v.name = ?2
                   AND v.version IS NOT p.active_version AND v.version IS NOT p.previous_version
                   AND v.version NOT IN (SELECT version FROM plugin_versions
                                         WHERE tenant_id = ?1 AND name = ?2
                                         ORDER BY version DESC LIMIT ?3)",
            )?
            .query_map(params![tenant.0, name, keep as i64], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut unused = Vec::new();
        for (version, sha256) in &doomed {
            tx.prepare_cached(
                "DELETE FROM plugin_versions WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            )?
            .execute(params![tenant.0, name, version])?;
            let used: bool = tx
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM plugin_versions WHERE sha256 = ?1)")?
                .query_row([sha256], |row| row.get(0))?;
            if !used && !unused.contains(sha256) {
                unused.push(sha256.clone());
            }
        }
        tx.commit()?;
        Ok(unused)
    }

    fn stored_component_bytes(&self, tenant: TenantId) -> Result<u64> {
        Ok(self
            .read()
            .prepare_cached(
                "SELECT COALESCE(SUM(length(component)), 0) FROM plugin_versions WHERE tenant_id = ?1",
            )?
            .query_row([tenant.0], |row| row.get::<_, i64>(0))? as u64)
    }

    fn activate_plugin(&self, tenant: TenantId, name: &str, version: u32) -> Result<()> {
        let conn = self.conn();
        let exists: Option<u32> = conn
            .prepare_cached(
                "SELECT version FROM plugin_versions
                 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            )?
            .query_row(params![tenant.0, name, version], |row| row.get(0))
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
        self.read()
            .prepare_cached(
                "SELECT component FROM plugin_versions
                 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            )?
            .query_row(params![tenant.0, name, version], |row| row.get(0))
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
                .prepare_cached("SELECT name FROM plugins WHERE tenant_id = ?1 AND name = ?2")?
                .query_row(params![tenant.0, binding.plugin], |row| row.get(0))
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
        load_active_bindings(&self.read(), tenant, project)
    }

    fn active_components(&self) -> Result<Vec<ActiveComponent>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT p.tenant_id, p.name, p.active_version, v.sha256
             FROM plugins p
             JOIN plugin_versions v ON v.tenant_id = p.tenant_id AND v.name = p.name
                                   AND v.version = p.active_version
             GROUP BY v.sha256",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(ActiveComponent {
                tenant_id: TenantId(row.get(0)?),
                name: row.get(1)?,
                version: row.get(2)?,
                sha256: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn rollback_plugin(&self, tenant: TenantId, name: &str) -> Result<u32> {
        let conn = self.conn();
        let previous: Option<Option<u32>> = conn
            .prepare_cached(
                "SELECT previous_version FROM plugins WHERE tenant_id = ?1 AND name = ?2",
            )?
            .query_row(params![tenant.0, name], |row| row.get(0))
            .optional()?;
        let previous = previous
            .ok_or_else(|| not_found(format!("plugin {name}")))?
            .ok_or_else(|| Error::Conflict {
                what: format!("plugin {name} has no previous version to roll back to"),
            })?;
        conn.execute(
            "UPDATE plugins SET previous_version = active_version, active_version = ?3
             WHERE tenant_id = ?1 AND name = ?2",
            params![tenant.0, name, previous],
        )?;
        Ok(previous)
    }

    fn plugins(&self, tenant: TenantId) -> Result<Vec<PluginInfo>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT name, active_version, previous_version FROM plugins
             WHERE tenant_id = ?1 ORDER BY name",
        )?;
        let mut plugins = statement
            .query_map([tenant.0], |row| {
                Ok(PluginInfo {
                    name: row.get(0)?,
                    active_version: row.get(1)?,
                    previous_version: row.get(2)?,
                    versions: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut versions = conn.prepare_cached(
            "SELECT version, sha256, length(component), created_at FROM plugin_versions
             WHERE tenant_id = ?1 AND name = ?2 ORDER BY version",
        )?;
        for plugin in &mut plugins {
            plugin.versions = versions
                .query_map(params![tenant.0, plugin.name], |row| {
                    Ok(PluginVersionInfo {
                        version: row.get(0)?,
                        sha256: row.get(1)?,
                        size: row.get::<_, i64>(2)? as u64,
                        created_at: row.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(plugins)
    }
}

/// A project's bindings with each plugin's active version, from the
/// database.
fn load_active_bindings(
    conn: &rusqlite::Connection,
    tenant: TenantId,
    project: ProjectId,
) -> Result<Vec<ActiveBinding>> {
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
