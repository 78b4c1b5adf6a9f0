//! Operations: `/healthz`, `/metrics` after real traffic, and
//! `/openapi.json` against the running router and a spec validator.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smstrigger_test_components as components;

use super::*;

#[test]
fn healthz_answers_ok() {
    let server = Server::start();
    let response = server.get("/healthz").send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().unwrap(), "ok");
}

/// The value of the sample of `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse().unwrap())
}

#[test]
fn metrics_show_a_plugin_run_and_requests_by_route_pattern() {
    let server = Server::start();
    let tenant = server.tenant("ops");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, "+36301234567");
    server.install(&tenant, "callback", components::NOT_TRACEABLE_CALLBACK);
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "callback", "priority": 10 }]),
    );
    let (status, event) = send(
        server
            .post(&format!(
                "/v1/webhooks/sms/status?secret-key={}&wait=true",
                tenant.webhook_secret
            ))
            .json(&json!({
                "messageId": "m-ops-1", "projectId": project, "recordId": record,
                "status": "not_traceable", "timestamp": "2026-12-01 10:00:00",
            })),
    );
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["decisions"][0]["outcome"], "ok", "{event}");

    // The event is counted just after its commit, which `?wait=true` may
    // see first: look again, briefly.
    let mut text = String::new();
    for _ in 0..100 {
        let response = server
            .get("/metrics")
            .bearer_auth(OPERATOR_KEY)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        text = response.text().unwrap();
        if sample(&text, "smstrigger_events_processed_total", &[]).is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let tenant_id = tenant.id.to_string();
    let plugin = [
        ("tenant", tenant_id.as_str()),
        ("plugin", "callback"),
        ("version", "1"),
    ];
    assert_eq!(
        sample(&text, "smstrigger_plugin_invocations_total", &plugin),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "smstrigger_plugin_run_seconds_count", &plugin),
        Some(1.0),
        "{text}"
    );
    let fuel = sample(&text, "smstrigger_plugin_fuel_used_total", &plugin).unwrap();
    assert!(fuel > 0.0, "{text}");
    assert_eq!(
        sample(&text, "smstrigger_plugin_failures_total", &plugin),
        None,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "smstrigger_events_processed_total",
            &[("outcome", "ok")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "smstrigger_journal_depth", &[]).is_some(),
        "{text}"
    );
    let webhook = [
        ("route", "/v1/webhooks/sms/status"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(
        sample(&text, "smstrigger_http_requests_total", &webhook),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "smstrigger_http_request_seconds_count", &webhook),
        Some(1.0),
        "{text}"
    );
    // Routes are labelled by pattern, never by the raw path.
    let upload = [
        ("route", "/v1/plugins/{name}"),
        ("method", "PUT"),
        ("status", "201"),
    ];
    assert_eq!(
        sample(&text, "smstrigger_http_requests_total", &upload),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("/v1/plugins/callback"), "{text}");
    assert!(
        !text.contains(&format!("/v1/projects/{project}/")),
        "{text}"
    );
}

/// A tenant with a plugin named `plugin` bound to a project, run once.
fn tenant_with_a_run(server: &Server, name: &str, plugin: &str) -> TenantKeys {
    let tenant = server.tenant(name);
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, "+36301234567");
    server.install(&tenant, plugin, components::NOT_TRACEABLE_CALLBACK);
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": plugin, "priority": 10 }]),
    );
    let (status, event) = send(
        server
            .post(&format!(
                "/v1/webhooks/sms/status?secret-key={}&wait=true",
                tenant.webhook_secret
            ))
            .json(&json!({
                "messageId": "m-1", "projectId": project, "recordId": record,
                "status": "not_traceable", "timestamp": NOW,
            })),
    );
    assert_eq!(status, StatusCode::OK, "{event}");
    tenant
}

