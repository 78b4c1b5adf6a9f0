//! SMS through a provider speaking the Twilio Messages API, against a
//! second real server acting as the provider ([`fake`]): the seed's loop
//! closes through it (a call disposition asks for a time by SMS, the
//! provider takes the message, its signed callback says delivered, the
//! customer's reply sets the callback), each message is taken once
//! whatever the answers, a refusal is final, and every callback or reply
//! not signed with the tenant's token is refused and journals nothing.

mod crash;
mod fake;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_test_components as components;

use self::fake::{ACCOUNT, FROM, Mode, Provider, TOKEN, post_signed};
use super::remote::loopback_remote;
use super::*;

const PHONE: &str = "+36301234567";

/// A server whose tenant sends SMS through `provider`, binding the
/// call-attempt SMS, the delivered follow-up and the reply's time.
struct Loop {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
}

impl Loop {
    fn start(provider: &Provider) -> Self {
        Self::configure(
            Server::start_with(|config| config.remote = loopback_remote()),
            provider,
            json!({}),
        )
    }

    /// Sets up the tenant on `server`, which trusts the loopback provider,
    /// its project with `settings` on top of the usual ones.
    fn configure(server: Server, provider: &Provider, settings: Value) -> Self {
        let tenant = server.tenant("acme");
        let project = server.project_with(&tenant, settings);
        let record = server.record(&tenant, project, PHONE);
        server.install(&tenant, "ask-time", components::CALL_ATTEMPT_SMS);
        server.install(&tenant, "followup", components::DELIVERED_FOLLOWUP);
        server.install(&tenant, "reply-time", components::REPLY_CALL_TIME);
        server.bind(
            &tenant,
            project,
            json!([
                { "plugin": "ask-time", "priority": 10 },
                { "plugin": "followup", "priority": 9 },
                { "plugin": "reply-time", "priority": 8 },
            ]),
        );
        let (status, settings) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
        assert_eq!(status, StatusCode::OK, "{settings}");
        let mut settings = settings;
        settings["smsSender"] = json!({
            "kind": "twilio",
            "baseUrl": provider.url,
            "accountSid": ACCOUNT,
            "authToken": TOKEN,
            "from": FROM,
        });
        let (status, stored) = send(
            server
                .put("/v1/tenant")
                .bearer_auth(&tenant.api_key)
                .json(&settings),
        );
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["smsSender"]["authTokenSet"], true, "{stored}");
        assert!(
            !stored.to_string().contains(TOKEN),
            "the token is never shown"
        );
        Self {
            server,
            tenant,
            project,
            record,
        }
    }

    /// A third unanswered call to the record: `ask-time` asks for a time.
    fn unanswered_call(&self, uuid: &str) -> Value {
        self.unanswered_call_at(uuid, "2026-12-01T09:00:00Z")
    }

    /// [`Self::unanswered_call`] set at `timestamp`.
    fn unanswered_call_at(&self, uuid: &str, timestamp: &str) -> Value {
        let (status, event) = send(
            self.server
                .post(&format!(
                    "/v1/webhooks/call/disposition?secret-key={}&wait=true",
                    self.tenant.webhook_secret
                ))
                .json(&json!({
                    "uuid": uuid,
                    "projectid": self.project,
                    "destination": "06301234567",
                    "direction": "out",
                    "disposition": { "id": 7, "name": "No answer", "assessment": "not_reached" },
                    "sum_attempted_calls": 3,
                    "timestamp": timestamp,
                })),
        );
        assert_eq!(status, StatusCode::OK, "{event}");
        event
    }

    /// The project's messages.
    fn messages(&self) -> Vec<Value> {
        let (status, messages) = send(
            self.server
                .get(&format!("/v1/projects/{}/messages", self.project))
                .bearer_auth(&self.tenant.api_key),
        );
        assert_eq!(status, StatusCode::OK, "{messages}");
        messages.as_array().unwrap().clone()
    }

    /// Waits until the project's only message has `status`.
    fn message_becomes(&self, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() == 1 && messages[0]["status"] == status {
                return messages[0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no message became {status}: {messages:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The event `id` once decided.
    fn decided(&self, id: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, event) = send(
                self.server
                    .get(&format!("/v1/events/{id}"))
                    .bearer_auth(&self.tenant.api_key),
            );
            assert_eq!(status, StatusCode::OK, "{event}");
            if event["state"] != "pending" {
                return event;
            }
            assert!(Instant::now() < deadline, "event {id} not decided");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL the provider posts `path` (with its query) to.
    fn webhook(&self, path: &str) -> String {
        format!(
            "{}/v1/webhooks/twilio/{}/{path}",
            self.server.url, self.tenant.id
        )
    }
}

/// The decision of `plugin` in `event`.
fn decision<'a>(event: &'a Value, plugin: &str) -> &'a Value {
    event["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["plugin"] == plugin)
        .unwrap_or_else(|| panic!("{plugin} decided: {event}"))
}

#[test]
fn provider_the_seeds_loop_closes_through_the_provider() {
    let provider = Provider::start(Mode::Normal);
    let l = Loop::start(&provider);
    let call = l.unanswered_call("call-1");
    assert_eq!(
        decision(&call, "ask-time")["verdicts"][0]["accepted"],
        true,
        "{call}"
    );

    // The outbox hands the message to the provider, once, as the API asks.
    let message = l.message_becomes("sent", Duration::from_secs(10));
    let taken = provider.taken();
    assert_eq!(taken.len(), 1, "{taken:?}");
    let message_id = message["messageId"].as_str().unwrap();
    assert_eq!(message["providerSid"], taken[0].sid.as_str());
    assert_eq!(message["attempts"], 1);
    assert_eq!(taken[0].to, PHONE);
    assert_eq!(
        taken[0].from, FROM,
        "the tenant's number when the action names none"
    );
    assert_eq!(taken[0].body, message["text"].as_str().unwrap());
    assert!(
        taken[0].body.contains("YYYY-MM-DD hh:mm"),
        "{}",
        taken[0].body
    );
    assert_eq!(
        taken[0].key.as_deref(),
        Some(message_id),
        "the idempotency key"
    );
    let callback = l.webhook(&format!("status?messageId={message_id}"));
    assert_eq!(taken[0].status_callback, callback);

    // A forged callback (not signed with the tenant's token) is refused and
    // changes nothing.
    let forged = post_signed(
        &l.server.client,
        &callback,
        "not-the-token",
        &[
            ("MessageSid", &taken[0].sid),
            ("MessageStatus", "delivered"),
        ],
    );
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(l.messages()[0]["status"], "sent");

    // `sending` changes nothing; `delivered` is a delivery event the
    // follow-up decides (a callback 48 hours on).
    let fields = |status: &'static str| {
        [
            ("AccountSid", ACCOUNT),
            ("From", FROM),
            ("MessageSid", taken[0].sid.as_str()),
            ("MessageStatus", status),
            ("To", PHONE),
        ]
    };
    let sending = post_signed(&l.server.client, &callback, TOKEN, &fields("sending"));
    assert_eq!(sending.status(), StatusCode::ACCEPTED);
    let sending: Value = sending.json().unwrap();
    assert_eq!(sending["status"], "unchanged", "{sending}");
    let delivered = post_signed(&l.server.client, &callback, TOKEN, &fields("delivered"));
    assert_eq!(delivered.status(), StatusCode::ACCEPTED);
    let delivered: Value = delivered.json().unwrap();
    assert_eq!(delivered["status"], "accepted", "{delivered}");
    let event = l.decided(&delivered["eventId"]);
    assert_eq!(event["input"]["messageId"], message_id, "{event}");
    assert_eq!(event["input"]["status"], "delivered", "{event}");
    let followup = decision(&event, "followup");
    assert_eq!(followup["verdicts"][0]["accepted"], true, "{event}");
    assert_eq!(l.messages()[0]["status"], "delivered");

    // The provider repeats itself and sends a late `sent`: nothing moves back.
    let again = post_signed(&l.server.client, &callback, TOKEN, &fields("delivered"));
    let again: Value = again.json().unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    let late = post_signed(&l.server.client, &callback, TOKEN, &fields("sent"));
    let late: Value = late.json().unwrap();
    assert_eq!(late["status"], "superseded", "{late}");
    assert_eq!(l.messages()[0]["status"], "delivered");

    // The customer answers with a time, through the provider: the reply
    // knows the message it answers, and the time becomes a callback.
    let inbound = l.webhook(&format!("inbound?projectId={}", l.project));
    let reply = [
        ("AccountSid", ACCOUNT),
        ("Body", "2026-12-02 14:30 please"),
        ("From", PHONE),
        ("MessageSid", "SMreply0001"),
        ("To", FROM),
    ];
    let answered = post_signed(&l.server.client, &inbound, TOKEN, &reply);
    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(
        answered.headers()["content-type"].to_str().unwrap(),
        "application/xml"
    );
    let event_id: Value = answered.headers()["x-smstrigger-event-id"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap()
        .into();
    assert!(answered.text().unwrap().contains("<Response></Response>"));
    let event = l.decided(&event_id);
    assert_eq!(
        event["resolved"]["lastOutbound"]["messageId"], message_id,
        "{event}"
    );
    let callback = decision(&event, "reply-time");
    assert_eq!(callback["verdicts"][0]["accepted"], true, "{event}");
    let (_, record) = send(
        l.server
            .get(&format!("/v1/projects/{}/records/{}", l.project, l.record))
            .bearer_auth(&l.tenant.api_key),
    );
    assert_eq!(record["nextCalldate"], 1_796_218_200, "{record}");

    // The same reply again is a duplicate (its MessageSid); a forged one is refused.
    let again = post_signed(&l.server.client, &inbound, TOKEN, &reply);
    assert_eq!(
        again.headers()["x-smstrigger-event-id"].to_str().unwrap(),
        event_id.to_string()
    );
    let forged = post_signed(&l.server.client, &inbound, "guess", &reply);
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // Signed but unusable: no project, another tenant's project, no sender.
    let other = l.server.tenant("other");
    let theirs = l.server.project(&other);
    for (path, fields, status) in [
        (
            "inbound".to_string(),
            &reply[..],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("inbound?projectId={theirs}"),
            &reply[..],
            StatusCode::NOT_FOUND,
        ),
        (
            format!("inbound?projectId={}", l.project),
            &reply[..2],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let answer = post_signed(&l.server.client, &l.webhook(&path), TOKEN, fields);
        assert_eq!(answer.status(), status, "{path} {fields:?}");
    }
    assert_eq!(provider.taken().len(), 1, "one SMS in all");
}

/// A stranger (a phone with no record in the project) texting HELP gets
/// the project's help text through the provider; the provider's status
/// for that message moves the message only, since there is no record to
/// act on.
#[test]
fn provider_a_strangers_help_is_answered_and_its_status_moves_the_message_only() {
    const STRANGER: &str = "+36309876543";
    let provider = Provider::start(Mode::Normal);
    let l = Loop::configure(
        Server::start_with(|config| config.remote = loopback_remote()),
        &provider,
        json!({ "smsRules": { "helpText": "Acme: reply STOP to opt out." } }),
    );
    let inbound = l.webhook(&format!("inbound?projectId={}", l.project));
    let help = [
        ("Body", "help"),
        ("From", STRANGER),
        ("MessageSid", "SMhelp0001"),
        ("To", FROM),
    ];
    let answered = post_signed(&l.server.client, &inbound, TOKEN, &help);
    assert_eq!(answered.status(), StatusCode::OK);
    let message = l.message_becomes("sent", Duration::from_secs(10));
    assert_eq!(message["recordId"], Value::Null, "{message}");
    assert_eq!(message["plugin"], "host:help", "{message}");
    let taken = provider.taken();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(
        (taken[0].to.as_str(), taken[0].body.as_str()),
        (STRANGER, "Acme: reply STOP to opt out.")
    );

    let callback = l.webhook(&format!(
        "status?messageId={}",
        message["messageId"].as_str().unwrap()
    ));
    let delivered = [
        ("MessageSid", taken[0].sid.as_str()),
        ("MessageStatus", "delivered"),
    ];
    let answer = post_signed(&l.server.client, &callback, TOKEN, &delivered);
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let answer: Value = answer.json().unwrap();
    assert_eq!(answer["status"], "unchanged", "{answer}");
    assert_eq!(l.messages()[0]["status"], "delivered");
}

/// The provider took the message but its answer was lost (a 500): the
/// retry carries the same idempotency key, so the provider still holds
/// one message, and the host keeps its id.
#[test]
fn provider_an_unclear_answer_is_retried_under_the_same_key_and_sent_once() {
    let provider = Provider::start(Mode::TakeThenFail);
    let l = Loop::start(&provider);
    l.unanswered_call("call-1");
    let message = l.message_becomes("sent", Duration::from_secs(15));
    let calls = provider.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], calls[1], "the same key both times");
    let taken = provider.taken();
    assert_eq!(taken.len(), 1, "one message at the provider: {taken:?}");
    assert_eq!(message["providerSid"], taken[0].sid.as_str());
    assert_eq!(message["attempts"], 2);
}

/// A refusal (a 4xx) is final: the message fails, naming the provider's
/// status and code but none of its text, and is never sent again.
#[test]
fn provider_a_refusal_fails_the_message_once_without_the_providers_text() {
    let provider = Provider::start(Mode::Refuse);
    let l = Loop::start(&provider);
    l.unanswered_call("call-1");
    let message = l.message_becomes("failed", Duration::from_secs(10));
    assert_eq!(message["error"], "provider_refused: HTTP 400, code 21211");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(provider.calls().len(), 1, "never retried");
    assert!(!message.to_string().contains("secret provider text"));
}

/// Settings: a provider URL the operator's rules refuse is 422 and changes
/// nothing; a provider without its token is 422; the token is never shown;
/// a callback for another tenant's message, or for a tenant without a
/// provider, is refused the same way as a forged one.
#[test]
fn provider_settings_are_checked_and_callbacks_reach_only_their_tenant() {
    let server = Server::start(); // the strict URL rules
    let tenant = server.tenant("acme");
    let (_, mut settings) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
    assert_eq!(settings["smsSender"]["kind"], "embedded", "the default");
    let mut put = |sender: Value| {
        settings["smsSender"] = sender;
        send(
            server
                .put("/v1/tenant")
                .bearer_auth(&tenant.api_key)
                .json(&settings),
        )
    };
    let twilio = |url: &str, token: Option<&str>| {
        let mut sender =
            json!({"kind": "twilio", "baseUrl": url, "accountSid": ACCOUNT, "from": FROM});
        if let Some(token) = token {
            sender["authToken"] = json!(token);
        }
        sender
    };
    assert_error(
        put(twilio("http://127.0.0.1:9", Some(TOKEN))),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_url",
    );
    assert_error(
        put(twilio("https://169.254.169.254", Some(TOKEN))),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_url",
    );
    assert_error(
        put(twilio("https://sms.example.com", None)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    // The account id and sending number are bounded and plain.
    for (field, value) in [
        ("accountSid", json!("AC../../x")),
        ("accountSid", json!("A".repeat(65))),
        ("from", json!("")),
        ("from", json!("1".repeat(65))),
    ] {
        let mut sender = twilio("https://sms.example.com", Some(TOKEN));
        sender[field] = value;
        let (status, body) = put(sender);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("smsSender.{field}")), "{body}");
    }
    let (status, stored) = put(twilio("https://sms.example.com", Some(TOKEN)));
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert!(!stored.to_string().contains(TOKEN));
    // Left out of a later PUT, the sender (and its token) stays.
    let mut without = stored.clone();
    without.as_object_mut().unwrap().remove("smsSender");
    let (status, kept) = send(
        server
            .put("/v1/tenant")
            .bearer_auth(&tenant.api_key)
            .json(&without),
    );
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["smsSender"]["authTokenSet"], true, "{kept}");

    // Signed with this tenant's token, but sent to another tenant's path
    // (one without a provider), or about a message nobody sent.
    let other = server.tenant("other");
    let fields = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
    let path = |tenant: u64| {
        format!(
            "{}/v1/webhooks/twilio/{tenant}/status?messageId=sms-1-1-x",
            server.url
        )
    };
    let refused = post_signed(&server.client, &path(other.id), TOKEN, &fields);
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let unknown = post_signed(&server.client, &path(tenant.id), TOKEN, &fields);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let nobody = post_signed(&server.client, &path(999_999), TOKEN, &fields);
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    let bad = post_signed(
        &server.client,
        &path(tenant.id),
        TOKEN,
        &[("MessageSid", "SM1"), ("MessageStatus", "exploded")],
    );
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
