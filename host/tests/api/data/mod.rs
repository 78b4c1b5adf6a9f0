//! The tenant's data: projects, dispositions, records (and imports), the
//! do-not-contact list, events. Every bad input is a 4xx that stores
//! nothing; another tenant's key gets 404 and learns nothing.

use reqwest::StatusCode;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::*;

mod do_not_contact;
mod records;

const PHONE: &str = "+36301234567";

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_secs() as i64
}

fn project_body() -> Value {
    json!({ "name": "sales", "timeZone": "Europe/Budapest", "defaultCountry": "HU" })
}

/// A request with `tenant`'s key.
fn as_tenant(request: RequestBuilder, tenant: &TenantKeys) -> RequestBuilder {
    request.bearer_auth(&tenant.api_key)
}

fn records(server: &Server, tenant: &TenantKeys, project: u64) -> Value {
    let (status, body) = send(as_tenant(
        server.get(&format!("/v1/projects/{project}/records")),
        tenant,
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn projects(server: &Server, tenant: &TenantKeys) -> Value {
    let (status, body) = send(as_tenant(server.get("/v1/projects"), tenant));
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Journals a delivery receipt for `record` through the webhook; returns the event id.
fn status_event(
    server: &Server,
    tenant: &TenantKeys,
    project: u64,
    record: u64,
    wait: bool,
) -> Value {
    let path = format!(
        "/v1/webhooks/sms/status?secret-key={}&wait={wait}",
        tenant.webhook_secret
    );
    let (status, body) = send(server.post(&path).json(&json!({
        "messageId": format!("m-{record}-{}", now()),
        "projectId": project,
        "recordId": record,
        "status": "not_traceable",
        // The servers' pinned clock: inside the acceptance window.
        "timestamp": NOW,
    })));
    assert!(status.is_success(), "{status} {body}");
    body
}

#[test]
fn projects_create_applies_defaults_and_starts_with_the_system_dispositions() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let (status, body) =
        send(as_tenant(server.post("/v1/projects"), &tenant).json(&project_body()));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["id"].as_u64().is_some(), "{body}");
    assert_eq!(body["timeZone"], "Europe/Budapest");
    assert_eq!(body["defaultCountry"], "HU");
    assert_eq!(body["callingHoursPolicy"], "shift");
    assert_eq!(body["horizonDays"], 90);
    assert_eq!(body["maxActionsPerEvent"], 16);
    assert_eq!(body["pastCallbackPolicy"], "reject");
    let ids: Vec<u64> = body["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "{body}");

    let (status, got) = send(as_tenant(
        server.get(&format!("/v1/projects/{}", body["id"])),
        &tenant,
    ));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, body);
    assert_eq!(projects(&server, &tenant), json!([body]));
}

#[test]
fn projects_create_keeps_explicit_settings_and_upper_cases_the_country() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let mut settings = project_body();
    settings["defaultCountry"] = json!(" de ");
    settings["callingHours"] = json!({ "start": "09:00", "end": "17:30" });
    settings["callingHoursPolicy"] = json!("reject");
    settings["horizonDays"] = json!(3650);
    settings["maxActionsPerEvent"] = json!(1);
    let (status, body) = send(as_tenant(server.post("/v1/projects"), &tenant).json(&settings));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["defaultCountry"], "DE");
    assert_eq!(
        body["callingHours"],
        json!({ "start": "09:00", "end": "17:30" })
    );
    assert_eq!(body["callingHoursPolicy"], "reject");
    assert_eq!(body["horizonDays"], 3650);
    assert_eq!(body["maxActionsPerEvent"], 1);
}

#[test]
fn past_callback_policy_round_trips_and_a_bad_value_is_422_storing_nothing() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let mut created = Vec::new();
    for policy in ["now", "reject"] {
        let mut settings = project_body();
        settings["pastCallbackPolicy"] = json!(policy);
        let (status, body) = send(as_tenant(server.post("/v1/projects"), &tenant).json(&settings));
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["pastCallbackPolicy"], policy, "{body}");
        let (status, got) = send(as_tenant(
            server.get(&format!("/v1/projects/{}", body["id"])),
            &tenant,
        ));
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["pastCallbackPolicy"], policy, "{got}");
        created.push(body);
    }
    for bad in [
        json!("later"),
        json!("Now"),
        json!(""),
        json!(1),
        Value::Null,
    ] {
        let mut settings = project_body();
        settings["pastCallbackPolicy"] = bad.clone();
        let answer = send(as_tenant(server.post("/v1/projects"), &tenant).json(&settings));
        let message = answer.1["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let names_the_choices = !bad.is_string() || message.contains("expected `reject` or `now`");
        assert!(
            message.starts_with("invalid body") && names_the_choices,
            "{bad}: {message}"
        );
    }
    assert_eq!(projects(&server, &tenant), json!(created));
}

