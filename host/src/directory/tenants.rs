//! Tenants and their credentials: keys and webhook secrets are made here,
//! from the OS's random source, and only a key's SHA-256 is ever stored.

use serde_json::{Value, json};

use crate::model::{Actor, AuditEntry, AuditFilter, Change, ChangeKind, TenantId, Timestamp};
use crate::runtime::sha256_hex;
use crate::store::{ApiKeyInfo, Tenant, TenantLimits, TenantSettings};

use super::{Directory, Error, Result};

/// A new tenant's credentials, which nothing stores in the clear: the
/// caller shows them once.
pub struct Credentials {
    pub tenant: Tenant,
    pub api_key: NewKey,
}

/// A new API key, and what is stored of it.
pub struct NewKey {
    pub key: String,
    pub info: ApiKeyInfo,
}

/// 32 random bytes from the OS, hex: an API key or a webhook secret.
pub fn new_secret() -> String {
    use rand::TryRng;
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the OS random source");
    hex::encode(bytes)
}

impl Directory {
    /// A tenant named `name`, with a webhook secret and a first API key.
    pub fn create_tenant(&self, name: &str) -> Result<Credentials> {
        let tenant = self.store.create_tenant(name, &new_secret())?;
        let api_key = self.add_key(tenant.id, &Actor::Operator)?;
        Ok(Credentials { tenant, api_key })
    }

    /// One more API key for `tenant` (404 when there is no such tenant).
    pub fn add_key(&self, tenant: TenantId, actor: &Actor) -> Result<NewKey> {
        self.store.tenant(tenant)?;
        let key = new_secret();
        let info = self
            .store
            .add_api_key(tenant, &sha256_hex(key.as_bytes()))?;
        let to = json!({ "keyId": info.id, "fingerprint": info.fingerprint });
        self.record(
            tenant,
            Change::new(actor, ChangeKind::KeyAdded).from_to(Value::Null, to),
        )?;
        Ok(NewKey { key, info })
    }

    /// The tenant whose (unrevoked) API key is `key`.
    pub fn tenant_by_key(&self, key: &str) -> Result<Option<TenantId>> {
        Ok(self.store.tenant_by_key(&sha256_hex(key.as_bytes()))?)
    }

    /// The tenant's keys, oldest first (404 when there is no such tenant).
    pub fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>> {
        self.store.tenant(tenant)?;
        Ok(self.store.api_keys(tenant)?)
    }

    /// Revokes one of the tenant's keys; the last one only if
    /// `allow_last` (the operator may shut a tenant out, the tenant may not).
    pub fn revoke_api_key(
        &self,
        tenant: TenantId,
        key: u64,
        allow_last: bool,
        actor: &Actor,
    ) -> Result<()> {
        self.store.revoke_api_key(tenant, key, allow_last)?;
        tracing::info!(%tenant, key, "API key revoked");
        let from = json!({ "keyId": key });
        self.record(
            tenant,
            Change::new(actor, ChangeKind::KeyRevoked).from_to(from, Value::Null),
        )
    }

    /// A new webhook secret for `tenant`; the previous one stays accepted
    /// until `previous_until`.
    pub fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        previous_until: Timestamp,
        actor: &Actor,
    ) -> Result<String> {
        let secret = new_secret();
        self.store
            .rotate_webhook_secret(tenant, &secret, previous_until)?;
        tracing::info!(%tenant, previous_until, "webhook secret rotated");
        let to = json!({ "previousAcceptedUntil": previous_until });
        let change = Change::new(actor, ChangeKind::WebhookSecretRotated).from_to(Value::Null, to);
        self.record(tenant, change)?;
        Ok(secret)
    }

    /// Sets the tenant's own plugin limits (the operator's call).
    pub fn set_limits(&self, tenant: TenantId, limits: &TenantLimits) -> Result<()> {
        let before = self.store.tenant_limits(tenant)?;
        self.store.set_tenant_limits(tenant, limits)?;
        let change = Change::new(&Actor::Operator, ChangeKind::LimitsSet)
            .from_to(serde_json::to_value(before)?, serde_json::to_value(limits)?);
        self.record(tenant, change)
    }

    /// The tenant's settings (a memory read on a store that keeps them
    /// in memory: each webhook's authentication reads them).
    pub fn tenant(&self, tenant: TenantId) -> Result<TenantSettings> {
        Ok(self.store.tenant(tenant)?)
    }

    /// The tenant's settings and opt-out keywords.
    pub fn settings(&self, tenant: TenantId) -> Result<(TenantSettings, Vec<String>)> {
        let settings = self.store.tenant(tenant)?;
        Ok((settings, self.store.opt_out_keywords(tenant)?))
    }

    /// Changes the tenant's settings with `change` (which sees the stored
    /// ones, and may refuse) and replaces its opt-out keywords; answers
    /// them as stored.
    pub fn update_settings<E: From<Error>>(
        &self,
        tenant: TenantId,
        keywords: &[String],
        actor: &Actor,
        change: impl FnOnce(&mut TenantSettings) -> std::result::Result<(), E>,
    ) -> std::result::Result<(TenantSettings, Vec<String>), E> {
        let (before, before_keywords) = self.settings(tenant)?;
        let mut settings = before.clone();
        change(&mut settings)?;
        self.store
            .update_tenant(tenant, &settings)
            .map_err(Error::from)?;
        self.store
            .set_opt_out_keywords(tenant, keywords)
            .map_err(Error::from)?;
        let keywords = self.store.opt_out_keywords(tenant).map_err(Error::from)?;
        let (from, to) = settings_change((&before, &before_keywords), (&settings, &keywords))?;
        let change = Change::new(actor, ChangeKind::TenantSettingsChanged).from_to(from, to);
        self.record(tenant, change)?;
        Ok((settings, keywords))
    }

    /// A page of the tenant's audit trail after entry `after`, oldest
    /// first, of one plugin or one kind if asked.
    pub fn audit(
        &self,
        tenant: TenantId,
        after: u64,
        plugin: Option<&str>,
        kind: Option<ChangeKind>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let filter = AuditFilter {
            after,
            plugin,
            kind,
            limit,
        };
        Ok(self.store.audit_entries(tenant, &filter)?)
    }

    /// Appends `change` to the tenant's audit trail.
    pub(super) fn record(&self, tenant: TenantId, change: Change) -> Result<()> {
        self.store.record_change(tenant, &change)?;
        Ok(())
    }
}

