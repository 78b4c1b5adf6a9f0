//! A tenant's projects and their dispositions: `POST /v1/projects`,
//! `GET /v1/projects`, `GET /v1/projects/{id}`, and
//! `GET`/`POST /v1/projects/{id}/dispositions`.
//!
//! Settings are checked here, before anything is stored: an unknown IANA
//! zone or default country, an empty calling window, a horizon or action
//! limit out of range is a 422 that names the field. Another tenant's
//! project answers exactly like a project that does not exist (404), so
//! ids cannot be probed. Also home of [`Ids`], the path extractor every
//! data handler uses so a malformed id is a 404 in the API's error shape.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::{Acting, Tenant};
use super::body::Json;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::actions::calling_hours::CallingHours;
use crate::actions::{CallingHoursPolicy, PastCallbackPolicy};
use crate::model::{ContactRules, ProjectId, SmsRules};
use crate::phone::{PhoneError, is_supported_country};
use crate::store::{DispositionDef, Project, ProjectSettings};

/// The longest project or disposition name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The allowed callback horizons, in days (ten years at most).
pub const HORIZON_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
/// The allowed per-event action limits; 16 is also the default.
pub const MAX_ACTIONS_PER_EVENT: std::ops::RangeInclusive<usize> = 1..=16;

/// Path parameters that are ids (or names); one that does not parse
/// names nothing, so it is a 404 in the API's error shape (axum's own
/// answer is a plain-text 400). So is an id above `i64::MAX`: ids are
/// SQLite integers, so it names nothing either (and the store could not
/// even look it up).
pub struct Ids<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Serialize + Send> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(ids) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::not_found(format!("no such resource: {}", e.body_text())))?;
        if let Some(n) = beyond_stored_ids(&ids) {
            return Err(ApiError::not_found(format!(
                "no such resource: {n} is above the largest id ({})",
                i64::MAX
            )));
        }
        Ok(Ids(ids))
    }
}

/// The first number in `ids` that no stored id can equal (above `i64::MAX`).
fn beyond_stored_ids(ids: &impl Serialize) -> Option<u64> {
    fn find(value: &serde_json::Value) -> Option<u64> {
        match value {
            serde_json::Value::Number(n) if n.as_i64().is_none() => n.as_u64(),
            serde_json::Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(&serde_json::to_value(ids).ok()?)
}

/// Checks an IANA zone name with `chrono_tz`; `field` names it in the error.
pub fn check_zone(zone: &str, field: &str) -> ApiResult<()> {
    zone.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        ApiError::invalid(format!(
            "{field}: unknown time zone {zone:?}; use an IANA name such as \"Europe/Budapest\""
        ))
    })
}

/// Checks a name is 1 to [`MAX_NAME_CHARS`] characters after trimming.
fn check_name(name: &str, field: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "{field} must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// `POST /v1/projects`: a project's settings as a tenant sends them.
/// Unknown fields are refused so a misspelt optional field is not
/// silently replaced by its default.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProject {
    name: String,
    time_zone: String,
    default_country: String,
    #[serde(default)]
    calling_hours: Option<CallingHours>,
    #[serde(default)]
    calling_hours_policy: CallingHoursPolicy,
    #[serde(default = "default_horizon")]
    horizon_days: u32,
    #[serde(default = "default_max_actions")]
    max_actions_per_event: usize,
    /// What happens to a callback whose next call date has passed by the
    /// time it executes: `reject` (the default) leaves the record as it
    /// was; `now` sets it for now, put through calling hours.
    #[serde(default)]
    past_callback_policy: PastCallbackPolicy,
    /// The project's SMS: sending hours on each record's wall clock
    /// (`hours`, default 08:00–21:00), `policy` outside them (`shift`, the
    /// default, or `reject`), `maxPerDay` per record (default 3) and
    /// `maxSegments` per message (default 10); `helpText`, the answer to
    /// `HELP` or `INFO`, and `optOutConfirmation`, sent once when a phone
    /// opts out (neither by default).
    #[serde(default)]
    sms_rules: SmsRules,
    /// Contact attempts per record in a rolling window: `maxAttempts`
    /// (default 7) call dispositions received and callbacks scheduled in
    /// `windowDays` (default 7); a callback over it is refused
    /// (`contact_limit`). `null` turns the cap off.
    #[serde(default = "ContactRules::on")]
    contact_rules: Option<ContactRules>,
}

