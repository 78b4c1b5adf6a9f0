//! `POST /v1/webhooks/call/disposition`: the contact center's call
//! dispositions, in its own shape, reach the plugins built for world 0.2.0
//! (and never the 0.1.0 ones); a retry of the same call is a duplicate;
//! every bad request is a 4xx naming the field and journals nothing. And
//! the loop they start: the SMS a plugin asks for is sent (recorded) once,
//! and the customer's reply knows which message it answers.

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

struct Setup {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
}

/// A tenant whose project binds `call-attempt-sms` (0.2.0, asks for a time
/// by SMS after 3 unanswered attempts), `reply-call-time` (a reply's time
/// → a Shared Callback) and the 0.1.0 keyword fixture.
fn setup() -> Setup {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    server.install(&tenant, "ask-time", components::CALL_ATTEMPT_SMS);
    server.install(&tenant, "reply-time", components::REPLY_CALL_TIME);
    server.install(&tenant, "keywords", components::v0_1_0::KEYWORD_DISPOSITION);
    server.bind(
        &tenant,
        project,
        json!([
            { "plugin": "ask-time", "priority": 10 },
            { "plugin": "reply-time", "priority": 8 },
            { "plugin": "keywords", "priority": 5, "config": { "keywords": "PAID=41" } },
        ]),
    );
    Setup {
        server,
        tenant,
        project,
        record,
    }
}

impl Setup {
    /// A third unanswered outbound call to the record, as the dialer sends it.
    fn body(&self, uuid: &str) -> Value {
        json!({
            "uuid": uuid,
            "numberid": 3,
            "projectid": self.project,
            "destination": "06301234567",
            "source": "+3612345678",
            "direction": "out",
            "disposition": { "id": 7, "name": "No answer", "assessment": "Not reached" },
            "sum_attempted_calls": 3,
            "first_outbound_call_attempt": "2026-11-29 09:15:00",
            "userid": 44,
            "username": "anna",
            "timestamp": "2026-12-01T09:00:00Z",
        })
    }

    fn call(&self, body: &Value, query: &str) -> (StatusCode, Value) {
        send(
            self.server
                .post(&format!(
                    "/v1/webhooks/call/disposition?secret-key={}{query}",
                    self.tenant.webhook_secret
                ))
                .json(body),
        )
    }

    /// The next event id the journal hands out: proves nothing was
    /// journaled by the requests in between.
    fn next_event_id(&self, probe: &str) -> u64 {
        let (status, body) = self.call(&self.body(probe), "");
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["eventId"].as_u64().unwrap()
    }
}