/// The fields of the tenant's settings (with its opt-out keywords) that a
/// change moved, each as it was and as it is: the stored JSON, which never
/// holds the webhook secrets, with the executor's and the SMS provider's
/// tokens shown only as `"<token>"`, or `"<changed token>"` when replaced.
fn settings_change(
    before: (&TenantSettings, &[String]),
    after: (&TenantSettings, &[String]),
) -> Result<(Value, Value)> {
    let view = |(settings, keywords): (&TenantSettings, &[String])| -> Result<Value> {
        let mut view = serde_json::to_value(settings)?;
        view["optOutKeywords"] = json!(keywords);
        Ok(view)
    };
    let (mut old, mut new) = (view(before)?, view(after)?);
    for (field, token) in [("executor", "token"), ("smsSender", "authToken")] {
        let replaced = old[field].get(token) != new[field].get(token);
        for (view, shown) in [(&mut old, "<token>"), (&mut new, "<changed token>")] {
            if let Some(object) = view.get_mut(field).and_then(Value::as_object_mut)
                && object.contains_key(token)
            {
                let shown = if replaced { shown } else { "<token>" };
                object.insert(token.into(), shown.into());
            }
        }
    }
    let (mut from, mut to) = (json!({}), json!({}));
    for (field, value) in new.as_object().into_iter().flatten() {
        if old.get(field) != Some(value) {
            from[field] = old.get(field).cloned().unwrap_or(Value::Null);
            to[field] = value.clone();
        }
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ExecutorSettings, WebhookAuth};

    /// The trail shows what moved, never a token: a replaced token only as
    /// replaced.
    #[test]
    fn a_settings_change_shows_the_fields_it_moved_and_no_token() {
        let remote = |token: &str| ExecutorSettings::Remote {
            base_url: "https://cc.example".into(),
            account: "7".into(),
            token: token.into(),
        };
        let before = TenantSettings {
            id: TenantId(1),
            name: "acme".into(),
            webhook_secret: "the-secret".into(),
            previous_webhook_secret: None,
            webhook_auth: WebhookAuth::Url,
            executor: remote("first-token"),
            sms_sender: Default::default(),
            accept_window: None,
        };
        let mut after = before.clone();
        after.executor = remote("second-token");
        let keywords = ["STOP".to_string()];
        let (from, to) = settings_change((&before, &keywords), (&after, &keywords)).unwrap();
        assert_eq!(
            from,
            json!({ "executor": { "kind": "remote", "baseUrl": "https://cc.example", "account": "7", "token": "<token>" } })
        );
        assert_eq!(to["executor"]["token"], "<changed token>");
        let shown = format!("{from}{to}");
        for secret in ["first-token", "second-token", "the-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // Nothing moved: nothing shown; keywords alone: only they.
        let (from, to) = settings_change((&after, &keywords), (&after, &keywords)).unwrap();
        assert_eq!((from, to), (json!({}), json!({})));
        let more = ["STOP".to_string(), "ELEG".to_string()];
        let (from, to) = settings_change((&after, &keywords), (&after, &more)).unwrap();
        assert_eq!(from, json!({ "optOutKeywords": ["STOP"] }));
        assert_eq!(to, json!({ "optOutKeywords": ["STOP", "ELEG"] }));
    }

    #[test]
    fn secrets_are_random_and_long() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
