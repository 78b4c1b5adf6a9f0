//! Old and future events: the acceptance window of webhook timestamps
//! (422 `outside_accept_window`, nothing journaled), a tenant widening it
//! within the operator's bounds, and the execution-time check that no
//! callback already past when it executes is set.
//!
//! The servers' clock is pinned at [`NOW`] (2026-12-01 09:00 UTC), so
//! these tests judge the same whatever day they run.

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_host::api::{SIGNATURE_HEADER, sign};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";
const DAY: i64 = 86_400;

struct Setup {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
}

/// A tenant whose project runs `delivered-followup` (a callback 48 hours
/// after a `delivered` receipt).
fn setup() -> Setup {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    server.install(&tenant, "followup", components::DELIVERED_FOLLOWUP);
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "followup", "priority": 10 }]),
    );
    Setup {
        server,
        tenant,
        project,
        record,
    }
}

impl Setup {
    fn delivered(&self, message_id: &str, at: i64) -> Value {
        json!({
            "messageId": message_id, "projectId": self.project, "recordId": self.record,
            "status": "delivered", "timestamp": at,
        })
    }

    /// Posts a status webhook with the secret in the URL, waiting for the decision.
    fn post(&self, body: &Value) -> (StatusCode, Value) {
        send(
            self.server
                .post(&format!(
                    "/v1/webhooks/sms/status?secret-key={}&wait=true",
                    self.tenant.webhook_secret
                ))
                .json(body),
        )
    }

