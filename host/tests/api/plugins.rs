//! Plugins: upload, activate, rollback, dry-run, quotas, tenant
//! boundaries, and hot swap under a stream of events.

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

fn upload(
    server: &Server,
    tenant: &TenantKeys,
    name: &str,
    bytes: Vec<u8>,
    query: &str,
) -> (StatusCode, Value) {
    send(
        server
            .put(&format!("/v1/plugins/{name}{query}"))
            .bearer_auth(&tenant.api_key)
            .body(bytes),
    )
}

fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn an_upload_is_compiled_stored_and_activated() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let (status, body) = upload(
        &server,
        &tenant,
        "followup",
        component(components::DELIVERED_FOLLOWUP),
        "",
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["active"], true);
    let (status, body) = upload(
        &server,
        &tenant,
        "followup",
        component(components::NOT_TRACEABLE_CALLBACK),
        "?activate=false",
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 2);
    let (_, info) = send(
        server
            .get("/v1/plugins/followup")
            .bearer_auth(&tenant.api_key),
    );
    assert_eq!(info["activeVersion"], 1);
    assert_eq!(info["versions"].as_array().unwrap().len(), 2);

    let activate = |version: u64| {
        send(
            server
                .post("/v1/plugins/followup/activate")
                .bearer_auth(&tenant.api_key)
                .json(&json!({ "version": version })),
        )
    };
    assert_eq!(activate(2).1["activeVersion"], 2);
    let (status, body) = send(
        server
            .post("/v1/plugins/followup/rollback")
            .bearer_auth(&tenant.api_key),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activeVersion"], 1);
    assert_error(activate(9), StatusCode::NOT_FOUND, "not_found");
    let (_, list) = send(server.get("/v1/plugins").bearer_auth(&tenant.api_key));
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn a_component_that_does_not_compile_or_fit_the_world_is_refused_with_the_reason() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    assert_error(
        upload(&server, &tenant, "junk", b"not wasm at all".to_vec(), ""),
        StatusCode::UNPROCESSABLE_ENTITY,
        "compile_failed",
    );
    let no_export = wat::parse_str("(component)").unwrap();
    let (status, body) = upload(&server, &tenant, "empty", no_export, "");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "contract_mismatch");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("on-event"),
        "{body}"
    );
    assert_error(
        upload(
            &server,
            &tenant,
            "Bad Name",
            component(components::DELIVERED_FOLLOWUP),
            "",
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let (_, list) = send(server.get("/v1/plugins").bearer_auth(&tenant.api_key));
    assert_eq!(list, json!([]), "nothing refused was stored");
}

#[test]
fn plugin_quotas_refuse_oversized_components_and_too_many_plugins() {
    let server = Server::start_with(|config| {
        config.quotas.max_plugins = 1;
        config.quotas.max_component_bytes = 100_000;
    });
    let tenant = server.tenant("acme");
    assert_error(
        upload(
            &server,
            &tenant,
            "big",
            component(components::REPLY_CALL_TIME),
            "",
        ),
        StatusCode::PAYLOAD_TOO_LARGE,
        "component_too_large",
    );
    let (status, _) = upload(
        &server,
        &tenant,
        "one",
        component(components::DELIVERED_FOLLOWUP),
        "",
    );
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = upload(
        &server,
        &tenant,
        "two",
        component(components::DELIVERED_FOLLOWUP),
        "",
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // A new version of an installed plugin is not a new plugin.
    let (status, _) = upload(
        &server,
        &tenant,
        "one",
        component(components::NOT_TRACEABLE_CALLBACK),
        "",
    );
    assert_eq!(status, StatusCode::CREATED);
}

/// Dry-runs the tenant's `reply` plugin on an inbound "call me at `when`"
/// whose matches claim `record` in `project`.
fn dry_run_reply(
    server: &Server,
    tenant: &TenantKeys,
    project: u64,
    record: u64,
    when: &str,
) -> (StatusCode, Value) {
    let event = json!({
        "kind": "inbound", "messageId": "m-1", "projectId": project,
        "sourcePhoneNumber": PHONE, "message": format!("call me {when}"),
        "timestamp": 1_795_852_800,
        "matches": [{ "id": record, "projectId": project, "phone": PHONE, "timeZone": "Europe/Budapest" }],
    });
    send(
        server
            .post("/v1/plugins/reply/dry-run")
            .bearer_auth(&tenant.api_key)
            .json(&json!({ "event": event })),
    )
}

#[test]
fn a_dry_run_returns_actions_and_verdicts_and_executes_nothing() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    server.install(&tenant, "reply", components::REPLY_CALL_TIME);
    let (status, body) = dry_run_reply(&server, &tenant, project, record, "2026-12-01 21:00");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "ok");
    assert_eq!(body["actions"].as_array().unwrap().len(), 1);
    assert_eq!(body["verdicts"][0]["reason"], "shifted_to_calling_hours");
    let (_, stored) = send(
        server
            .get(&format!("/v1/projects/{project}/records/{record}"))
            .bearer_auth(&tenant.api_key),
    );
    assert_eq!(
        stored["dispositionId"],
        Value::Null,
        "a dry run executes nothing: {stored}"
    );
}

