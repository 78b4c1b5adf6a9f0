//! The `/v2` record API: HTTP Basic (account = tenant id, token = an API
//! key), `{"errors": [], "response": …}` on success, 417 with
//! `{"errors": [{errorcode, errormessage, property}]}` on a refusal, times
//! on the record's wall clock, `Idempotency-Key`, and tenant boundaries
//! that answer `not_found` without revealing anything.

use reqwest::StatusCode;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use super::*;

const PHONE: &str = "+36301234567";

/// One server, one tenant with a project (disposition 41 added) and a record.
struct Setup {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
}

fn setup() -> Setup {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    add_disposition(&server, &tenant, project, 41);
    let record = server.record(&tenant, project, PHONE);
    Setup {
        server,
        tenant,
        project,
        record,
    }
}

/// Adds an inactive custom disposition to a project.
pub fn add_disposition(server: &Server, tenant: &TenantKeys, project: u64, id: u32) {
    let (status, body) = send(
        server
            .post(&format!("/v1/projects/{project}/dispositions"))
            .bearer_auth(&tenant.api_key)
            .json(&json!({ "id": id, "name": "Promised to pay", "active": false })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A request with HTTP Basic as the `/v2` API takes it.
pub fn basic(request: RequestBuilder, tenant: &TenantKeys) -> RequestBuilder {
    request.basic_auth(tenant.id, Some(&tenant.api_key))
}

impl Setup {
    fn record_path(&self) -> String {
        format!("/v2/projects/{}/records/{}", self.project, self.record)
    }

    fn get(&self, path: &str) -> (StatusCode, Value) {
        send(basic(self.server.get(path), &self.tenant))
    }

    fn dispose(&self, body: Value, key: Option<&str>) -> (StatusCode, Value) {
        let mut request = basic(
            self.server
                .post(&format!("{}/dispositions", self.record_path())),
            &self.tenant,
        )
        .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        send(request)
    }

    /// The record's `/v2` view.
    fn view(&self) -> Value {
        let (status, body) = self.get(&self.record_path());
        assert_eq!(status, StatusCode::OK, "{body}");
        body["response"].clone()
    }
}

/// Asserts a `/v2` refusal: the status, one error with `errorcode` and
/// `property`, and a message.
#[track_caller]
pub fn assert_v2_error(
    answer: (StatusCode, Value),
    status: StatusCode,
    code: &str,
    property: Option<&str>,
) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    let errors = body["errors"].as_array().expect("an errors list");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["errorcode"], code, "{body}");
    assert_eq!(errors[0]["property"], json!(property), "{body}");
    assert!(
        errors[0]["errormessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[test]
fn v2_a_record_comes_in_the_success_envelope_with_source_names() {
    let s = setup();
    let (status, body) = s.get(&s.record_path());
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["errors"], json!([]));
    let record = &body["response"];
    assert_eq!(record["id"], s.record);
    assert_eq!(record["projectid"], s.project);
    assert_eq!(record["phone1"], PHONE);
    assert_eq!(record["timezone"], "Europe/Budapest");
    assert_eq!(record["dispositionid"], Value::Null);
    assert_eq!(record["events"], json!([]));
}

#[test]
fn v2_records_are_found_by_phone1_as_people_write_it() {
    let s = setup();
    let path = |phone: &str| format!("/v2/projects/{}/records?phone1={phone}", s.project);
    let (status, body) = s.get(&path("06301234567"));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["response"][0]["id"], s.record);
    let (status, body) = s.get(&path("%2B36309999999"));
    assert_eq!(
        (status, body["response"].clone()),
        (StatusCode::OK, json!([]))
    );
    assert_v2_error(
        s.get(&format!("/v2/projects/{}/records", s.project)),
        StatusCode::EXPECTATION_FAILED,
        "missing_field",
        Some("phone1"),
    );
    assert_v2_error(
        s.get(&path("12")),
        StatusCode::EXPECTATION_FAILED,
        "invalid_phone",
        Some("phone1"),
    );
}

#[test]
fn v2_a_disposition_is_set_with_a_next_calldate_on_the_records_clock() {
    let s = setup();
    let (status, body) = s.dispose(
        json!({ "dispositionid": 2, "userid": "agent7",
                "next_calldate": "2026-12-01 14:30:00", "description": "called back" }),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["errors"], json!([]));
    let entry = &body["response"];
    assert_eq!(entry["recordid"], s.record);
    assert_eq!(entry["dispositionid"], 2);
    assert_eq!(entry["next_calldate"], "2026-12-01 14:30:00");
    assert_eq!(
        (entry["userid"].clone(), entry["description"].clone()),
        (json!("agent7"), json!("called back"))
    );
    let view = s.view();
    assert_eq!(view["dispositionid"], 2);
    assert_eq!(view["next_calldate"], "2026-12-01 14:30:00");
    assert_eq!(view["events"].as_array().unwrap().len(), 1);
    // Stored as the instant: 14:30 in Budapest is 13:30 UTC.
    let (_, v1) = send(
        s.server
            .get(&format!("/v1/projects/{}/records/{}", s.project, s.record))
            .bearer_auth(&s.tenant.api_key),
    );
    assert_eq!(v1["nextCalldate"], 1_796_131_800, "{v1}");
}

#[test]
fn v2_a_form_body_is_read_like_json() {
    let s = setup();
    let (status, body) = send(
        basic(
            s.server.post(&format!("{}/dispositions", s.record_path())),
            &s.tenant,
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("dispositionid=41&userid=7&description=promised+to+pay"),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["dispositionid"], 41);
    assert_eq!(body["response"]["description"], "promised to pay");
}

#[test]
fn v2_refusals_are_417_envelopes_naming_the_field_and_change_nothing() {
    let s = setup();
    let refused = StatusCode::EXPECTATION_FAILED;
    for (body, code, property) in [
        (
            json!({ "dispositionid": 99, "userid": "u" }),
            "unknown_disposition",
            Some("dispositionid"),
        ),
        (
            json!({ "dispositionid": "x", "userid": "u" }),
            "invalid_value",
            Some("dispositionid"),
        ),
        (
            json!({ "userid": "u" }),
            "missing_field",
            Some("dispositionid"),
        ),
        (
            json!({ "dispositionid": 41 }),
            "missing_field",
            Some("userid"),
        ),
        // The host's own entries are `System`'s; no caller may forge one.
        (
            json!({ "dispositionid": 41, "userid": "System" }),
            "invalid_value",
            Some("userid"),
        ),
        (
            json!({ "dispositionid": 41, "userid": " system " }),
            "invalid_value",
            Some("userid"),
        ),
        (
            json!({ "dispositionid": 2, "userid": "u" }),
            "next_calldate_required",
            Some("next_calldate"),
        ),
        (
            json!({ "dispositionid": 2, "userid": "u", "next_calldate": "2026-12-01T14:30" }),
            "invalid_value",
            Some("next_calldate"),
        ),
        // 02:30 does not exist in Budapest on the last Sunday of March.
        (
            json!({ "dispositionid": 2, "userid": "u", "next_calldate": "2026-03-29 02:30:00" }),
            "nonexistent_local_time",
            Some("next_calldate"),
        ),
        (
            json!({ "dispositionid": 41, "userid": "u", "nextCallDate": "x" }),
            "unknown_field",
            Some("nextCallDate"),
        ),
        (json!([1, 2]), "invalid_body", None),
    ] {
        assert_v2_error(s.dispose(body, None), refused, code, property);
    }
    let (status, body) = send(
        basic(
            s.server.post(&format!("{}/dispositions", s.record_path())),
            &s.tenant,
        )
        .header("content-type", "application/json")
        .body("{not json"),
    );
    assert_v2_error((status, body), refused, "invalid_body", None);
    assert_v2_error(
        s.get(&format!("/v2/projects/{}/records/abc", s.project)),
        refused,
        "invalid_value",
        Some("recordid"),
    );
    let view = s.view();
    assert_eq!(
        (view["dispositionid"].clone(), view["events"].clone()),
        (Value::Null, json!([]))
    );
}

#[test]
fn v2_wrong_or_missing_basic_credentials_are_401_envelopes() {
    let s = setup();
    let other = s.server.tenant("other");
    let path = s.record_path();
    let attempts = [
        s.server.get(&path),
        s.server.get(&path).bearer_auth(&s.tenant.api_key),
        s.server
            .get(&path)
            .basic_auth(s.tenant.id, Some("not-a-key")),
        // A real key, but of another account than the one named.
        s.server
            .get(&path)
            .basic_auth(s.tenant.id, Some(&other.api_key)),
        s.server
            .get(&path)
            .basic_auth(other.id, Some(&s.tenant.api_key)),
        s.server
            .get(&path)
            .header("authorization", "Basic !!!not-base64"),
    ];
    for request in attempts {
        let response = request.send().unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().unwrap();
        assert_eq!(body["errors"][0]["errorcode"], "unauthorized", "{body}");
        assert_eq!(body["errors"][0]["property"], Value::Null, "{body}");
    }
    assert_eq!(s.view()["events"], json!([]));
}

#[test]
fn v2_another_tenants_project_and_record_are_not_found_like_missing_ones() {
    let s = setup();
    let other = s.server.tenant("other");
    let their_project = s.server.project(&other);
    let their_record = s.server.record(&other, their_project, PHONE);
    let refused = StatusCode::EXPECTATION_FAILED;
    // Their record under my project, and a record that does not exist.
    for record in [their_record, 999_999] {
        let path = format!("/v2/projects/{}/records/{record}", s.project);
        assert_v2_error(s.get(&path), refused, "not_found", Some("recordid"));
        let (status, body) = send(
            basic(s.server.post(&format!("{path}/dispositions")), &s.tenant)
                .json(&json!({ "dispositionid": 41, "userid": "u" })),
        );
        assert_v2_error((status, body), refused, "not_found", Some("recordid"));
    }
    // Their project, and a project that does not exist.
    for project in [their_project, 999_999] {
        let path = format!("/v2/projects/{project}/records/{their_record}");
        assert_v2_error(s.get(&path), refused, "not_found", Some("projectid"));
        let find = format!("/v2/projects/{project}/records?phone1={}", "06301234567");
        assert_v2_error(s.get(&find), refused, "not_found", Some("projectid"));
    }
    // My other project's record is not in this project either.
    let second = s.server.project(&s.tenant);
    let mine_elsewhere = s.server.record(&s.tenant, second, PHONE);
    let path = format!("/v2/projects/{}/records/{mine_elsewhere}", s.project);
    assert_v2_error(s.get(&path), refused, "not_found", Some("recordid"));
    // Their record is untouched.
    let (_, theirs) = send(basic(
        s.server.get(&format!(
            "/v2/projects/{their_project}/records/{their_record}"
        )),
        &other,
    ));
    assert_eq!(theirs["response"]["events"], json!([]), "{theirs}");
}

#[test]
fn v2_a_repeated_idempotency_key_returns_the_first_answer_and_changes_nothing() {
    let s = setup();
    let first = s.dispose(
        json!({ "dispositionid": 2, "userid": "u", "next_calldate": "2026-12-01 14:30:00" }),
        Some("k-1"),
    );
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let again = s.dispose(
        json!({ "dispositionid": 41, "userid": "someone else" }),
        Some("k-1"),
    );
    assert_eq!(again, first);
    let view = s.view();
    assert_eq!(view["events"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["dispositionid"], 2);
    let other = s.dispose(json!({ "dispositionid": 41, "userid": "u" }), Some("k-2"));
    assert_eq!(other.0, StatusCode::OK);
    assert_eq!(s.view()["events"].as_array().unwrap().len(), 2);
    assert_v2_error(
        s.dispose(
            json!({ "dispositionid": 41, "userid": "u" }),
            Some(&"k".repeat(201)),
        ),
        StatusCode::EXPECTATION_FAILED,
        "invalid_value",
        Some("Idempotency-Key"),
    );
}