    fn record_view(&self) -> Value {
        let (status, body) = send(
            self.server
                .get(&format!(
                    "/v1/projects/{}/records/{}",
                    self.project, self.record
                ))
                .bearer_auth(&self.tenant.api_key),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn tenant_settings(&self) -> Value {
        let (status, body) = send(
            self.server
                .get("/v1/tenant")
                .bearer_auth(&self.tenant.api_key),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn set_window(&self, window: Value) -> (StatusCode, Value) {
        let mut settings = self.tenant_settings();
        settings["acceptWindow"] = window;
        send(
            self.server
                .put("/v1/tenant")
                .bearer_auth(&self.tenant.api_key)
                .json(&settings),
        )
    }
}

#[test]
fn a_receipt_stamped_400_days_ago_is_refused_and_leaves_the_later_callback() {
    let s = setup();
    let (status, fresh) = s.post(&s.delivered("m-now", NOW));
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let callback = s.record_view()["nextCalldate"].clone();
    assert_eq!(callback, NOW + 2 * DAY);

    let answer = s.post(&s.delivered("m-old", NOW - 400 * DAY));
    assert_error(
        answer.clone(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_accept_window",
    );
    let message = answer.1["error"]["message"].as_str().unwrap();
    for part in ["2025-10-27T09:00:00+00:00", "604800 s (7 days)", "300 s"] {
        assert!(message.contains(part), "{part} in {message}");
    }
    let record = s.record_view();
    assert_eq!(record["nextCalldate"], callback, "{record}");
    assert_eq!(record["events"].as_array().unwrap().len(), 1, "{record}");
    // Nothing was journaled: the next event takes the very next id.
    let (status, next) = s.post(&s.delivered("m-next", NOW));
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_eq!(next["id"].as_u64(), fresh["id"].as_u64().map(|id| id + 1));
}

#[test]
fn the_window_holds_at_its_edges_for_receipts_and_inbound_messages() {
    let s = setup();
    for (at, expected) in [
        (NOW - 7 * DAY, StatusCode::OK),
        (NOW + 300, StatusCode::OK),
        (NOW - 7 * DAY - 1, StatusCode::UNPROCESSABLE_ENTITY),
        (NOW + 301, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, body) = s.post(&s.delivered(&format!("m-{at}"), at));
        assert_eq!(status, expected, "{at}: {body}");
    }
    let inbound = |at: Value| {
        send(
            s.server
                .post(&format!(
                    "/v1/webhooks/sms/inbound?secret-key={}",
                    s.tenant.webhook_secret
                ))
                .json(&json!({
                    "direction": "in", "message": "hi", "numberId": 1, "projectId": s.project,
                    "sourcePhoneNumber": PHONE, "timestamp": at,
                })),
        )
    };
    // A year ahead, in the project's wall-clock format: refused.
    assert_error(
        inbound(json!("2027-12-01 10:00:00")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_accept_window",
    );
    let (status, body) = inbound(json!("2026-12-01 10:00:00"));
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[test]
fn a_captured_signed_webhook_replayed_after_the_window_is_refused() {
    let s = setup();
    let body = serde_json::to_vec(&s.delivered("m-captured", NOW)).unwrap();
    let signature = sign(&s.tenant.webhook_secret, &body);
    let replay = || {
        send(
            s.server
                .post("/v1/webhooks/sms/status")
                .header(SIGNATURE_HEADER, &signature)
                .header("content-type", "application/json")
                .body(body.clone()),
        )
    };
    let (status, first) = replay();
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    // Within the window a replay is a duplicate; after it, refused outright.
    let (status, again) = replay();
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::ACCEPTED, Some("duplicate"))
    );
    s.server.clock.set(NOW + 8 * DAY);
    assert_error(
        replay(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_accept_window",
    );
}

#[test]
fn a_tenant_widens_its_window_only_within_the_operators_bounds() {
    let s = setup();
    assert_eq!(
        s.tenant_settings()["acceptWindow"],
        json!({ "pastSecs": 7 * DAY, "futureSecs": 300 })
    );
    let twenty_days_ago = s.delivered("m-20d", NOW - 20 * DAY);
    assert_error(
        s.post(&twenty_days_ago),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_accept_window",
    );

    let too_wide = s.set_window(json!({ "pastSecs": 31 * DAY, "futureSecs": 300 }));
    assert_error(
        too_wide.clone(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    assert!(
        too_wide.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2592000"),
        "names the bound: {}",
        too_wide.1
    );
    let ahead = s.set_window(json!({ "pastSecs": DAY, "futureSecs": 2 * DAY }));
    assert_error(ahead, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(s.tenant_settings()["acceptWindow"]["pastSecs"], 7 * DAY);

    let (status, body) = s.set_window(json!({ "pastSecs": 30 * DAY, "futureSecs": 60 }));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["acceptWindow"],
        json!({ "pastSecs": 30 * DAY, "futureSecs": 60 })
    );
    let (status, event) = s.post(&twenty_days_ago);
    assert_eq!(status, StatusCode::OK, "{event}");
    // Narrower ahead now: 61 seconds is too far.
    assert_error(
        s.post(&s.delivered("m-ahead", NOW + 61)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_accept_window",
    );
}

#[test]
fn an_old_receipt_inside_a_wide_window_sets_no_callback_already_past() {
    let s = setup();
    let (status, body) = s.set_window(json!({ "pastSecs": 30 * DAY, "futureSecs": 300 }));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, fresh) = s.post(&s.delivered("m-now", NOW));
    assert_eq!(status, StatusCode::OK, "{fresh}");

    // Ten days old: its callback (48 h after it) was in the event's future,
    // so the decision accepts it, but it is 8 days past when it executes.
    let (status, old) = s.post(&s.delivered("m-old", NOW - 10 * DAY));
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(old["state"], "done", "{old}");
    let verdict = &old["decisions"][0]["verdicts"][0];
    assert_eq!(
        verdict["accepted"], true,
        "the decision as decided: {verdict}"
    );
    assert_eq!(
        verdict["action"]["disposition"]["at"],
        NOW - 8 * DAY,
        "{verdict}"
    );
    assert_eq!(verdict["executed"], false, "{verdict}");
    assert_eq!(
        verdict["executionError"]["code"], "time_in_past_at_execution",
        "{verdict}"
    );
    let record = s.record_view();
    assert_eq!(record["nextCalldate"], NOW + 2 * DAY, "{record}");
    assert_eq!(record["events"].as_array().unwrap().len(), 1, "{record}");

    // A dry run of the same event still judges with the event's time.
    let (status, dry) = send(
        s.server
            .post("/v1/plugins/followup/dry-run")
            .bearer_auth(&s.tenant.api_key)
            .json(&json!({ "event": old["resolved"] })),
    );
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert!(dry.to_string().contains("\"accepted\":true"), "{dry}");
    assert!(!dry.to_string().contains("time_in_past"), "{dry}");
}
