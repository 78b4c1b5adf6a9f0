//! `POST /v1/webhooks/sms/status`, `/v1/webhooks/sms/inbound` and
//! `/v1/webhooks/call/disposition`.
//!
//! A webhook is answered 202 only once its event is journaled (durably);
//! `?wait=true` waits for the decision and returns the event. Anything
//! wrong with the request is a 4xx and nothing is journaled; that includes
//! a timestamp outside the tenant's acceptance window (422
//! `outside_accept_window`, checked by `Pipeline::prepare` as for every way
//! events come in), which also bounds how long a captured signed webhook
//! can be replayed.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

use super::auth::{SIGNATURE_HEADER, check_webhook};
use super::body::{RawBody, parse};
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::model::{
    Assessment, CallDirection, CallOutcome, DeliveryStatus, EventId, ProjectId, RecordId, TenantId,
    Timestamp,
};
use crate::pipeline::Incoming;
use crate::store::{EventView, JournalEntry, Journaled};

/// How long `?wait=true` waits for the decision before answering 202.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// An outbound SMS's delivery status.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    #[schema(min_length = 1)]
    message_id: String,
    project_id: ProjectId,
    record_id: RecordId,
    status: DeliveryStatus,
    #[schema(schema_with = timestamp_schema)]
    timestamp: serde_json::Value,
    #[serde(default)]
    template_id: Option<String>,
}

/// An SMS a customer sent, in the source system's field names.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct InboundBody {
    /// Always `in`.
    #[schema(pattern = "^in$", example = "in")]
    direction: String,
    message: String,
    #[serde(default)]
    #[allow(dead_code)] // the receiving number; kept in the contract, not used
    number_id: serde_json::Value,
    project_id: ProjectId,
    source_phone_number: String,
    #[schema(schema_with = timestamp_schema)]
    timestamp: serde_json::Value,
    #[serde(default)]
    message_id: Option<String>,
}

/// A disposition set on a call, in the contact center's own webhook shape
/// and field names.
#[derive(Deserialize, utoipa::ToSchema)]
struct CallDispositionBody {
    /// The call's id: a retried webhook with the same one is a duplicate.
    #[schema(min_length = 1)]
    uuid: String,
    /// The line the call used; kept in the contract, not used.
    #[serde(default)]
    #[allow(dead_code)]
    numberid: serde_json::Value,
    projectid: ProjectId,
    /// The number called; the customer's on an outbound call.
    #[serde(default)]
    destination: Option<String>,
    /// The number that called; the customer's on an inbound call.
    #[serde(default)]
    source: Option<String>,
    /// `out` (or `outbound`) or `in` (or `inbound`).
    #[schema(example = "out")]
    direction: String,
    disposition: CallDispositionSet,
    /// Call attempts to the record so far, this one included (0 when absent).
    #[serde(default)]
    sum_attempted_calls: Option<u32>,
    /// When the first outbound attempt was made: the same shapes as `timestamp`.
    #[serde(default)]
    #[schema(schema_with = timestamp_schema)]
    first_outbound_call_attempt: Option<serde_json::Value>,
    /// The agent's user id; absent or null when the dialer set the disposition.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    userid: serde_json::Value,
    /// The agent's name.
    #[serde(default)]
    username: Option<String>,
    /// When the disposition was set (ISO 8601 / RFC 3339, or Unix seconds);
    /// or give `create_time`.
    #[serde(default)]
    #[schema(schema_with = timestamp_schema)]
    timestamp: Option<serde_json::Value>,
    /// When the disposition was set, `YYYY-MM-DD hh:mm:ss` in the project's zone.
    #[serde(default)]
    create_time: Option<String>,
    /// The record called; when absent, the one record of the project with
    /// the customer's phone.
    #[serde(default)]
    recordid: Option<RecordId>,
}

/// The disposition set on the call.
#[derive(Deserialize, utoipa::ToSchema)]
struct CallDispositionSet {
    id: u32,
    name: String,
    /// `reached`, `goal_achieved` or `not_reached` (case, spaces and dashes
    /// as the contact center writes them).
    #[schema(example = "not_reached")]
    assessment: String,
}

/// The answer to a journaled webhook (202).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAck {
    /// The event; absent when the webhook changed nothing (`unchanged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<EventId>,
    status: AckStatus,
}

impl WebhookAck {
    /// The answer to a webhook that journals nothing and changes nothing
    /// (a provider's status before the handset is reached).
    pub(super) fn unchanged() -> Self {
        Self {
            event_id: None,
            status: AckStatus::Unchanged,
        }
    }
}