#[test]
fn metrics_need_a_key_and_a_tenant_sees_only_its_own_series() {
    let server = Server::start();
    let alpha = tenant_with_a_run(&server, "alpha", "alpha-collections-rule");
    let beta = tenant_with_a_run(&server, "beta", "beta-secret-campaign");

    for key in [None, Some("not-a-key")] {
        let request = server.get("/metrics");
        let request = match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        let response = request.send().unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{key:?}");
        let text = response.text().unwrap();
        assert!(!text.contains("beta-secret-campaign"), "{text}");
    }

    let text = server
        .get("/metrics")
        .bearer_auth(&alpha.api_key)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let alpha_id = alpha.id.to_string();
    let mine = [
        ("tenant", alpha_id.as_str()),
        ("plugin", "alpha-collections-rule"),
    ];
    assert_eq!(
        sample(&text, "smstrigger_plugin_invocations_total", &mine),
        Some(1.0),
        "{text}"
    );
    for hidden in [
        "beta-secret-campaign",
        &format!("tenant=\"{}\"", beta.id),
        "smstrigger_http_requests_total",
        "smstrigger_journal_depth",
    ] {
        assert!(!text.contains(hidden), "{hidden} shown to alpha: {text}");
    }

    let all = server
        .get("/metrics")
        .bearer_auth(OPERATOR_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    for shown in [
        "alpha-collections-rule",
        "beta-secret-campaign",
        "smstrigger_journal_depth",
    ] {
        assert!(
            all.contains(shown),
            "{shown} hidden from the operator: {all}"
        );
    }
}

#[test]
fn a_path_that_matches_no_route_is_labelled_unmatched() {
    let server = Server::start();
    for n in 0..3 {
        let response = server.get(&format!("/no/such/path/{n}")).send().unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let text = server
        .get("/metrics")
        .bearer_auth(OPERATOR_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(
        sample(&text, "smstrigger_http_requests_total", &unmatched),
        Some(3.0),
        "{text}"
    );
    assert!(!text.contains("/no/such/path"), "{text}");
}

/// The served document.
fn openapi(server: &Server) -> Value {
    let (status, doc) = send(server.get("/openapi.json"));
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// (method, path) of every operation in `doc`.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn openapi_lists_every_path_and_each_is_routed() {
    let server = Server::start();
    let doc = openapi(&server);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let documented = operations(&doc);
    // The design's table; the unit test in api::openapi checks the rest
    // against the router's source.
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/v1/tenants"),
        ("POST", "/v1/tenants/{id}/keys"),
        ("POST", "/v1/projects"),
        ("POST", "/v1/webhooks/sms/status"),
        ("POST", "/v1/webhooks/sms/inbound"),
        ("PUT", "/v1/plugins/{name}"),
        ("GET", "/v1/plugins"),
        ("GET", "/v1/plugins/{name}"),
        ("POST", "/v1/plugins/{name}/activate"),
        ("POST", "/v1/plugins/{name}/rollback"),
        ("POST", "/v1/plugins/{name}/dry-run"),
        ("PUT", "/v1/projects/{id}/bindings"),
        ("GET", "/v1/projects/{id}/dispositions"),
        ("GET", "/v1/projects/{id}/records"),
        ("GET", "/v1/do-not-contact"),
        ("GET", "/v1/events/{id}"),
    ] {
        assert!(
            documented.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is not in /openapi.json"
        );
    }
    assert!(
        documented.iter().any(|(_, path)| path.starts_with("/v2/")),
        "{documented:?}"
    );
    // Every documented operation reaches a handler: the router's own
    // misses are a 405, or a 404 with an empty body; the handlers' 4xx
    // (no credentials here) carry an error body.
    for (method, path) in &documented {
        let concrete: String = path
            .split('/')
            .map(|part| if part.starts_with('{') { "1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .client
            .request(method.clone(), format!("{}{concrete}", server.url))
            .send()
            .unwrap();
        let status = response.status();
        let body = response.text().unwrap();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            status != StatusCode::NOT_FOUND || !body.is_empty(),
            "{method} {path} matched no route"
        );
    }
}

#[test]
fn openapi_json_validates_with_openapi_spec_validator() {
    const CHECK: &str = "import sys, json\n\
        from openapi_spec_validator import validate\n\
        validate(json.load(open(sys.argv[1])))\n";
    let available = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available {
        println!(
            "skipped: python3 with openapi-spec-validator is not installed \
             (python3 -m pip install openapi-spec-validator)"
        );
        return;
    }
    let server = Server::start();
    let doc = openapi(&server);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", CHECK])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused /openapi.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks `value`'s object keys against `schema` (following `$ref`s,
/// arrays, and `allOf`): no key the schema lacks, every required key.
fn check_shape(doc: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap();
        return check_shape(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = json!({ "properties": {}, "required": [] });
        for part in parts {
            let part = match part["$ref"].as_str() {
                Some(target) => &doc["components"]["schemas"][target.rsplit('/').next().unwrap()],
                None => part,
            };
            if let Some(props) = part["properties"].as_object() {
                for (k, v) in props {
                    merged["properties"][k] = v.clone();
                }
            }
            for r in part["required"].as_array().into_iter().flatten() {
                merged["required"].as_array_mut().unwrap().push(r.clone());
            }
        }
        return check_shape(doc, &merged, value, at);
    }
    match value {
        Value::Object(map) => {
            let Some(properties) = schema["properties"].as_object() else {
                return;
            };
            for (key, item) in map {
                let property = properties
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}.{key} is not in the schema {schema}"));
                check_shape(doc, property, item, &format!("{at}.{key}"));
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap();
                assert!(map.contains_key(required), "{at}.{required} is missing");
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_shape(doc, &schema["items"], item, &format!("{at}[{index}]"));
            }
        }
        _ => {}
    }
}

/// The schema `doc` gives for `method path`'s `status` JSON answer.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status} is not documented"
    );
    schema
}

#[test]
fn answers_have_their_documented_fields() {
    let server = Server::start();
    let doc = openapi(&server);
    let tenant = server.tenant("shapes");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, "+36301234567");

    // A `/v1` error, and the webhook's 202.
    let (status, body) = send(server.get("/v1/plugins/nope").bearer_auth(&tenant.api_key));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let schema = response_schema(&doc, "get", "/v1/plugins/{name}", 404);
    check_shape(&doc, schema, &body, "error");
    let (status, body) = send(
        server
            .post(&format!(
                "/v1/webhooks/sms/status?secret-key={}",
                tenant.webhook_secret
            ))
            .json(&json!({
                "messageId": "m-shape", "projectId": project, "recordId": record,
                "status": "sent", "timestamp": NOW,
            })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let schema = response_schema(&doc, "post", "/v1/webhooks/sms/status", 202);
    check_shape(&doc, schema, &body, "ack");
    let (status, body) = send(
        server
            .get(&format!("/v1/projects/{project}/records/{record}"))
            .bearer_auth(&tenant.api_key),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let schema = response_schema(&doc, "get", "/v1/projects/{id}/records/{record_id}", 200);
    check_shape(&doc, schema, &body, "record");

    // The `/v2` shapes, which the handlers build by hand.
    let path = format!("/v2/projects/{project}/records/{record}");
    let (status, body) = send(
        server
            .get(&path)
            .basic_auth(tenant.id, Some(&tenant.api_key)),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let schema = response_schema(&doc, "get", "/v2/projects/{project}/records/{record}", 200);
    check_shape(&doc, schema, &body, "v2 record");
    let (status, body) = send(
        server
            .post(&format!("{path}/dispositions"))
            .basic_auth(tenant.id, Some(&tenant.api_key))
            .json(&json!({ "dispositionid": 1, "userid": "agent-7", "description": "done" })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let schema = response_schema(
        &doc,
        "post",
        "/v2/projects/{project}/records/{record}/dispositions",
        200,
    );
    check_shape(&doc, schema, &body, "v2 entry");
    let (status, body) = send(
        server
            .get(&format!("/v2/projects/{project}/records"))
            .basic_auth(tenant.id, Some(&tenant.api_key)),
    );
    assert_eq!(status, StatusCode::EXPECTATION_FAILED, "{body}");
    let schema = response_schema(&doc, "get", "/v2/projects/{project}/records", 417);
    check_shape(&doc, schema, &body, "v2 failure");
}
