//! Tenants on SQLite.

use rusqlite::{OptionalExtension, params};

use super::*;
use crate::store::sealed_fields::SecretField;

/// The non-secret name of a key: the first hex digits of its hash.
fn fingerprint(key_hash: &str) -> String {
    key_hash.chars().take(API_KEY_FINGERPRINT_HEX).collect()
}

impl Tenants for SqliteStore {
    fn create_tenant(&self, name: &str, webhook_secret: &str) -> Result<Tenant> {
        let conn = self.conn();
        // `null` keywords: never set, the defaults apply (store::rules).
        conn.execute(
            "INSERT INTO tenants (name, webhook_secret, opt_out_keywords, created_at)
             VALUES (?1, ?2, 'null', ?3)",
            params![name, webhook_secret, now()],
        )?;
        Ok(Tenant {
            id: TenantId(conn.last_insert_rowid() as u64),
            name: name.into(),
            webhook_secret: webhook_secret.into(),
        })
    }

    fn stored_opt_out_keywords(&self, tenant: TenantId) -> Result<Option<Vec<String>>> {
        let json: String = self
            .read()
            .prepare_cached("SELECT opt_out_keywords FROM tenants WHERE id = ?1")?
            .query_row([tenant.0], |row| row.get(0))
            .optional()?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?;
        Ok(serde_json::from_str(&json)?)
    }

    fn write_opt_out_keywords(&self, tenant: TenantId, keywords: &[String]) -> Result<()> {
        let changed = self.conn().execute(
            "UPDATE tenants SET opt_out_keywords = ?2 WHERE id = ?1",
            params![tenant.0, serde_json::to_string(keywords)?],
        )?;
        if changed == 0 {
            return Err(not_found(format!("tenant {tenant}")));
        }
        Ok(())
    }