/// What journaling made of a webhook.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// New: it will be processed.
    Accepted,
    /// Seen before (same message id and status): not processed again.
    Duplicate,
    /// Recorded, not processed: a later status of the message already arrived.
    Superseded,
    /// Nothing to journal (a provider's `queued` or `sending`).
    Unchanged,
}

/// A webhook timestamp: Unix seconds, RFC 3339, or `YYYY-MM-DD hh:mm:ss`
/// in the project's zone.
fn timestamp_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("Unix seconds")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "RFC 3339, or `YYYY-MM-DD hh:mm:ss` read in the project's time zone",
                )),
        )
        .examples(["2026-12-01 14:30:00"])
        .build()
        .into()
}

/// Outbound delivery status (`sent`, `delivered`, `not_traceable`) of an
/// SMS sent to a record.
#[utoipa::path(
    post,
    path = "/v1/webhooks/sms/status",
    tag = "webhooks",
    security(("webhook_secret" = []), ("webhook_signature" = [])),
    params(
        ("secret-key" = Option<String>, Query, description = "The tenant's webhook secret (when the tenant accepts it in the URL)."),
        ("wait" = Option<bool>, Query, description = "Wait (up to 10 s) for the decision and answer the processed event."),
        ("X-Smstrigger-Signature" = Option<String>, Header, description = "Hex HMAC-SHA256 of the raw body under the webhook secret, optionally prefixed `sha256=` (when the tenant accepts signatures)."),
    ),
    request_body = StatusBody,
    responses(
        (status = 200, description = "With `?wait=true`: the event, processed.", body = EventView),
        (status = 202, description = "Journaled (durably); processed in the background. Also the answer to a duplicate or superseded event, and when `?wait=true` times out.", body = WebhookAck),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 413, description = "The body is over the server's size limit (`max_body_bytes`, 1 MiB by default); nothing was journaled.", body = ErrorBody),
        (status = 401, description = "Unknown project or wrong webhook credentials (the same answer for both).", body = ErrorBody),
        (status = 429, description = "The tenant is over its events-per-second quota; see `Retry-After`.", body = ErrorBody),
        (status = 503, description = "Too many of the tenant's events are pending, or the journal is momentarily unavailable; nothing was journaled; see `Retry-After`.", body = ErrorBody),
        (status = 404, description = "The record is not in the tenant's project.", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (empty messageId, bad timestamp, unknown status), or the timestamp is outside the tenant's acceptance window (`outside_accept_window`).", body = ErrorBody),
    )
)]
pub async fn webhooks_status(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let parsed: StatusBody = parse(&body)?;
    if parsed.message_id.trim().is_empty() {
        return Err(ApiError::invalid("messageId must not be empty"));
    }
    let wait = waits(&query);
    let prepared = state.clone();
    let (tenant, entry) = blocking(move || {
        let (tenant, zone) = authenticate(&prepared, parsed.project_id, &query, &headers, &body)?;
        prepared.quotas.take_event(tenant)?;
        let incoming = Incoming::Status {
            timestamp: parse_timestamp(&parsed.timestamp, &zone)?,
            message_id: parsed.message_id,
            project_id: parsed.project_id,
            record_id: parsed.record_id,
            status: parsed.status,
            template_id: parsed.template_id,
        };
        Ok((tenant, prepared.pipeline.prepare(tenant, incoming)?))
    })
    .await?;
    accept(state, tenant, entry, wait).await
}

