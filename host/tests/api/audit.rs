//! The audit trail: every change to a tenant's plugins, bindings and
//! settings is recorded with the key that made it (its id and
//! fingerprint, never the key), from what to what; `GET /v1/audit` pages
//! and filters it; another tenant sees nothing of it and no secret is
//! ever in it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::remote::loopback_remote;
use super::*;

const SMS_TOKEN: &str = "provider-auth-token-never-shown";

/// A tenant that made one change of each kind a tenant's key can make.
pub struct Changed {
    pub server: Server,
    pub tenant: TenantKeys,
    pub project: u64,
}

pub fn changed() -> Changed {
    let server = Server::start_with(|config| config.remote = loopback_remote());
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    server.install(&tenant, "rule", components::DELIVERED_FOLLOWUP);
    server.install(&tenant, "rule", components::NOT_TRACEABLE_CALLBACK);
    let ok = |request: reqwest::blocking::RequestBuilder| {
        let (status, body) = send(request.bearer_auth(&tenant.api_key));
        assert!(status.is_success(), "{status} {body}");
        body
    };
    ok(server
        .post("/v1/plugins/rule/activate")
        .json(&json!({ "version": 1 })));
    ok(server.post("/v1/plugins/rule/rollback"));
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );
    let mut settings = ok(server.get("/v1/tenant"));
    settings["optOutKeywords"] = json!(["STOP", "ELEG"]);
    settings["smsSender"] = json!({
        "kind": "twilio", "baseUrl": "http://127.0.0.1:9", "accountSid": "AC1",
        "authToken": SMS_TOKEN, "from": "+3612345678",
    });
    ok(server.put("/v1/tenant").json(&settings));
    ok(server.post("/v1/tenant/webhook-secret/rotate"));
    Changed {
        server,
        tenant,
        project,
    }
}

impl Changed {
    pub fn audit(&self, query: &str) -> (StatusCode, Value) {
        send(
            self.server
                .get(&format!("/v1/audit{query}"))
                .bearer_auth(&self.tenant.api_key),
        )
    }
}

#[test]
fn every_change_is_recorded_with_its_key_from_what_to_what() {
    let c = changed();
    let (status, trail) = c.audit("");
    assert_eq!(status, StatusCode::OK, "{trail}");
    let entries = trail.as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "key_added",
            "project_created",
            "plugin_installed",
            "plugin_installed",
            "plugin_activated",
            "plugin_rolled_back",
            "bindings_set",
            "tenant_settings_changed",
            "webhook_secret_rotated",
        ],
        "{trail}"
    );
    // The operator made the first key; the key made every other change,
    // named by its id and fingerprint as the key list shows them.
    assert_eq!(entries[0]["actor"], json!({ "kind": "operator" }));
    let (_, keys) = send(c.server.get("/v1/keys").bearer_auth(&c.tenant.api_key));
    let key = json!({
        "kind": "key", "keyId": keys[0]["id"], "fingerprint": keys[0]["fingerprint"],
    });
    assert!(entries[1..].iter().all(|e| e["actor"] == key), "{trail}");

    let version = |entry: &Value| {
        (
            entry["from"]["activeVersion"].clone(),
            entry["to"]["activeVersion"].clone(),
        )
    };
    assert_eq!(entries[2]["to"]["version"], 1);
    assert_eq!(entries[3]["to"]["version"], 2);
    assert_eq!(version(&entries[4]), (json!(2), json!(1)), "activate v1");
    assert_eq!(version(&entries[5]), (json!(1), json!(2)), "back to v2");
    assert_eq!(entries[5]["plugin"], "rule");
    assert_eq!(entries[6]["project"], c.project);
    assert_eq!(entries[6]["from"], json!([]));
    assert_eq!(entries[6]["to"][0]["plugin"], "rule");
    let settings = &entries[7];
    assert_eq!(
        settings["to"]["optOutKeywords"],
        json!(["STOP", "ELEG"]),
        "{settings}"
    );
    assert_eq!(settings["to"]["smsSender"]["authToken"], "<changed token>");
    assert!(
        settings["to"].get("name").is_none(),
        "only what moved: {settings}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["at"].as_i64().unwrap() > 1_700_000_000)
    );

    // Nothing secret is in it: not the key, not either webhook secret, not
    // the provider's token.
    let text = trail.to_string();
    for secret in [
        &c.tenant.api_key,
        &c.tenant.webhook_secret,
        &SMS_TOKEN.to_string(),
    ] {
        assert!(!text.contains(secret.as_str()), "{secret} in {text}");
    }
}

#[test]
fn the_trail_pages_filters_and_belongs_to_its_tenant() {
    let c = changed();
    let (_, of_rule) = c.audit("?plugin=rule");
    assert_eq!(of_rule.as_array().unwrap().len(), 4, "{of_rule}");
    let (_, rollbacks) = c.audit("?kind=plugin_rolled_back");
    assert_eq!(rollbacks.as_array().unwrap().len(), 1, "{rollbacks}");

    let response = c
        .server
        .get("/v1/audit?limit=2")
        .bearer_auth(&c.tenant.api_key)
        .send()
        .unwrap();
    let next = response.headers()["x-next-after"]
        .to_str()
        .unwrap()
        .to_string();
    let first: Value = response.json().unwrap();
    assert_eq!(first[1]["id"].to_string(), next);
    let (_, second) = c.audit(&format!("?limit=2&after={next}"));
    assert_eq!(second[0]["kind"], "plugin_installed", "{second}");

    assert_error(
        c.audit("?kind=plugin_deleted"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    assert_error(
        c.audit("?limit=0"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    assert_error(
        send(c.server.get("/v1/audit")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Another tenant, asking for the same plugin's name, sees only its own.
    let other = c.server.tenant("other");
    let (status, theirs) = send(
        c.server
            .get("/v1/audit?plugin=rule")
            .bearer_auth(&other.api_key),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs, json!([]));
    let (_, all_theirs) = send(c.server.get("/v1/audit").bearer_auth(&other.api_key));
    let kinds: Vec<&Value> = all_theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["kind"])
        .collect();
    assert_eq!(kinds, [&json!("key_added")], "{all_theirs}");
}
