//! A project's customer records: `POST`/`GET /v1/projects/{id}/records`,
//! `GET /v1/projects/{id}/records/{recordId}` (with its event list and the
//! SMS sent to it), `POST /v1/projects/{id}/records/import` (JSON lines,
//! all-or-nothing), and the SMS the host sent, `GET
//! /v1/projects/{id}/messages`.
//!
//! A record is sent as `{"phone", "timeZone"?, "fields"?}`. The phone may be
//! spelt any way a person writes it; it is stored in E.164 under the
//! project's `defaultCountry`. `fields` is a list of `[name, value]` pairs,
//! the shape records are returned in and plugins receive, so order and
//! repeated names survive a round trip. Nothing here runs plugins.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::auth::Tenant;
use super::body::{Json, parse};
use super::page::Page;
use super::projects::{Ids, check_zone};
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::model::{ProjectId, RecordId};
use crate::phone::to_e164;
use crate::store::{NewRecord, RecordEvent, SentMessage, StoredRecord};

/// The most `[name, value]` pairs a record may carry.
pub const MAX_FIELDS: usize = 100;
/// The longest field name or value, in bytes.
pub const MAX_FIELD_BYTES: usize = 4096;
/// The most records one import may hold; more is a 413 and nothing is stored.
pub const MAX_IMPORT_LINES: usize = 10_000;
/// The largest import body: 16 MiB, about 1.6 KiB a line at the line cap.
/// Imports have their own limit; the API's default body limit is for
/// single requests.
pub const MAX_IMPORT_BYTES: usize = 16 << 20;
/// How many bad lines an import's error lists before it stops counting.
const MAX_REPORTED_LINES: usize = 10;

/// A record as a tenant sends it, alone or as one line of an import.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordBody {
    phone: String,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    fields: Vec<(String, String)>,
}

impl RecordBody {
    /// The record to store in `project`, or the 422 that explains why not.
    fn check(self, project: ProjectId, country: &str) -> ApiResult<NewRecord> {
        let phone = to_e164(&self.phone, country).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_phone",
                e.to_string(),
            )
        })?;
        if let Some(zone) = &self.time_zone {
            check_zone(zone, "timeZone")?;
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(ApiError::invalid(format!(
                "fields: {} pairs; a record may have at most {MAX_FIELDS}",
                self.fields.len()
            )));
        }
        for (name, value) in &self.fields {
            if name.trim().is_empty() {
                return Err(ApiError::invalid("fields: a field name must not be empty"));
            }
            if name.len() > MAX_FIELD_BYTES || value.len() > MAX_FIELD_BYTES {
                return Err(ApiError::invalid(format!(
                    "fields: field {:?} is over {MAX_FIELD_BYTES} bytes",
                    name.chars().take(40).collect::<String>()
                )));
            }
        }
        Ok(NewRecord {
            project_id: project,
            phone,
            time_zone: self.time_zone,
            fields: self.fields,
        })
    }
}

/// The project's default country, or 404 when the project is not the tenant's.
async fn default_country(state: &AppState, tenant: Tenant, project: u64) -> ApiResult<String> {
    let directory = state.directory.clone();
    let project = blocking(move || Ok(directory.project(tenant.0, ProjectId(project))?)).await?;
    Ok(project.settings.default_country)
}

