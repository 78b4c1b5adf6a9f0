//! `smstrigger demo`: the whole system in one command.
//!
//! Starts a server on a free loopback port with a temporary data directory,
//! sets up a tenant and a project (Europe/Budapest, calling hours
//! 08:00–20:00) with customers, installs the example plugins (built into
//! this binary) and binds them, sends the seed's scenarios as webhooks (the
//! SMS events, and a call disposition whose SMS the customer answers), and
//! prints what happened: each webhook's decisions and each customer's
//! event list and messages. Everything goes through the public HTTP API, as
//! a contact-center platform would drive it.
//!
//! The scenarios happen on 2026-12-01, so the demo server's clock is
//! pinned and moved to each webhook's time as it is sent: the acceptance
//! window and the execution-time check see what they would have seen that
//! day, and the output is the same whatever day the demo runs.

use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use smstrigger_host::config::{Clock, Config};
use smstrigger_host::server;

use super::format::format_time;

const ZONE: &str = "Europe/Budapest";

/// The demo's customers: (name, phone).
const CUSTOMERS: &[(&str, &str)] = &[
    ("Anna", "+36301111111"),
    ("Béla", "+36302222222"),
    ("Csilla", "+36303333333"),
    ("Dénes", "+36304444444"),
    ("Erika", "+36305555555"),
    ("Ferenc", "+36306666666"),
    ("Gábor", "+36307777777"),
];

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let operator_key = "demo-operator";
    let clock = Clock::pinned(scenario_time(START)?);
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        operator_key: Some(operator_key.into()),
        clock: clock.clone(),
        ..Config::default()
    };
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            address_tx.send(listener.local_addr()?)?;
            let state = server::state(config)?;
            server::run(listener, state, async {
                stop_rx.await.ok();
            })
            .await
        })
    });
    let address = address_rx.recv().context("the demo server did not start")?;
    let demo = Demo {
        client: Client::new(),
        url: format!("http://{address}"),
        key: String::new(),
        secret: String::new(),
        project: 0,
        records: Vec::new(),
        clock,
    };
    let outcome = demo.run(operator_key);
    stop_tx.send(()).ok();
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the demo server panicked"))??;
    outcome?;
    Ok(ExitCode::SUCCESS)
}

struct Demo {
    client: Client,
    url: String,
    key: String,
    secret: String,
    project: u64,
    /// (name, phone, record id)
    records: Vec<(&'static str, &'static str, u64)>,
    /// The server's clock, moved forward to each webhook's time.
    clock: Clock,
}

/// When the demo's day starts, on the project's wall clock.
const START: &str = "2026-12-01 09:00:00";

/// A scenario time (`YYYY-MM-DD hh:mm:ss` in [`ZONE`]) as Unix seconds.
fn scenario_time(at: &str) -> anyhow::Result<i64> {
    smstrigger_host::api::parse_timestamp(&json!(at), ZONE)
        .map_err(|e| anyhow::anyhow!("the demo's time {at}: {}", e.message))
}

