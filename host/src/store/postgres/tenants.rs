//! Tenants, their keys and settings, projects and dispositions on
//! PostgreSQL.

use ::postgres::GenericClient;

use super::*;
use crate::store::sealed_fields::SecretField;

/// The non-secret name of a key: the first hex digits of its hash.
fn fingerprint(key_hash: &str) -> String {
    key_hash.chars().take(API_KEY_FINGERPRINT_HEX).collect()
}

/// `NotFound` naming the tenant unless a statement changed a row.
fn changed_one(changed: u64, tenant: TenantId) -> Result<()> {
    if changed == 0 {
        return Err(not_found(format!("tenant {tenant}")));
    }
    Ok(())
}

impl Tenants for PgStore {
    fn create_tenant(&self, name: &str, webhook_secret: &str) -> Result<Tenant> {
        // `null` keywords: never set, the defaults apply (store::rules).
        let row = self.conn()?.query_one(
            "INSERT INTO tenants (name, webhook_secret, opt_out_keywords, created_at)
             VALUES ($1, $2, 'null', $3) RETURNING id",
            &[&name, &webhook_secret, &now()],
        )?;
        Ok(Tenant {
            id: TenantId(get_unsigned(&row, 0)?),
            name: name.into(),
            webhook_secret: webhook_secret.into(),
        })
    }