/// A dry run's event comes from the caller, matches included: a record it
/// claims is judged by what the store says, so another tenant's record is
/// out of scope however the event describes it.
#[test]
fn a_dry_run_cannot_bring_another_tenants_record_into_scope() {
    let server = Server::start();
    let victim = server.tenant("victim");
    let victim_project = server.project(&victim);
    let victims_record = server.record(&victim, victim_project, PHONE);
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    server.install(&tenant, "reply", components::REPLY_CALL_TIME);
    let (status, body) = dry_run_reply(
        &server,
        &tenant,
        project,
        victims_record,
        "2026-12-01 10:00",
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["actions"][0]["recordId"],
        json!(victims_record),
        "{body}"
    );
    assert_eq!(body["verdicts"][0]["accepted"], false, "{body}");
    assert_eq!(
        body["verdicts"][0]["reason"], "record_out_of_scope",
        "{body}"
    );
}

#[test]
fn another_tenant_cannot_see_run_swap_or_bind_a_tenants_plugins() {
    let server = Server::start();
    let owner = server.tenant("owner");
    let project = server.project(&owner);
    server.install(&owner, "secret-rule", components::DELIVERED_FOLLOWUP);
    let intruder = server.tenant("intruder");
    let intruder_project = server.project(&intruder);
    let key = &intruder.api_key;
    assert_eq!(
        send(server.get("/v1/plugins").bearer_auth(key)).1,
        json!([])
    );
    for answer in [
        send(server.get("/v1/plugins/secret-rule").bearer_auth(key)),
        send(
            server
                .post("/v1/plugins/secret-rule/activate")
                .bearer_auth(key)
                .json(&json!({ "version": 1 })),
        ),
        send(
            server
                .post("/v1/plugins/secret-rule/rollback")
                .bearer_auth(key),
        ),
        send(
            server
                .post("/v1/plugins/secret-rule/dry-run")
                .bearer_auth(key)
                .json(&json!({
                    "event": { "kind": "inbound", "messageId": "m", "projectId": project,
                               "sourcePhoneNumber": PHONE, "message": "x", "timestamp": 0 }
                })),
        ),
        send(
            server
                .put(&format!("/v1/projects/{intruder_project}/bindings"))
                .bearer_auth(key)
                .json(&json!([{ "plugin": "secret-rule", "priority": 1 }])),
        ),
        send(
            server
                .put(&format!("/v1/projects/{project}/bindings"))
                .bearer_auth(key)
                .json(&json!([])),
        ),
        send(
            server
                .get(&format!("/v1/projects/{project}/bindings"))
                .bearer_auth(key),
        ),
    ] {
        assert_error(answer, StatusCode::NOT_FOUND, "not_found");
    }
    assert_error(
        send(server.get("/v1/plugins").bearer_auth("not-a-key")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        send(server.get("/v1/plugins")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

/// 100 swaps while events stream in: the event sent right after a swap is
/// decided by the version just activated; every streamed event is decided
/// exactly once, by a version that exists; none is lost.
#[test]
fn a_plugin_swapped_100_times_under_load_loses_and_repeats_nothing() {
    // 200 swaps in seconds: far over the default rate of settings changes.
    let server = Server::start_with(|c| c.quotas.settings_changes_per_minute = 1_000_000);
    let tenant = server.tenant("acme");
    // Hundreds of receipts for two records: no cap on contact attempts.
    let project = server.project_with(&tenant, json!({ "contactRules": null }));
    // Streamed and waited-for events concern different customers, so the
    // waited-for ones never queue behind the stream (one subject at a time).
    let streamed_record = server.record(&tenant, project, PHONE);
    let waited_record = server.record(&tenant, project, "+36309999999");
    server.install(&tenant, "rule", components::NOT_TRACEABLE_CALLBACK);
    upload(
        &server,
        &tenant,
        "rule",
        component(components::NOT_TRACEABLE_CALLBACK),
        "?activate=false",
    );
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );
    let receipt = |id: String, record: u64| {
        json!({ "messageId": id, "projectId": project, "recordId": record,
                "status": "not_traceable", "timestamp": "2026-12-01T09:00:00Z" })
    };
    let hook = |query: &str| {
        format!(
            "/v1/webhooks/sms/status?secret-key={}{query}",
            tenant.webhook_secret
        )
    };

    let streaming = AtomicBool::new(true);
    let streamed: Vec<u64> = std::thread::scope(|scope| {
        let stream = scope.spawn(|| {
            let mut ids = Vec::new();
            while streaming.load(Ordering::Relaxed) && ids.len() < STREAMED_MAX {
                let body = receipt(format!("s-{}", ids.len()), streamed_record);
                let (status, answer) = send(server.post(&hook("")).json(&body));
                assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
                ids.push(answer["eventId"].as_u64().unwrap());
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            ids
        });
        for swap in 0..100 {
            let version = 1 + swap % 2;
            let (status, body) = send(
                server
                    .post("/v1/plugins/rule/activate")
                    .bearer_auth(&tenant.api_key)
                    .json(&json!({ "version": version })),
            );
            assert_eq!(status, StatusCode::OK, "{body}");
            let body = receipt(format!("w-{swap}"), waited_record);
            let (status, event) = send(server.post(&hook("&wait=true")).json(&body));
            assert_eq!(status, StatusCode::OK, "{event}");
            assert_eq!(
                event["decisions"][0]["version"], version,
                "swap {swap}: {event}"
            );
        }
        streaming.store(false, Ordering::Relaxed);
        stream.join().unwrap()
    });
    assert!(!streamed.is_empty());
    for id in &streamed {
        let event = wait_done(&server, &tenant, *id);
        let decisions = event["decisions"].as_array().unwrap();
        assert_eq!(
            decisions.len(),
            1,
            "event {id} decided {} times",
            decisions.len()
        );
        let version = decisions[0]["version"].as_u64().unwrap();
        assert!(
            version == 1 || version == 2,
            "event {id}: version {version}"
        );
    }
    for (record, expected) in [(streamed_record, streamed.len()), (waited_record, 100)] {
        let (_, stored) = send(
            server
                .get(&format!("/v1/projects/{project}/records/{record}"))
                .bearer_auth(&tenant.api_key),
        );
        assert_eq!(
            stored["events"].as_array().unwrap().len(),
            expected,
            "one event-list entry per event"
        );
    }
}

/// The most events the swap test streams, so it stays bounded in time.
const STREAMED_MAX: usize = 400;

fn wait_done(server: &Server, tenant: &TenantKeys, id: u64) -> Value {
    for _ in 0..500 {
        let (status, event) = send(
            server
                .get(&format!("/v1/events/{id}"))
                .bearer_auth(&tenant.api_key),
        );
        assert_eq!(status, StatusCode::OK, "{event}");
        if event["state"] != "pending" {
            return event;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("event {id} was never processed");
}

/// Replays: the version that decided reproduces every decision; a changed
/// version shows exactly the events it would decide differently.
#[test]
fn a_replay_of_an_unchanged_plugin_differs_nowhere_and_a_changed_one_where_expected() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    server.install(&tenant, "rule", components::NOT_TRACEABLE_CALLBACK);
    upload(
        &server,
        &tenant,
        "rule",
        component(components::DELIVERED_FOLLOWUP),
        "?activate=false",
    );
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );
    let hook = format!(
        "/v1/webhooks/sms/status?secret-key={}&wait=true",
        tenant.webhook_secret
    );
    for (i, status) in [
        "not_traceable",
        "not_traceable",
        "delivered",
        "not_traceable",
        "sent",
    ]
    .iter()
    .enumerate()
    {
        let (code, event) = send(server.post(&hook).json(&json!({
            "messageId": format!("m-{i}"), "projectId": project, "recordId": record,
            "status": status, "timestamp": "2026-12-01T09:00:00Z",
        })));
        assert_eq!(code, StatusCode::OK, "{event}");
    }
    let replay = |version: u32| {
        send(
            server
                .post(&format!("/v1/plugins/rule/versions/{version}/replay"))
                .bearer_auth(&tenant.api_key)
                .json(&json!({ "limit": 50 })),
        )
    };
    let (status, same) = replay(1);
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(
        (same["replayed"].as_u64(), same["same"].as_u64()),
        (Some(5), Some(5)),
        "{same}"
    );
    assert_eq!(same["different"], 0);

    // v2 is delivered-followup: it ignores the three not-traceable receipts
    // v1 acted on, and acts on the delivered one v1 ignored.
    let (_, changed) = replay(2);
    assert_eq!(changed["different"], 4, "{changed}");
    assert_eq!(changed["same"], 1, "the `sent` receipt is ignored by both");
    let differences = changed["differences"].as_array().unwrap();
    let acted = |side: &str| {
        differences
            .iter()
            .filter(|d| d[side]["actions"].as_array().unwrap().len() == 1)
            .count()
    };
    assert_eq!((acted("recorded"), acted("candidate")), (3, 1));

    assert_error(replay(9), StatusCode::NOT_FOUND, "not_found");
    let intruder = server.tenant("intruder");
    assert_error(
        send(
            server
                .post("/v1/plugins/rule/versions/1/replay")
                .bearer_auth(&intruder.api_key),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// Limits are per tenant: the operator tightens one tenant's fuel, and only
/// that tenant's plugin runs out; a tenant cannot set its own.
#[test]
fn a_tenants_own_limits_apply_to_its_plugins_only() {
    let server = Server::start();
    let decide = |tenant: &TenantKeys| {
        let project = server.project(tenant);
        let record = server.record(tenant, project, PHONE);
        server.install(tenant, "rule", components::NOT_TRACEABLE_CALLBACK);
        server.bind(
            tenant,
            project,
            json!([{ "plugin": "rule", "priority": 1 }]),
        );
        let hook = format!(
            "/v1/webhooks/sms/status?secret-key={}&wait=true",
            tenant.webhook_secret
        );
        let (_, event) = send(server.post(&hook).json(&json!({
            "messageId": "m-1", "projectId": project, "recordId": record,
            "status": "not_traceable", "timestamp": "2026-12-01T09:00:00Z",
        })));
        event["decisions"][0].clone()
    };
    let tight = server.tenant("tight");
    let roomy = server.tenant("roomy");
    let set = |key: &str, body: Value| {
        send(
            server
                .put(&format!("/v1/tenants/{}/limits", tight.id))
                .bearer_auth(key)
                .json(&body),
        )
    };
    assert_error(
        set(&tight.api_key, json!({ "fuel": 1_000_000_000 })),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        set(OPERATOR_KEY, json!({ "memoryMib": 100_000 })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let (status, body) = set(OPERATOR_KEY, json!({ "fuel": 1_000 }));
    assert_eq!(status, StatusCode::OK, "{body}");

    let starved = decide(&tight);
    assert_eq!(starved["errorCode"], "out_of_fuel", "{starved}");
    let fine = decide(&roomy);
    assert_eq!(fine["outcome"], "ok", "{fine}");
}

/// A binding's config is recorded with every decision, so its size is
/// capped: a 900 KB config once grew the database by 8.8 MB in 10 webhooks.
#[test]
fn a_binding_config_over_16_kib_or_too_many_bindings_are_refused_and_nothing_changes() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    server.install(&tenant, "reply", components::REPLY_CALL_TIME);
    let path = format!("/v1/projects/{project}/bindings");
    let put = |body: Value| send(server.put(&path).bearer_auth(&tenant.api_key).json(&body));
    let (status, _) = put(json!([{ "plugin": "reply", "priority": 1, "config": { "k": "v" } }]));
    assert_eq!(status, StatusCode::OK);

    let big = "x".repeat(16 << 10);
    let (status, answer) =
        put(json!([{ "plugin": "reply", "priority": 1, "config": { "k": big } }]));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16384"),
        "{answer}"
    );
    let many: Vec<Value> = (0..17)
        .map(|i| json!({ "plugin": format!("p{i}"), "priority": i }))
        .collect();
    let (status, answer) = put(Value::Array(many));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");

    let (status, bound) = send(server.get(&path).bearer_auth(&tenant.api_key));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bound[0]["config"],
        json!({ "k": "v" }),
        "unchanged: {bound}"
    );
}

/// `bytes` with a custom section appended: the same code, another SHA-256.
fn variant(bytes: &[u8], n: u8) -> Vec<u8> {
    let name = b"variant";
    let mut out = bytes.to_vec();
    out.push(0); // a custom section
    out.push((1 + name.len() + 1) as u8); // its size (one byte of LEB128)
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.push(n);
    out
}

/// Every version kept its bytes, its compiled file and a cache entry, for
/// ever: 40 versions went in within a second. Now an upload deletes the
/// versions beyond the newest five, except the active and the previous.
#[test]
fn old_versions_are_pruned_keeping_the_active_one_and_their_compiled_files_go() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let bytes = std::fs::read(components::NOT_TRACEABLE_CALLBACK).unwrap();
    let upload = |n: u8, activate: bool| {
        let query = if activate { "" } else { "?activate=false" };
        let (status, body) = send(
            server
                .put(&format!("/v1/plugins/rule{query}"))
                .bearer_auth(&tenant.api_key)
                .body(variant(&bytes, n)),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["sha256"].as_str().unwrap().to_string()
    };
    let mut shas = vec![upload(1, true)];
    for n in 2..=8 {
        shas.push(upload(n, false));
    }
    let (_, info) = send(server.get("/v1/plugins/rule").bearer_auth(&tenant.api_key));
    let versions: Vec<u64> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 4, 5, 6, 7, 8], "{info}");
    assert_eq!(info["activeVersion"], 1);
    let compiled = server.data_dir().join("compiled");
    for (index, sha) in shas.iter().enumerate() {
        let kept = compiled.join(format!("{sha}.cwasm")).exists();
        assert_eq!(
            kept,
            ![1, 2].contains(&index),
            "v{} compiled file",
            index + 1
        );
    }
}

#[test]
fn an_upload_over_the_tenants_stored_bytes_is_refused_and_nothing_is_stored() {
    let server = Server::start_with(|c| c.quotas.max_stored_bytes = 100_000);
    let tenant = server.tenant("acme");
    let bytes = std::fs::read(components::NOT_TRACEABLE_CALLBACK).unwrap();
    assert!(
        bytes.len() < 100_000 && 2 * bytes.len() > 100_000,
        "{}",
        bytes.len()
    );
    server.install(&tenant, "rule", components::NOT_TRACEABLE_CALLBACK);
    let (status, body) = send(
        server
            .put("/v1/plugins/other")
            .bearer_auth(&tenant.api_key)
            .body(variant(&bytes, 1)),
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("quota"),
        "{body}"
    );
    let (_, list) = send(server.get("/v1/plugins").bearer_auth(&tenant.api_key));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}