#[test]
fn a_call_disposition_reaches_the_0_2_0_plugins_only() {
    let s = setup();
    let (status, event) = s.call(&s.body("call-1"), "&wait=true");
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["state"], "done", "{event}");

    // What the plugins saw, resolved by the host.
    let resolved = &event["resolved"];
    assert_eq!(resolved["kind"], "callDisposition", "{event}");
    assert_eq!(resolved["callId"], "call-1");
    assert_eq!(resolved["contact"]["id"], s.record);
    assert_eq!(resolved["contact"]["phone"], PHONE);
    assert_eq!(
        resolved["disposition"],
        json!({ "id": 7, "name": "No answer", "assessment": "not_reached" })
    );
    assert_eq!(resolved["direction"], "outbound");
    assert_eq!(resolved["attempts"], 3);
    // 09:15 in Budapest on 2026-11-29 is 08:15 UTC, 2 days 45 minutes before.
    assert_eq!(resolved["firstAttempt"], 1_795_940_100);
    assert_eq!(resolved["agent"], "anna (44)");
    assert_eq!(resolved["timestamp"], 1_796_115_600);

    // Only the 0.2.0 plugins were asked (reply-time ignores calls); the
    // SMS ask-time asked for was accepted.
    let decisions = event["decisions"].as_array().unwrap();
    let asked: Vec<&str> = decisions
        .iter()
        .map(|d| d["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(asked, ["ask-time", "reply-time"], "{event}");
    let verdict = &decisions[0]["verdicts"][0];
    assert_eq!(verdict["accepted"], true, "{event}");
    assert_eq!(verdict["action"]["recordId"], s.record);
    assert_eq!(verdict["action"]["templateId"], "call-attempt-sms");
    assert!(
        verdict["action"]["text"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD hh:mm")
    );
}

#[test]
fn the_sms_a_call_asks_for_is_sent_once_and_the_reply_knows_it() {
    let s = setup();
    let (status, call) = s.call(&s.body("call-1"), "&wait=true");
    assert_eq!(status, StatusCode::OK, "{call}");
    // The webhook retried: a duplicate, nothing sent again.
    let (_, again) = s.call(&s.body("call-1"), "");
    assert_eq!(again["status"], "duplicate");

    let (status, sent) = send(
        s.server
            .get(&format!("/v1/projects/{}/messages", s.project))
            .bearer_auth(&s.tenant.api_key),
    );
    assert_eq!(status, StatusCode::OK, "{sent}");
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let message = &sent[0];
    assert_eq!(message["recordId"], s.record);
    assert_eq!(message["eventId"], call["id"]);
    assert_eq!(message["phone"], PHONE);
    assert_eq!(message["status"], "sent");
    assert_eq!(message["templateId"], "call-attempt-sms");
    assert_eq!(message["plugin"], "ask-time");
    let message_id = message["messageId"].as_str().unwrap().to_string();

    let (status, view) = send(
        s.server
            .get(&format!("/v1/projects/{}/records/{}", s.project, s.record))
            .bearer_auth(&s.tenant.api_key),
    );
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["messages"][0]["messageId"], message_id.as_str());
    // The record's event list shows it as the contact center would.
    let entry = &view["events"][0];
    assert_eq!(entry["eventType"], "Outbound SMS", "{view}");
    assert_eq!(
        (&entry["user"], &entry["messageId"], &entry["messageStatus"]),
        (&json!("System"), &json!(message_id), &json!("sent")),
        "{view}"
    );
    assert_eq!(entry["dispositionId"], Value::Null);
    assert_eq!(entry["note"], message["text"]);
    assert_eq!(entry["plugin"], "ask-time");

    // The customer answers with a time: the reply carries the message it
    // answers, and the time becomes a Shared Callback.
    let (status, reply) = send(
        s.server
            .post(&format!(
                "/v1/webhooks/sms/inbound?secret-key={}&wait=true",
                s.tenant.webhook_secret
            ))
            .json(&json!({
                "direction": "in",
                "message": "2026-12-02 14:30 please",
                "numberId": 3,
                "projectId": s.project,
                "sourcePhoneNumber": "06301234567",
                "timestamp": "2026-12-01T09:05:00Z",
            })),
    );
    assert_eq!(status, StatusCode::OK, "{reply}");
    let last = &reply["resolved"]["lastOutbound"];
    assert_eq!(last["messageId"], message_id.as_str(), "{reply}");
    assert_eq!(last["templateId"], "call-attempt-sms");
    let callback = reply["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["plugin"] == "reply-time")
        .unwrap_or_else(|| panic!("reply-time decided: {reply}"));
    assert_eq!(callback["verdicts"][0]["accepted"], true, "{reply}");
    // The callback follows the SMS in the event list, here and on /v2.
    let (_, view) = send(
        s.server
            .get(&format!("/v1/projects/{}/records/{}", s.project, s.record))
            .bearer_auth(&s.tenant.api_key),
    );
    let types: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Outbound SMS", "SMS"], "{view}");
    let (status, v2) = send(
        s.server
            .get(&format!("/v2/projects/{}/records/{}", s.project, s.record))
            .basic_auth(s.tenant.id, Some(&s.tenant.api_key)),
    );
    assert_eq!(status, StatusCode::OK, "{v2}");
    let first = &v2["response"]["events"][0];
    assert_eq!(first["eventtype"], "Outbound SMS", "{v2}");
    assert_eq!(first["dispositionid"], Value::Null, "{v2}");
    assert_eq!(first["description"], message["text"], "{v2}");

    // Another tenant cannot read this project's messages.
    let intruder = s.server.tenant("intruder");
    let (status, _) = send(
        s.server
            .get(&format!("/v1/projects/{}/messages", s.project))
            .bearer_auth(&intruder.api_key),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn a_retried_call_is_a_duplicate_and_create_time_is_read_in_the_projects_zone() {
    let s = setup();
    let (status, first) = s.call(&s.body("call-1"), "");
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["status"], "accepted");
    let (status, again) = s.call(&s.body("call-1"), "");
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["eventId"], first["eventId"]);

    let mut body = s.body("call-2");
    let object = body.as_object_mut().unwrap();
    object.remove("timestamp");
    object.insert("create_time".into(), json!("2026-12-01 10:00:00"));
    object.insert("recordid".into(), json!(s.record));
    object.insert("userid".into(), Value::Null);
    object.remove("username");
    let (status, event) = s.call(&body, "&wait=true");
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["resolved"]["timestamp"], 1_796_115_600);
    assert_eq!(event["resolved"]["contact"]["id"], s.record);
    assert!(
        event["resolved"].get("agent").is_none(),
        "the dialer set it: {event}"
    );
}

#[test]
fn every_bad_call_disposition_is_a_4xx_naming_why_and_journals_nothing() {
    let s = setup();
    let other_project = s.server.project(&s.tenant);
    let elsewhere = s.server.record(&s.tenant, other_project, "+36307654321");
    s.server.record(&s.tenant, other_project, "+36305555555");
    let twin_project = s.server.project(&s.tenant);
    s.server.record(&s.tenant, twin_project, "+36306666666");
    s.server.record(&s.tenant, twin_project, "+36306666666");

    let before = s.next_event_id("probe-before");
    let with = |changes: Value| {
        let mut body = s.body("call-bad");
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let refused = [
        (with(json!({ "uuid": " " })), 422, "uuid"),
        (with(json!({ "direction": "sideways" })), 422, "direction"),
        (
            with(json!({ "disposition": { "id": 7, "name": "x", "assessment": "maybe" } })),
            422,
            "assessment",
        ),
        (with(json!({ "destination": null })), 422, "destination"),
        (with(json!({ "timestamp": null })), 422, "create_time"),
        (with(json!({ "timestamp": "yesterday" })), 422, "timestamp"),
        (
            with(json!({ "first_outbound_call_attempt": "soon" })),
            422,
            "first_outbound_call_attempt",
        ),
        (
            with(json!({ "timestamp": "2025-01-01T00:00:00Z" })),
            422,
            "acceptance window",
        ),
        (with(json!({ "destination": "not a phone" })), 422, "phone"),
        (
            with(json!({ "destination": "+36309999999" })),
            404,
            "no record",
        ),
        (
            with(json!({ "recordid": elsewhere })),
            404,
            "does not exist",
        ),
        (
            with(json!({ "projectid": twin_project, "destination": "+36306666666" })),
            422,
            "2 records",
        ),
        (
            with(json!({ "sum_attempted_calls": -1 })),
            422,
            "sum_attempted_calls",
        ),
    ];
    for (body, status, needle) in refused {
        let (got, answer) = s.call(&body, "");
        assert_eq!(got.as_u16(), status, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle} in {answer}");
    }
    let (status, _) = send(
        s.server
            .post("/v1/webhooks/call/disposition?secret-key=wrong")
            .json(&s.body("call-bad")),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.next_event_id("probe-after"), before + 1);
}

#[test]
fn a_0_1_0_plugin_is_not_dry_run_on_a_call_disposition() {
    let s = setup();
    let (status, answer) = send(
        s.server
            .post("/v1/plugins/keywords/dry-run")
            .bearer_auth(&s.tenant.api_key)
            .json(&json!({
                "event": {
                    "kind": "callDisposition",
                    "callId": "c-1",
                    "projectId": s.project,
                    "contact": { "id": s.record, "projectId": s.project, "phone": PHONE,
                                 "timeZone": "Europe/Budapest" },
                    "disposition": { "id": 7, "name": "No answer", "assessment": "not_reached" },
                    "direction": "outbound",
                    "attempts": 3,
                    "timestamp": 1_796_115_600,
                },
            })),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("world 0.1.0"),
        "{answer}"
    );
}

/// The project's SMS rules hold whatever the plugin asks: one SMS a day
/// per record (the second is refused `contact_limit`), and an SMS asked
/// for at night waits for the morning (`shifted_to_sms_hours`), queued
/// until then and sent by the outbox when due.
#[test]
fn sms_rules_cap_a_records_day_and_move_a_night_sms_to_the_morning() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let rules = json!({ "smsRules": { "maxPerDay": 1 } });
    let project = server.project_with(&tenant, rules);
    server.record(&tenant, project, PHONE);
    server.install(&tenant, "ask-time", components::CALL_ATTEMPT_SMS);
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "ask-time", "priority": 1 }]),
    );
    let call = |uuid: &str, timestamp: &str| {
        let (status, event) = send(
            server
                .post(&format!(
                    "/v1/webhooks/call/disposition?secret-key={}&wait=true",
                    tenant.webhook_secret
                ))
                .json(&json!({
                    "uuid": uuid,
                    "projectid": project,
                    "destination": PHONE,
                    "direction": "out",
                    "disposition": { "id": 7, "name": "No answer", "assessment": "not_reached" },
                    "sum_attempted_calls": 3,
                    "create_time": timestamp,
                })),
        );
        assert_eq!(status, StatusCode::OK, "{event}");
        event["decisions"][0]["verdicts"][0].clone()
    };
    // 21:30 in Budapest, after the default SMS hours (08:00–21:00).
    let night = call("call-night", "2026-11-30 21:30:00");
    assert_eq!(night["accepted"], true, "{night}");
    assert_eq!(night["reason"], "shifted_to_sms_hours", "{night}");
    // 2026-12-01 08:00 in Budapest.
    assert_eq!(night["sendAt"], 1_796_108_400, "{night}");
    // The morning has come (the server's clock): the outbox sends it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let message = loop {
        let (_, messages) = send(
            server
                .get(&format!("/v1/projects/{project}/messages"))
                .bearer_auth(&tenant.api_key),
        );
        if messages[0]["status"] == "sent" {
            break messages[0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{messages}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(message["attempts"], 1, "{message}");

    let capped = call("call-day", "2026-12-01 10:00:00");
    assert_eq!(capped["accepted"], false, "{capped}");
    assert_eq!(capped["reason"], "contact_limit", "{capped}");

    // The rules are checked when the project is made.
    for (rules, field) in [
        (json!({ "maxPerDay": 101 }), "smsRules.maxPerDay"),
        (json!({ "maxSegments": 0 }), "smsRules.maxSegments"),
    ] {
        refused_project(&server, &tenant, json!({ "smsRules": rules }), field);
    }
}

/// The project's contact rule holds whatever the plugins ask: the call
/// dispositions received for a record and the callbacks the host scheduled
/// for it count in the rolling window, and a callback over the cap is
/// refused `contact_limit`; another record, with room, still gets its
/// callback. The cap is checked when the project is made.
#[test]
fn contact_attempts_in_the_window_cap_a_records_callbacks() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let rules = json!({ "contactRules": { "maxAttempts": 2, "windowDays": 7 } });
    let project = with_one_plugin(&server, &tenant, rules, components::REPLY_CALL_TIME);
    server.record(&tenant, project, "+36307654321");
    let post = |path: &str, body: Value| decided(&server, &tenant, path, body);
    let called = post(
        "call/disposition",
        json!({
            "uuid": "call-1", "projectid": project, "destination": PHONE, "direction": "out",
            "disposition": { "id": 7, "name": "No answer", "assessment": "not_reached" },
            "sum_attempted_calls": 1, "timestamp": "2026-11-30T15:00:00Z",
        }),
    );
    assert_eq!(called["state"], "done", "{called}");
    let reply = |from: &str, id: &str| {
        let event = post(
            "sms/inbound",
            json!({
                "direction": "in", "message": "2026-12-02 14:30", "numberId": 1,
                "projectId": project, "sourcePhoneNumber": from,
                "timestamp": "2026-12-01T09:00:00Z", "messageId": id,
            }),
        );
        event["decisions"][0]["verdicts"][0].clone()
    };
    // One call so far: the callback is the second attempt, and allowed.
    let second = reply(PHONE, "r1");
    assert_eq!(second["accepted"], true, "{second}");
    // The call and that callback: the third is over the cap.
    let third = reply(PHONE, "r2");
    assert_eq!(third["accepted"], false, "{third}");
    assert_eq!(third["reason"], "contact_limit", "{third}");
    assert!(
        third["detail"]
            .as_str()
            .unwrap()
            .contains("2 contact attempts in 7 days"),
        "{third}"
    );
    let other = reply("+36307654321", "r3");
    assert_eq!(other["accepted"], true, "{other}");

    for (rules, field) in [
        (json!({ "maxAttempts": 0 }), "contactRules.maxAttempts"),
        (json!({ "windowDays": 91 }), "contactRules.windowDays"),
    ] {
        refused_project(&server, &tenant, json!({ "contactRules": rules }), field);
    }
}