/// An inbound SMS (`direction` must be `in`).
#[utoipa::path(
    post,
    path = "/v1/webhooks/sms/inbound",
    tag = "webhooks",
    security(("webhook_secret" = []), ("webhook_signature" = [])),
    params(
        ("secret-key" = Option<String>, Query, description = "The tenant's webhook secret (when the tenant accepts it in the URL)."),
        ("wait" = Option<bool>, Query, description = "Wait (up to 10 s) for the decision and answer the processed event."),
        ("X-Smstrigger-Signature" = Option<String>, Header, description = "Hex HMAC-SHA256 of the raw body under the webhook secret, optionally prefixed `sha256=` (when the tenant accepts signatures)."),
    ),
    request_body = InboundBody,
    responses(
        (status = 200, description = "With `?wait=true`: the event, processed.", body = EventView),
        (status = 202, description = "Journaled (durably); processed in the background. Also the answer to a duplicate or superseded event, and when `?wait=true` times out.", body = WebhookAck),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 413, description = "The body is over the server's size limit (`max_body_bytes`, 1 MiB by default); nothing was journaled.", body = ErrorBody),
        (status = 401, description = "Unknown project or wrong webhook credentials (the same answer for both).", body = ErrorBody),
        (status = 429, description = "The tenant is over its events-per-second quota; see `Retry-After`.", body = ErrorBody),
        (status = 503, description = "Too many of the tenant's events are pending, or the journal is momentarily unavailable; nothing was journaled; see `Retry-After`.", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (direction, phone, timestamp), or the timestamp is outside the tenant's acceptance window (`outside_accept_window`).", body = ErrorBody),
    )
)]
pub async fn webhooks_inbound(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let parsed: InboundBody = parse(&body)?;
    if parsed.direction != "in" {
        return Err(ApiError::invalid(format!(
            "direction must be \"in\" for an inbound message, got \"{}\"",
            parsed.direction
        )));
    }
    // Unlike a receipt (which reads its record), an inbound message needs
    // only settings the store keeps in memory (project, tenant), so it is
    // prepared right here: a trip to the blocking pool measured as 9% of
    // the server's CPU at peak. A settings miss is one indexed read.
    let (tenant, zone) = authenticate(&state, parsed.project_id, &query, &headers, &body)?;
    state.quotas.admit_event(tenant).await?;
    let incoming = Incoming::Inbound {
        timestamp: parse_timestamp(&parsed.timestamp, &zone)?,
        message_id: parsed.message_id.filter(|id| !id.trim().is_empty()),
        project_id: parsed.project_id,
        source_phone_number: parsed.source_phone_number,
        message: parsed.message,
    };
    let entry = state.pipeline.prepare(tenant, incoming)?;
    accept(state, tenant, entry, waits(&query)).await
}

/// A call's disposition, in the contact center's webhook shape: the record
/// is `recordid`, else the one record of the project with the customer's
/// phone (`destination` on an outbound call, `source` on an inbound one).
/// The call's `uuid` dedupes it. Plugins built for world 0.2.0 or later
/// are asked; older ones are not.
#[utoipa::path(
    post,
    path = "/v1/webhooks/call/disposition",
    tag = "webhooks",
    security(("webhook_secret" = []), ("webhook_signature" = [])),
    params(
        ("secret-key" = Option<String>, Query, description = "The tenant's webhook secret (when the tenant accepts it in the URL)."),
        ("wait" = Option<bool>, Query, description = "Wait (up to 10 s) for the decision and answer the processed event."),
        ("X-Smstrigger-Signature" = Option<String>, Header, description = "Hex HMAC-SHA256 of the raw body under the webhook secret, optionally prefixed `sha256=` (when the tenant accepts signatures)."),
    ),
    request_body = CallDispositionBody,
    responses(
        (status = 200, description = "With `?wait=true`: the event, processed.", body = EventView),
        (status = 202, description = "Journaled (durably); processed in the background. Also the answer to a duplicate (the same `uuid`), and when `?wait=true` times out.", body = WebhookAck),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 413, description = "The body is over the server's size limit (`max_body_bytes`, 1 MiB by default); nothing was journaled.", body = ErrorBody),
        (status = 401, description = "Unknown project or wrong webhook credentials (the same answer for both).", body = ErrorBody),
        (status = 404, description = "The record is not in the tenant's project, or no record has the customer's phone.", body = ErrorBody),
        (status = 429, description = "The tenant is over its events-per-second quota; see `Retry-After`.", body = ErrorBody),
        (status = 503, description = "Too many of the tenant's events are pending, or the journal is momentarily unavailable; nothing was journaled; see `Retry-After`.", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (empty uuid, direction, assessment, phone, timestamps), several records have the phone (`ambiguous_phone`), or the timestamp is outside the tenant's acceptance window (`outside_accept_window`).", body = ErrorBody),
    )
)]
pub async fn webhooks_call_disposition(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let parsed: CallDispositionBody = parse(&body)?;
    if parsed.uuid.trim().is_empty() {
        return Err(ApiError::invalid("uuid must not be empty"));
    }
    let direction = call_direction(&parsed.direction)?;
    let disposition = CallOutcome {
        assessment: assessment(&parsed.disposition.assessment)?,
        id: parsed.disposition.id,
        name: parsed.disposition.name,
    };
    let (phone, field) = match direction {
        CallDirection::Outbound => (parsed.destination, "destination"),
        CallDirection::Inbound => (parsed.source, "source"),
    };
    let phone = phone
        .filter(|phone| !phone.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{field} (the customer's phone) is required on an {} call",
                parsed.direction
            ))
        })?;
    let agent = agent(&parsed.userid, parsed.username.as_deref());
    let wait = waits(&query);
    let prepared = state.clone();
    let (tenant, entry) = blocking(move || {
        let (tenant, zone) = authenticate(&prepared, parsed.projectid, &query, &headers, &body)?;
        let timestamp = match (&parsed.timestamp, &parsed.create_time) {
            (Some(timestamp), _) => parse_time(timestamp, &zone, "timestamp")?,
            (None, Some(created)) => parse_time(&json_string(created), &zone, "create_time")?,
            (None, None) => {
                return Err(ApiError::invalid(
                    "timestamp (ISO 8601) or create_time (YYYY-MM-DD hh:mm:ss) is required",
                ));
            }
        };
        let first_attempt = match &parsed.first_outbound_call_attempt {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(parse_time(value, &zone, "first_outbound_call_attempt")?),
        };
        prepared.quotas.take_event(tenant)?;
        let incoming = Incoming::CallDisposition {
            call_id: parsed.uuid,
            project_id: parsed.projectid,
            phone,
            record_id: parsed.recordid,
            disposition,
            direction,
            attempts: parsed.sum_attempted_calls.unwrap_or(0),
            first_attempt,
            agent,
            timestamp,
        };
        Ok((tenant, prepared.pipeline.prepare(tenant, incoming)?))
    })
    .await?;
    accept(state, tenant, entry, wait).await
}