/// Creates a record; its phone is stored in E.164 under the project's
/// default country.
#[utoipa::path(
    post,
    path = "/v1/projects/{id}/records",
    tag = "records",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    request_body = RecordBody,
    responses(
        (status = 201, description = "The record as stored.", body = StoredRecord),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
        (status = 422, description = "The phone cannot be read (`invalid_phone`), a bad zone or field, or the body has another shape.", body = ErrorBody),
    )
)]
pub async fn records_create(
    tenant: Tenant,
    State(state): State<AppState>,
    Ids(project): Ids<u64>,
    Json(body): Json<RecordBody>,
) -> ApiResult<(StatusCode, axum::Json<StoredRecord>)> {
    let country = default_country(&state, tenant, project).await?;
    let record = body.check(ProjectId(project), &country)?;
    let created = blocking(move || Ok(state.directory.create_record(tenant.0, &record)?)).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// A project's records.
#[utoipa::path(
    get,
    path = "/v1/projects/{id}/records",
    tag = "records",
    security(("tenant_key" = [])),
    params(
        ("id" = u64, Path, description = "The project's id."),
        ("limit" = Option<usize>, Query, description = "Records in the page: 1 to 1,000 (default 100)."),
        ("after" = Option<u64>, Query, description = "The id the previous page ended with (its `X-Next-After`)."),
    ),
    responses(
        (status = 200, description = "A page of the project's records, by id; `X-Next-After` names the next page when this one is full.", body = Vec<StoredRecord>,
            headers(("X-Next-After" = String, description = "The cursor of the next page."))),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
        (status = 422, description = "A limit or cursor out of range.", body = ErrorBody),
    )
)]
pub async fn records_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(project): Ids<u64>,
    query: Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<StoredRecord>>)> {
    let page = Page::from_query(query)?;
    let after = RecordId(page.after_id()?);
    let limit = page.limit;
    let records = blocking(move || {
        Ok(state
            .directory
            .records(tenant, ProjectId(project), after, limit)?)
    })
    .await?;
    let headers = page.headers(records.len(), records.last().map(|r| r.id.0.to_string()));
    Ok((headers, axum::Json(records)))
}

/// The SMS the host sent for a project (its plugins' accepted `send-sms`
/// actions, recorded with the decision that sent them).
#[utoipa::path(
    get,
    path = "/v1/projects/{id}/messages",
    tag = "records",
    security(("tenant_key" = [])),
    params(
        ("id" = u64, Path, description = "The project's id."),
        ("limit" = Option<usize>, Query, description = "Messages in the page: 1 to 1,000 (default 100)."),
        ("after" = Option<u64>, Query, description = "The id the previous page ended with (its `X-Next-After`)."),
    ),
    responses(
        (status = 200, description = "A page of the project's sent messages, oldest first; `X-Next-After` names the next page when this one is full.", body = Vec<SentMessage>,
            headers(("X-Next-After" = String, description = "The cursor of the next page."))),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
        (status = 422, description = "A limit or cursor out of range.", body = ErrorBody),
    )
)]
pub async fn messages_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(project): Ids<u64>,
    query: Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<SentMessage>>)> {
    let page = Page::from_query(query)?;
    let after = page.after_id()?;
    let limit = page.limit;
    let messages = blocking(move || {
        Ok(state
            .directory
            .messages(tenant, ProjectId(project), after, limit)?)
    })
    .await?;
    let headers = page.headers(messages.len(), messages.last().map(|m| m.id.to_string()));
    Ok((headers, axum::Json(messages)))
}

/// A record with its event list and the SMS the host sent it, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    #[serde(flatten)]
    record: StoredRecord,
    events: Vec<RecordEvent>,
    messages: Vec<SentMessage>,
}

/// One record with its event list, oldest first.
#[utoipa::path(
    get,
    path = "/v1/projects/{id}/records/{record_id}",
    tag = "records",
    security(("tenant_key" = [])),
    params(
        ("id" = u64, Path, description = "The project's id."),
        ("record_id" = u64, Path, description = "The record's id."),
    ),
    responses(
        (status = 200, description = "The record and its events.", body = RecordView),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project or record of the tenant's.", body = ErrorBody),
    )
)]
pub async fn records_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids((project, record)): Ids<(u64, u64)>,
) -> ApiResult<axum::Json<RecordView>> {
    let view = blocking(move || {
        let project = state.directory.project(tenant, ProjectId(project))?;
        let record = state
            .directory
            .record_in(tenant, &project, RecordId(record))?;
        let events = state
            .directory
            .record_events(tenant, project.id, record.id)?;
        let messages = state
            .directory
            .record_messages(tenant, project.id, record.id)?;
        Ok(RecordView {
            record,
            events,
            messages,
        })
    })
    .await?;
    Ok(axum::Json(view))
}

