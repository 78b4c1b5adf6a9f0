//! Records: create, list, get with the event list, and JSON-lines imports
//! (all-or-nothing). Phones are normalized under the project's country.

use super::*;

#[test]
fn records_create_normalizes_any_spelling_of_the_phone_and_keeps_fields() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let path = format!("/v1/projects/{project}/records");
    for spelling in ["06 30 123 4567", "36301234567", "+36 (30) 123-4567"] {
        let (status, body) =
            send(as_tenant(server.post(&path), &tenant).json(&json!({ "phone": spelling })));
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["phone"], PHONE, "{spelling}");
        assert_eq!(body["timeZone"], Value::Null);
    }
    let full = json!({
        "phone": "+447700900123",
        "timeZone": "Europe/London",
        "fields": [["name", "Ann"], ["debt", "120"], ["name", "Anne"]],
    });
    let (status, body) = send(as_tenant(server.post(&path), &tenant).json(&full));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["timeZone"], "Europe/London");
    assert_eq!(body["fields"], full["fields"]);
    assert_eq!(body["dispositionId"], Value::Null);
    let list = records(&server, &tenant, project);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert_eq!(list[3], body);
}

#[test]
fn bad_records_are_refused_and_nothing_is_stored() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let path = format!("/v1/projects/{project}/records");
    let post = |body: Value| send(as_tenant(server.post(&path), &tenant).json(&body));
    for phone in ["06 30 CALL ME", "123", "1234567", "+06301234567", ""] {
        assert_error(
            post(json!({ "phone": phone })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        );
    }
    let zone = post(json!({ "phone": PHONE, "timeZone": "Europe/Atlantis" }));
    assert!(
        zone.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Europe/Atlantis")
    );
    assert_error(zone, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    for body in [
        json!({ "phone": PHONE, "fields": { "name": "Ann" } }),
        json!({ "phone": PHONE, "fields": [["", "no name"]] }),
        json!({ "phone": PHONE, "fields": [["big", "x".repeat(5000)]] }),
        json!({ "phone": PHONE, "colour": "red" }),
        json!({ "phone": 36301234567u64 }),
        json!({}),
    ] {
        assert_error(post(body), StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let malformed = send(as_tenant(server.post(&path), &tenant).body("{\"phone\":"));
    assert_error(malformed, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(records(&server, &tenant, project), json!([]));
}

#[test]
fn records_get_returns_the_record_with_its_event_list() {
    let server = Server::start();
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
    let path = format!("/v1/projects/{project}/records/{record}");
    let (status, before) = send(as_tenant(server.get(&path), &tenant));
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["id"], record);
    assert_eq!(before["phone"], PHONE);
    assert_eq!(before["events"], json!([]));

    let event = status_event(&server, &tenant, project, record, true);
    assert_eq!(event["state"], "done", "{event}");
    let (_, after) = send(as_tenant(server.get(&path), &tenant));
    let events = after["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{after}");
    assert_eq!(events[0]["eventType"], "SMS");
    assert_eq!(events[0]["user"], "System");
    assert_eq!(events[0]["eventId"], event["id"]);
    assert_eq!(events[0]["plugin"], "not-traceable-callback");
}

#[test]
fn a_record_is_only_found_under_its_own_project() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let (first, second) = (server.project(&tenant), server.project(&tenant));
    let record = server.record(&tenant, first, PHONE);
    for path in [
        format!("/v1/projects/{second}/records/{record}"),
        format!("/v1/projects/{first}/records/{}", record + 1000),
        format!("/v1/projects/{first}/records/abc"),
        "/v1/projects/x".to_string(),
    ] {
        assert_error(
            send(as_tenant(server.get(&path), &tenant)),
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
}

#[test]
fn import_stores_every_line_in_order_skipping_blank_lines() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let body = concat!(
        "{\"phone\": \"06301234567\"}\r\n",
        "\n",
        "{\"phone\": \"+447700900123\", \"timeZone\": \"Europe/London\", \"fields\": [[\"a\", \"1\"]]}\n",
        "{\"phone\": \"06 20 555 1234\"}",
    );
    let import = server.post(&format!("/v1/projects/{project}/records/import"));
    let (status, answer) = send(
        as_tenant(import, &tenant)
            .header("content-type", "text/plain")
            .body(body),
    );
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["imported"], 3);
    let list = records(&server, &tenant, project);
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|r| &r["id"]).collect();
    let phones: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["phone"])
        .collect();
    assert_eq!(
        answer["ids"].as_array().unwrap().iter().collect::<Vec<_>>(),
        ids
    );
    assert_eq!(phones, [PHONE, "+447700900123", "+36205551234"]);
    assert_eq!(list[1]["fields"], json!([["a", "1"]]));
}

