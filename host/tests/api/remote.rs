//! The remote executor against a second real smstrigger's `/v2` API on
//! loopback: server A runs the plugins for a tenant whose executor is
//! `remote`, server B holds the records the actions land on. A's local
//! mirror of a record names B's in its `remoteProjectId`/`remoteId` fields.
//! A decides the event at once and queues the action in its outbox, which
//! delivers it to B after the commit. A's operator allows plain http and the loopback network
//! ([`loopback_remote`]); the attacks on those rules are in `ssrf`, TLS in
//! `tls`.

mod ssrf;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_host::actions::remote::{
    Delivery, RemoteClient, RemoteExecutor, RemoteTarget, RetryPolicy,
};
use smstrigger_host::config::RemoteConfig;
use smstrigger_host::model::{EventId, RecordId};
use smstrigger_host::store::{
    DecisionRecord, NewRecord, OutboxItem, ProcessedEvent, RecordWrite, Records, SqliteStore,
    Tenants,
};
use smstrigger_test_components as components;

use super::v2::{add_disposition, basic};
use super::*;

const PHONE: &str = "+36301234567";
const PLUGIN: &str = "not-traceable-callback";

/// B with a tenant, a project and a record; A with a remote tenant whose
/// project mirrors that record and runs `not-traceable-callback`.
struct Pair {
    b: Option<Server>,
    b_tenant: TenantKeys,
    b_project: u64,
    b_record: u64,
    a: Server,
    a_tenant: TenantKeys,
    a_project: u64,
    a_record: u64,
}

/// The operator's `[remote]` section of these tests: plain http and the
/// loopback network allowed, as a test's remote on 127.0.0.1 needs.
pub fn loopback_remote() -> RemoteConfig {
    RemoteConfig {
        allow_http: true,
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ca_file: None,
    }
}

/// Sets up both servers; `config` is the plugin's, `fields` the mirror's.
fn pair(config: Value, fields: impl FnOnce(u64, u64) -> Value) -> Pair {
    pair_via(config, fields, loopback_remote(), |b| b.url.clone())
}

/// [`pair`] with A's `[remote]` section `remote`, and A's executor URL
/// `base_url(B)`.
fn pair_via(
    config: Value,
    fields: impl FnOnce(u64, u64) -> Value,
    remote: RemoteConfig,
    base_url: impl FnOnce(&Server) -> String,
) -> Pair {
    pair_with(config, fields, remote, base_url, json!({}))
}

