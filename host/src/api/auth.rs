//! Who is calling: the operator, a tenant (by API key), or a webhook
//! sender (by the tenant's secret or an HMAC of the body).
//!
//! Keys are compared as SHA-256 hashes (only hashes are stored); secrets
//! and signatures in constant time.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AppState;
use super::error::ApiError;
use crate::model::{Actor, TenantId};
use crate::runtime::sha256_hex;
use crate::store::{API_KEY_FINGERPRINT_HEX, TenantSettings, WebhookAuth};

/// The header carrying a webhook body's HMAC-SHA256, hex-encoded
/// (optionally prefixed `sha256=`).
pub const SIGNATURE_HEADER: &str = "x-smstrigger-signature";

/// A request made with the operator key.
pub struct Operator;

/// A request made with one of a tenant's API keys.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub TenantId);

/// A request changing a tenant's rules or settings with one of its API
/// keys: the tenant, and the key as the audit trail names it (its id and
/// fingerprint, never the key).
#[derive(Debug, Clone)]
pub struct Acting(pub TenantId, pub Actor);

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.operator_key.as_deref().ok_or_else(|| {
            ApiError::unauthorized("no operator key is configured (SMSTRIGGER_OPERATOR_KEY)")
        })?;
        match bearer(parts) {
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(Operator),
            _ => Err(ApiError::unauthorized("the operator key is required")),
        }
    }
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("an API key is required: Authorization: Bearer <key>")
        })?;
        tenant_by_key(state, key).await
    }
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Tenant(tenant) = Tenant::from_request_parts(parts, state).await?;
        let key = bearer(parts).unwrap_or_default();
        let fingerprint = sha256_hex(key.as_bytes())[..API_KEY_FINGERPRINT_HEX].to_string();
        let (directory, wanted) = (state.directory.clone(), fingerprint.clone());
        let key_id = tokio::task::spawn_blocking(move || directory.api_keys(tenant))
            .await
            .map_err(ApiError::internal)??
            .into_iter()
            .find(|info| info.fingerprint == wanted)
            .map(|info| info.id);
        Ok(Acting(
            tenant,
            Actor::Key {
                key_id,
                fingerprint,
            },
        ))
    }
}

/// The tenant whose API key is `key`.
pub async fn tenant_by_key(state: &AppState, key: &str) -> Result<Tenant, ApiError> {
    let (directory, key) = (state.directory.clone(), key.to_string());
    let found = tokio::task::spawn_blocking(move || directory.tenant_by_key(&key))
        .await
        .map_err(ApiError::internal)??;
    found
        .map(Tenant)
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))
}

/// Checks a webhook's credentials against the tenant's settings: the
/// secret from `?secret-key=` or the signature header, whichever the
/// tenant accepts. During a rotation's overlap the retiring secret is
/// accepted as well, in the same constant-time way; after it, only the
/// current one.
pub fn check_webhook(
    tenant: &TenantSettings,
    secret_key: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), ApiError> {
    // Reading the clock only when a rotation is under way keeps the hot
    // path as it was.
    let retiring = tenant
        .previous_webhook_secret
        .as_ref()
        .filter(|previous| previous.accepted_at(chrono::Utc::now().timestamp()))
        .map(|previous| previous.secret.as_str());
    let accepted = std::iter::once(tenant.webhook_secret.as_str())
        .chain(retiring)
        .fold(false, |accepted, secret| {
            accepted | accepts(tenant.webhook_auth, secret, secret_key, signature, body)
        });
    if accepted {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "unknown project or wrong webhook credentials (secret-key or X-Smstrigger-Signature)",
        ))
    }
}

/// Whether `secret` admits the credentials under `auth`; no early exit.
fn accepts(
    auth: WebhookAuth,
    secret: &str,
    secret_key: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> bool {
    let url_ok =
        secret_key.is_some_and(|given| constant_time_eq(given.as_bytes(), secret.as_bytes()));
    let signature_ok = signature.is_some_and(|given| verify_signature(secret, body, given));
    match auth {
        WebhookAuth::Url => url_ok,
        WebhookAuth::Signature => signature_ok,
        WebhookAuth::Both => url_ok || signature_ok,
    }
}

/// The hex HMAC-SHA256 of `body` under `secret`, as senders compute it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn verify_signature(secret: &str, body: &[u8], given: &str) -> bool {
    let given = given.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Compares without an early exit, so timing does not reveal how much of
/// a secret matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(auth: WebhookAuth) -> TenantSettings {
        TenantSettings {
            id: TenantId(1),
            name: "t".into(),
            webhook_secret: "s3cret".into(),
            previous_webhook_secret: None,
            webhook_auth: auth,
            executor: crate::store::ExecutorSettings::Embedded,
            sms_sender: crate::store::SmsSenderSettings::Embedded,
            accept_window: None,
        }
    }

    #[test]
    fn a_signature_of_the_exact_body_passes_and_any_change_fails() {
        let body = br#"{"projectId":1}"#;
        let good = sign("s3cret", body);
        let t = tenant(WebhookAuth::Signature);
        assert!(check_webhook(&t, None, Some(&good), body).is_ok());
        assert!(check_webhook(&t, None, Some(&format!("sha256={good}")), body).is_ok());
        assert!(check_webhook(&t, None, Some(&good), br#"{"projectId":2}"#).is_err());
        assert!(check_webhook(&t, None, Some("zz"), body).is_err());
    }

    #[test]
    fn each_mode_accepts_only_its_credentials() {
        let body = b"{}";
        let signature = sign("s3cret", body);
        let url = tenant(WebhookAuth::Url);
        assert!(check_webhook(&url, Some("s3cret"), None, body).is_ok());
        assert!(check_webhook(&url, None, Some(&signature), body).is_err());
        let sig = tenant(WebhookAuth::Signature);
        assert!(check_webhook(&sig, Some("s3cret"), None, body).is_err());
        let both = tenant(WebhookAuth::Both);
        assert!(check_webhook(&both, Some("s3cret"), None, body).is_ok());
        assert!(check_webhook(&both, None, Some(&signature), body).is_ok());
        assert!(check_webhook(&both, Some("wrong"), None, body).is_err());
    }

    #[test]
    fn a_rotated_out_secret_works_until_its_time_and_never_after() {
        let body = b"{}";
        let now = chrono::Utc::now().timestamp();
        let mut t = tenant(WebhookAuth::Both);
        t.previous_webhook_secret = Some(crate::store::RetiringSecret {
            secret: "old".into(),
            until: now + 60,
        });
        assert!(check_webhook(&t, Some("old"), None, body).is_ok());
        assert!(check_webhook(&t, None, Some(&sign("old", body)), body).is_ok());
        assert!(check_webhook(&t, Some("s3cret"), None, body).is_ok());
        t.previous_webhook_secret.as_mut().unwrap().until = now;
        assert!(check_webhook(&t, Some("old"), None, body).is_err());
        assert!(check_webhook(&t, None, Some(&sign("old", body)), body).is_err());
        assert!(check_webhook(&t, Some("s3cret"), None, body).is_ok());
        // The mode still applies to the retiring secret.
        t.webhook_auth = WebhookAuth::Signature;
        t.previous_webhook_secret.as_mut().unwrap().until = now + 60;
        assert!(check_webhook(&t, Some("old"), None, body).is_err());
    }
}
