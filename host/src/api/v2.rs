//! The record API in the shape contact-center integrations already call:
//! `/v2/projects/{projectid}/records…`, HTTP Basic auth (account = the
//! tenant id, token = one of its API keys), the source system's lower-case
//! field names, and its envelopes: `{"errors": [], "response": …}` on
//! success, 417 with `{"errors": [{"errorcode", "errormessage", "property"}]}`
//! on a refusal (`property` names the offending field, or is null).
//!
//! Times are `YYYY-MM-DD hh:mm:ss` on the record's wall clock (its own zone,
//! else its project's). A record or project of another tenant, or a record
//! of another project, is `not_found` exactly like one that does not exist.
//! `POST …/dispositions` takes JSON or `application/x-www-form-urlencoded`,
//! and honours `Idempotency-Key`: a repeat on the same record returns the
//! first answer and changes nothing. Owns no storage and no policy beyond
//! the checks a person at the API could trip; the store does the writing.
//!
//! Here: the three handlers and the views. [`envelope`]: the envelopes and
//! HTTP Basic. [`disposition`]: reading and checking a disposition body.

mod disposition;
mod envelope;

use std::collections::BTreeMap;

use axum::extract::{Query, Request, State};
use axum::response::Response;
use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::AppState;
use crate::directory::{self, Directory};
use crate::model::{ProjectId, RecordId, SHARED_CALLBACK_ID, TenantId, Timestamp};
use crate::phone;
use crate::store::{self, ManualDisposition, Project, RecordEvent, StoredRecord};
use crate::wire::v2::V2_DATETIME;
use disposition::{NewDisposition, idempotency_key, instant, read_body};
pub use envelope::V2Tenant;
use envelope::{V2Error, V2Path, V2Result, blocking, ok, parse_id};

/// The project, if `tenant` owns it; any other project is `not_found`.
fn project_of(directory: &Directory, tenant: TenantId, project: u64) -> V2Result<Project> {
    match directory.project(tenant, ProjectId(project)) {
        Err(directory::Error::Store(store::Error::NotFound { .. })) => Err(V2Error::not_found(
            &format!("project {project}"),
            "projectid",
        )),
        other => Ok(other?),
    }
}

/// The record, if it is `tenant`'s and in `project`; anything else is the
/// same `not_found`.
fn record_of(
    directory: &Directory,
    tenant: TenantId,
    project: &Project,
    id: u64,
) -> V2Result<StoredRecord> {
    match directory.record_in(tenant, project, RecordId(id)) {
        Err(directory::Error::Store(store::Error::NotFound { .. })) => Err(V2Error::not_found(
            &format!("record {id} in project {}", project.id),
            "recordid",
        )),
        other => Ok(other?),
    }
}

/// The zone a record's times are read and shown in.
fn zone_of(record: &StoredRecord, project: &Project) -> String {
    record
        .time_zone
        .clone()
        .filter(|z| !z.trim().is_empty())
        .unwrap_or_else(|| project.settings.time_zone.clone())
}

fn local(at: Option<Timestamp>, zone: &str) -> Value {
    let Some(at) = at else { return Value::Null };
    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
    match tz.timestamp_opt(at, 0).single() {
        Some(time) => Value::String(time.format(V2_DATETIME).to_string()),
        None => Value::Null,
    }
}

fn event_view(event: &RecordEvent, zone: &str) -> Value {
    json!({
        "eventid": event.event_id,
        "eventtype": event.event_type,
        "userid": event.user,
        "created": local(Some(event.created_at), zone),
        "dispositionid": event.disposition_id,
        "next_calldate": local(event.next_calldate, zone),
        "plugin": event.plugin,
        "pluginversion": event.plugin_version,
        "description": event.note,
    })
}

/// A record in the source system's names; `fields` as an object (a name
/// given twice keeps its last value).
fn record_view(record: &StoredRecord, zone: &str, events: Option<&[RecordEvent]>) -> Value {
    let fields: Map<String, Value> = record
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut view = json!({
        "id": record.id,
        "projectid": record.project_id,
        "phone1": record.phone,
        "timezone": zone,
        "fields": fields,
        "dispositionid": record.disposition_id,
        "next_calldate": local(record.next_calldate, zone),
    });
    if let Some(events) = events {
        view["events"] = events.iter().map(|e| event_view(e, zone)).collect();
    }
    view
}