/// [`pair`] whose A project has `a_settings` on top of the usual ones.
fn pair_with(
    config: Value,
    fields: impl FnOnce(u64, u64) -> Value,
    remote: RemoteConfig,
    base_url: impl FnOnce(&Server) -> String,
    a_settings: Value,
) -> Pair {
    let b = Server::start();
    let b_tenant = b.tenant("contact-center");
    let b_project = b.project(&b_tenant);
    let b_record = b.record(&b_tenant, b_project, PHONE);

    let a = Server::start_with(|c| c.remote = remote);
    let a_tenant = a.tenant("acme");
    let (status, mut settings) = send(a.get("/v1/tenant").bearer_auth(&a_tenant.api_key));
    assert_eq!(status, StatusCode::OK, "{settings}");
    settings["executor"] = json!({ "kind": "remote", "baseUrl": base_url(&b),
        "account": b_tenant.id.to_string(), "token": b_tenant.api_key });
    let (status, body) = send(
        a.put("/v1/tenant")
            .bearer_auth(&a_tenant.api_key)
            .json(&settings),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let a_project = a.project_with(&a_tenant, a_settings);
    add_disposition(&a, &a_tenant, a_project, 41);
    let (status, body) = send(
        a.post(&format!("/v1/projects/{a_project}/records"))
            .bearer_auth(&a_tenant.api_key)
            .json(&json!({ "phone": PHONE, "fields": fields(b_project, b_record) })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a_record = body["id"].as_u64().unwrap();
    a.install(&a_tenant, PLUGIN, components::NOT_TRACEABLE_CALLBACK);
    a.bind(
        &a_tenant,
        a_project,
        json!([{ "plugin": PLUGIN, "priority": 10, "config": config }]),
    );
    Pair {
        b: Some(b),
        b_tenant,
        b_project,
        b_record,
        a,
        a_tenant,
        a_project,
        a_record,
    }
}

fn mirrored(b_project: u64, b_record: u64) -> Value {
    json!([
        ["remoteProjectId", b_project.to_string()],
        ["remoteId", b_record.to_string()]
    ])
}

impl Pair {
    fn b(&self) -> &Server {
        self.b.as_ref().expect("B is running")
    }

    /// Sends a not-traceable receipt for A's record at 10:00 Budapest and
    /// waits for the decision; returns A's event.
    fn not_traceable(&self, message_id: &str) -> Value {
        let (status, event) = send(
            self.a
                .post(&format!(
                    "/v1/webhooks/sms/status?secret-key={}&wait=true",
                    self.a_tenant.webhook_secret
                ))
                .json(
                    &json!({ "messageId": message_id, "projectId": self.a_project,
                    "recordId": self.a_record, "status": "not_traceable",
                    "timestamp": "2026-12-01 10:00:00" }),
                ),
        );
        assert_eq!(
            status,
            StatusCode::OK,
            "the decision within the wait: {event}"
        );
        event
    }

    /// A's event once its outbox has settled every action (delivered,
    /// refused or given up), or has tried each at least `attempts` times.
    fn settled(&self, event: &Value, attempts: u64) -> Value {
        let path = format!("/v1/events/{}", event["id"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, event) = send(self.a.get(&path).bearer_auth(&self.a_tenant.api_key));
            assert_eq!(status, StatusCode::OK, "{event}");
            let outbox = event["outbox"].as_array().cloned().unwrap_or_default();
            let done = !outbox.is_empty()
                && outbox.iter().all(|item| {
                    item["state"] != "pending" || item["attempts"].as_u64() >= Some(attempts)
                });
            if done {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "the outbox never settled: {event}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Points A's tenant at another remote (URL and token).
    fn set_remote(&self, base_url: &str, token: &str) {
        let (_, mut settings) = send(self.a.get("/v1/tenant").bearer_auth(&self.a_tenant.api_key));
        settings["executor"]["baseUrl"] = json!(base_url);
        settings["executor"]["token"] = json!(token);
        let (status, body) = send(
            self.a
                .put("/v1/tenant")
                .bearer_auth(&self.a_tenant.api_key)
                .json(&settings),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// B's record in its `/v2` shape.
    fn b_record(&self) -> Value {
        let path = format!("/v2/projects/{}/records/{}", self.b_project, self.b_record);
        let (status, body) = send(basic(self.b().get(&path), &self.b_tenant));
        assert_eq!(status, StatusCode::OK, "{body}");
        body["response"].clone()
    }

    /// A's local mirror, which the remote executor never writes.
    fn assert_a_record_unchanged(&self) {
        let (status, body) = send(
            self.a
                .get(&format!(
                    "/v1/projects/{}/records/{}",
                    self.a_project, self.a_record
                ))
                .bearer_auth(&self.a_tenant.api_key),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["dispositionId"], Value::Null, "{body}");
        assert_eq!(body["nextCalldate"], Value::Null, "{body}");
        assert_eq!(body["events"], json!([]), "{body}");
    }
}

/// The plugin's one verdict in A's event.
fn verdict(event: &Value) -> &Value {
    let decision = event["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["plugin"] == PLUGIN)
        .unwrap_or_else(|| panic!("{event}"));
    assert_eq!(decision["verdicts"].as_array().unwrap().len(), 1, "{event}");
    &decision["verdicts"][0]
}

#[test]
fn remote_an_action_lands_on_the_remote_record_and_not_the_local_one() {
    let p = pair(json!({}), mirrored);
    let decided = p.not_traceable("m-1");
    assert_eq!(decided["state"], "done", "{decided}");
    let executed = &verdict(&decided)["executed"];
    assert!(
        *executed == "queued" || *executed == true,
        "queued at the commit (and perhaps delivered by the time it is read): {decided}"
    );
    let event = p.settled(&decided, 1);
    assert_eq!(event["outbox"][0]["state"], "delivered", "{event}");
    let verdict = verdict(&event);
    assert_eq!(verdict["accepted"], true, "{event}");
    assert_eq!(verdict["executed"], true, "{event}");
    assert_eq!(verdict["remote"]["recordid"], p.b_record, "{event}");

    let remote = p.b_record();
    assert_eq!(remote["dispositionid"], 2, "{remote}");
    assert_eq!(remote["next_calldate"], "2026-12-01 11:00:00", "{remote}");
    let events = remote["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{remote}");
    assert_eq!(events[0]["userid"], "smstrigger");
    assert!(
        events[0]["description"].as_str().unwrap().contains(PLUGIN),
        "{remote}"
    );
    p.assert_a_record_unchanged();

    // A provider's retry of the receipt is a duplicate: nothing more remotely.
    let (status, _) = send(
        p.a.post(&format!(
            "/v1/webhooks/sms/status?secret-key={}",
            p.a_tenant.webhook_secret
        ))
        .json(
            &json!({ "messageId": "m-1", "projectId": p.a_project, "recordId": p.a_record,
                "status": "not_traceable", "timestamp": "2026-12-01 10:00:00" }),
        ),
    );
    assert_eq!(status, StatusCode::ACCEPTED);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(p.b_record()["events"].as_array().unwrap().len(), 1);
}

#[test]
fn remote_a_417_is_recorded_as_not_executed_with_the_remotes_error() {
    // A's project has disposition 41, so A's validation accepts it; B's lacks it.
    let p = pair(json!({ "disposition_id": "41" }), mirrored);
    let event = p.settled(&p.not_traceable("m-1"), 1);
    assert_eq!(event["state"], "done", "{event}");
    assert_eq!(event["outbox"][0]["state"], "refused", "{event}");
    assert_eq!(
        event["outbox"][0]["attempts"], 1,
        "a refusal is not retried"
    );
    let verdict = verdict(&event);
    assert_eq!(verdict["accepted"], true, "{event}");
    assert_eq!(verdict["executed"], false, "{event}");
    assert_eq!(
        verdict["remoteError"]["errorcode"], "unknown_disposition",
        "{event}"
    );
    assert_eq!(
        verdict["remoteError"]["property"], "dispositionid",
        "{event}"
    );
    let remote = p.b_record();
    assert_eq!(
        (remote["dispositionid"].clone(), remote["events"].clone()),
        (Value::Null, json!([]))
    );
    p.assert_a_record_unchanged();
}

#[test]
fn remote_a_mirror_without_a_remote_id_is_not_executed_and_says_why() {
    let p = pair(json!({}), |_, _| json!([["name", "no twin"]]));
    let event = p.settled(&p.not_traceable("m-1"), 1);
    assert_eq!(event["state"], "done", "{event}");
    assert_eq!(event["outbox"][0]["state"], "refused", "{event}");
    let verdict = verdict(&event);
    assert_eq!(verdict["executed"], false, "{event}");
    assert_eq!(
        verdict["remoteError"]["errorcode"], "remote_id_missing",
        "{event}"
    );
    assert_eq!(
        verdict["remoteError"]["property"], "remoteProjectId",
        "{event}"
    );
    assert_eq!(p.b_record()["events"], json!([]));
}

#[test]
fn remote_an_unreachable_remote_is_retried_later_and_delivered_once_it_answers() {
    let mut p = pair(json!({}), mirrored);
    let b = p.b.take().unwrap();
    let (b_url, b_key) = (b.url.clone(), p.b_tenant.api_key.clone());
    // A remote that is down: its port refuses connections.
    p.set_remote("http://127.0.0.1:9", &b_key);
    let decided = p.not_traceable("m-1");
    assert_eq!(
        decided["state"], "done",
        "decided without waiting for the remote"
    );
    let event = p.settled(&decided, 1);
    let item = &event["outbox"][0];
    assert_eq!(item["state"], "pending", "{event}");
    assert_eq!(item["result"]["errorcode"], "remote_unavailable", "{event}");
    assert_eq!(verdict(&event)["executed"], "queued", "{event}");
    p.assert_a_record_unchanged();

    // The remote is back: the next attempt delivers it, once.
    p.b = Some(b);
    p.set_remote(&b_url, &b_key);
    let event = loop {
        let event = p.settled(&decided, 1);
        if event["outbox"][0]["state"] != "pending" {
            break event;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(event["outbox"][0]["state"], "delivered", "{event}");
    assert_eq!(verdict(&event)["executed"], true, "{event}");
    assert_eq!(p.b_record()["events"].as_array().unwrap().len(), 1);
}

impl Pair {
    /// Asserts A's `event` delivered its callback moved from 11:00 (the
    /// plugin's) to `next`, for the reason `code`.
    #[track_caller]
    fn assert_delivered_moved(&self, event: &Value, code: &str, next: i64) {
        assert_eq!(event["outbox"][0]["state"], "delivered", "{event}");
        let verdict = verdict(event);
        assert_eq!(verdict["executed"], true, "{event}");
        let moved = &verdict["executionMove"];
        assert_eq!(moved["code"], code, "{event}");
        assert_eq!(moved["movedFrom"], budapest_ten_plus(1), "{event}");
        assert_eq!(moved["nextCalldate"], next, "{event}");
        assert_eq!(moved["executedAt"], self.a.clock.now(), "{event}");
    }

    /// Asserts B's record got one entry, a callback at `local` (its wall
    /// clock).
    #[track_caller]
    fn assert_b_called_back(&self, local: &str) {
        let events = self.b_record()["events"].clone();
        assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
        assert_eq!(events[0]["next_calldate"], local, "{events}");
    }
}

/// [`pair`] whose A project moves a callback already past when it
/// executes to now (`pastCallbackPolicy` `now`).
fn pair_now() -> Pair {
    let now = json!({ "pastCallbackPolicy": "now" });
    pair_with(
        json!({}),
        mirrored,
        loopback_remote(),
        |b| b.url.clone(),
        now,
    )
}

/// 10:00 in Budapest on the tests' day, plus `hours`.
fn budapest_ten_plus(hours: i64) -> i64 {
    NOW + hours * 3600
}

/// With B down, decides a not-traceable receipt (its callback, 11:00, is
/// still ahead), lets A's outbox fail once, sets A's clock to `later`, and
/// brings B back; returns A's event once its outbox item is settled.
fn queued_then_late(p: &mut Pair, later: i64) -> Value {
    let b = p.b.take().unwrap();
    let (b_url, b_key) = (b.url.clone(), p.b_tenant.api_key.clone());
    p.set_remote("http://127.0.0.1:9", &b_key);
    let decided = p.not_traceable("m-1");
    let event = p.settled(&decided, 1);
    assert_eq!(event["outbox"][0]["state"], "pending", "{event}");
    assert_eq!(verdict(&event)["executed"], "queued", "{event}");
    assert!(verdict(&event).get("executionMove").is_none(), "{event}");
    p.a.clock.set(later);
    p.b = Some(b);
    p.set_remote(&b_url, &b_key);
    loop {
        let event = p.settled(&decided, 1);
        if event["outbox"][0]["state"] != "pending" {
            return event;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The commit's check covers a remote tenant's queued writes as the
/// embedded store's: under `now`, a callback already past when its event
/// is decided is queued, and delivered, for now.
#[test]
fn remote_under_now_a_callback_past_at_the_commit_is_delivered_for_now() {
    let p = pair_now();
    let now = budapest_ten_plus(5);
    p.a.clock.set(now);
    let event = p.settled(&p.not_traceable("m-1"), 1);
    p.assert_delivered_moved(&event, "moved_to_now_at_execution", now);
    p.assert_b_called_back("2026-12-01 15:00:00");
}

/// A write that passes while it waits in the outbox is judged again when
/// it is delivered: under `now`, with now after calling hours, it lands on
/// the next morning.
#[test]
fn remote_under_now_a_callback_that_passed_while_queued_is_delivered_shifted() {
    let mut p = pair_now();
    let event = queued_then_late(&mut p, budapest_ten_plus(11) + 1800);
    let next_morning = budapest_ten_plus(22);
    p.assert_delivered_moved(
        &event,
        "shifted_to_calling_hours_at_execution",
        next_morning,
    );
    p.assert_b_called_back("2026-12-02 08:00:00");
}

/// Under the default policy a write that passed while queued is not
/// delivered, and its verdict says so as an embedded one's does.
#[test]
fn remote_under_reject_a_callback_that_passed_while_queued_is_not_delivered() {
    let mut p = pair(json!({}), mirrored);
    let event = queued_then_late(&mut p, budapest_ten_plus(5));
    assert_eq!(event["outbox"][0]["state"], "refused", "{event}");
    assert_eq!(
        event["outbox"][0]["result"]["errorcode"], "time_in_past_at_execution",
        "{event}"
    );
    let verdict = verdict(&event);
    assert_eq!(verdict["executed"], false, "{event}");
    assert_eq!(
        verdict["executionError"]["code"], "time_in_past_at_execution",
        "{event}"
    );
    assert_eq!(p.b_record()["events"], json!([]));
}

#[test]
fn remote_wrong_remote_credentials_keep_the_action_queued_until_they_are_fixed() {
    let p = pair(json!({}), mirrored);
    let key = p.b_tenant.api_key.clone();
    p.set_remote(&p.b().url, "not-the-key");
    let event = p.settled(&p.not_traceable("m-1"), 1);
    assert_eq!(event["state"], "done", "{event}");
    assert_eq!(event["outbox"][0]["state"], "pending", "{event}");
    assert_eq!(
        event["outbox"][0]["result"]["errorcode"], "remote_rejected",
        "{event}"
    );
    assert_eq!(p.b_record()["events"], json!([]));
    p.set_remote(&p.b().url, &key);
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.b_record()["events"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "never delivered after the fix");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tenant whose remote accepts connections and never answers holds only
/// its own outbox: another tenant's events are decided as fast as ever
/// (before the outbox, that tenant waited a minute for every commit).
#[test]
fn remote_a_remote_that_never_answers_does_not_delay_another_tenants_decisions() {
    let p = pair(json!({}), mirrored);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    p.set_remote(&silent_url, "any");
    p.not_traceable("m-1"); // its outbox now hangs on the silent remote

    let quiet = p.a.tenant("quiet");
    let project = p.a.project(&quiet);
    let (status, body) = send(
        p.a.post(&format!("/v1/projects/{project}/records"))
            .bearer_auth(&quiet.api_key)
            .json(&json!({ "phone": PHONE })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let record = body["id"].as_u64().unwrap();
    p.a.install(&quiet, PLUGIN, components::NOT_TRACEABLE_CALLBACK);
    p.a.bind(
        &quiet,
        project,
        json!([{ "plugin": PLUGIN, "priority": 10 }]),
    );
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(300)); // while the remote hangs
        let started = Instant::now();
        let (status, event) = send(
            p.a.post(&format!(
                "/v1/webhooks/sms/status?secret-key={}&wait=true",
                quiet.webhook_secret
            ))
            .json(
                &json!({ "messageId": format!("q-{i}"), "projectId": project,
                "recordId": record, "status": "not_traceable",
                "timestamp": "2026-12-01 10:00:00" }),
            ),
        );
        assert_eq!(status, StatusCode::OK, "{event}");
        assert_eq!(event["state"], "done", "{event}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the quiet tenant's event took {:?}",
            started.elapsed()
        );
    }
    drop(silent);
}

/// The idempotency guard, below the HTTP layer: delivering the same queued
/// write twice (a re-run after a lost settlement) sets B's disposition
/// once.
#[test]
fn remote_a_re_run_of_an_event_sets_the_remote_disposition_once() {
    let b = Server::start();
    let b_tenant = b.tenant("contact-center");
    let b_project = b.project(&b_tenant);
    let b_record = b.record(&b_tenant, b_project, PHONE);

    let Local {
        _dir,
        store,
        tenant,
        local,
        event,
    } = local_event(b_project, b_record);
    let target = RemoteTarget {
        base_url: b.url.clone(),
        account: b_tenant.id.to_string(),
        token: b_tenant.api_key.clone(),
    };
    let executor = RemoteExecutor::with_client(
        store.clone(),
        RemoteClient::new(loopback_remote().url_policy()),
        RetryPolicy::default(),
    );
    let item = queued_item(&event);
    let first = executor.deliver(&target, &item);
    let again = executor.deliver(&target, &item);
    assert!(matches!(first, Delivery::Delivered(_)), "{first:?}");
    assert_eq!(first, again, "the repeat answers the first result");

    let path = format!("/v2/projects/{b_project}/records/{b_record}");
    let (_, body) = send(basic(b.get(&path), &b_tenant));
    let events = body["response"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["next_calldate"], "2026-12-01 13:00:00", "{body}");
    assert_eq!(store.record(tenant, local).unwrap().disposition_id, None);
}

/// A's side without a server: a real store with one local mirror of the
/// remote record `(b_project, b_record)` and a processed event with one
/// accepted Shared Callback on it, for driving [`RemoteExecutor`] directly.
pub struct Local {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub tenant: smstrigger_host::model::TenantId,
    pub local: smstrigger_host::model::RecordId,
    pub event: ProcessedEvent,
}

/// `event`'s one write as the outbox queues it.
pub fn queued_item(event: &ProcessedEvent) -> OutboxItem {
    OutboxItem {
        id: 1,
        tenant_id: event.tenant_id,
        event_id: event.event_id,
        write: event.writes[0].clone(),
        attempts: 0,
        queued_at: event.processed_at,
        next_attempt_at: event.processed_at,
    }
}

pub fn local_event(b_project: u64, b_record: u64) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let tenant = store.create_tenant("acme", "secret").unwrap().id;
    let settings = serde_json::from_value(
        json!({ "name": "p", "timeZone": "Europe/Budapest", "defaultCountry": "HU" }),
    )
    .unwrap();
    let project = store.create_project(tenant, &settings).unwrap();
    let fields = vec![
        ("remoteProjectId".to_string(), b_project.to_string()),
        ("remoteId".to_string(), b_record.to_string()),
    ];
    let record = NewRecord {
        project_id: project.id,
        phone: PHONE.into(),
        time_zone: None,
        fields,
    };
    let local = store.create_record(tenant, &record).unwrap().id;

    let at = 1_796_126_400; // 2026-12-01 13:00 in Budapest
    let action =
        json!({ "recordId": local, "disposition": { "kind": "sharedCallback", "at": at } });
    let event = ProcessedEvent {
        event_id: EventId(7),
        tenant_id: tenant,
        resolved: "{}".into(),
        decisions: vec![DecisionRecord {
            plugin: PLUGIN.into(),
            version: Some(1),
            priority: 10,
            outcome: smstrigger_host::model::DecisionOutcome::Ok,
            error_code: None,
            error: None,
            fuel_used: 0,
            duration_us: 0,
            logs: json!([]),
            verdicts: json!([{ "accepted": true, "reason": null, "action": action, "detail": null }]),
            actions: json!([action]),
            config: json!({}),
            lookups: json!([]),
        }],
        writes: vec![RecordWrite {
            record_id: RecordId(local.0),
            disposition_id: 2,
            next_calldate: Some(at),
            plugin: PLUGIN.into(),
            plugin_version: Some(1),
            note: None,
        }],
        outbox: vec![],
        messages: vec![],
        contacts: vec![],
        opted_out: None,
        opted_in: None,
        processed_at: at,
        plugin_cpu: Default::default(),
    };
    Local {
        _dir: dir,
        store,
        tenant,
        local,
        event,
    }
}
