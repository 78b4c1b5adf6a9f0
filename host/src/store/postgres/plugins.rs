//! Plugin versions, the active pointer, and bindings on PostgreSQL.

use super::*;

impl Plugins for PgStore {
    fn latest_plugin_version(&self, tenant: TenantId, name: &str) -> Result<Option<u32>> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // Waits for uploads of this plugin under way (they hold the lock
        // exclusively), so the number read is not one about to be taken.
        tx.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtextextended($2, $1))",
            &[&tenant_id, &name],
        )?;
        let row = tx.query_one(
            "SELECT MAX(version) FROM plugin_versions WHERE tenant_id = $1 AND name = $2",
            &[&tenant_id, &name],
        )?;
        tx.commit()?;
        get_opt_unsigned(&row, 0)
    }

    fn insert_plugin_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        sha256: &str,
        component: &[u8],
    ) -> Result<()> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // Uploads of one plugin, from any host, take turns (in the order
        // they asked), and readers of the newest number wait for them.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($2, $1))",
            &[&tenant_id, &name],
        )?;
        // A number another upload took (committed, or committing: the
        // insert waits for it) is a unique violation, never an overwrite.
        tx.execute(
            "INSERT INTO plugin_versions (tenant_id, name, version, sha256, component, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &tenant_id,
                &name,
                &i64::from(version),
                &sha256,
                &component,
                &now(),
            ],
        )
        .map_err(|error| match Error::from(error) {
            Error::Conflict { .. } => Error::Conflict {
                what: format!("plugin {name} version {version} is taken"),
            },
            other => other,
        })?;
        tx.execute(
            "INSERT INTO plugins (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&tenant_id, &name],
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
        let tenant_id = big(tenant.0)?;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // The plugin's row, locked: an activation or rollback racing the
        // prune waits, so the versions it names are never the ones deleted.
        let deleted = tx.query(
            "WITH pointer AS (
                 SELECT active_version, previous_version FROM plugins
                 WHERE tenant_id = $1 AND name = $2 FOR UPDATE
             )
             DELETE FROM plugin_versions v USING pointer p
             WHERE v.tenant_id = $1 AND v.name = $2
               AND v.version IS DISTINCT FROM p.active_version
               AND v.version IS DISTINCT FROM p.previous_version
               AND v.version NOT IN (SELECT version FROM plugin_versions
                                     WHERE tenant_id = $1 AND name = $2
                                     ORDER BY version DESC LIMIT $3)
             RETURNING v.sha256",
            &[&tenant_id, &name, &keep],
        )?;
        let mut unused: Vec<String> = Vec::new();
        for row in &deleted {
            let sha256: String = row.try_get(0)?;
            if unused.contains(&sha256) {
                continue;
            }
            let used: bool = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM plugin_versions WHERE sha256 = $1)",
                    &[&sha256],
                )?
                .try_get(0)?;
            if !used {
                unused.push(sha256);
            }
        }
        tx.commit()?;
        Ok(unused)
    }

    fn stored_component_bytes(&self, tenant: TenantId) -> Result<u64> {
        let row = self.conn()?.query_one(
            "SELECT COALESCE(SUM(octet_length(component)), 0)::BIGINT FROM plugin_versions
             WHERE tenant_id = $1",
            &[&big(tenant.0)?],
        )?;
        get_unsigned(&row, 0)
    }

    fn activate_plugin(&self, tenant: TenantId, name: &str, version: u32) -> Result<()> {
        let (tenant_id, version_id) = (big(tenant.0)?, i64::from(version));
        // One statement: the version must exist, and the pointer moves from
        // the row as it is when updated (concurrent activations each keep
        // the one they replaced as previous).
        let changed = self.conn()?.execute(
            "UPDATE plugins SET previous_version = active_version, active_version = $3
             WHERE tenant_id = $1 AND name = $2
               AND EXISTS (SELECT 1 FROM plugin_versions
                           WHERE tenant_id = $1 AND name = $2 AND version = $3)",
            &[&tenant_id, &name, &version_id],
        )?;
        if changed == 0 {
            return Err(not_found(format!("plugin {name} version {version}")));
        }
        Ok(())
    }

    fn rollback_plugin(&self, tenant: TenantId, name: &str) -> Result<u32> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let swapped = conn.query_opt(
            "UPDATE plugins SET previous_version = active_version, active_version = previous_version
             WHERE tenant_id = $1 AND name = $2 AND previous_version IS NOT NULL
             RETURNING active_version",
            &[&tenant_id, &name],
        )?;
        if let Some(row) = swapped {
            return get_unsigned(&row, 0);
        }
        let known = conn.query_opt(
            "SELECT 1 FROM plugins WHERE tenant_id = $1 AND name = $2",
            &[&tenant_id, &name],
        )?;
        match known {
            None => Err(not_found(format!("plugin {name}"))),
            Some(_) => Err(Error::Conflict {
                what: format!("plugin {name} has no previous version to roll back to"),
            }),
        }
    }

    fn plugin_component(&self, tenant: TenantId, name: &str, version: u32) -> Result<Vec<u8>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT component FROM plugin_versions
                 WHERE tenant_id = $1 AND name = $2 AND version = $3",
                &[&big(tenant.0)?, &name, &i64::from(version)],
            )?
            .ok_or_else(|| not_found(format!("plugin {name} version {version}")))?
            .try_get(0)?)
    }

    fn plugins(&self, tenant: TenantId) -> Result<Vec<PluginInfo>> {
        let tenant_id = big(tenant.0)?;
        let mut conn = self.conn()?;
        let mut plugins = conn
            .query(
                "SELECT name, active_version, previous_version FROM plugins
                 WHERE tenant_id = $1 ORDER BY name",
                &[&tenant_id],
            )?
            .iter()
            .map(|row| {
                Ok(PluginInfo {
                    name: row.try_get(0)?,
                    active_version: get_opt_unsigned(row, 1)?,
                    previous_version: get_opt_unsigned(row, 2)?,
                    versions: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let versions = conn.query(
            "SELECT name, version, sha256, octet_length(component)::BIGINT, created_at
             FROM plugin_versions WHERE tenant_id = $1 ORDER BY name, version",
            &[&tenant_id],
        )?;
        for row in &versions {
            let name: &str = row.try_get(0)?;
            if let Some(plugin) = plugins.iter_mut().find(|p| p.name == name) {
                plugin.versions.push(PluginVersionInfo {
                    version: get_unsigned(row, 1)?,
                    sha256: row.try_get(2)?,
                    size: get_unsigned(row, 3)?,
                    created_at: row.try_get(4)?,
                });
            }
        }
        Ok(plugins)
    }

    fn set_bindings(
        &self,
        tenant: TenantId,
        project: ProjectId,
        bindings: &[Binding],
    ) -> Result<()> {
        let (tenant_id, project_id) = (big(tenant.0)?, big(project.0)?);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // The project's row, locked: concurrent replacements of its
        // bindings run one after the other instead of colliding.
        owned_project(&mut tx, tenant, project, true)?;
        tx.execute("DELETE FROM bindings WHERE project_id = $1", &[&project_id])?;
        for binding in bindings {
            tx.query_opt(
                "SELECT 1 FROM plugins WHERE tenant_id = $1 AND name = $2",
                &[&tenant_id, &binding.plugin],
            )?
            .ok_or_else(|| not_found(format!("plugin {}", binding.plugin)))?;
            tx.execute(
                "INSERT INTO bindings (project_id, plugin, priority, config)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &project_id,
                    &binding.plugin,
                    &binding.priority,
                    &serde_json::to_value(&binding.config)?,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn active_bindings(&self, tenant: TenantId, project: ProjectId) -> Result<Vec<ActiveBinding>> {
        self.conn()?
            .query(
                "SELECT b.plugin, b.priority, b.config, p.active_version, v.sha256
                 FROM bindings b
                 JOIN projects j ON j.id = b.project_id AND j.tenant_id = $1
                 JOIN plugins p ON p.tenant_id = $1 AND p.name = b.plugin
                 LEFT JOIN plugin_versions v
                     ON v.tenant_id = $1 AND v.name = b.plugin AND v.version = p.active_version
                 WHERE b.project_id = $2
                 ORDER BY b.priority DESC, b.plugin",
                &[&big(tenant.0)?, &big(project.0)?],
            )?
            .iter()
            .map(|row| {
                Ok(ActiveBinding {
                    binding: Binding {
                        plugin: row.try_get(0)?,
                        priority: row.try_get(1)?,
                        config: serde_json::from_value(row.try_get(2)?)?,
                    },
                    version: get_opt_unsigned(row, 3)?,
                    sha256: row.try_get(4)?,
                })
            })
            .collect()
    }

    fn active_components(&self) -> Result<Vec<ActiveComponent>> {
        self.conn()?
            .query(
                "SELECT DISTINCT ON (v.sha256) p.tenant_id, p.name, p.active_version, v.sha256
                 FROM plugins p
                 JOIN plugin_versions v ON v.tenant_id = p.tenant_id AND v.name = p.name
                                       AND v.version = p.active_version
                 ORDER BY v.sha256, p.tenant_id, p.name",
                &[],
            )?
            .iter()
            .map(|row| {
                Ok(ActiveComponent {
                    tenant_id: TenantId(get_unsigned(row, 0)?),
                    name: row.try_get(1)?,
                    version: get_unsigned(row, 2)?,
                    sha256: row.try_get(3)?,
                })
            })
            .collect()
    }
}