/// `GET /v2/projects/{projectid}/records?phone1=…`: the project's records
/// whose phone is `phone1` (read under the project's default country).
#[utoipa::path(
    get,
    path = "/v2/projects/{project}/records",
    tag = "v2",
    security(("basic" = [])),
    params(
        ("project" = String, Path, description = "The project's id (`projectid`)."),
        ("phone1" = String, Query, description = "The phone to find, in any spelling the project's default country reads."),
    ),
    responses(
        (status = 200, description = "The matching records (possibly none).", body = super::openapi::v2::Records),
        (status = 401, description = "Missing or wrong HTTP Basic credentials.", body = super::openapi::v2::Failure),
        (status = 417, description = "Refused: `errorcode` says why, `property` names the field (`not_found` for a project or record not the account's).", body = super::openapi::v2::Failure),
    )
)]
pub async fn v2_records_find(
    V2Tenant(tenant): V2Tenant,
    State(state): State<AppState>,
    V2Path(project): V2Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> V2Result<Response> {
    let project = parse_id(&project, "projectid")?;
    let raw = query
        .get("phone1")
        .filter(|p| !p.trim().is_empty())
        .cloned()
        .ok_or_else(|| V2Error::refuse("missing_field", "phone1 is required", Some("phone1")))?;
    let records = blocking(move || {
        let project = project_of(&state.directory, tenant, project)?;
        let e164 = phone::to_e164(&raw, &project.settings.default_country)
            .map_err(|e| V2Error::refuse("invalid_phone", e.to_string(), Some("phone1")))?;
        let found = state
            .directory
            .records_by_phone(tenant, project.id, &e164)?;
        Ok(found
            .iter()
            .map(|r| record_view(r, &zone_of(r, &project), None))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(ok(Value::Array(records)))
}

/// `GET /v2/projects/{projectid}/records/{recordid}`: one record with its
/// event list.
#[utoipa::path(
    get,
    path = "/v2/projects/{project}/records/{record}",
    tag = "v2",
    security(("basic" = [])),
    params(("project" = String, Path, description = "The project's id (`projectid`)."), ("record" = String, Path, description = "The record's id (`recordid`).")),
    responses(
        (status = 200, description = "The record with its `events`.", body = super::openapi::v2::RecordAnswer),
        (status = 401, description = "Missing or wrong HTTP Basic credentials.", body = super::openapi::v2::Failure),
        (status = 417, description = "Refused: `errorcode` says why, `property` names the field (`not_found` for a project or record not the account's).", body = super::openapi::v2::Failure),
    )
)]
pub async fn v2_record_get(
    V2Tenant(tenant): V2Tenant,
    State(state): State<AppState>,
    V2Path((project, record)): V2Path<(String, String)>,
) -> V2Result<Response> {
    let (project, record) = (
        parse_id(&project, "projectid")?,
        parse_id(&record, "recordid")?,
    );
    let view = blocking(move || {
        let project = project_of(&state.directory, tenant, project)?;
        let record = record_of(&state.directory, tenant, &project, record)?;
        let events = state
            .directory
            .record_events(tenant, project.id, record.id)?;
        Ok(record_view(
            &record,
            &zone_of(&record, &project),
            Some(&events),
        ))
    })
    .await?;
    Ok(ok(view))
}

/// `POST /v2/projects/{projectid}/records/{recordid}/dispositions`: sets a
/// disposition (which the project must have), appending to the record's
/// event list; answers that entry.
#[utoipa::path(
    post,
    path = "/v2/projects/{project}/records/{record}/dispositions",
    tag = "v2",
    security(("basic" = [])),
    params(
        ("project" = String, Path, description = "The project's id (`projectid`)."),
        ("record" = String, Path, description = "The record's id (`recordid`)."),
        ("Idempotency-Key" = Option<String>, Header, description = "A repeat on the same record returns the first answer and changes nothing."),
    ),
    request_body(content(
        (super::openapi::v2::Disposition = "application/json"),
        (super::openapi::v2::Disposition = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The event-list entry the disposition added.", body = super::openapi::v2::EntryAnswer),
        (status = 401, description = "Missing or wrong HTTP Basic credentials.", body = super::openapi::v2::Failure),
        (status = 417, description = "Refused: `errorcode` says why, `property` names the field (`not_found` for a project or record not the account's).", body = super::openapi::v2::Failure),
    )
)]
pub async fn v2_dispositions_create(
    V2Tenant(tenant): V2Tenant,
    State(state): State<AppState>,
    V2Path((project, record)): V2Path<(String, String)>,
    request: Request,
) -> V2Result<Response> {
    let (project, record) = (
        parse_id(&project, "projectid")?,
        parse_id(&record, "recordid")?,
    );
    let key = idempotency_key(&request)?;
    let body = read_body(request, &state).await?;
    let wanted = NewDisposition::from_fields(body)?;
    let entry = blocking(move || {
        let directory = state.directory.as_ref();
        let project = project_of(directory, tenant, project)?;
        let record = record_of(directory, tenant, &project, record)?;
        if !project
            .dispositions
            .iter()
            .any(|d| d.id == wanted.dispositionid)
        {
            return Err(V2Error::refuse(
                "unknown_disposition",
                format!(
                    "project {} has no disposition {}",
                    project.id, wanted.dispositionid
                ),
                Some("dispositionid"),
            ));
        }
        let zone = zone_of(&record, &project);
        let next_calldate = wanted
            .next_calldate
            .map(|at| instant(at, &zone))
            .transpose()?;
        if wanted.dispositionid == SHARED_CALLBACK_ID && next_calldate.is_none() {
            return Err(V2Error::refuse(
                "next_calldate_required",
                "the Shared Callback disposition needs a next_calldate",
                Some("next_calldate"),
            ));
        }
        let entry = directory.set_disposition(
            tenant,
            record.id,
            &ManualDisposition {
                project_id: project.id,
                disposition_id: wanted.dispositionid,
                user: wanted.userid,
                next_calldate,
                description: wanted.description,
                // Scoped to the record: the same key on another record is
                // another request.
                idempotency_key: key.map(|k| format!("v2:{}:{k}", record.id)),
            },
        )?;
        let mut view = event_view(&entry, &zone);
        view["recordid"] = json!(record.id);
        Ok(view)
    })
    .await?;
    Ok(ok(entry))
}