/// `HELP` is answered with the project's help text, an opt-out is
/// confirmed once (not again while the phone stays out), both through the
/// same messages as any SMS; a sender with no record gets nothing, and the
/// decision says why.
#[test]
fn help_is_answered_and_an_opt_out_confirmed_once() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let rules = json!({ "smsRules": {
        "helpText": "Acme Collections: reply STOP to opt out, or call +3612345678.",
        "optOutConfirmation": "You will get no more messages from Acme. Reply START to undo.",
    }});
    let project = server.project_with(&tenant, rules);
    let record = server.record(&tenant, project, PHONE);
    let inbound = |from: &str, message: &str, id: &str| {
        let body = json!({
            "direction": "in", "message": message, "numberId": 1,
            "projectId": project, "sourcePhoneNumber": from,
            "timestamp": "2026-12-01T09:00:00Z", "messageId": id,
        });
        decided(&server, &tenant, "sms/inbound", body)
    };
    let messages = || {
        let (_, messages) = send(
            server
                .get(&format!("/v1/projects/{project}/messages"))
                .bearer_auth(&tenant.api_key),
        );
        messages.as_array().unwrap().clone()
    };

    let help = inbound(PHONE, " help! ", "m1");
    assert_eq!(help["decisions"][0]["plugin"], "host:help", "{help}");
    assert_eq!(help["decisions"][0]["outcome"], "help_answered", "{help}");
    let sent = messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["templateId"], "help");
    assert_eq!(sent[0]["recordId"], record);
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Acme Collections")
    );

    inbound(PHONE, "STOP", "m2");
    inbound(PHONE, "stop", "m3");
    let sent = messages();
    let confirmations: Vec<_> = sent
        .iter()
        .filter(|m| m["templateId"] == "opt-out-confirmation")
        .collect();
    assert_eq!(confirmations.len(), 1, "once: {sent:?}");
    assert_eq!(confirmations[0]["plugin"], "host:opt-out");

    // Help is answered even to a phone that opted out, and to a phone
    // with no record in the project (on no record); so is a stranger's
    // opt-out confirmed.
    inbound(PHONE, "INFO", "m4");
    assert_eq!(messages().len(), 3);
    const STRANGER: &str = "+36309876543";
    let stranger = inbound(STRANGER, "HELP", "m5");
    let decision = &stranger["decisions"][0];
    assert_eq!(decision["outcome"], "help_answered", "{stranger}");
    assert_eq!(decision["errorCode"], Value::Null, "{stranger}");
    inbound(STRANGER, "Stop.", "m6");
    let sent = messages();
    let to_stranger: Vec<_> = sent.iter().filter(|m| m["phone"] == STRANGER).collect();
    let templates: Vec<_> = to_stranger.iter().map(|m| &m["templateId"]).collect();
    assert_eq!(templates, ["help", "opt-out-confirmation"], "{sent:?}");
    assert!(
        to_stranger.iter().all(|m| m["recordId"].is_null()),
        "{sent:?}"
    );
    assert!(
        to_stranger.iter().all(|m| m["status"] == "sent"),
        "{sent:?}"
    );

    // The texts are checked when the project is made.
    refused_project(
        &server,
        &tenant,
        json!({ "smsRules": { "helpText": "  " } }),
        "smsRules.helpText",
    );
}