/// `out`/`outbound` or `in`/`inbound`, in any case.
fn call_direction(text: &str) -> ApiResult<CallDirection> {
    match text.trim().to_ascii_lowercase().as_str() {
        "out" | "outbound" => Ok(CallDirection::Outbound),
        "in" | "inbound" => Ok(CallDirection::Inbound),
        _ => Err(ApiError::invalid(format!(
            "direction must be \"out\" or \"in\" (or outbound, inbound), got {text:?}"
        ))),
    }
}

/// A disposition's assessment as contact centers write it: `reached`,
/// `goal_achieved`, `not_reached`, in any case, with spaces or dashes.
fn assessment(text: &str) -> ApiResult<Assessment> {
    let normal: String = text
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    match normal.as_str() {
        "reached" => Ok(Assessment::Reached),
        "goal_achieved" => Ok(Assessment::GoalAchieved),
        "not_reached" => Ok(Assessment::NotReached),
        _ => Err(ApiError::invalid(format!(
            "disposition.assessment must be reached, goal_achieved or not_reached, got {text:?}"
        ))),
    }
}

/// Who set the disposition: `name (id)`, either alone, or `None` (the
/// dialer) when the webhook names nobody.
fn agent(userid: &serde_json::Value, username: Option<&str>) -> Option<String> {
    let id = match userid {
        serde_json::Value::String(id) if !id.trim().is_empty() => Some(id.trim().to_string()),
        serde_json::Value::Number(id) => Some(id.to_string()),
        _ => None,
    };
    let name = username.map(str::trim).filter(|name| !name.is_empty());
    match (name, id) {
        (Some(name), Some(id)) => Some(format!("{name} ({id})")),
        (Some(name), None) => Some(name.to_string()),
        (None, id) => id,
    }
}

fn json_string(text: &str) -> serde_json::Value {
    serde_json::Value::String(text.to_string())
}

