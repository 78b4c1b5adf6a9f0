//! The tenant's do-not-contact (Robinson) list: `GET /v1/do-not-contact`,
//! `POST /v1/do-not-contact`, `DELETE /v1/do-not-contact/{phone}`.
//!
//! The list is the tenant's, not a project's, so there is no project
//! default country to read a national number under. A phone is therefore
//! taken in international form (`+36301234567`, spaces and the like
//! allowed), or in any spelling when the request names the country to
//! read it under (`defaultCountry`, as a project's). Phones are stored and
//! listed in E.164. Opt-outs by SMS land on the same list (the pipeline
//! adds them); this API only lets a tenant add, see and remove entries.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::auth::Tenant;
use super::body::Json;
use super::page::Page;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::phone::to_e164;

/// A phone as the list takes it: international with `+`, or in any
/// spelling under `default_country`.
fn normalize(phone: &str, default_country: Option<&str>) -> ApiResult<String> {
    let invalid =
        |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone", message);
    let country = match default_country {
        Some(country) => country,
        None if phone.trim_start().starts_with('+') => {
            // A number with `+` reads the same under every country in the
            // table; one is needed only to satisfy `to_e164`.
            "GB"
        }
        None => {
            return Err(invalid(format!(
                "phone number {:?} has no country code: write it with + (\"+36301234567\") \
                 or give defaultCountry",
                phone.chars().take(40).collect::<String>()
            )));
        }
    };
    to_e164(phone, country).map_err(|e| invalid(e.to_string()))
}

/// The tenant's do-not-contact list, in E.164.
#[utoipa::path(
    get,
    path = "/v1/do-not-contact",
    tag = "do-not-contact",
    security(("tenant_key" = [])),
    params(
        ("limit" = Option<usize>, Query, description = "Phones in the page: 1 to 1,000 (default 100)."),
        ("after" = Option<String>, Query, description = "The phone the previous page ended with (its `X-Next-After`)."),
    ),
    responses(
        (status = 200, description = "A page of listed phones, in order; `X-Next-After` names the next page when this one is full.", body = Vec<String>,
            headers(("X-Next-After" = String, description = "The cursor of the next page."))),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 422, description = "A limit out of range.", body = ErrorBody),
    )
)]
pub async fn do_not_contact_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    query: Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<String>>)> {
    let page = Page::from_query(query)?;
    let (after, limit) = (page.after.clone(), page.limit);
    let phones =
        blocking(move || Ok(state.directory.do_not_contact_list(tenant, &after, limit)?)).await?;
    let headers = page.headers(phones.len(), phones.last().cloned());
    Ok((headers, axum::Json(phones)))
}

/// `POST /v1/do-not-contact`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEntry {
    phone: String,
    #[serde(default)]
    default_country: Option<String>,
}

/// An entry as stored, and whether it was already there.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DoNotContactEntry)]
pub struct Entry {
    phone: String,
    already_listed: bool,
}

/// Adds a phone: 201 when new, 200 when it was already on the list
/// (nothing changes then).
#[utoipa::path(
    post,
    path = "/v1/do-not-contact",
    tag = "do-not-contact",
    security(("tenant_key" = [])),
    request_body = NewEntry,
    responses(
        (status = 200, description = "The phone was already listed; nothing changed.", body = Entry),
        (status = 201, description = "The phone was added.", body = Entry),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 422, description = "The phone cannot be read (`invalid_phone`), or the body has another shape.", body = ErrorBody),
    )
)]
pub async fn do_not_contact_add(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Json(body): Json<NewEntry>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    let phone = normalize(&body.phone, body.default_country.as_deref())?;
    let entry = blocking(move || {
        let already_listed = state.directory.add_do_not_contact(tenant, &phone)?;
        Ok(Entry {
            phone,
            already_listed,
        })
    })
    .await?;
    let status = if entry.already_listed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(entry)))
}

/// Removes a phone (`+` percent-encoded as `%2B` or not; the optional
/// `?defaultCountry=` reads a national spelling): 204, or 404 when it is
/// not on the list.
#[utoipa::path(
    delete,
    path = "/v1/do-not-contact/{phone}",
    tag = "do-not-contact",
    security(("tenant_key" = [])),
    params(
        ("phone" = String, Path, description = "The phone, `+` percent-encoded as `%2B` or not."),
        ("defaultCountry" = Option<String>, Query, description = "The country to read a national spelling under."),
    ),
    responses(
        (status = 204, description = "The phone was removed."),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "The phone is not on the list.", body = ErrorBody),
        (status = 422, description = "The phone cannot be read.", body = ErrorBody),
    )
)]
pub async fn do_not_contact_remove(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    phone: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    // A phone that is not UTF-8 cannot be read (axum's own answer is a
    // plain-text 400).
    let Path(phone) = phone.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
            format!("phone: {}", e.body_text()),
        )
    })?;
    let phone = normalize(&phone, query.get("defaultCountry").map(String::as_str))?;
    blocking(move || {
        if state.directory.remove_do_not_contact(tenant, &phone)? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format!(
                "{phone} is not on the do-not-contact list"
            )))
        }
    })
    .await
}