/// The SMS a project may allow one record per day.
pub const MAX_SMS_PER_DAY: std::ops::RangeInclusive<u32> = 0..=100;
/// The segments a project may allow one SMS (carriers join up to about ten).
pub const MAX_SMS_SEGMENTS: std::ops::RangeInclusive<usize> = 1..=10;
/// The contact attempts a project may allow in its window.
pub const MAX_CONTACT_ATTEMPTS: std::ops::RangeInclusive<u32> = 1..=100;
/// The contact window a project may set, in days.
pub const CONTACT_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 1..=90;

/// `value` of `field` within `range`, else a 422 saying so.
fn within<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> ApiResult<()> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "{field} must be {} to {}, got {value}",
        range.start(),
        range.end(),
    )))
}

fn default_horizon() -> u32 {
    crate::actions::DEFAULT_HORIZON_DAYS
}

fn default_max_actions() -> usize {
    crate::actions::DEFAULT_MAX_ACTIONS_PER_EVENT
}

impl NewProject {
    /// The settings to store, or a 422 naming the first bad field.
    fn check(self) -> ApiResult<ProjectSettings> {
        let name = check_name(&self.name, "name")?;
        check_zone(&self.time_zone, "timeZone")?;
        let country = self.default_country.trim().to_ascii_uppercase();
        if !is_supported_country(&country) {
            let why = PhoneError::UnknownCountry {
                country: self.default_country,
            };
            return Err(ApiError::invalid(format!("defaultCountry: {why}")));
        }
        within("horizonDays", self.horizon_days, &HORIZON_DAYS)?;
        within(
            "maxActionsPerEvent",
            self.max_actions_per_event,
            &MAX_ACTIONS_PER_EVENT,
        )?;
        let sms = &self.sms_rules;
        within("smsRules.maxPerDay", sms.max_per_day, &MAX_SMS_PER_DAY)?;
        within("smsRules.maxSegments", sms.max_segments, &MAX_SMS_SEGMENTS)?;
        if let Some(contacts) = &self.contact_rules {
            within(
                "contactRules.maxAttempts",
                contacts.max_attempts,
                &MAX_CONTACT_ATTEMPTS,
            )?;
            within(
                "contactRules.windowDays",
                contacts.window_days,
                &CONTACT_WINDOW_DAYS,
            )?;
        }
        let replies = [
            ("smsRules.helpText", &self.sms_rules.help_text),
            (
                "smsRules.optOutConfirmation",
                &self.sms_rules.opt_out_confirmation,
            ),
        ];
        for (field, text) in replies {
            let Some(text) = text else { continue };
            let cost = crate::actions::segments::segments(text);
            if text.trim().is_empty() || cost.count > self.sms_rules.max_segments {
                return Err(ApiError::invalid(format!(
                    "{field} must be a text of 1 to {} segments, got {} segments",
                    self.sms_rules.max_segments, cost.count
                )));
            }
        }
        Ok(ProjectSettings {
            name,
            time_zone: self.time_zone,
            default_country: country,
            calling_hours: self.calling_hours,
            calling_hours_policy: self.calling_hours_policy,
            horizon_days: self.horizon_days,
            max_actions_per_event: self.max_actions_per_event,
            past_callback_policy: self.past_callback_policy,
            sms_rules: self.sms_rules,
            contact_rules: self.contact_rules,
        })
    }
}

