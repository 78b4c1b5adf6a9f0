//! The contract's stability through the API: a committed component of
//! world 0.1.0 uploads, runs and decides beside a 0.2.0 one on a live
//! event, and a 0.2.0 component's SMS request is judged and sent.

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

#[test]
fn a_0_1_0_component_decides_a_live_event_beside_a_0_2_0_one() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    let old = server.install(&tenant, "followup", components::v0_1_0::DELIVERED_FOLLOWUP);
    assert_eq!(old["world"], "0.1.0", "{old}");
    let new = server.install(&tenant, "texter", components::HOSTILE_PLUGIN);
    assert_eq!(new["world"], "0.2.0", "{new}");
    server.bind(
        &tenant,
        project,
        json!([
            { "plugin": "followup", "priority": 10 },
            { "plugin": "texter", "priority": 5,
              "config": { "attack": "sms", "text": "Thanks! When may we call?" } },
        ]),
    );

    let (status, event) = send(
        server
            .post(&format!(
                "/v1/webhooks/sms/status?secret-key={}&wait=true",
                tenant.webhook_secret
            ))
            .json(&json!({
                "messageId": "m-1",
                "projectId": project,
                "recordId": record,
                "status": "delivered",
                "timestamp": "2026-12-01T09:00:00Z",
            })),
    );
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["state"], "done", "{event}");
    let decision = |plugin: &str| -> Value {
        event["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["plugin"] == plugin)
            .cloned()
            .unwrap_or_else(|| panic!("no decision of {plugin}: {event}"))
    };

    // 0.1.0: the Shared Callback 48 hours after delivery, as always.
    let followup = decision("followup");
    let verdict = &followup["verdicts"][0];
    assert_eq!(verdict["accepted"], true, "{followup}");
    let at = 1_796_115_600 + 48 * 3600;
    assert_eq!(
        verdict["action"]["disposition"],
        json!({ "kind": "sharedCallback", "at": at })
    );

    // 0.2.0: the SMS is judged (in scope, contactable, has text) and sent.
    let texter = decision("texter");
    let verdict = &texter["verdicts"][0];
    assert_eq!(verdict["accepted"], true, "{texter}");
    assert_eq!(verdict["action"]["text"], "Thanks! When may we call?");
    assert_eq!(verdict["action"]["templateId"], "hostile");

    // The callback and the SMS reached the record's event list, the SMS
    // its messages too.
    let (status, view) = send(
        server
            .get(&format!("/v1/projects/{project}/records/{record}"))
            .bearer_auth(&tenant.api_key),
    );
    assert_eq!(status, StatusCode::OK, "{view}");
    let events = view["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{view}");
    assert_eq!(events[0]["plugin"], "followup", "{view}");
    assert_eq!(events[1]["eventType"], "Outbound SMS", "{view}");
    assert_eq!(
        view["messages"][0]["text"], "Thanks! When may we call?",
        "{view}"
    );
}

#[test]
fn a_dry_run_of_an_sms_to_another_tenants_record_is_out_of_scope() {
    let server = Server::start();
    let victim = server.tenant("victim");
    let victim_project = server.project(&victim);
    let victim_record = server.record(&victim, victim_project, "+36309876543");
    let attacker = server.tenant("attacker");
    let project = server.project(&attacker);
    let record = server.record(&attacker, project, PHONE);
    server.install(&attacker, "texter", components::HOSTILE_PLUGIN);
    let (status, dry) = send(
        server
            .post("/v1/plugins/texter/dry-run")
            .bearer_auth(&attacker.api_key)
            .json(&json!({
                "config": { "attack": "sms", "text": "pay up",
                            "record_id": victim_record.to_string() },
                "event": {
                    "kind": "outbound",
                    "messageId": "m-1",
                    "projectId": project,
                    "contact": { "id": record, "projectId": project, "phone": PHONE,
                                 "timeZone": "Europe/Budapest" },
                    "status": "delivered",
                    "timestamp": 1_796_115_600,
                },
            })),
    );
    assert_eq!(status, StatusCode::OK, "{dry}");
    let verdict = &dry["verdicts"][0];
    assert_eq!(verdict["accepted"], false, "{dry}");
    assert_eq!(verdict["reason"], "record_out_of_scope", "{dry}");
}
