//! Shadows on live traffic: a candidate version runs beside the active
//! one on every event the plugin decides, its decisions are compared and
//! recorded with the host's verdicts, and nothing it decides is executed;
//! the comparison is the tenant's alone, and starting and stopping are in
//! the audit trail.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

struct Live {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
}

/// `rule` v1 (`delivered-followup`, active, bound) and v2
/// (`not-traceable-callback`, staged).
fn live() -> Live {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    server.install(&tenant, "rule", components::DELIVERED_FOLLOWUP);
    let (status, staged) = send(
        server
            .put("/v1/plugins/rule?activate=false")
            .bearer_auth(&tenant.api_key)
            .body(std::fs::read(components::NOT_TRACEABLE_CALLBACK).unwrap()),
    );
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );
    Live {
        server,
        tenant,
        project,
        record,
    }
}

impl Live {
    fn status(&self, id: &str, status: &str) -> Value {
        let (code, event) = send(
            self.server
                .post(&format!(
                    "/v1/webhooks/sms/status?secret-key={}&wait=true",
                    self.tenant.webhook_secret
                ))
                .json(&json!({
                    "messageId": id, "projectId": self.project, "recordId": self.record,
                    "status": status, "timestamp": "2026-12-01T09:00:00Z",
                })),
        );
        assert_eq!(code, StatusCode::OK, "{event}");
        event
    }

    fn shadow(&self, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
        send(
            self.server
                .client
                .request(
                    method,
                    format!("{}/v1/plugins/rule/{path}", self.server.url),
                )
                .bearer_auth(&self.tenant.api_key),
        )
    }

    /// The shadow's report once it has compared `events` events.
    fn compared(&self, events: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, report) = self.shadow(reqwest::Method::GET, "shadow");
            assert_eq!(status, StatusCode::OK, "{report}");
            let done = ["same", "different", "failed"]
                .iter()
                .map(|k| report[k].as_u64().unwrap())
                .sum::<u64>();
            if done >= events {
                return report;
            }
            assert!(Instant::now() < deadline, "not compared: {report}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_shadow_compares_every_live_event_and_executes_nothing() {
    let l = live();
    // An event before the shadow starts is not compared.
    l.status("m0", "sent");
    let (status, started) = l.shadow(reqwest::Method::POST, "versions/2/shadow");
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(
        (started["version"].clone(), started["same"].clone()),
        (json!(2), json!(0))
    );

    // Delivered: v1 calls back in 48 h, v2 does nothing. Sent: both do
    // nothing.
    let delivered = l.status("m1", "delivered");
    l.status("m2", "sent");
    let report = l.compared(2);
    assert_eq!(
        (
            report["same"].clone(),
            report["different"].clone(),
            report["failed"].clone()
        ),
        (json!(1), json!(1), json!(0)),
        "{report}"
    );
    let difference = &report["differences"][0];
    assert_eq!(difference["eventId"], delivered["id"], "{report}");
    assert_eq!(difference["outcome"], "different");
    assert_eq!(difference["records"], json!([l.record]));
    assert_eq!(difference["active"]["version"], 1);
    assert_eq!(difference["active"]["actions"].as_array().unwrap().len(), 1);
    assert_eq!(difference["candidate"]["version"], 2);
    assert_eq!(difference["candidate"]["actions"], json!([]));
    // A not-traceable receipt: v2 asks for a callback the host judges.
    let lost = l.status("m3", "not_traceable");
    let report = l.compared(3);
    let newest = &report["differences"][0];
    assert_eq!(newest["eventId"], lost["id"], "{report}");
    assert_eq!(newest["verdicts"][0]["accepted"], true, "{report}");
    // The comparison is in the tenant's metrics too.
    let metrics = l
        .server
        .get("/metrics")
        .bearer_auth(&l.tenant.api_key)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let series = format!(
        "smstrigger_shadow_comparisons_total{{outcome=\"different\",plugin=\"rule\",tenant=\"{}\"}} 2",
        l.tenant.id
    );
    assert!(metrics.contains(&series), "{series} in {metrics}");

    // Only the active version decided and acted: one decision an event,
    // and the record's list holds v1's callback alone.
    assert_eq!(delivered["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(delivered["decisions"][0]["version"], 1);
    let (_, record) = send(
        l.server
            .get(&format!("/v1/projects/{}/records/{}", l.project, l.record))
            .bearer_auth(&l.tenant.api_key),
    );
    let events = record["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{record}");
    assert_eq!(events[0]["pluginVersion"], 1);

    // Stopping needs the right version; the last report comes back.
    let (status, _) = l.shadow(reqwest::Method::DELETE, "versions/1/shadow");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, stopped) = l.shadow(reqwest::Method::DELETE, "versions/2/shadow");
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["different"], 2, "{stopped}");
    let (status, _) = l.shadow(reqwest::Method::GET, "shadow");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, trail) = send(
        l.server
            .get("/v1/audit?plugin=rule")
            .bearer_auth(&l.tenant.api_key),
    );
    let kinds: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["shadow_started", "shadow_stopped"]),
        "{trail}"
    );
}