impl Demo {
    fn run(mut self, operator_key: &str) -> anyhow::Result<()> {
        println!(
            "smstrigger demo: a server on {} with a temporary data directory,\n\
             its clock following the scenarios (2026-12-01, {ZONE})\n",
            self.url
        );
        let tenant = self.call(
            "POST",
            "/v1/tenants",
            Some(operator_key),
            json!({ "name": "Demo Collections Ltd" }),
        )?;
        self.key = text(&tenant["apiKey"])?;
        self.secret = text(&tenant["webhookSecret"])?;
        let key = self.key.clone();
        let project = self.call(
            "POST",
            "/v1/projects",
            Some(&key),
            json!({
                "name": "Collections", "timeZone": ZONE, "defaultCountry": "HU",
                "callingHours": { "start": "08:00", "end": "20:00" }, "callingHoursPolicy": "shift",
                "smsRules": {
                    "maxPerDay": 1,
                    "optOutConfirmation": "You will get no more messages from Demo Collections. Reply START to undo.",
                },
                "contactRules": { "maxAttempts": 5, "windowDays": 7 },
            }),
        )?;
        self.project = project["id"].as_u64().context("project id")?;
        let p = self.project;
        for (id, name) in [(41, "Promised to pay"), (42, "Wrong number")] {
            self.call(
                "POST",
                &format!("/v1/projects/{p}/dispositions"),
                Some(&key),
                json!({ "id": id, "name": name, "active": false }),
            )?;
        }
        for &(name, phone) in CUSTOMERS {
            let record = self.call(
                "POST",
                &format!("/v1/projects/{p}/records"),
                Some(&key),
                json!({ "phone": phone, "fields": [["name", name]] }),
            )?;
            self.records
                .push((name, phone, record["id"].as_u64().context("record id")?));
        }
        println!(
            "tenant {}, project {p} ({ZONE}, calling hours 08:00-20:00), {} customers",
            tenant["id"],
            self.records.len()
        );

        let bindings = [
            ("not-traceable-callback", 50, json!({})),
            ("delivered-followup", 40, json!({})),
            (
                "keyword-disposition",
                30,
                json!({ "keywords": "PAID=41, WRONG NUMBER=42" }),
            ),
            ("reply-call-time", 20, json!({})),
            ("promise-to-pay", 10, json!({})),
            ("call-attempt-sms", 5, json!({ "after_attempts": "3" })),
        ];
        for (name, bytes) in smstrigger_test_components::EMBEDDED {
            let uploaded = self.upload(name, bytes)?;
            println!(
                "installed {name} v{} ({} KiB)",
                uploaded["version"],
                bytes.len() / 1024
            );
        }
        let bindings: Vec<Value> = bindings
            .iter()
            .map(|(plugin, priority, config)| json!({ "plugin": plugin, "priority": priority, "config": config }))
            .collect();
        self.call(
            "PUT",
            &format!("/v1/projects/{p}/bindings"),
            Some(&key),
            Value::Array(bindings),
        )?;
        println!("bound them all to the project\n");

        println!("== webhooks ==");
        let (anna, bela, csilla, denes, erika, ferenc, gabor) = (0, 1, 2, 3, 4, 5, 6);
        self.status(
            "Anna's SMS was not traceable",
            anna,
            "m-100",
            "not_traceable",
            "2026-12-01 10:00:00",
        )?;
        self.status(
            "Béla's SMS was delivered",
            bela,
            "m-200",
            "delivered",
            "2026-12-01 10:00:00",
        )?;
        self.status(
            "the provider retries Béla's receipt",
            bela,
            "m-200",
            "delivered",
            "2026-12-01 10:00:00",
        )?;
        self.status(
            "a late 'sent' for Béla's SMS arrives after 'delivered'",
            bela,
            "m-200",
            "sent",
            "2026-12-01 09:59:00",
        )?;
        self.inbound(
            "Csilla asks for a call at a time",
            csilla,
            "Hívjanak 2026-12-02 14:30 után, köszönöm",
            "2026-12-01 10:05:00",
        )?;
        self.inbound(
            "Csilla names a day that does not exist",
            csilla,
            "or maybe 2026-02-30 10:00",
            "2026-12-01 10:06:00",
        )?;
        self.inbound(
            "Dénes promises to pay on a date",
            denes,
            "I will pay on 2026-12-15",
            "2026-12-01 10:10:00",
        )?;
        self.inbound("Erika answers YES", erika, "Yes.", "2026-12-01 10:15:00")?;
        self.inbound("Anna texts a keyword", anna, "paid", "2026-12-01 10:20:00")?;
        self.inbound(
            "Erika asks for a call after hours",
            erika,
            "call me 2026-12-02 21:30",
            "2026-12-01 10:25:00",
        )?;
        self.inbound("Ferenc opts out", ferenc, "STOP", "2026-12-01 10:30:00")?;
        self.inbound("Ferenc then says YES", ferenc, "YES", "2026-12-01 10:31:00")?;
        self.inbound("Ferenc texts START", ferenc, "Start", "2026-12-01 10:35:00")?;
        self.inbound(
            "Ferenc says YES again",
            ferenc,
            "YES",
            "2026-12-01 10:36:00",
        )?;
        self.call_disposition(
            "the dialer fails to reach Gábor a second time",
            gabor,
            "call-1",
            2,
            "2026-12-01 10:40:00",
        )?;
        self.call_disposition(
            "... and a third time: he is asked for a time by SMS",
            gabor,
            "call-2",
            3,
            "2026-12-01 11:40:00",
        )?;
        let asked = self.last_message_to(gabor)?;
        self.status(
            "the SMS provider reports the SMS delivered",
            gabor,
            &asked,
            "delivered",
            "2026-12-01 11:41:00",
        )?;
        self.inbound(
            "Gábor answers the SMS with a time",
            gabor,
            "2026-12-02 16:00",
            "2026-12-01 11:45:00",
        )?;
        self.call_disposition(
            "a fourth unanswered call the same day: the project allows one SMS a day",
            gabor,
            "call-3",
            4,
            "2026-12-01 12:40:00",
        )?;
        self.inbound(
            "Gábor names another time: three calls and two callbacks this week, the project allows five attempts",
            gabor,
            "2026-12-03 09:00",
            "2026-12-01 12:45:00",
        )?;

        println!("\n== each customer's event list ==");
        for &(name, phone, id) in &self.records {
            let record = self.call(
                "GET",
                &format!("/v1/projects/{p}/records/{id}"),
                Some(&key),
                Value::Null,
            )?;
            println!(
                "\n{name} ({phone}), record {id}: now {}",
                disposition(&record["dispositionId"], &record["nextCalldate"])
            );
            let events = record["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                println!("  (no entries)");
                continue;
            }
            println!(
                "  type         user   disposition       next call                              decided by"
            );
            for event in events {
                let version = match event["pluginVersion"].as_u64() {
                    Some(version) => format!(" v{version}"),
                    None => String::new(), // the host's own answer
                };
                // An SMS the host sent shows its text where a disposition
                // shows what it set.
                let what = match event["messageId"].is_string() {
                    true => format!("{:<56}", clip(event["note"].as_str().unwrap_or(""), 56)),
                    false => format!(
                        "{:<17} {:<38}",
                        disposition_name(&event["dispositionId"]),
                        event["nextCalldate"]
                            .as_i64()
                            .map_or("-".into(), |at| format_time(at, Some(ZONE))),
                    ),
                };
                println!(
                    "  {:<12} {:<6} {what} {}{version}",
                    event["eventType"].as_str().unwrap_or("?"),
                    event["user"].as_str().unwrap_or("?"),
                    event["plugin"].as_str().unwrap_or("-"),
                );
            }
        }
        println!(
            "\ndone: every webhook was journaled, decided by the sandboxed plugins, validated and executed once."
        );
        Ok(())
    }

