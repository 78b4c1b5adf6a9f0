//! Webhooks: authentication, validation, journaling, `?wait=true`,
//! quotas and overload. Every refused request journals nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_host::api::{SIGNATURE_HEADER, sign};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

struct Setup {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
}

fn setup_with(configure: impl FnOnce(&mut Config)) -> Setup {
    let server = Server::start_with(configure);
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    server.install(
        &tenant,
        "not-traceable-callback",
        components::NOT_TRACEABLE_CALLBACK,
    );
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "not-traceable-callback", "priority": 10 }]),
    );
    Setup {
        server,
        tenant,
        project,
        record,
    }
}

fn setup() -> Setup {
    setup_with(|_| {})
}

impl Setup {
    fn status_body(&self, message_id: &str) -> Value {
        json!({
            "messageId": message_id,
            "projectId": self.project,
            "recordId": self.record,
            "status": "not_traceable",
            "timestamp": "2026-12-01T09:00:00Z",
        })
    }

    fn status(&self, body: &Value, query: &str) -> (StatusCode, Value) {
        send(
            self.server
                .post(&format!("/v1/webhooks/sms/status{query}"))
                .json(body),
        )
    }

    fn with_secret(&self, extra: &str) -> String {
        format!("?secret-key={}{extra}", self.tenant.webhook_secret)
    }

    /// The next event id the journal hands out: proves nothing was journaled
    /// by the requests in between.
    fn next_event_id(&self, probe: &str) -> u64 {
        let (status, body) = self.status(&self.status_body(probe), &self.with_secret(""));
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["eventId"].as_u64().unwrap()
    }
}

#[test]
fn a_receipt_is_accepted_once_and_a_retry_is_a_duplicate() {
    let s = setup();
    let (status, first) = s.status(&s.status_body("m-1"), &s.with_secret(""));
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["status"], "accepted");
    let (status, again) = s.status(&s.status_body("m-1"), &s.with_secret(""));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["eventId"], first["eventId"]);
}

#[test]
fn wait_returns_the_decision() {
    let s = setup();
    let (status, event) = s.status(&s.status_body("m-1"), &s.with_secret("&wait=true"));
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["state"], "done");
    let decision = &event["decisions"][0];
    assert_eq!(decision["plugin"], "not-traceable-callback");
    assert_eq!(decision["version"], 1);
    assert_eq!(decision["verdicts"][0]["accepted"], true);
}

#[test]
fn an_inbound_message_in_the_source_systems_shape_is_accepted() {
    let s = setup();
    let body = json!({
        "direction": "in",
        "message": "hello",
        "numberId": 17,
        "projectId": s.project,
        "sourcePhoneNumber": "06301234567",
        "timestamp": "2026-12-01 10:00:00",
    });
    let (status, event) = send(
        s.server
            .post(&format!(
                "/v1/webhooks/sms/inbound{}",
                s.with_secret("&wait=true")
            ))
            .json(&body),
    );
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["resolved"]["sourcePhoneNumber"], PHONE);
    // 10:00 in Budapest in winter is 09:00 UTC.
    assert_eq!(event["resolved"]["timestamp"], 1_796_115_600);
    assert_eq!(event["resolved"]["matches"][0]["id"], s.record);
}

