//! The webhooks of an SMS provider speaking the Twilio Messages API, for a
//! tenant whose `smsSender` is `twilio`:
//! - `POST /v1/webhooks/twilio/{tenantId}/status?messageId=…`: the status
//!   callback of a message the host sent (the SMS outbox names this URL in
//!   each send). The message advances (`queued` → `sent` → `delivered`,
//!   or `undelivered`/`failed`; never backwards) and `sent`, `delivered`,
//!   `undelivered` and `failed` become this product's delivery events
//!   (`sent`, `delivered`, `not_traceable`) for the message's record, which
//!   the outbound rules decide; `queued`, `accepted`, `scheduled`,
//!   `sending` and `read` are acknowledged and change nothing.
//! - `POST /v1/webhooks/twilio/{tenantId}/inbound?projectId=…`: a message
//!   a customer sent to the tenant's number, an inbound event of the
//!   project (deduped by its `MessageSid`), answered with empty TwiML.
//!
//! Both are form posts signed the provider's way: `X-Twilio-Signature` is
//! the Base64 HMAC-SHA1, under the tenant's auth token, of the URL the
//! provider called (this host's `public_url` and the request's path and
//! query) followed by every form field's name and value, sorted by name.
//! A wrong signature, an unknown tenant and a tenant without this provider
//! get the same 401. The provider stamps no time on a callback: the event
//! takes the host's clock.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::auth::constant_time_eq;
use super::body::RawBody;
use super::webhooks::{accept, admit};
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::model::{DeliveryStatus, ProjectId, TenantId};
use crate::pipeline::Incoming;
use crate::store::{Journaled, MessageStatus, SmsSenderSettings};

/// The header the provider signs its webhooks in.
pub const TWILIO_SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The empty TwiML answer: no reply to the customer.
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// The Base64 HMAC-SHA1 the provider signs a webhook with: of `url`, then
/// each of `fields`' names and values, sorted by name (then value).
pub fn twilio_signature(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The fields of a status callback this host reads (the provider sends
/// more, all signed). Documentation only: the form is read as it came.
#[allow(non_snake_case, dead_code)]
#[derive(utoipa::ToSchema)]
struct TwilioStatusForm {
    MessageSid: String,
    /// queued, accepted, scheduled, sending, sent, delivered, undelivered,
    /// failed, read or canceled.
    MessageStatus: String,
    AccountSid: Option<String>,
    ErrorCode: Option<String>,
}

/// The fields of an inbound message this host reads (the provider sends
/// more, all signed). Documentation only: the form is read as it came.
#[allow(non_snake_case, dead_code)]
#[derive(utoipa::ToSchema)]
struct TwilioInboundForm {
    MessageSid: String,
    /// The customer's phone.
    From: String,
    /// The tenant's number.
    To: Option<String>,
    Body: Option<String>,
    AccountSid: Option<String>,
}

/// The provider's message statuses, and what each means here: the
/// message's new status and the delivery event it makes (none for the
/// steps before the handset is reached).
fn provider_status(text: &str) -> Option<(MessageStatus, Option<DeliveryStatus>)> {
    Some(match text {
        "queued" | "accepted" | "scheduled" | "sending" => (MessageStatus::Queued, None),
        "sent" => (MessageStatus::Sent, Some(DeliveryStatus::Sent)),
        "delivered" | "read" => (MessageStatus::Delivered, Some(DeliveryStatus::Delivered)),
        "undelivered" => (
            MessageStatus::Undelivered,
            Some(DeliveryStatus::NotTraceable),
        ),
        "failed" | "canceled" => (MessageStatus::Failed, Some(DeliveryStatus::NotTraceable)),
        _ => return None,
    })
}

/// A provider's form fields, by name (the first of a repeated one).
struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// A field that must be there and not blank.
    fn required(&self, name: &str) -> ApiResult<&str> {
        self.get(name)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| ApiError::invalid(format!("{name} is required")))
    }
}

/// The tenant id in the path; one that does not parse names no tenant, and
/// gets the answer an unknown one gets (401), not axum's plain-text 400.
fn path_tenant(tenant: Result<Path<u64>, PathRejection>) -> u64 {
    tenant.map_or(u64::MAX, |Path(tenant)| tenant)
}