/// Creates a project: name, time zone, default country, calling hours
/// and policy, callback horizon, per-event action limit, and what happens
/// to a callback already past when it executes.
#[utoipa::path(
    post,
    path = "/v1/projects",
    tag = "projects",
    security(("tenant_key" = [])),
    request_body = NewProject,
    responses(
        (status = 201, description = "The project, with the system dispositions.", body = Project),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 422, description = "A setting is invalid (the error names the field), or the body has another shape.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn projects_create(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Json(body): Json<NewProject>,
) -> ApiResult<(StatusCode, axum::Json<Project>)> {
    let settings = body.check()?;
    let project = blocking(move || {
        state.quotas.take_change(tenant)?;
        Ok(state.directory.create_project(tenant, &settings, &actor)?)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(project)))
}

/// The tenant's projects.
#[utoipa::path(
    get,
    path = "/v1/projects",
    tag = "projects",
    security(("tenant_key" = [])),
    responses(
        (status = 200, description = "Every project of the tenant.", body = Vec<Project>),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
    )
)]
pub async fn projects_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<Project>>> {
    Ok(axum::Json(
        blocking(move || Ok(state.directory.projects(tenant)?)).await?,
    ))
}

/// One project of the tenant.
#[utoipa::path(
    get,
    path = "/v1/projects/{id}",
    tag = "projects",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    responses(
        (status = 200, description = "The project.", body = Project),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
    )
)]
pub async fn projects_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
) -> ApiResult<axum::Json<Project>> {
    Ok(axum::Json(
        blocking(move || Ok(state.directory.project(tenant, ProjectId(id))?)).await?,
    ))
}

/// A project's dispositions, system ones included.
#[utoipa::path(
    get,
    path = "/v1/projects/{id}/dispositions",
    tag = "projects",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    responses(
        (status = 200, description = "The project's dispositions.", body = Vec<DispositionDef>),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
    )
)]
pub async fn dispositions_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
) -> ApiResult<axum::Json<Vec<DispositionDef>>> {
    let project = blocking(move || Ok(state.directory.project(tenant, ProjectId(id))?)).await?;
    Ok(axum::Json(project.dispositions))
}

/// `POST /v1/projects/{id}/dispositions`: a custom disposition to create
/// or replace.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDisposition {
    id: u32,
    name: String,
    active: bool,
}

/// The disposition as stored, and whether it replaced one.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DispositionSaved {
    #[serde(flatten)]
    disposition: DispositionDef,
    replaced: bool,
}

/// Creates (201) or replaces (200) a custom disposition; the system ones
/// (1 Discard, 2 Shared Callback) are refused by the store with 409.
#[utoipa::path(
    post,
    path = "/v1/projects/{id}/dispositions",
    tag = "projects",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    request_body = NewDisposition,
    responses(
        (status = 200, description = "An existing custom disposition was replaced.", body = DispositionSaved),
        (status = 201, description = "The disposition was created.", body = DispositionSaved),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project of the tenant's.", body = ErrorBody),
        (status = 409, description = "A system disposition (1 Discard, 2 Shared Callback) cannot be changed.", body = ErrorBody),
        (status = 422, description = "A bad id or name, or the body has another shape.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn dispositions_upsert(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
    Json(body): Json<NewDisposition>,
) -> ApiResult<(StatusCode, axum::Json<DispositionSaved>)> {
    if body.id == 0 {
        return Err(ApiError::invalid("id must be a positive whole number"));
    }
    let disposition = DispositionDef {
        id: body.id,
        name: check_name(&body.name, "name")?,
        active: body.active,
        system: false,
    };
    let saved = blocking(move || {
        state.quotas.take_change(tenant)?;
        let replaced =
            state
                .directory
                .upsert_disposition(tenant, ProjectId(id), &disposition, &actor)?;
        Ok(DispositionSaved {
            disposition,
            replaced,
        })
    })
    .await?;
    let status = if saved.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(saved)))
}