    fn upload(&self, name: &str, bytes: &[u8]) -> anyhow::Result<Value> {
        let response = self
            .client
            .put(format!("{}/v1/plugins/{name}", self.url))
            .bearer_auth(&self.key)
            .body(bytes.to_vec())
            .send()?;
        answer(response)
    }

    fn status(
        &self,
        what: &str,
        who: usize,
        message_id: &str,
        status: &str,
        at: &str,
    ) -> anyhow::Result<()> {
        let body = json!({
            "messageId": message_id, "projectId": self.project, "recordId": self.records[who].2,
            "status": status, "timestamp": at,
        });
        self.webhook(what, "sms/status", body)
    }

    /// The id of the last SMS the host sent `who`.
    fn last_message_to(&self, who: usize) -> anyhow::Result<String> {
        let messages = self.call(
            "GET",
            &format!("/v1/projects/{}/messages", self.project),
            Some(&self.key),
            Value::Null,
        )?;
        let record = self.records[who].2;
        messages
            .as_array()
            .into_iter()
            .flatten()
            .rfind(|message| message["recordId"] == record)
            .and_then(|message| message["messageId"].as_str())
            .map(String::from)
            .context("no SMS was sent to the record")
    }

    fn inbound(&self, what: &str, who: usize, message: &str, at: &str) -> anyhow::Result<()> {
        let body = json!({
            "direction": "in", "message": message, "numberId": 1, "projectId": self.project,
            "sourcePhoneNumber": self.records[who].1, "timestamp": at,
        });
        self.webhook(what, "sms/inbound", body)
    }

    /// The dialer's "No answer" on its `attempts`-th call to `who`.
    fn call_disposition(
        &self,
        what: &str,
        who: usize,
        uuid: &str,
        attempts: u32,
        at: &str,
    ) -> anyhow::Result<()> {
        let body = json!({
            "uuid": uuid, "numberid": 1, "projectid": self.project,
            "destination": self.records[who].1, "source": "+3612345678", "direction": "out",
            "disposition": { "id": 7, "name": "No answer", "assessment": "not_reached" },
            "sum_attempted_calls": attempts, "create_time": at,
        });
        self.webhook(what, "call/disposition", body)
    }