    fn tenant(&self, tenant: TenantId) -> Result<TenantSettings> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT name, webhook_secret, webhook_auth, executor, executor_token,
                    previous_webhook_secret, previous_secret_until, accept_window,
                    sms_sender, sms_sender_token
                 FROM tenants WHERE id = $1",
                &[&big(tenant.0)?],
            )?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?;
        let previous: Option<String> = row.try_get(5)?;
        let until: Option<Timestamp> = row.try_get(6)?;
        let window: Option<serde_json::Value> = row.try_get(7)?;
        Ok(TenantSettings {
            id: tenant,
            name: row.try_get(0)?,
            webhook_secret: row.try_get(1)?,
            previous_webhook_secret: previous
                .zip(until)
                .map(|(secret, until)| RetiringSecret { secret, until }),
            webhook_auth: serde_json::from_value(serde_json::Value::String(row.try_get(2)?))?,
            executor: SecretField::ExecutorToken.open(
                &self.secrets,
                tenant,
                row.try_get(3)?,
                row.try_get(4)?,
            )?,
            sms_sender: SecretField::SmsAuthToken.open(
                &self.secrets,
                tenant,
                row.try_get(8)?,
                row.try_get(9)?,
            )?,
            accept_window: window.map(serde_json::from_value).transpose()?,
        })
    }

    fn update_tenant(&self, tenant: TenantId, settings: &TenantSettings) -> Result<()> {
        let auth = serde_json::to_value(settings.webhook_auth)?;
        // Tokens never enter the settings' JSON: they are sealed apart.
        let (executor, sealed) =
            SecretField::ExecutorToken.seal(&self.secrets, tenant, &settings.executor)?;
        let (sender, sender_sealed) =
            SecretField::SmsAuthToken.seal(&self.secrets, tenant, &settings.sms_sender)?;
        let window = settings
            .accept_window
            .map(serde_json::to_value)
            .transpose()?;
        let changed = self.conn()?.execute(
            "UPDATE tenants SET name = $2, webhook_auth = $3, executor = $4, executor_token = $5,
                 accept_window = $6, sms_sender = $7, sms_sender_token = $8
             WHERE id = $1",
            &[
                &big(tenant.0)?,
                &settings.name,
                &auth.as_str(),
                &executor,
                &sealed,
                &window,
                &sender,
                &sender_sealed,
            ],
        )?;
        changed_one(changed, tenant)
    }

    fn tenant_limits(&self, tenant: TenantId) -> Result<TenantLimits> {
        let limits: serde_json::Value = self
            .conn()?
            .query_opt(
                "SELECT limits FROM tenants WHERE id = $1",
                &[&big(tenant.0)?],
            )?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?
            .try_get(0)?;
        Ok(serde_json::from_value(limits)?)
    }

    fn set_tenant_limits(&self, tenant: TenantId, limits: &TenantLimits) -> Result<()> {
        let changed = self.conn()?.execute(
            "UPDATE tenants SET limits = $2 WHERE id = $1",
            &[&big(tenant.0)?, &serde_json::to_value(limits)?],
        )?;
        changed_one(changed, tenant)
    }

    fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        new_secret: &str,
        previous_until: Timestamp,
    ) -> Result<()> {
        // One statement: the right-hand sides read the row as it was, so
        // concurrent rotations each retire the secret they replaced.
        let changed = self.conn()?.execute(
            "UPDATE tenants SET previous_webhook_secret = webhook_secret,
                 previous_secret_until = $3, webhook_secret = $2
             WHERE id = $1",
            &[&big(tenant.0)?, &new_secret, &previous_until],
        )?;
        changed_one(changed, tenant)
    }

    fn add_api_key(&self, tenant: TenantId, key_hash: &str) -> Result<ApiKeyInfo> {
        let created_at = now();
        let row = self.conn()?.query_one(
            "INSERT INTO api_keys (key_hash, tenant_id, created_at) VALUES ($1, $2, $3)
             RETURNING id",
            &[&key_hash, &big(tenant.0)?, &created_at],
        )?;
        Ok(ApiKeyInfo {
            id: get_unsigned(&row, 0)?,
            fingerprint: fingerprint(key_hash),
            created_at,
            last_used_at: None,
        })
    }

    fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>> {
        self.conn()?
            .query(
                "SELECT id, key_hash, created_at, last_used_at FROM api_keys
                 WHERE tenant_id = $1 ORDER BY id",
                &[&big(tenant.0)?],
            )?
            .iter()
            .map(|row| {
                Ok(ApiKeyInfo {
                    id: get_unsigned(row, 0)?,
                    fingerprint: fingerprint(row.try_get(1)?),
                    created_at: row.try_get(2)?,
                    last_used_at: row.try_get(3)?,
                })
            })
            .collect()
    }

    fn revoke_api_key(&self, tenant: TenantId, key: u64, allow_last: bool) -> Result<()> {
        let (tenant_id, key_id) = (big(tenant.0)?, big(key)?);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // The tenant's row is the lock over its keys: two revocations of
        // its last two keys, from any hosts, cannot both see the other key.
        tx.query_opt(
            "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE",
            &[&tenant_id],
        )?;
        let found = tx.query_opt(
            "SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2",
            &[&key_id, &tenant_id],
        )?;
        if found.is_none() {
            return Err(not_found(format!("API key {key}")));
        }
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM api_keys WHERE tenant_id = $1",
                &[&tenant_id],
            )?
            .try_get(0)?;
        if count <= 1 && !allow_last {
            return Err(Error::Conflict {
                what: format!(
                    "API key {key} is the tenant's last key: add another before revoking it"
                ),
            });
        }
        tx.execute(
            "DELETE FROM api_keys WHERE id = $1 AND tenant_id = $2",
            &[&key_id, &tenant_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn tenant_by_key(&self, key_hash: &str) -> Result<Option<TenantId>> {
        let mut conn = self.conn()?;
        let Some(row) = conn.query_opt(
            "SELECT id, tenant_id, last_used_at FROM api_keys WHERE key_hash = $1",
            &[&key_hash],
        )?
        else {
            return Ok(None);
        };
        let id: i64 = row.try_get(0)?;
        let tenant = TenantId(get_unsigned(&row, 1)?);
        let last_used: Option<Timestamp> = row.try_get(2)?;
        // A write at most once a minute per key keeps authenticating a read;
        // it is a note, so failing to write it never fails the request.
        let now = now();
        if last_used.is_none_or(|at| now - at >= API_KEY_LAST_USED_RESOLUTION_SECS)
            && let Err(error) = conn.execute(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
                &[&id, &now],
            )
        {
            tracing::warn!(%tenant, key = id, %error, "noting an API key's use failed");
        }
        Ok(Some(tenant))
    }

    fn settings_generation(&self) -> Result<u64> {
        let row = self.conn()?.query_one(
            "SELECT generation FROM settings_generation WHERE id = 1",
            &[],
        )?;
        get_unsigned(&row, 0)
    }

    fn wait_for_settings_change(&self, timeout: Duration) -> Result<()> {
        self.listener.wait(timeout)
    }

    fn stored_opt_out_keywords(&self, tenant: TenantId) -> Result<Option<Vec<String>>> {
        let keywords: serde_json::Value = self
            .conn()?
            .query_opt(
                "SELECT opt_out_keywords FROM tenants WHERE id = $1",
                &[&big(tenant.0)?],
            )?
            .ok_or_else(|| not_found(format!("tenant {tenant}")))?
            .try_get(0)?;
        Ok(serde_json::from_value(keywords)?)
    }

    fn write_opt_out_keywords(&self, tenant: TenantId, keywords: &[String]) -> Result<()> {
        let changed = self.conn()?.execute(
            "UPDATE tenants SET opt_out_keywords = $2 WHERE id = $1",
            &[&big(tenant.0)?, &serde_json::to_value(keywords)?],
        )?;
        changed_one(changed, tenant)
    }

    fn insert_project(
        &self,
        tenant: TenantId,
        settings: &ProjectSettings,
        dispositions: &[DispositionDef],
    ) -> Result<Project> {
        let hours = settings.calling_hours.as_ref();
        let start = hours.map(|h| h.start.format("%H:%M").to_string());
        let end = hours.map(|h| h.end.format("%H:%M").to_string());
        let policy = serde_json::to_value(settings.calling_hours_policy)?;
        let past = serde_json::to_value(settings.past_callback_policy)?;
        let max_actions = big(settings.max_actions_per_event as u64)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let row = tx.query_one(
            "INSERT INTO projects (tenant_id, name, time_zone, default_country, hours_start,
                 hours_end, hours_policy, horizon_days, max_actions, past_callback_policy,
                 sms_rules, contact_rules)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                &big(tenant.0)?,
                &settings.name,
                &settings.time_zone,
                &settings.default_country,
                &start,
                &end,
                &policy.as_str(),
                &i64::from(settings.horizon_days),
                &max_actions,
                &past.as_str(),
                &serde_json::to_value(&settings.sms_rules)?,
                &serde_json::to_value(&settings.contact_rules)?,
            ],
        )?;
        let id: i64 = row.try_get(0)?;
        for disposition in dispositions {
            insert_disposition(&mut tx, id, disposition, false)?;
        }
        let project = load_project(&mut tx, tenant, ProjectId(unsigned(id)?))?;
        tx.commit()?;
        Ok(project)
    }

    fn project(&self, tenant: TenantId, project: ProjectId) -> Result<Project> {
        load_project(&mut **self.conn()?, tenant, project)
    }

    fn project_owner(&self, project: ProjectId) -> Result<Option<TenantId>> {
        self.conn()?
            .query_opt(
                "SELECT tenant_id FROM projects WHERE id = $1",
                &[&big(project.0)?],
            )?
            .map(|row| get_unsigned(&row, 0).map(TenantId))
            .transpose()
    }

    fn projects(&self, tenant: TenantId) -> Result<Vec<Project>> {
        let mut conn = self.conn()?;
        let ids = conn.query(
            "SELECT id FROM projects WHERE tenant_id = $1 ORDER BY id",
            &[&big(tenant.0)?],
        )?;
        ids.iter()
            .map(|row| load_project(&mut **conn, tenant, ProjectId(get_unsigned(row, 0)?)))
            .collect()
    }

    fn write_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        owned_project(&mut tx, tenant, project, false)?;
        insert_disposition(&mut tx, big(project.0)?, disposition, true)?;
        tx.commit()?;
        Ok(())
    }
}