/// Imports JSON lines, one record object a line (blank lines are skipped;
/// the content type is ignored) into a project of the tenant's (else 404,
/// before the body is read). Every line is checked before anything is
/// stored; any bad line is a 422 naming the line numbers (from 1) and what
/// is wrong, and nothing is stored. Success is 201
/// `{"imported": n, "ids": [...]}`, ids in line order.
/// What an import stored.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// How many records were created.
    imported: usize,
    /// Their ids, in line order.
    ids: Vec<RecordId>,
}

#[utoipa::path(
    post,
    path = "/v1/projects/{id}/records/import",
    tag = "records",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    request_body(content = String, content_type = "application/x-ndjson", description = "JSON lines: one record object (as for a single record) a line; blank lines are skipped, the content type is ignored."),
    responses(
        (status = 201, description = "Every line was stored.", body = Imported),
        (status = 400, description = "The body is not UTF-8.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
        (status = 413, description = "Too many lines or bytes; nothing was stored.", body = ErrorBody),
        (status = 422, description = "Some lines are bad (named by number); nothing was stored.", body = ErrorBody),
    )
)]
pub async fn records_import(
    tenant: Tenant,
    State(state): State<AppState>,
    Ids(project): Ids<u64>,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Imported>)> {
    let country = default_country(&state, tenant, project).await?;
    let too_large =
        |what: String| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "import_too_large", what);
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| {
            too_large(format!(
                "the import could not be read whole; it may be at most {MAX_IMPORT_BYTES} bytes"
            ))
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the import is not UTF-8: {e}")))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| (index + 1, line))
        .collect();
    if lines.is_empty() {
        return Err(ApiError::invalid(
            "the import holds no records; send one JSON record object a line",
        ));
    }
    if lines.len() > MAX_IMPORT_LINES {
        return Err(too_large(format!(
            "the import holds {} records; one import may hold at most {MAX_IMPORT_LINES}",
            lines.len()
        )));
    }
    let records = check_lines(&lines, ProjectId(project), &country)?;
    let created = blocking(move || Ok(state.directory.create_records(tenant.0, &records)?)).await?;
    let ids: Vec<RecordId> = created.iter().map(|r| r.id).collect();
    tracing::info!(tenant = %tenant.0, project, imported = ids.len(), "records imported");
    let body = Imported {
        imported: ids.len(),
        ids,
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// Every line as a record, or one 422 listing the first bad lines; its
/// code is `invalid_phone` when only phones are wrong, else `invalid`.
fn check_lines(
    lines: &[(usize, &str)],
    project: ProjectId,
    country: &str,
) -> ApiResult<Vec<NewRecord>> {
    let mut records = Vec::with_capacity(lines.len());
    let mut problems: Vec<ApiError> = Vec::new();
    let mut bad = 0;
    for &(number, line) in lines {
        let checked = parse::<RecordBody>(line.as_bytes()).and_then(|r| r.check(project, country));
        match checked {
            Ok(record) => records.push(record),
            Err(mut error) => {
                bad += 1;
                if problems.len() < MAX_REPORTED_LINES {
                    error.message = format!("line {number}: {}", error.message);
                    problems.push(error);
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(records);
    }
    let code = if problems.iter().all(|p| p.code == "invalid_phone") {
        "invalid_phone"
    } else {
        "invalid"
    };
    let mut message = format!(
        "{bad} of {} lines are bad; nothing was imported: ",
        lines.len()
    );
    let listed: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    message.push_str(&listed.join("; "));
    if bad > MAX_REPORTED_LINES {
        message.push_str(&format!("; and {} more", bad - MAX_REPORTED_LINES));
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
    ))
}