    /// Sends a webhook (`sms/status`, `sms/inbound`, `call/disposition`),
    /// waits for its decision and prints it.
    fn webhook(&self, what: &str, path: &str, body: Value) -> anyhow::Result<()> {
        let url = format!(
            "{}/v1/webhooks/{path}?secret-key={}&wait=true",
            self.url, self.secret
        );
        let stamped = body["timestamp"].as_str().or(body["create_time"].as_str());
        let at = scenario_time(stamped.unwrap_or(START))?;
        if at > self.clock.now() {
            self.clock.set(at);
        }
        let event = answer(self.client.post(url).json(&body).send()?)?;
        println!("\n* {what}");
        match event["status"].as_str() {
            Some(status) => {
                println!(
                    "  event {}: {status}, not processed again",
                    event["eventId"]
                );
                return Ok(());
            }
            None => println!(
                "  event {}: {}",
                event["id"],
                event["state"].as_str().unwrap_or("?")
            ),
        }
        for decision in event["decisions"].as_array().into_iter().flatten() {
            let plugin = decision["plugin"].as_str().unwrap_or("?");
            let verdicts = decision["verdicts"].as_array().cloned().unwrap_or_default();
            let warnings: Vec<&str> = decision["logs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|line| line["level"] == "warn")
                .filter_map(|line| line["message"].as_str())
                .collect();
            if decision["outcome"] == "opted_out" {
                println!(
                    "  host: opted out; the sender is on the do-not-contact list now \
                     (and gets the project's one confirmation SMS)"
                );
            }
            if decision["outcome"] == "opted_in" {
                println!(
                    "  host: re-subscribed; the sender's opt-out is off the list from the next message"
                );
            }
            if verdicts.is_empty() && warnings.is_empty() {
                continue;
            }
            for verdict in verdicts {
                let action = &verdict["action"];
                let when = action["disposition"]["at"]
                    .as_i64()
                    .or(action["disposition"]["nextCalldate"].as_i64())
                    .map_or(String::new(), |at| {
                        format!(" at {}", format_time(at, Some(ZONE)))
                    });
                let kind = match action["text"].as_str() {
                    Some(text) => format!("SMS {text:?}"),
                    None => disposition_kind(&action["disposition"]),
                };
                let judged = match (verdict["accepted"].as_bool(), verdict["reason"].as_str()) {
                    _ if verdict["executed"] == false => format!(
                        "NOT EXECUTED: {}",
                        verdict["executionError"]["code"]
                            .as_str()
                            .or(verdict["remoteError"]["errorcode"].as_str())
                            .unwrap_or("?")
                    ),
                    (Some(true), None) if action["text"].is_string() => "sent".to_string(),
                    (Some(true), None) => "executed".to_string(),
                    (Some(true), Some(reason)) => format!("executed, {reason}"),
                    (_, reason) => format!("REJECTED: {}", reason.unwrap_or("?")),
                };
                println!(
                    "  {plugin} v{}: {kind}{when} on record {} -> {judged}",
                    decision["version"], action["recordId"]
                );
            }
            for warning in warnings {
                println!("  {plugin} v{}: no action ({warning})", decision["version"]);
            }
        }
        Ok(())
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        answer(request.send()?)
    }
}

fn answer(response: reqwest::blocking::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the server answered {status}: {body}");
    }
    Ok(body)
}

fn text(value: &Value) -> anyhow::Result<String> {
    value
        .as_str()
        .map(String::from)
        .context("a string in the answer")
}

fn disposition_kind(disposition: &Value) -> String {
    match disposition["kind"].as_str() {
        Some("sharedCallback") => "Shared Callback".into(),
        Some("discard") => "Discard".into(),
        _ => format!("disposition {}", disposition["id"]),
    }
}

fn disposition_name(id: &Value) -> String {
    match id.as_u64() {
        Some(2) => "Shared Callback".into(),
        Some(1) => "Discard".into(),
        Some(41) => "Promised to pay".into(),
        Some(42) => "Wrong number".into(),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

fn disposition(id: &Value, next: &Value) -> String {
    match next.as_i64() {
        Some(at) => format!(
            "{}, next call {}",
            disposition_name(id),
            format_time(at, Some(ZONE))
        ),
        None => disposition_name(id),
    }
}

/// `text` cut to `width` characters, an ellipsis marking the cut.
fn clip(text: &str, width: usize) -> String {
    match text.char_indices().nth(width.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > width => format!("{}…", &text[..end]),
        _ => text.to_string(),
    }
}