/// Checks the request's signature against `tenant`'s provider token.
fn authenticate(
    state: &AppState,
    tenant: u64,
    uri: &Uri,
    headers: &HeaderMap,
    form: &Form,
) -> ApiResult<TenantId> {
    let unknown = || {
        ApiError::unauthorized(
            "unknown tenant, or a wrong or missing X-Twilio-Signature for its SMS provider",
        )
    };
    if i64::try_from(tenant).is_err() {
        return Err(unknown());
    }
    let tenant = TenantId(tenant);
    let settings = match state.directory.tenant(tenant) {
        Ok(settings) => settings,
        Err(crate::directory::Error::Store(crate::store::Error::NotFound { .. })) => {
            return Err(unknown());
        }
        Err(other) => return Err(other.into()),
    };
    let SmsSenderSettings::Twilio { auth_token, .. } = &settings.sms_sender else {
        return Err(unknown());
    };
    let given = headers
        .get(TWILIO_SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(unknown)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", state.config.public_root());
    let expected = twilio_signature(auth_token, &url, &form.fields);
    if !constant_time_eq(expected.as_bytes(), given.trim().as_bytes()) {
        return Err(unknown());
    }
    admit(state, tenant)?;
    Ok(tenant)
}

/// The status callback of a message the host sent through the provider.
#[utoipa::path(
    post,
    path = "/v1/webhooks/twilio/{tenantId}/status",
    tag = "webhooks",
    params(
        ("tenantId" = u64, Path, description = "The tenant whose provider calls."),
        ("messageId" = String, Query, description = "The host's id of the message, as the SMS outbox put it in the callback URL."),
        ("X-Twilio-Signature" = String, Header, description = "Base64 HMAC-SHA1, under the tenant's provider auth token, of the URL called and the form fields sorted by name."),
    ),
    request_body(content = TwilioStatusForm, content_type = "application/x-www-form-urlencoded", description = "The provider's fields: `MessageSid`, `MessageStatus` (queued, accepted, scheduled, sending, sent, delivered, undelivered, failed, read, canceled), and others it sends, all signed."),
    responses(
        (status = 202, description = "A delivery event was journaled (or was a duplicate or superseded: a status never moves a message backwards); or the status changes nothing (`unchanged`, no `eventId`).", body = super::webhooks::WebhookAck),
        (status = 401, description = "Unknown tenant, a tenant without this provider, or a wrong signature (the same answer).", body = ErrorBody),
        (status = 404, description = "The tenant sent no message with this `messageId`.", body = ErrorBody),
        (status = 413, description = "The body is over the server's size limit.", body = ErrorBody),
        (status = 422, description = "`messageId`, `MessageSid` or `MessageStatus` is missing, or the status is not one of the provider's.", body = ErrorBody),
        (status = 429, description = "The tenant is over its events-per-second quota; see `Retry-After`.", body = ErrorBody),
        (status = 503, description = "Too many of the tenant's events are pending; see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn twilio_status(
    State(state): State<AppState>,
    tenant: Result<Path<u64>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let tenant = path_tenant(tenant);
    let form = Form::parse(&body);
    let prepared = state.clone();
    let journaled = blocking(move || {
        let tenant = authenticate(&prepared, tenant, &uri, &headers, &form)?;
        let message_id = query
            .get("messageId")
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| ApiError::invalid("messageId (in the callback URL) is required"))?;
        form.required("MessageSid")?;
        let text = form.required("MessageStatus")?;
        let (status, delivery) = provider_status(text).ok_or_else(|| {
            ApiError::invalid(format!(
                "MessageStatus {text:?} is not a status of the provider's"
            ))
        })?;
        // The quota first: a 429 must leave the message as it was, so the
        // provider's retry advances it and journals its event together.
        if delivery.is_some() {
            prepared.quotas.take_event(tenant)?;
        }
        let message = prepared
            .directory
            .advance_message(tenant, message_id, status)?
            .ok_or_else(|| ApiError::not_found(format!("message {message_id}")))?;
        // A status of an SMS to a phone with no record (the host's answer
        // to a stranger) moves the message only: no record to act on.
        let (Some(delivery), Some(record_id)) = (delivery, message.record_id) else {
            return Ok(None);
        };
        let incoming = Incoming::Status {
            message_id: message.message_id,
            project_id: message.project_id,
            record_id,
            status: delivery,
            template_id: message.template_id,
            timestamp: prepared.config.clock.now(),
        };
        Ok(Some((tenant, prepared.pipeline.prepare(tenant, incoming)?)))
    })
    .await?;
    match journaled {
        Some((tenant, entry)) => accept(state, tenant, entry, false).await,
        None => Ok((
            StatusCode::ACCEPTED,
            axum::Json(super::webhooks::WebhookAck::unchanged()),
        )
            .into_response()),
    }
}

/// A message a customer sent to the tenant's provider number.
#[utoipa::path(
    post,
    path = "/v1/webhooks/twilio/{tenantId}/inbound",
    tag = "webhooks",
    params(
        ("tenantId" = u64, Path, description = "The tenant whose provider calls."),
        ("projectId" = u64, Query, description = "The project the number's messages belong to (one webhook URL per project)."),
        ("X-Twilio-Signature" = String, Header, description = "Base64 HMAC-SHA1, under the tenant's provider auth token, of the URL called and the form fields sorted by name."),
    ),
    request_body(content = TwilioInboundForm, content_type = "application/x-www-form-urlencoded", description = "The provider's fields: `MessageSid`, `From`, `To`, `Body`, and others it sends, all signed."),
    responses(
        (status = 200, description = "Journaled (durably), or a duplicate of a `MessageSid` seen before: empty TwiML (no reply); `X-Smstrigger-Event-Id` names the event.", content_type = "application/xml", body = String),
        (status = 401, description = "Unknown tenant, a tenant without this provider, or a wrong signature (the same answer).", body = ErrorBody),
        (status = 404, description = "The tenant has no such project.", body = ErrorBody),
        (status = 413, description = "The body is over the server's size limit.", body = ErrorBody),
        (status = 422, description = "`projectId`, `MessageSid`, `From` or `Body` is missing, or `From` is not a phone number.", body = ErrorBody),
        (status = 429, description = "The tenant is over its events-per-second quota; see `Retry-After`.", body = ErrorBody),
        (status = 503, description = "Too many of the tenant's events are pending; see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn twilio_inbound(
    State(state): State<AppState>,
    tenant: Result<Path<u64>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let tenant = path_tenant(tenant);
    let form = Form::parse(&body);
    let prepared = state.clone();
    let (tenant, entry) = blocking(move || {
        let tenant = authenticate(&prepared, tenant, &uri, &headers, &form)?;
        let project = query
            .get("projectId")
            .and_then(|id| id.trim().parse::<u64>().ok())
            .map(ProjectId)
            .ok_or_else(|| {
                ApiError::invalid("projectId (in the webhook URL) is required, a whole number")
            })?;
        prepared.directory.project(tenant, project)?;
        let incoming = Incoming::Inbound {
            message_id: Some(form.required("MessageSid")?.to_string()),
            project_id: project,
            source_phone_number: form.required("From")?.to_string(),
            message: form.get("Body").unwrap_or_default().to_string(),
            timestamp: prepared.config.clock.now(),
        };
        prepared.quotas.take_event(tenant)?;
        Ok((tenant, prepared.pipeline.prepare(tenant, incoming)?))
    })
    .await?;
    let journaled: Journaled = state.pipeline.journal(entry).await?;
    tracing::debug!(%tenant, event = %journaled.event_id(), "provider inbound message");
    Ok((
        StatusCode::OK,
        [
            ("content-type", "application/xml".to_string()),
            ("x-smstrigger-event-id", journaled.event_id().to_string()),
        ],
        EMPTY_TWIML,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the provider's own documentation of its signatures.
    #[test]
    fn the_signature_matches_the_providers_documented_example() {
        let fields = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let signature = twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &fields,
        );
        assert_eq!(signature, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn statuses_map_onto_the_delivery_order() {
        assert_eq!(
            provider_status("queued"),
            Some((MessageStatus::Queued, None))
        );
        assert_eq!(
            provider_status("delivered"),
            Some((MessageStatus::Delivered, Some(DeliveryStatus::Delivered)))
        );
        assert_eq!(
            provider_status("undelivered").unwrap().1,
            Some(DeliveryStatus::NotTraceable)
        );
        assert_eq!(provider_status("bogus"), None);
    }
}