#[test]
fn bad_project_settings_are_refused_naming_the_problem_and_nothing_is_stored() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let with = |key: &str, value: Value| {
        let mut body = project_body();
        body[key] = value;
        body
    };
    let cases = [
        (with("timeZone", json!("Mars/Olympus")), "Mars/Olympus"),
        (with("defaultCountry", json!("XX")), "defaultCountry"),
        (
            with("callingHours", json!({ "start": "20:00", "end": "08:00" })),
            "before end",
        ),
        (
            with("callingHours", json!({ "start": "08:00", "end": "08:00" })),
            "before end",
        ),
        (
            with("callingHours", json!({ "start": "8am", "end": "20:00" })),
            "HH:MM",
        ),
        (with("callingHoursPolicy", json!("sometimes")), "sometimes"),
        (with("callingHoursPolicy", json!(1)), "invalid body"),
        (with("horizonDays", json!(0)), "horizonDays"),
        (with("horizonDays", json!(3651)), "horizonDays"),
        (with("maxActionsPerEvent", json!(0)), "maxActionsPerEvent"),
        (with("maxActionsPerEvent", json!(17)), "maxActionsPerEvent"),
        (with("name", json!("  ")), "name"),
        (with("horizonDay", json!(5)), "horizonDay"),
        (json!({ "name": "x", "defaultCountry": "HU" }), "timeZone"),
        (json!("a string"), "invalid type"),
    ];
    for (body, needle) in cases {
        let answer = send(as_tenant(server.post("/v1/projects"), &tenant).json(&body));
        let message = answer.1["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let malformed = send(as_tenant(server.post("/v1/projects"), &tenant).body("{\"name\": "));
    assert_error(malformed, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(projects(&server, &tenant), json!([]));
}

#[test]
fn every_data_path_refuses_a_missing_or_unknown_key_with_401() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    for (method, path) in paths(project, record, 1) {
        let request = |server: &Server| match method {
            "GET" => server.get(&path),
            "POST" => server.post(&path).body("{}"),
            _ => server.delete(&path),
        };
        assert_error(
            send(request(&server)),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        let unknown = request(&server).bearer_auth("not-a-key");
        assert_error(send(unknown), StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(
        records(&server, &tenant, project).as_array().unwrap().len(),
        1
    );
}

/// Every tenant-scoped path, with the ids it names.
fn paths(project: u64, record: u64, event: u64) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/v1/projects".into()),
        ("POST", "/v1/projects".into()),
        ("GET", format!("/v1/projects/{project}")),
        ("GET", format!("/v1/projects/{project}/dispositions")),
        ("POST", format!("/v1/projects/{project}/dispositions")),
        ("GET", format!("/v1/projects/{project}/records")),
        ("POST", format!("/v1/projects/{project}/records")),
        ("GET", format!("/v1/projects/{project}/records/{record}")),
        ("POST", format!("/v1/projects/{project}/records/import")),
        ("GET", "/v1/do-not-contact".into()),
        ("POST", "/v1/do-not-contact".into()),
        ("DELETE", format!("/v1/do-not-contact/{PHONE}")),
        ("GET", format!("/v1/events/{event}")),
    ]
}

#[test]
fn dispositions_are_listed_upserted_and_the_system_ones_are_protected() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let path = format!("/v1/projects/{project}/dispositions");
    let post = |body: Value| send(as_tenant(server.post(&path), &tenant).json(&body));

    let (status, body) = post(json!({ "id": 10, "name": "Promised to pay", "active": false }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["replaced"], false);
    let (status, body) = post(json!({ "id": 10, "name": "Promise", "active": true }));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["replaced"], true);

    for system in [1, 2] {
        let answer = post(json!({ "id": system, "name": "Mine now", "active": true }));
        assert_error(answer, StatusCode::CONFLICT, "conflict");
    }
    assert_error(
        post(json!({ "id": 0, "name": "Zero", "active": true })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    assert_error(
        post(json!({ "id": 11, "name": "", "active": true })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    assert_error(
        post(json!({ "id": "eleven", "name": "x", "active": true })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let malformed = send(as_tenant(server.post(&path), &tenant).body("{"));
    assert_error(malformed, StatusCode::BAD_REQUEST, "bad_request");

    let (status, list) = send(as_tenant(server.get(&path), &tenant));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([
            { "id": 1, "name": "Discard", "active": true, "system": true },
            { "id": 2, "name": "Shared Callback", "active": true, "system": true },
            { "id": 10, "name": "Promise", "active": true, "system": false },
        ])
    );
}

#[test]
fn events_get_returns_the_journaled_event() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    let accepted = status_event(&server, &tenant, project, record, false);
    let id = accepted["eventId"].as_u64().unwrap();
    let (status, event) = send(as_tenant(server.get(&format!("/v1/events/{id}")), &tenant));
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["id"], id);
    assert_eq!(event["projectId"], project);
    assert!(event["messageId"].as_str().unwrap().starts_with("m-"));
    for missing in [format!("{}", id + 1000), "abc".into()] {
        let answer = send(as_tenant(
            server.get(&format!("/v1/events/{missing}")),
            &tenant,
        ));
        assert_error(answer, StatusCode::NOT_FOUND, "not_found");
    }
}

#[test]
fn another_tenants_key_gets_404_on_every_path_and_changes_nothing() {
    let server = Server::start();
    let owner = server.tenant("owner");
    let other = server.tenant("other");
    let project = server.project(&owner);
    let record = server.record(&owner, project, PHONE);
    let event = status_event(&server, &owner, project, record, false)["eventId"]
        .as_u64()
        .unwrap();
    let add = server
        .post("/v1/do-not-contact")
        .json(&json!({ "phone": PHONE }));
    assert_eq!(send(as_tenant(add, &owner)).0, StatusCode::CREATED);
    let own_project = server.project(&other);
    let snapshot = |tenant: &TenantKeys| {
        let get = |path: String| send(as_tenant(server.get(&path), tenant)).1;
        [
            get(format!("/v1/projects/{project}")),
            get(format!("/v1/projects/{project}/records")),
            get(format!("/v1/projects/{project}/records/{record}")),
            get("/v1/do-not-contact".into()),
        ]
    };
    let before = snapshot(&owner);

    let record_body = json!({ "phone": "+36201112222" });
    let cases: Vec<(&str, String, Value)> = vec![
        ("GET", format!("/v1/projects/{project}"), Value::Null),
        (
            "GET",
            format!("/v1/projects/{project}/dispositions"),
            Value::Null,
        ),
        (
            "POST",
            format!("/v1/projects/{project}/dispositions"),
            json!({ "id": 9, "name": "x", "active": true }),
        ),
        (
            "GET",
            format!("/v1/projects/{project}/records"),
            Value::Null,
        ),
        (
            "POST",
            format!("/v1/projects/{project}/records"),
            record_body.clone(),
        ),
        (
            "GET",
            format!("/v1/projects/{project}/records/{record}"),
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/projects/{own_project}/records/{record}"),
            Value::Null,
        ),
        (
            "POST",
            format!("/v1/projects/{project}/records/import"),
            record_body,
        ),
        ("DELETE", format!("/v1/do-not-contact/{PHONE}"), Value::Null),
        ("GET", format!("/v1/events/{event}"), Value::Null),
    ];
    for (method, path, body) in cases {
        let request = match method {
            "GET" => server.get(&path),
            "DELETE" => server.delete(&path),
            _ if path.ends_with("/import") => server.post(&path).body(body.to_string()),
            _ => server.post(&path).json(&body),
        };
        let (status, answer) = send(as_tenant(request, &other));
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found", "{method} {path}");
        // The answer names at most what the caller sent, never the owner's data.
        let text = answer.to_string();
        assert!(!text.contains("collections"), "{method} {path}: {text}");
        assert!(
            method == "DELETE" || !text.contains(PHONE),
            "{method} {path}: {text}"
        );
    }
    assert_eq!(projects(&server, &other).as_array().unwrap().len(), 1);
    assert_eq!(projects(&server, &other)[0]["id"], own_project);
    assert_eq!(records(&server, &other, own_project), json!([]));
    let (_, list) = send(as_tenant(server.get("/v1/do-not-contact"), &other));
    assert_eq!(list, json!([]));
    assert_eq!(snapshot(&owner), before);
}

/// Every settings change makes every host forget its memo of every
/// tenant's settings: a tenant changing its bindings in a loop is held to
/// its rate (with `Retry-After`), what it last set stays set, and another
/// tenant's changes go through.
#[test]
fn settings_changes_over_the_rate_answer_429_and_another_tenant_changes_on() {
    // 8 a minute: 2 at once, then one every 7.5 s.
    let server = Server::start_with(|c| c.quotas.settings_changes_per_minute = 8);
    let mallory = server.tenant("mallory");
    let acme = server.tenant("acme");
    let project = server.project(&mallory); // the first change
    let bindings = format!("/v1/projects/{project}/bindings");
    let (status, body) = send(as_tenant(server.put(&bindings).json(&json!([])), &mallory));
    assert_eq!(status, StatusCode::OK, "{body}");
    let retry = retry_after_429(
        as_tenant(server.put(&bindings).json(&json!([])), &mallory),
        "change_rate",
    );
    assert!((1..=8).contains(&retry), "{retry}");
    // A refused change changes nothing; reads are not changes.
    let dispositions = format!("/v1/projects/{project}/dispositions");
    retry_after_429(
        as_tenant(
            server
                .post(&dispositions)
                .json(&json!({ "id": 7, "name": "Promised to pay", "active": false })),
            &mallory,
        ),
        "change_rate",
    );
    let (status, body) = send(as_tenant(server.get(&dispositions), &mallory));
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&Value> = body.as_array().unwrap().iter().map(|d| &d["id"]).collect();
    assert!(!ids.contains(&&json!(7)), "{body}");
    let (status, body) = send(as_tenant(server.get(&bindings), &mallory));
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    // Another tenant's changes are its own to count.
    let theirs = server.project(&acme);
    let (status, body) = send(as_tenant(
        server
            .put(&format!("/v1/projects/{theirs}/bindings"))
            .json(&json!([])),
        &acme,
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
}
