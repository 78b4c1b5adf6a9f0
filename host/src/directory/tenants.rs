//! Tenants and their credentials: keys and webhook secrets are made here,
//! from the OS's random source, and only a key's SHA-256 is ever stored.

use crate::model::{TenantId, Timestamp};
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
        let api_key = self.add_key(tenant.id)?;
        Ok(Credentials { tenant, api_key })
    }

    /// One more API key for `tenant` (404 when there is no such tenant).
    pub fn add_key(&self, tenant: TenantId) -> Result<NewKey> {
        self.store.tenant(tenant)?;
        let key = new_secret();
        let info = self
            .store
            .add_api_key(tenant, &sha256_hex(key.as_bytes()))?;
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
    pub fn revoke_api_key(&self, tenant: TenantId, key: u64, allow_last: bool) -> Result<()> {
        self.store.revoke_api_key(tenant, key, allow_last)?;
        tracing::info!(%tenant, key, "API key revoked");
        Ok(())
    }

    /// A new webhook secret for `tenant`; the previous one stays accepted
    /// until `previous_until`.
    pub fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        previous_until: Timestamp,
    ) -> Result<String> {
        let secret = new_secret();
        self.store
            .rotate_webhook_secret(tenant, &secret, previous_until)?;
        tracing::info!(%tenant, previous_until, "webhook secret rotated");
        Ok(secret)
    }

    /// Sets the tenant's own plugin limits (the operator's call).
    pub fn set_limits(&self, tenant: TenantId, limits: &TenantLimits) -> Result<()> {
        Ok(self.store.set_tenant_limits(tenant, limits)?)
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
        change: impl FnOnce(&mut TenantSettings) -> std::result::Result<(), E>,
    ) -> std::result::Result<(TenantSettings, Vec<String>), E> {
        let mut settings = self.store.tenant(tenant).map_err(Error::from)?;
        change(&mut settings)?;
        self.store
            .update_tenant(tenant, &settings)
            .map_err(Error::from)?;
        self.store
            .set_opt_out_keywords(tenant, keywords)
            .map_err(Error::from)?;
        let keywords = self.store.opt_out_keywords(tenant).map_err(Error::from)?;
        Ok((settings, keywords))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_long() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