#[test]
fn a_shadow_is_its_tenants_alone() {
    let l = live();
    let (status, _) = l.shadow(reqwest::Method::POST, "versions/9/shadow");
    assert_eq!(status, StatusCode::NOT_FOUND, "no such version");
    let (status, _) = l.shadow(reqwest::Method::POST, "versions/2/shadow");
    assert_eq!(status, StatusCode::OK);
    // Another tenant can neither see, start nor stop it.
    let other = l.server.tenant("other");
    let as_other = |method: reqwest::Method, path: &str| {
        send(
            l.server
                .client
                .request(method, format!("{}/v1/plugins/rule/{path}", l.server.url))
                .bearer_auth(&other.api_key),
        )
        .0
    };
    assert_eq!(
        as_other(reqwest::Method::GET, "shadow"),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_other(reqwest::Method::POST, "versions/2/shadow"),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_other(reqwest::Method::DELETE, "versions/2/shadow"),
        StatusCode::NOT_FOUND
    );
    let (status, still) = l.shadow(reqwest::Method::GET, "shadow");
    assert_eq!(
        (status, still["version"].clone()),
        (StatusCode::OK, json!(2))
    );
}

/// A shadowed version deleted as newer ones arrive (only the newest, the
/// active and the previous are kept) stops its shadow at the next event,
/// with the reason in the audit trail, instead of failing every pass.
#[test]
fn a_shadow_whose_version_is_deleted_stops_and_says_why() {
    let server = Server::start_with(|config| config.quotas.versions_kept = 1);
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    for component in [
        components::DELIVERED_FOLLOWUP,
        components::NOT_TRACEABLE_CALLBACK,
    ] {
        server.install(&tenant, "rule", component);
    }
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );
    let l = Live {
        server,
        tenant,
        project,
        record,
    };
    // v1 is the previous version, kept for a rollback: it may shadow v2.
    let (status, _) = l.shadow(reqwest::Method::POST, "versions/1/shadow");
    assert_eq!(status, StatusCode::OK);
    // v3, then v4: v1 is neither the newest, the active nor the previous.
    for _ in 0..2 {
        l.server
            .install(&l.tenant, "rule", components::DELIVERED_FOLLOWUP);
    }
    l.status("m1", "delivered");
    let deadline = Instant::now() + Duration::from_secs(10);
    while l.shadow(reqwest::Method::GET, "shadow").0 == StatusCode::OK {
        assert!(Instant::now() < deadline, "the shadow still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, trail) = send(
        l.server
            .get("/v1/audit?kind=shadow_stopped")
            .bearer_auth(&l.tenant.api_key),
    );
    let stopped = &trail[0];
    assert_eq!(stopped["actor"]["kind"], "host", "{trail}");
    assert!(
        stopped["reason"].as_str().unwrap().contains("not found"),
        "{trail}"
    );
}
