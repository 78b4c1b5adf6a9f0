//! The do-not-contact list: phones in E.164, `+` or a named country.

use super::*;

#[test]
fn do_not_contact_adds_lists_and_removes_phones_in_e164() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let add = |body: Value| send(as_tenant(server.post("/v1/do-not-contact"), &tenant).json(&body));
    let (status, body) = add(json!({ "phone": "+36 30 123 4567" }));
    assert_eq!(
        (status, &body),
        (
            StatusCode::CREATED,
            &json!({ "phone": PHONE, "alreadyListed": false })
        )
    );
    let (status, body) = add(json!({ "phone": "06301234567", "defaultCountry": "HU" }));
    assert_eq!(
        (status, &body),
        (
            StatusCode::OK,
            &json!({ "phone": PHONE, "alreadyListed": true })
        )
    );
    let (status, _) = add(json!({ "phone": "(415) 555-2671", "defaultCountry": "US" }));
    assert_eq!(status, StatusCode::CREATED);
    let (status, list) = send(as_tenant(server.get("/v1/do-not-contact"), &tenant));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!(["+14155552671", PHONE]));

    let remove = |phone: &str| {
        send(as_tenant(
            server.delete(&format!("/v1/do-not-contact/{phone}")),
            &tenant,
        ))
    };
    assert_eq!(remove("%2B14155552671").0, StatusCode::NO_CONTENT);
    assert_eq!(
        remove("06301234567?defaultCountry=HU").0,
        StatusCode::NO_CONTENT
    );
    assert_error(remove(PHONE), StatusCode::NOT_FOUND, "not_found");
    let (_, list) = send(as_tenant(server.get("/v1/do-not-contact"), &tenant));
    assert_eq!(list, json!([]));
}

#[test]
fn do_not_contact_refuses_numbers_it_cannot_read() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let add = |body: Value| send(as_tenant(server.post("/v1/do-not-contact"), &tenant).json(&body));
    let national = add(json!({ "phone": "06301234567" }));
    assert!(
        national.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("defaultCountry")
    );
    assert_error(national, StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone");
    assert_error(
        add(json!({ "phone": "+36 STOP" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_phone",
    );
    assert_error(
        add(json!({ "phone": "0630", "defaultCountry": "XX" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_phone",
    );
    assert_error(
        add(json!({ "number": PHONE })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let malformed = send(as_tenant(server.post("/v1/do-not-contact"), &tenant).body("nope"));
    assert_error(malformed, StatusCode::BAD_REQUEST, "bad_request");
    let delete = send(as_tenant(server.delete("/v1/do-not-contact/0630"), &tenant));
    assert_error(delete, StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone");
    let (_, list) = send(as_tenant(server.get("/v1/do-not-contact"), &tenant));
    assert_eq!(list, json!([]));
}
