//! The `/v2` record API's shapes, which `api::v2` builds with `json!` in
//! the source system's names; these types only describe them for the
//! OpenAPI document (the API test `ops::answers_have_their_documented_fields`
//! checks real answers against them). Never built, so dead code by design.

#![allow(dead_code)]

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// One refusal: a code, a message and the offending field (or null).
#[derive(ToSchema)]
#[schema(as = V2Error)]
pub struct Error {
    pub errorcode: String,
    pub errormessage: String,
    pub property: Option<String>,
}

/// A failure: 417 for a refusal, 401 for bad credentials.
#[derive(ToSchema)]
#[schema(as = V2Failure)]
pub struct Failure {
    pub errors: Vec<Error>,
}

/// A record in the source system's names; times are
/// `YYYY-MM-DD hh:mm:ss` on the record's wall clock.
#[derive(ToSchema)]
#[schema(as = V2Record)]
pub struct Record {
    pub id: u64,
    pub projectid: u64,
    pub phone1: String,
    pub timezone: String,
    pub fields: BTreeMap<String, String>,
    pub dispositionid: Option<u32>,
    #[schema(example = "2026-12-01 14:30:00")]
    pub next_calldate: Option<String>,
    /// The record's event list, oldest first (one record's answer only).
    #[schema(nullable = false)]
    pub events: Option<Vec<Event>>,
}

/// One entry of a record's event list.
#[derive(ToSchema)]
#[schema(as = V2Event)]
pub struct Event {
    pub eventid: Option<u64>,
    pub eventtype: String,
    pub userid: String,
    pub created: Option<String>,
    /// None for an SMS the host sent (`Outbound SMS`, its text the
    /// description).
    pub dispositionid: Option<u32>,
    pub next_calldate: Option<String>,
    pub plugin: Option<String>,
    pub pluginversion: Option<u32>,
    pub description: Option<String>,
}

/// The entry a disposition added, with its record.
#[derive(ToSchema)]
#[schema(as = V2Entry)]
pub struct Entry {
    pub recordid: u64,
    pub eventid: Option<u64>,
    pub eventtype: String,
    pub userid: String,
    pub created: Option<String>,
    pub dispositionid: u32,
    pub next_calldate: Option<String>,
    pub plugin: Option<String>,
    pub pluginversion: Option<u32>,
    pub description: Option<String>,
}

/// `{"errors": [], "response": [records]}`.
#[derive(ToSchema)]
#[schema(as = V2Records)]
pub struct Records {
    pub errors: Vec<Error>,
    pub response: Vec<Record>,
}

/// `{"errors": [], "response": record}`.
#[derive(ToSchema)]
#[schema(as = V2RecordAnswer)]
pub struct RecordAnswer {
    pub errors: Vec<Error>,
    pub response: Record,
}

/// `{"errors": [], "response": entry}`.
#[derive(ToSchema)]
#[schema(as = V2EntryAnswer)]
pub struct EntryAnswer {
    pub errors: Vec<Error>,
    pub response: Entry,
}

/// A disposition to set, as JSON or a urlencoded form (all strings).
#[derive(ToSchema)]
#[schema(as = V2Disposition)]
pub struct Disposition {
    /// A disposition the project has: a whole number (a string in a
    /// form).
    #[schema(example = 41)]
    pub dispositionid: u32,
    pub userid: String,
    /// Required for the Shared Callback (2).
    #[schema(example = "2026-12-01 14:30:00")]
    pub next_calldate: Option<String>,
    pub description: Option<String>,
}