#[test]
fn a_signature_of_the_raw_body_authenticates() {
    let s = setup();
    let (status, body) = send(
        s.server
            .put("/v1/tenant")
            .bearer_auth(&s.tenant.api_key)
            .json(&json!({
                "name": "acme",
                "webhookAuth": "signature",
                "executor": { "kind": "embedded" },
                "optOutKeywords": ["STOP"],
            })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let raw = serde_json::to_vec(&s.status_body("m-1")).unwrap();
    let signed = |bytes: &[u8], signature: &str| {
        send(
            s.server
                .post("/v1/webhooks/sms/status")
                .header(SIGNATURE_HEADER, signature)
                .header("content-type", "application/json")
                .body(bytes.to_vec()),
        )
    };
    let signature = sign(&s.tenant.webhook_secret, &raw);
    assert_eq!(signed(&raw, &signature).0, StatusCode::ACCEPTED);
    // Still valid JSON, another message id: only the signature can tell.
    let tampered = String::from_utf8(raw.clone())
        .unwrap()
        .replace("m-1", "m-9")
        .into_bytes();
    assert_error(
        signed(&tampered, &signature),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    // The secret in the URL is no longer accepted for this tenant.
    assert_error(
        s.status(&s.status_body("m-2"), &s.with_secret("")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[test]
fn bad_requests_get_a_4xx_with_a_reason_and_journal_nothing() {
    let s = setup_with(|config| config.max_body_bytes = 4096);
    let first = s.next_event_id("probe-1");
    let secret = s.with_secret("");
    let post_raw = |body: &str| {
        send(
            s.server
                .post(&format!("/v1/webhooks/sms/status{secret}"))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };
    assert_error(
        post_raw("{not json"),
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        post_raw(r#"{"messageId": "m"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let mut body = s.status_body("m-1");
    body["status"] = json!("lost");
    assert_error(
        s.status(&body, &secret),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let mut body = s.status_body("m-1");
    body["timestamp"] = json!("2026-03-29 02:30:00");
    assert_error(
        s.status(&body, &secret),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let mut body = s.status_body("m-1");
    body["projectId"] = json!(999);
    assert_error(
        s.status(&body, &secret),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let mut body = s.status_body("m-1");
    body["recordId"] = json!(999);
    assert_error(s.status(&body, &secret), StatusCode::NOT_FOUND, "not_found");
    assert_error(
        s.status(&s.status_body("m-1"), "?secret-key=wrong"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        s.status(&s.status_body("m-1"), ""),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let huge = json!({ "messageId": "x".repeat(10_000), "projectId": s.project });
    let (status, _) = s.status(&huge, &secret);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let inbound = json!({
        "direction": "out", "message": "hi", "numberId": 1, "projectId": s.project,
        "sourcePhoneNumber": PHONE, "timestamp": NOW,
    });
    assert_error(
        send(
            s.server
                .post(&format!("/v1/webhooks/sms/inbound{secret}"))
                .json(&inbound),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let mut inbound = inbound;
    inbound["direction"] = json!("in");
    inbound["sourcePhoneNumber"] = json!("not a phone");
    assert_error(
        send(
            s.server
                .post(&format!("/v1/webhooks/sms/inbound{secret}"))
                .json(&inbound),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_phone",
    );
    assert_eq!(
        s.next_event_id("probe-2"),
        first + 1,
        "a refused request journaled an event"
    );
}

#[test]
fn another_tenants_secret_does_not_open_this_tenants_project() {
    let s = setup();
    let intruder = s.server.tenant("intruder");
    assert_error(
        s.status(
            &s.status_body("m-1"),
            &format!("?secret-key={}", intruder.webhook_secret),
        ),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[test]
fn a_tenant_over_its_event_rate_gets_429_with_retry_after() {
    let s = setup_with(|config| config.quotas.events_per_second = 2);
    let secret = s.with_secret("");
    let answers: Vec<_> = (0..4)
        .map(|i| {
            s.server
                .post(&format!("/v1/webhooks/sms/status{secret}"))
                .json(&s.status_body(&format!("m-{i}")))
                .send()
                .unwrap()
        })
        .collect();
    let limited = answers
        .iter()
        .find(|a| a.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("a request over the rate is refused");
    assert_eq!(limited.headers()["retry-after"], "1");
}

#[test]
fn an_overloaded_server_answers_503_with_retry_after() {
    let s = setup_with(|config| config.max_pending = 0);
    let response = s
        .server
        .post(&format!("/v1/webhooks/sms/status{}", s.with_secret("")))
        .json(&s.status_body("m-1"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}

#[test]
fn one_tenants_backlog_never_refuses_another_tenants_webhooks() {
    let s = setup_with(|config| config.max_pending = 20);
    // The busy tenant's plugin burns its whole fuel budget on every event,
    // so a burst of its events stays pending for a while.
    let busy = s.server.tenant("busy");
    let busy_project = s.server.project(&busy);
    let busy_record = s.server.record(&busy, busy_project, PHONE);
    s.server
        .install(&busy, "hostile-plugin", components::HOSTILE_PLUGIN);
    s.server.bind(
        &busy,
        busy_project,
        json!([{ "plugin": "hostile-plugin", "priority": 10, "config": { "attack": "loop" } }]),
    );
    let busy_status = |message_id: &str| {
        send(
            s.server
                .post(&format!(
                    "/v1/webhooks/sms/status?secret-key={}",
                    busy.webhook_secret
                ))
                .json(&json!({
                    "messageId": message_id,
                    "projectId": busy_project,
                    "recordId": busy_record,
                    "status": "delivered",
                    "timestamp": "2026-12-01T09:00:00Z",
                })),
        )
        .0
    };
    // Once its backlog is counted, the busy tenant is told to wait…
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut i = 0;
    loop {
        let status = busy_status(&format!("busy-{i}"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(std::time::Instant::now() < deadline, "never refused");
        i += 1;
    }
    // …and the other tenant is not.
    let (status, body) = s.status(&s.status_body("calm-1"), &s.with_secret(""));
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// Tenant settings are bounded like everything a tenant controls: its name,
/// and the opt-out keywords every inbound message is compared with.
#[test]
fn tenant_settings_over_their_bounds_are_refused_and_nothing_changes() {
    let s = setup();
    let put = |body: Value| {
        send(
            s.server
                .put("/v1/tenant")
                .bearer_auth(&s.tenant.api_key)
                .json(&body),
        )
    };
    let settings = |name: String, keywords: Vec<String>| {
        json!({ "name": name, "webhookAuth": "url", "executor": { "kind": "embedded" },
                "optOutKeywords": keywords })
    };
    for (name, keywords) in [
        ("x".repeat(201), vec!["STOP".to_string()]),
        ("  ".to_string(), vec!["STOP".to_string()]),
        (
            "acme".to_string(),
            (0..101).map(|i| format!("K{i}")).collect(),
        ),
        ("acme".to_string(), vec!["K".repeat(65)]),
    ] {
        let (status, body) = put(settings(name, keywords));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, body) = put(settings("x".repeat(200), vec!["STOP".into()]));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, shown) = send(s.server.get("/v1/tenant").bearer_auth(&s.tenant.api_key));
    assert_eq!(shown["name"], "x".repeat(200));
}