/// The last check before a send: an SMS waiting for the morning is held
/// while the host's clock is still before the SMS hours, and a STOP that
/// arrives meanwhile means it never goes out.
#[test]
fn a_waiting_sms_is_held_until_its_hours_and_dropped_if_the_phone_opts_out() {
    let server = Server::start();
    // 07:00 in Budapest, before the SMS hours.
    server.clock.set(NOW - 3 * 3600);
    let tenant = server.tenant("acme");
    let project = with_one_plugin(&server, &tenant, json!({}), components::CALL_ATTEMPT_SMS);
    let webhook = |path: &str, body: Value| decided(&server, &tenant, path, body);
    let call = webhook(
        "call/disposition",
        json!({
            "uuid": "night", "projectid": project, "destination": PHONE, "direction": "out",
            "disposition": { "id": 7, "name": "No answer", "assessment": "not_reached" },
            "sum_attempted_calls": 3, "create_time": "2026-12-01 06:30:00",
        }),
    );
    assert_eq!(
        call["decisions"][0]["verdicts"][0]["reason"],
        "shifted_to_sms_hours"
    );
    let message = || {
        let (_, messages) = send(
            server
                .get(&format!("/v1/projects/{project}/messages"))
                .bearer_auth(&tenant.api_key),
        );
        messages[0].clone()
    };
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        message()["status"],
        "queued",
        "held until 08:00: {}",
        message()
    );

    webhook(
        "sms/inbound",
        json!({
            "direction": "in", "message": "STOP", "numberId": 1, "projectId": project,
            "sourcePhoneNumber": PHONE, "timestamp": "2026-12-01 07:04:00",
        }),
    );
    server.clock.set(NOW); // 10:00: the hours have come
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let held = loop {
        let held = message();
        if held["status"] != "queued" {
            break held;
        }
        assert!(std::time::Instant::now() < deadline, "{held}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(held["status"], "failed", "{held}");
    assert!(
        held["error"]
            .as_str()
            .unwrap()
            .starts_with("do_not_contact"),
        "{held}"
    );
}

/// A project with `rules` (on top of the test defaults), a record with
/// [`PHONE`] and `component` bound as its one plugin.
fn with_one_plugin(server: &Server, tenant: &TenantKeys, rules: Value, component: &str) -> u64 {
    let project = server.project_with(tenant, rules);
    server.record(tenant, project, PHONE);
    server.install(tenant, "rule", component);
    server.bind(
        tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );
    project
}

/// Posts a webhook to `path` with the tenant's secret and waits for its
/// decision: the event as decided.
fn decided(server: &Server, tenant: &TenantKeys, path: &str, body: Value) -> Value {
    let (status, event) = send(
        server
            .post(&format!(
                "/v1/webhooks/{path}?secret-key={}&wait=true",
                tenant.webhook_secret
            ))
            .json(&body),
    );
    assert_eq!(status, StatusCode::OK, "{event}");
    event
}

/// A project with `settings` is refused with a 422 naming `field`.
fn refused_project(server: &Server, tenant: &TenantKeys, settings: Value, field: &str) {
    let mut body = json!({ "name": "p", "timeZone": "Europe/Budapest", "defaultCountry": "HU" });
    for (key, value) in settings.as_object().unwrap() {
        body[key] = value.clone();
    }
    let (status, body) = send(
        server
            .post("/v1/projects")
            .bearer_auth(&tenant.api_key)
            .json(&body),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(field),
        "{body}"
    );
}