/// Stores `disposition` in project `project`; with `replace`, over one
/// of the same id (one statement: concurrent writers never conflict).
fn insert_disposition(
    conn: &mut impl GenericClient,
    project: i64,
    disposition: &DispositionDef,
    replace: bool,
) -> Result<()> {
    let on_conflict = if replace {
        "ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name,
             active = excluded.active, system = excluded.system"
    } else {
        ""
    };
    conn.execute(
        &format!(
            "INSERT INTO dispositions (project_id, id, name, active, system)
             VALUES ($1, $2, $3, $4, $5) {on_conflict}"
        ),
        &[
            &project,
            &i64::from(disposition.id),
            &disposition.name,
            &disposition.active,
            &disposition.system,
        ],
    )?;
    Ok(())
}

/// `tenant`'s project `project` with its dispositions; `NotFound` for
/// another tenant's.
fn load_project(
    conn: &mut impl GenericClient,
    tenant: TenantId,
    project: ProjectId,
) -> Result<Project> {
    let row = conn
        .query_opt(
            "SELECT name, time_zone, default_country, hours_start, hours_end, hours_policy,
                horizon_days, max_actions, past_callback_policy, sms_rules, contact_rules
             FROM projects WHERE id = $1 AND tenant_id = $2",
            &[&big(project.0)?, &big(tenant.0)?],
        )?
        .ok_or_else(|| not_found(format!("project {project}")))?;
    let start: Option<String> = row.try_get(3)?;
    let end: Option<String> = row.try_get(4)?;
    let calling_hours = match (start, end) {
        (Some(start), Some(end)) => {
            Some(CallingHours::parse(&start, &end).map_err(|what| Error::Conflict { what })?)
        }
        _ => None,
    };
    let dispositions = conn
        .query(
            "SELECT id, name, active, system FROM dispositions WHERE project_id = $1 ORDER BY id",
            &[&big(project.0)?],
        )?
        .iter()
        .map(|row| {
            Ok(DispositionDef {
                id: get_unsigned(row, 0)?,
                name: row.try_get(1)?,
                active: row.try_get(2)?,
                system: row.try_get(3)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Project {
        id: project,
        tenant_id: tenant,
        settings: ProjectSettings {
            name: row.try_get(0)?,
            time_zone: row.try_get(1)?,
            default_country: row.try_get(2)?,
            calling_hours,
            calling_hours_policy: serde_json::from_value(serde_json::Value::String(
                row.try_get(5)?,
            ))?,
            horizon_days: get_unsigned(&row, 6)?,
            max_actions_per_event: get_unsigned(&row, 7)?,
            past_callback_policy: serde_json::from_value(serde_json::Value::String(
                row.try_get(8)?,
            ))?,
            sms_rules: serde_json::from_value(row.try_get(9)?)?,
            contact_rules: serde_json::from_value(row.try_get(10)?)?,
        },
        dispositions,
    })
}