    fn insert_project(
        &self,
        tenant: TenantId,
        settings: &ProjectSettings,
        dispositions: &[DispositionDef],
    ) -> Result<Project> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let hours = settings.calling_hours.as_ref();
        tx.execute(
            "INSERT INTO projects (tenant_id, name, time_zone, default_country, hours_start,
                 hours_end, hours_policy, horizon_days, max_actions, past_callback_policy,
                 sms_rules, contact_rules)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                serde_json::to_value(settings.past_callback_policy)?.as_str(),
                serde_json::to_string(&settings.sms_rules)?,
                serde_json::to_string(&settings.contact_rules)?,
            ],
        )?;
        let id = ProjectId(tx.last_insert_rowid() as u64);
        for disposition in dispositions {
            tx.execute(
                "INSERT INTO dispositions (project_id, id, name, active, system)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id.0,
                    disposition.id,
                    disposition.name,
                    disposition.active,
                    disposition.system
                ],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.project(tenant, id)
    }

    fn project(&self, tenant: TenantId, project: ProjectId) -> Result<Project> {
        let conn = self.read();
        let row = conn
            .prepare_cached(
                "SELECT name, time_zone, default_country, hours_start, hours_end, hours_policy,
                    horizon_days, max_actions, past_callback_policy, sms_rules, contact_rules
             FROM projects WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row(params![project.0, tenant.0], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, u32>(6)?,
                    row.get::<_, i64>(7)?,
                    row.get::<_, String>(8)?,
                    row.get::<_, String>(9)?,
                    row.get::<_, String>(10)?,
                ))
            })
            .optional()?
            .ok_or_else(|| not_found(format!("project {project}")))?;
        let (
            name,
            time_zone,
            default_country,
            start,
            end,
            policy,
            horizon_days,
            max_actions,
            past_callback,
            sms_rules,
            contact_rules,
        ) = row;
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
                past_callback_policy: serde_json::from_value(serde_json::Value::String(
                    past_callback,
                ))?,
                sms_rules: serde_json::from_str(&sms_rules)?,
                contact_rules: serde_json::from_str(&contact_rules)?,
            },
            dispositions,
        })
    }

    fn write_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
    ) -> Result<()> {
        let conn = self.conn();
        owned_project(&conn, tenant, project)?;
        conn.execute(
            "INSERT INTO dispositions (project_id, id, name, active, system) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name, active = excluded.active,
                 system = excluded.system",
            params![
                project.0,
                disposition.id,
                disposition.name,
                disposition.active,
                disposition.system
            ],
        )?;
        Ok(())
    }

    fn tenant(&self, tenant: TenantId) -> Result<TenantSettings> {
        type Row = (
            String,
            String,
            String,
            String,
            Option<Vec<u8>>,
            Option<String>,
            Option<Timestamp>,
            Option<String>,
            String,
            Option<Vec<u8>>,
        );
        let (
            name,
            webhook_secret,
            auth,
            executor,
            token,
            previous,
            until,
            window,
            sender,
            sender_token,
        ): Row = self
            .read()
            .prepare_cached(
                "SELECT name, webhook_secret, webhook_auth, executor, executor_token,
                    previous_webhook_secret, previous_secret_until, accept_window,
                    sms_sender, sms_sender_token
                 FROM tenants WHERE id = ?1",
            )?
            .query_row([tenant.0], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                ))
            })
            .optional()?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?;
        Ok(TenantSettings {
            id: tenant,
            name,
            webhook_secret,
            previous_webhook_secret: previous
                .zip(until)
                .map(|(secret, until)| RetiringSecret { secret, until }),
            webhook_auth: serde_json::from_value(serde_json::Value::String(auth))?,
            executor: SecretField::ExecutorToken.open(
                &self.secrets,
                tenant,
                serde_json::from_str(&executor)?,
                token,
            )?,
            sms_sender: SecretField::SmsAuthToken.open(
                &self.secrets,
                tenant,
                serde_json::from_str(&sender)?,
                sender_token,
            )?,
            accept_window: window.as_deref().map(serde_json::from_str).transpose()?,
        })
    }

    fn update_tenant(&self, tenant: TenantId, settings: &TenantSettings) -> Result<()> {
        let auth = serde_json::to_value(settings.webhook_auth)?;
        // Tokens never enter the settings' JSON: they are sealed apart.
        let (executor, sealed) =
            SecretField::ExecutorToken.seal(&self.secrets, tenant, &settings.executor)?;
        let (sender, sender_sealed) =
            SecretField::SmsAuthToken.seal(&self.secrets, tenant, &settings.sms_sender)?;
        let changed = self.conn().execute(
            "UPDATE tenants SET name = ?2, webhook_auth = ?3, executor = ?4, executor_token = ?5,
                 accept_window = ?6, sms_sender = ?7, sms_sender_token = ?8
             WHERE id = ?1",
            params![
                tenant.0,
                settings.name,
                auth.as_str(),
                serde_json::to_string(&executor)?,
                sealed,
                settings
                    .accept_window
                    .map(|w| serde_json::to_string(&w))
                    .transpose()?,
                serde_json::to_string(&sender)?,
                sender_sealed,
            ],
        )?;
        if changed == 0 {
            return Err(not_found(format!("tenant {tenant}")));
        }
        Ok(())
    }

    fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        new_secret: &str,
        previous_until: Timestamp,
    ) -> Result<()> {
        let changed = self.conn().execute(
            "UPDATE tenants SET previous_webhook_secret = webhook_secret,
                 previous_secret_until = ?3, webhook_secret = ?2
             WHERE id = ?1",
            params![tenant.0, new_secret, previous_until],
        )?;
        if changed == 0 {
            return Err(not_found(format!("tenant {tenant}")));
        }
        Ok(())
    }

    fn tenant_limits(&self, tenant: TenantId) -> Result<TenantLimits> {
        let json: String = self
            .read()
            .prepare_cached("SELECT limits FROM tenants WHERE id = ?1")?
            .query_row([tenant.0], |row| row.get(0))
            .optional()?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?;
        Ok(serde_json::from_str(&json)?)
    }

    fn set_tenant_limits(&self, tenant: TenantId, limits: &TenantLimits) -> Result<()> {
        let changed = self.conn().execute(
            "UPDATE tenants SET limits = ?2 WHERE id = ?1",
            params![tenant.0, serde_json::to_string(limits)?],
        )?;
        if changed == 0 {
            return Err(not_found(format!("tenant {tenant}")));
        }
        Ok(())
    }

    fn add_api_key(&self, tenant: TenantId, key_hash: &str) -> Result<ApiKeyInfo> {
        let conn = self.conn();
        let created_at = now();
        conn.execute(
            "INSERT INTO api_keys (key_hash, tenant_id, created_at) VALUES (?1, ?2, ?3)",
            params![key_hash, tenant.0, created_at],
        )?;
        Ok(ApiKeyInfo {
            id: conn.last_insert_rowid() as u64,
            fingerprint: fingerprint(key_hash),
            created_at,
            last_used_at: None,
        })
    }

    fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT id, key_hash, created_at, last_used_at FROM api_keys
             WHERE tenant_id = ?1 ORDER BY id",
        )?;
        let keys = statement
            .query_map([tenant.0], |row| {
                Ok(ApiKeyInfo {
                    id: row.get(0)?,
                    fingerprint: fingerprint(&row.get::<_, String>(1)?),
                    created_at: row.get(2)?,
                    last_used_at: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    fn revoke_api_key(&self, tenant: TenantId, key: u64, allow_last: bool) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = tx
            .prepare_cached("SELECT 1 FROM api_keys WHERE id = ?1 AND tenant_id = ?2")?
            .query_row(params![key, tenant.0], |_| Ok(()))
            .optional()?;
        if found.is_none() {
            return Err(not_found(format!("API key {key}")));
        }
        let count: u64 = tx
            .prepare_cached("SELECT count(*) FROM api_keys WHERE tenant_id = ?1")?
            .query_row([tenant.0], |row| row.get(0))?;
        if count <= 1 && !allow_last {
            return Err(Error::Conflict {
                what: format!(
                    "API key {key} is the tenant's last key: add another before revoking it"
                ),
            });
        }
        tx.execute(
            "DELETE FROM api_keys WHERE id = ?1 AND tenant_id = ?2",
            params![key, tenant.0],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn tenant_by_key(&self, key_hash: &str) -> Result<Option<TenantId>> {
        let found = self
            .read()
            .prepare_cached("SELECT id, tenant_id, last_used_at FROM api_keys WHERE key_hash = ?1")?
            .query_row([key_hash], |row| {
                Ok((
                    row.get::<_, u64>(0)?,
                    TenantId(row.get(1)?),
                    row.get::<_, Option<Timestamp>>(2)?,
                ))
            })
            .optional()?;
        let Some((id, tenant, last_used)) = found else {
            return Ok(None);
        };
        // A write at most once a minute per key keeps authenticating a read;
        // it is a note, so failing to write it never fails the request.
        let now = now();
        if last_used.is_none_or(|at| now - at >= API_KEY_LAST_USED_RESOLUTION_SECS)
            && let Err(error) = self.conn().execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                params![id, now],
            )
        {
            tracing::warn!(%tenant, key = id, %error, "noting an API key's use failed");
        }
        Ok(Some(tenant))
    }

    fn project_owner(&self, project: ProjectId) -> Result<Option<TenantId>> {
        Ok(self
            .read()
            .prepare_cached("SELECT tenant_id FROM projects WHERE id = ?1")?
            .query_row([project.0], |row| row.get(0).map(TenantId))
            .optional()?)
    }

    fn settings_generation(&self) -> Result<u64> {
        // Bumped by the schema's triggers, whichever connection writes.
        Ok(self
            .read()
            .prepare_cached("SELECT generation FROM settings_generation WHERE id = 1")?
            .query_row([], |row| row.get(0))?)
    }

    fn projects(&self, tenant: TenantId) -> Result<Vec<Project>> {
        let ids: Vec<u64> = {
            let conn = self.read();
            let mut statement =
                conn.prepare_cached("SELECT id FROM projects WHERE tenant_id = ?1 ORDER BY id")?;
            statement
                .query_map([tenant.0], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter()
            .map(|id| self.project(tenant, ProjectId(id)))
            .collect()
    }
}