#[test]
fn import_with_a_bad_line_names_it_and_stores_nothing() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    server.record(&tenant, project, PHONE);
    let before = records(&server, &tenant, project);
    let path = format!("/v1/projects/{project}/records/import");
    let cases = [
        (
            "{\"phone\": \"06301234567\"}\n{\"phone\": \"CALL ME\"}\n",
            "invalid_phone",
            "line 2:",
        ),
        (
            "{\"phone\": \"06301234567\"}\n\n{\"phone\": \n",
            "invalid",
            "line 3: malformed JSON",
        ),
        (
            "{\"phone\": \"06301234567\", \"timeZone\": \"Nowhere/Zone\"}\n",
            "invalid",
            "line 1: timeZone",
        ),
        (
            "{\"phone\": \"06301234567\"}\n[1, 2]\n{\"phone\": \"1\"}\n",
            "invalid",
            "line 2:",
        ),
        ("", "invalid", "no records"),
        ("\n  \n", "invalid", "no records"),
    ];
    for (body, code, needle) in cases {
        let answer = send(as_tenant(server.post(&path), &tenant).body(body));
        let message = answer.1["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, code);
        assert!(message.contains(needle), "{body:?}: {message}");
    }
    let two_bad =
        send(as_tenant(server.post(&path), &tenant).body("{\"phone\": \"x\"}\n{\"phone\": \"y\"}"));
    let message = two_bad.1["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("line 1:") && message.contains("line 2:"),
        "{message}"
    );
    assert_eq!(records(&server, &tenant, project), before);
}

#[test]
fn import_over_the_line_cap_is_refused_with_413_and_stores_nothing() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let body = "{\"phone\": \"06301234567\"}\n".repeat(10_001);
    let path = format!("/v1/projects/{project}/records/import");
    let answer = send(as_tenant(server.post(&path), &tenant).body(body));
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10000")
    );
    assert_error(answer, StatusCode::PAYLOAD_TOO_LARGE, "import_too_large");
    assert_eq!(records(&server, &tenant, project), json!([]));
}

/// A list never answers a tenant's whole table at once: pages of 100 by
/// default, 1,000 at most, each full page naming the next.
#[test]
fn records_are_listed_a_page_at_a_time_and_the_pages_hold_every_record_once() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let body: String = (0..250)
        .map(|i| format!("{{\"phone\": \"+3630{i:07}\"}}\n"))
        .collect();
    let import = server.post(&format!("/v1/projects/{project}/records/import"));
    let (status, answer) = send(as_tenant(import, &tenant).body(body));
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let path = format!("/v1/projects/{project}/records");
    let mut seen = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let response = as_tenant(server.get(&format!("{path}?after={after}")), &tenant)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let next = response
            .headers()
            .get("x-next-after")
            .map(|v| v.to_str().unwrap().to_string());
        let page: Value = response.json().unwrap();
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= 100, "a default page holds 100");
        seen.extend(page.iter().map(|r| r["id"].as_u64().unwrap()));
        pages += 1;
        match next {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (250, 250), "each record once");

    for bad in ["limit=0", "limit=1001", "limit=all", "after=x"] {
        let (status, answer) = send(as_tenant(server.get(&format!("{path}?{bad}")), &tenant));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
    }
    let (status, answer) = send(as_tenant(
        server.get(&format!("{path}?limit=1000")),
        &tenant,
    ));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer.as_array().unwrap().len(), 250);
}

/// A tenant's data is bounded by quota: records (one at a time or
/// imported), projects and do-not-contact entries; over it, 429 and
/// nothing stored.
#[test]
fn records_projects_and_do_not_contact_entries_stop_at_the_tenants_quota() {
    let server = Server::start_with(|c| {
        c.quotas.max_records = 3;
        c.quotas.max_projects = 1;
        c.quotas.max_do_not_contact = 1;
    });
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let (status, body) =
        send(as_tenant(server.post("/v1/projects"), &tenant).json(&project_body()));
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a second project: {body}"
    );

    let import = format!("/v1/projects/{project}/records/import");
    let lines = "{\"phone\": \"+36301000001\"}\n{\"phone\": \"+36301000002\"}\n";
    let (status, _) = send(as_tenant(server.post(&import), &tenant).body(lines));
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(as_tenant(server.post(&import), &tenant).body(lines));
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "an import past it: {body}"
    );
    let create = format!("/v1/projects/{project}/records");
    let one = |phone: &str| json!({ "phone": phone });
    let (status, _) = send(as_tenant(server.post(&create), &tenant).json(&one("+36301000003")));
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(as_tenant(server.post(&create), &tenant).json(&one("+36301000004")));
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        records(&server, &tenant, project).as_array().unwrap().len(),
        3
    );

    let add = |phone: &str| {
        send(as_tenant(server.post("/v1/do-not-contact"), &tenant).json(&json!({ "phone": phone })))
    };
    assert_eq!(add("+36301000001").0, StatusCode::CREATED);
    assert_eq!(add("+36301000002").0, StatusCode::TOO_MANY_REQUESTS);
}