/// The tenant owning `project`, if the request carries its credentials
/// and has room for more pending events; with the project's time zone. An
/// unknown project and wrong credentials get the same answer, so project
/// ids cannot be probed. Reads settings the store keeps in memory (one
/// indexed read each on a miss). The events-per-second quota is the
/// caller's to take: it may need the store on a shared one.
fn authenticate(
    state: &AppState,
    project: ProjectId,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<(TenantId, String)> {
    // An id SQLite cannot hold is as unknown as any other.
    if i64::try_from(project.0).is_err() {
        return Err(check_webhook_unknown());
    }
    let Some(tenant) = state.directory.project_owner(project)? else {
        return Err(check_webhook_unknown());
    };
    let settings = state.directory.tenant(tenant)?;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let secret = query.get("secret-key").map(String::as_str);
    check_webhook(&settings, secret, signature, body)?;
    admit(state, tenant)?;
    let zone = state.directory.project(tenant, project)?.settings.time_zone;
    Ok((tenant, zone))
}

/// Refuses an authenticated tenant's webhook while too many of its events
/// wait to be processed.
pub(super) fn admit(state: &AppState, tenant: TenantId) -> ApiResult<()> {
    let waiting = state.journal_depth.of(tenant);
    if waiting >= state.config.max_pending {
        return Err(ApiError::overloaded(
            format!("{waiting} events of this tenant are waiting to be processed"),
            5,
        ));
    }
    Ok(())
}

/// Whether the request asks to wait for the decision (`?wait=true`).
fn waits(query: &HashMap<String, String>) -> bool {
    query.get("wait").is_some_and(|v| v == "true" || v == "1")
}

fn check_webhook_unknown() -> ApiError {
    ApiError::unauthorized(
        "unknown project or wrong webhook credentials (secret-key or X-Smstrigger-Signature)",
    )
}

/// Journals the prepared entry (with whatever else is arriving) and
/// answers; with `wait`, once the event is decided (or [`WAIT_LIMIT`]).
pub(super) async fn accept(
    state: AppState,
    tenant: TenantId,
    entry: JournalEntry,
    wait: bool,
) -> ApiResult<Response> {
    let journaled = state.pipeline.journal(entry).await?;
    let (status, event_id) = match journaled {
        Journaled::Accepted(id) => (AckStatus::Accepted, id),
        Journaled::Duplicate(id) => (AckStatus::Duplicate, id),
        Journaled::Superseded(id) => (AckStatus::Superseded, id),
    };
    // Only a newly accepted event is this request's to wait for; a
    // duplicate or superseded one is answered at once.
    if wait && matches!(status, AckStatus::Accepted) {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            let directory = state.directory.clone();
            let event = blocking(move || Ok(directory.event(tenant, event_id)?)).await?;
            if event.state != crate::model::EventState::Pending {
                return Ok((StatusCode::OK, axum::Json(event)).into_response());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let body = WebhookAck {
        event_id: Some(event_id),
        status,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Reads a webhook timestamp: Unix seconds, RFC 3339, or
/// `YYYY-MM-DD hh:mm:ss` in the project's zone (a time the zone skips is
/// refused; one it repeats takes the earlier instant).
pub fn parse_timestamp(value: &serde_json::Value, zone: &str) -> ApiResult<Timestamp> {
    parse_time(value, zone, "timestamp")
}

/// [`parse_timestamp`] for the webhook field `field`, which errors name.
fn parse_time(value: &serde_json::Value, zone: &str, field: &str) -> ApiResult<Timestamp> {
    let invalid = |why: String| ApiError::invalid(format!("{field}: {why}"));
    let timestamp = read_timestamp(value, zone, invalid)?;
    if !crate::model::EVENT_TIME_RANGE.contains(&timestamp) {
        return Err(invalid(format!("{timestamp} is outside years 1 to 9999")));
    }
    Ok(timestamp)
}

fn read_timestamp(
    value: &serde_json::Value,
    zone: &str,
    invalid: impl Fn(String) -> ApiError,
) -> ApiResult<Timestamp> {
    match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| invalid(format!("{n} is not whole Unix seconds"))),
        serde_json::Value::String(text) => {
            if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
                return Ok(instant.timestamp());
            }
            let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map_err(|_| {
                invalid(format!(
                    "`{text}` is neither RFC 3339 nor YYYY-MM-DD hh:mm:ss"
                ))
            })?;
            let tz: chrono_tz::Tz = zone
                .parse()
                .map_err(|_| invalid(format!("the project's zone `{zone}` is unknown")))?;
            tz.from_local_datetime(&local)
                .earliest()
                .map(|instant| instant.timestamp())
                .ok_or_else(|| invalid(format!("{text} does not exist in {zone} (a DST gap)")))
        }
        other => Err(invalid(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_are_read_in_all_three_shapes() {
        let zone = "Europe/Budapest";
        assert_eq!(
            parse_timestamp(&json!(1_800_000_000), zone).unwrap(),
            1_800_000_000
        );
        assert_eq!(
            parse_timestamp(&json!("2026-12-01T13:30:00Z"), zone).unwrap(),
            1_796_131_800
        );
        assert_eq!(
            parse_timestamp(&json!("2026-12-01 14:30:00"), zone).unwrap(),
            1_796_131_800
        );
    }

    #[test]
    fn a_local_time_in_a_dst_gap_is_refused() {
        let err = parse_timestamp(&json!("2026-03-29 02:30:00"), "Europe/Budapest").unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.message.contains("DST gap"), "{}", err.message);
    }

    #[test]
    fn other_shapes_are_refused() {
        for value in [json!("yesterday"), json!(true), json!(1.5)] {
            assert!(
                parse_timestamp(&value, "Europe/Budapest").is_err(),
                "{value}"
            );
        }
    }
}
