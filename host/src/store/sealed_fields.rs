//! The secret fields of a tenant's settings, kept out of the settings'
//! JSON and sealed apart (see [`crate::secrets`]), the same way on both
//! back ends: the executor's token and the SMS provider's auth token.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Error, Result};
use crate::model::TenantId;
use crate::secrets::SecretsKey;

/// One secret field of a settings object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SecretField {
    /// `executor.token`.
    ExecutorToken,
    /// `smsSender.authToken`.
    SmsAuthToken,
}

impl SecretField {
    /// Its name in the settings' JSON.
    fn field(self) -> &'static str {
        match self {
            SecretField::ExecutorToken => "token",
            SecretField::SmsAuthToken => "authToken",
        }
    }

    /// What the sealed bytes are bound to: the field and its tenant, so a
    /// value copied to another tenant or column does not open there.
    pub(crate) fn context(self, tenant: TenantId) -> String {
        match self {
            SecretField::ExecutorToken => format!("tenant {tenant} executor token"),
            SecretField::SmsAuthToken => format!("tenant {tenant} sms sender token"),
        }
    }

    /// `settings` as JSON without the field, and the field's value sealed
    /// (`None` when it has none).
    pub(crate) fn seal(
        self,
        key: &SecretsKey,
        tenant: TenantId,
        settings: &impl Serialize,
    ) -> Result<(Value, Option<Vec<u8>>)> {
        let mut json = serde_json::to_value(settings)?;
        let secret = json
            .as_object_mut()
            .and_then(|fields| fields.remove(self.field()))
            .and_then(|value| value.as_str().map(str::to_owned));
        let sealed = secret.map(|secret| key.seal(&self.context(tenant), secret.as_bytes()));
        Ok((json, sealed))
    }

    /// The settings stored as `json` with their `sealed` field opened back in.
    pub(crate) fn open<T: DeserializeOwned>(
        self,
        key: &SecretsKey,
        tenant: TenantId,
        mut json: Value,
        sealed: Option<Vec<u8>>,
    ) -> Result<T> {
        if let (Some(sealed), Some(fields)) = (sealed, json.as_object_mut()) {
            let secret = key.open(&self.context(tenant), &sealed)?;
            let secret = String::from_utf8(secret).map_err(|_| Error::Conflict {
                what: format!("tenant {tenant}'s {} is not UTF-8", self.field()),
            })?;
            fields.insert(self.field().into(), secret.into());
        }
        Ok(serde_json::from_value(json)?)
    }
}
