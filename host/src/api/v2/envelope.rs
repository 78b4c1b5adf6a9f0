//! The `/v2` envelopes and credentials: [`V2Error`] (417 with
//! `{"errors": [{errorcode, errormessage, property}]}`, 401 for bad
//! credentials), the success envelope, and [`V2Tenant`], HTTP Basic with
//! the account id and one of its API keys.

use axum::extract::{FromRequestParts, Path};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::auth::tenant_by_key;
use crate::api::{ApiError, AppState};
use crate::model::TenantId;
use crate::wire::v2::{Envelope, ErrorItem};
use crate::{directory, store};

/// A failure in the `/v2` envelope: 417 for a refusal, 401 for bad
/// credentials, 5xx only for the server's own faults.
#[derive(Debug)]
pub struct V2Error {
    pub(super) status: StatusCode,
    pub(super) errorcode: String,
    pub(super) errormessage: String,
    pub(super) property: Option<String>,
}

impl V2Error {
    pub(super) fn refuse(
        errorcode: &str,
        message: impl Into<String>,
        property: Option<&str>,
    ) -> Self {
        Self {
            status: StatusCode::EXPECTATION_FAILED,
            errorcode: errorcode.into(),
            errormessage: message.into(),
            property: property.map(String::from),
        }
    }

    pub(super) fn not_found(what: &str, property: &str) -> Self {
        Self::refuse("not_found", format!("{what} not found"), Some(property))
    }

    pub(super) fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            errorcode: "unauthorized".into(),
            errormessage: "HTTP Basic credentials are required: the account id and an API key \
                           of that account"
                .into(),
            property: None,
        }
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let body = Envelope::failure(ErrorItem {
            errorcode: self.errorcode,
            errormessage: self.errormessage,
            property: self.property,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"smstrigger\""),
            );
        }
        response
    }
}

impl From<ApiError> for V2Error {
    fn from(error: ApiError) -> Self {
        let status = match error.status {
            s if s.is_server_error() || s == StatusCode::UNAUTHORIZED => s,
            _ => StatusCode::EXPECTATION_FAILED,
        };
        Self {
            status,
            errorcode: error.code.into(),
            errormessage: error.message,
            property: None,
        }
    }
}

impl From<store::Error> for V2Error {
    fn from(error: store::Error) -> Self {
        ApiError::from(error).into()
    }
}

impl From<directory::Error> for V2Error {
    fn from(error: directory::Error) -> Self {
        ApiError::from(error).into()
    }
}

pub(super) type V2Result<T> = Result<T, V2Error>;

/// Success: `{"errors": [], "response": …}`.
pub(super) fn ok(response: Value) -> Response {
    axum::Json(Envelope::success(response)).into_response()
}

pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> V2Result<T> + Send + 'static,
) -> V2Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| V2Error::from(ApiError::internal(e)))?
}

/// A request made with HTTP Basic `account:token`, where the token is one
/// of the account's API keys. Every failure gets the same 401, so the
/// answer does not tell which half was wrong.
pub struct V2Tenant(pub TenantId);

impl FromRequestParts<AppState> for V2Tenant {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, V2Error> {
        let (account, token) = basic(parts).ok_or_else(V2Error::unauthorized)?;
        let tenant = match tenant_by_key(state, &token).await {
            Ok(tenant) => tenant.0,
            Err(e) if e.status == StatusCode::UNAUTHORIZED => return Err(V2Error::unauthorized()),
            Err(e) => return Err(e.into()),
        };
        if account.trim() != tenant.0.to_string() {
            return Err(V2Error::unauthorized());
        }
        Ok(V2Tenant(tenant))
    }
}

fn basic(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (account, token) = text.split_once(':')?;
    Some((account.to_string(), token.to_string()))
}

/// A path id, or the 417 naming it. An id above `i64::MAX` is well formed
/// but names nothing (ids are SQLite integers): `not_found`.
pub(super) fn parse_id(raw: &str, property: &str) -> V2Result<u64> {
    let id: u64 = raw.trim().parse().map_err(|_| {
        V2Error::refuse(
            "invalid_value",
            format!("{property} must be a whole number, got {raw:?}"),
            Some(property),
        )
    })?;
    if i64::try_from(id).is_err() {
        return Err(V2Error::not_found(&format!("{property} {id}"), property));
    }
    Ok(id)
}

/// Path parameters, with a path that does not decode (percent-encoded
/// bytes that are not UTF-8) refused in the `/v2` envelope rather than
/// axum's plain-text 400.
pub struct V2Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for V2Path<T> {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, V2Error> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| V2Path(value))
            .map_err(|e| V2Error::refuse("invalid_value", e.body_text(), None))
    }
}
