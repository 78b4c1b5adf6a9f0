//! The seed's loop on the real binary, killed (SIGKILL) while the provider
//! holds its answer to the send: the restarted host sends the message
//! again under the same idempotency key, so the provider holds it once,
//! and the host records the provider's id; then the provider's delivered
//! status and the customer's reply each set their callback.

use std::process::{Child, Command};

use serde_json::json;

use super::*;

/// A server process, killed when dropped (a failed test leaves none behind).
struct Running(Child);

impl Running {
    fn kill(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `smstrigger serve` on `port` over `dir`, trusting the loopback provider.
fn serve(dir: &std::path::Path, port: u16) -> Running {
    let config = dir.join("smstrigger.toml");
    std::fs::write(
        &config,
        "[remote]\nallow_http = true\nallow_networks = [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_smstrigger"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&config)
        .env("SMSTRIGGER_OPERATOR_KEY", OPERATOR_KEY)
        .env("SMSTRIGGER_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .spawn()
        .map(Running)
        .expect("starting smstrigger serve")
}

/// Waits until the server at `url` answers its health check.
fn healthy(url: &str) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{url}/healthz"))
        .send()
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn provider_a_host_killed_mid_send_sends_each_message_once() {
    let provider = Provider::start(Mode::TakeThenHang);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = serve(&root, port);
    healthy(&url);
    let server = Server::at(url.clone(), dir);
    // The binary decides on the system clock: SMS may go out at any hour
    // (but the last minute of the day), so the test never waits for morning.
    let all_day = json!({ "smsRules": { "hours": { "start": "00:00", "end": "23:59" } } });
    let l = Loop::configure(server, &provider, all_day);
    let now = chrono::Utc::now().to_rfc3339();
    l.unanswered_call_at("call-1", &now);

    // The provider took the message and holds its answer: kill the host.
    let calls = provider.wait_for_calls(1, Duration::from_secs(20));
    child.kill();

    let mut child = serve(&root, port);
    healthy(&url);
    let message = l.message_becomes("sent", Duration::from_secs(20));
    let after = provider.calls();
    assert_eq!(after.len(), 2, "sent again after the restart: {after:?}");
    assert_eq!(after[0], calls[0]);
    assert_eq!(after[1], calls[0], "under the same key");
    let taken = provider.taken();
    assert_eq!(taken.len(), 1, "one message at the provider: {taken:?}");
    assert_eq!(message["providerSid"], taken[0].sid.as_str());

    // The rest of the seed's loop on the restarted binary: the provider's
    // signed `delivered` is decided by the follow-up (a callback), and the
    // customer's signed reply with a time sets the callback then.
    let message_id = message["messageId"].as_str().unwrap();
    let status = l.webhook(&format!("status?messageId={message_id}"));
    let delivered = [
        ("MessageSid", taken[0].sid.as_str()),
        ("MessageStatus", "delivered"),
    ];
    let delivered = post_signed(&l.server.client, &status, TOKEN, &delivered);
    assert_eq!(delivered.status(), StatusCode::ACCEPTED);
    let delivered: Value = delivered.json().unwrap();
    let event = l.decided(&delivered["eventId"]);
    assert_eq!(
        decision(&event, "followup")["verdicts"][0]["accepted"],
        true,
        "{event}"
    );
    let budapest = chrono_tz::Europe::Budapest;
    let tomorrow = chrono::Utc::now().with_timezone(&budapest).date_naive() + chrono::Days::new(1);
    let asked = format!("{tomorrow} 14:30");
    let inbound = l.webhook(&format!("inbound?projectId={}", l.project));
    let reply = [
        ("Body", asked.as_str()),
        ("From", PHONE),
        ("MessageSid", "SMreply-after-crash"),
        ("To", FROM),
    ];
    let answered = post_signed(&l.server.client, &inbound, TOKEN, &reply);
    assert_eq!(answered.status(), StatusCode::OK);
    let event_id: Value = answered.headers()["x-smstrigger-event-id"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap()
        .into();
    let event = l.decided(&event_id);
    assert_eq!(
        decision(&event, "reply-time")["verdicts"][0]["accepted"],
        true,
        "{event}"
    );
    let (_, record) = send(
        l.server
            .get(&format!("/v1/projects/{}/records/{}", l.project, l.record))
            .bearer_auth(&l.tenant.api_key),
    );
    let at = tomorrow
        .and_hms_opt(14, 30, 0)
        .unwrap()
        .and_local_timezone(budapest)
        .single()
        .unwrap()
        .timestamp();
    assert_eq!(record["nextCalldate"], at, "{record}");
    child.kill();
    assert_eq!(provider.taken().len(), 1, "one SMS in all");
}
