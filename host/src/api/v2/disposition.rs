//! The body of `POST …/dispositions`, checked field by field so every
//! refusal names its `property`: JSON or a urlencoded form, the
//! `Idempotency-Key` header, and `next_calldate` read on the record's wall
//! clock (a DST gap refused, a fold taking the earlier instant).

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use chrono::{Datelike, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::envelope::{V2Error, V2Result};
use crate::api::AppState;
use crate::model::Timestamp;
use crate::wire::v2::{DISPOSITION_FIELDS, V2_DATETIME};

/// The longest `Idempotency-Key`, `userid` and `description` taken.
const MAX_KEY: usize = 200;
const MAX_USER: usize = 200;

/// The user of the entries the host writes for plugins' actions.
const HOST_USER: &str = "System";
const MAX_DESCRIPTION: usize = 2000;

/// What `POST …/dispositions` asks for, checked field by field.
pub(super) struct NewDisposition {
    pub dispositionid: u32,
    pub userid: String,
    pub next_calldate: Option<NaiveDateTime>,
    pub description: Option<String>,
}

pub(super) fn idempotency_key(request: &Request) -> V2Result<Option<String>> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        V2Error::refuse(
            "invalid_value",
            format!("Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters"),
            Some("Idempotency-Key"),
        )
    };
    let key = value.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_string()))
}

/// The body's fields: a JSON object, or a urlencoded form (all strings).
pub(super) async fn read_body(request: Request, state: &AppState) -> V2Result<Map<String, Value>> {
    let form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let invalid = |message: String| V2Error::refuse("invalid_body", message, None);
    if form {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|e| invalid(e.body_text()))?;
        return Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    let bytes = axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|e| invalid(e.body_text()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(invalid("the body must be a JSON object".into())),
        Err(e) => Err(invalid(format!("malformed JSON: {e}"))),
    }
}

impl NewDisposition {
    pub(super) fn from_fields(mut fields: Map<String, Value>) -> V2Result<Self> {
        if let Some(unknown) = fields
            .keys()
            .find(|k| !DISPOSITION_FIELDS.contains(&k.as_str()))
        {
            return Err(V2Error::refuse(
                "unknown_field",
                format!("{unknown} is not a field of a disposition"),
                Some(unknown),
            ));
        }
        let invalid = |field: &str, why: &str| {
            V2Error::refuse("invalid_value", format!("{field} {why}"), Some(field))
        };
        let missing = |field: &str| {
            V2Error::refuse("missing_field", format!("{field} is required"), Some(field))
        };
        let dispositionid = match fields.remove("dispositionid") {
            None | Some(Value::Null) => return Err(missing("dispositionid")),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        }
        .ok_or_else(|| invalid("dispositionid", "must be a disposition id (a whole number)"))?;
        let userid = match fields.remove("userid") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Null) | None => String::new(),
            Some(_) => return Err(invalid("userid", "must be a string")),
        };
        if userid.is_empty() {
            return Err(missing("userid"));
        }
        // The event list's `System` entries are the host's own decisions;
        // no caller may write one.
        if userid.eq_ignore_ascii_case(HOST_USER) {
            return Err(invalid(
                "userid",
                "`System` is reserved for the host's own entries",
            ));
        }
        if userid.chars().count() > MAX_USER {
            return Err(invalid(
                "userid",
                &format!("must be at most {MAX_USER} characters"),
            ));
        }
        let next_calldate = match fields.remove("next_calldate") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(
                NaiveDateTime::parse_from_str(s.trim(), V2_DATETIME)
                    .ok()
                    // chrono reads `%Y` as any number of digits with a
                    // sign; the field has four (years 1 to 9999), which
                    // keeps every zone's reading of it in range.
                    .filter(|at| (1..=9999).contains(&at.year()) && !s.trim().starts_with('+'))
                    .ok_or_else(|| invalid("next_calldate", "must be YYYY-MM-DD hh:mm:ss"))?,
            ),
            Some(Value::String(_)) | Some(Value::Null) | None => None,
            Some(_) => return Err(invalid("next_calldate", "must be YYYY-MM-DD hh:mm:ss")),
        };
        let description = match fields.remove("description") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
            Some(Value::String(_)) | Some(Value::Null) | None => None,
            Some(_) => return Err(invalid("description", "must be a string")),
        };
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(invalid(
                "description",
                &format!("must be at most {MAX_DESCRIPTION} characters"),
            ));
        }
        Ok(Self {
            dispositionid,
            userid,
            next_calldate,
            description,
        })
    }
}

/// A wall-clock time in `zone` as an instant: a time the zone skips (a DST
/// gap) is refused, one it repeats takes the earlier instant.
pub(super) fn instant(at: NaiveDateTime, zone: &str) -> V2Result<Timestamp> {
    let tz: Tz = zone.parse().map_err(|_| {
        V2Error::refuse(
            "invalid_time_zone",
            format!("the record's zone {zone:?} is unknown"),
            None,
        )
    })?;
    tz.from_local_datetime(&at)
        .earliest()
        .map(|t| t.timestamp())
        .ok_or_else(|| {
            V2Error::refuse(
                "nonexistent_local_time",
                format!(
                    "{} does not exist in {zone} (a DST gap)",
                    at.format(V2_DATETIME)
                ),
                Some("next_calldate"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn form_strings_and_json_numbers_both_read() {
        let a = NewDisposition::from_fields(fields(json!({
            "dispositionid": "41", "userid": 7, "next_calldate": "2026-12-01 14:30:00"
        })))
        .unwrap();
        assert_eq!((a.dispositionid, a.userid.as_str()), (41, "7"));
        assert!(a.next_calldate.is_some() && a.description.is_none());
    }

    #[test]
    fn each_bad_field_is_named_in_property() {
        for (body, property) in [
            (json!({"userid": "u"}), "dispositionid"),
            (
                json!({"dispositionid": "x", "userid": "u"}),
                "dispositionid",
            ),
            (json!({"dispositionid": 2}), "userid"),
            (
                json!({"dispositionid": 2, "userid": "u", "next_calldate": "tomorrow"}),
                "next_calldate",
            ),
            (
                json!({"dispositionid": 2, "userid": "u", "nextCalldate": "x"}),
                "nextCalldate",
            ),
        ] {
            let error = NewDisposition::from_fields(fields(body.clone()))
                .err()
                .unwrap();
            assert_eq!(error.status, StatusCode::EXPECTATION_FAILED, "{body}");
            assert_eq!(error.property.as_deref(), Some(property), "{body}");
        }
    }

    #[test]
    fn a_dst_gap_is_refused_and_a_fold_takes_the_earlier_instant() {
        let gap = NaiveDateTime::parse_from_str("2026-03-29 02:30:00", V2_DATETIME).unwrap();
        let error = instant(gap, "Europe/Budapest").unwrap_err();
        assert_eq!(error.errorcode, "nonexistent_local_time");
        let fold = NaiveDateTime::parse_from_str("2026-10-25 02:30:00", V2_DATETIME).unwrap();
        assert_eq!(instant(fold, "Europe/Budapest").unwrap(), 1_792_888_200);
    }
}
