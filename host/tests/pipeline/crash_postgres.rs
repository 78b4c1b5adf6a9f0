//! Crash safety on PostgreSQL: the real `smstrigger serve --database-url`
//! is killed with SIGKILL at random points while it takes webhooks and
//! decides them, restarted on the same schema, and sent the
//! unacknowledged webhooks again, as a provider retries. A restarted
//! server is a new host: the dead one's claims come back to it when their
//! leases run out. Every event must end up decided exactly once, which
//! the test checks in the database itself.
//!
//! Fewer kills than the SQLite test's, further apart (up to half a
//! second): each start connects, migrates and loads the plugin, and the
//! kills must land before, during and after deciding, not only while the
//! server takes its first webhooks. A kill's claims wait out their lease,
//! so the next start may find them still held.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::crash::Lcg;
use super::*;

const EVENTS: usize = 150;
const KILLS: usize = 15;
const WEBHOOK_SECRET: &str = "crash-secret";
/// The secrets key every start of the server is given (32 bytes, hex).
const SECRETS_KEY: &str = "7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e";

/// `smstrigger serve` on the schema, on a free port, once it listens.
fn serve(schema: &pg::Schema, data_dir: &std::path::Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smstrigger"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &schema.url()])
        .arg("--data-dir")
        .arg(data_dir)
        .env("SMSTRIGGER_SECRETS_KEY", SECRETS_KEY)
        .env("RUST_LOG", "warn,smstrigger_host::server=info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting smstrigger serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("smstrigger listening") => break,
            Some(Ok(line)) => said.push(line),
            _ => panic!(
                "the server stopped before it listened:\n{}",
                said.join("\n")
            ),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://127.0.0.1:{port}"))
}

/// Posts `bodies` in order, one at a time, and reports what the server
/// answered each (`"accepted"`, `"duplicate"`: acknowledged, journaled;
/// anything else with its status); stops at the first request that gets
/// no answer, as the server dies.
fn send(url: String, bodies: Vec<serde_json::Value>) -> mpsc::Receiver<String> {
    let (acks, received) = mpsc::channel();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let webhook = format!("{url}/v1/webhooks/sms/status?secret-key={WEBHOOK_SECRET}");
        for body in bodies {
            let Ok(response) = client.post(&webhook).json(&body).send() else {
                break;
            };
            let status = response.status();
            let Ok(answer) = response.json::<serde_json::Value>() else {
                break;
            };
            let said = if status == reqwest::StatusCode::ACCEPTED {
                answer["status"].to_string()
            } else {
                format!("{status}: {answer}")
            };
            if acks.send(said).is_err() {
                break;
            }
        }
    });
    received
}

/// One number from the schema.
fn count(schema: &pg::Schema, sql: &str) -> i64 {
    schema.client().query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn a_killed_server_on_postgres_decides_every_accepted_event_exactly_once() {
    let Some(schema) = pg::Schema::fresh() else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let key: SecretsKey = SECRETS_KEY.parse().unwrap();
    let bodies: Vec<serde_json::Value> = {
        let store = PgStore::open_config(schema.config.clone(), key).unwrap();
        let (_, project, records) = super::crash::crash_tenant(&store, WEBHOOK_SECRET);
        // Stamped now: the server executes on the system clock, and a
        // callback already past when it executes would not be executed.
        let now = chrono::Utc::now().timestamp();
        (0..EVENTS)
            .map(|i| {
                let at = chrono::DateTime::from_timestamp(now + i as i64, 0).unwrap();
                serde_json::json!({
                    "messageId": format!("m-{i}"),
                    "projectId": project.id,
                    "recordId": records[i % records.len()],
                    "status": "not_traceable",
                    "timestamp": at.to_rfc3339(),
                })
            })
            .collect()
    };
    let pending = "SELECT count(*) FROM events WHERE state = 'pending'";

    let seed = 0x5EED_u64 ^ std::process::id() as u64;
    let mut rng = Lcg(seed);
    let mut acked = 0; // events before this index are acknowledged
    let mut left_pending = 0; // kills that left their own acknowledged events undecided
    let check = |answer: &str| {
        assert!(
            answer == "\"accepted\"" || answer == "\"duplicate\"",
            "unexpected answer {answer} (seed {seed})"
        );
    };
    for kill in 0..KILLS {
        let (mut child, url) = serve(&schema, data_dir.path());
        let acked_before = acked;
        // Resend what is not yet acknowledged, then kill at a random
        // moment: before, during or after journaling and deciding.
        let burst = 1 + rng.below(30) as usize;
        let acks = send(
            url,
            bodies.iter().skip(acked).take(burst).cloned().collect(),
        );
        // Every other kill lands the moment an acknowledgement arrives:
        // that event is journaled and deciding it takes a claim, the
        // plugin and a commit, milliseconds the kill does not wait for.
        // The others land at a random moment up to half a second later,
        // when the burst may be sent, decided, or both.
        if kill % 2 == 0 {
            let nth = 1 + rng.below(burst as u64) as usize;
            for answer in acks.iter().take(nth) {
                check(&answer);
                acked += 1;
            }
        } else {
            std::thread::sleep(Duration::from_millis(rng.below(500)));
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        // The sender stops at the dead server; its acknowledgements are in
        // order.
        for answer in acks.iter() {
            check(&answer);
            acked += 1;
        }
        // Events an earlier kill left pending wait out its leases, so only
        // this start's own acknowledged events tell whether it was killed
        // while deciding.
        let own: Vec<String> = (acked_before..acked).map(|i| format!("m-{i}")).collect();
        let undecided: i64 = schema
            .client()
            .query_one(
                "SELECT count(*) FROM events WHERE state = 'pending' AND message_id = ANY($1)",
                &[&own],
            )
            .unwrap()
            .get(0);
        left_pending += usize::from(undecided > 0);
    }

    // A final, undisturbed run: everything again (all retries), until
    // every event is decided (the last dead host's claims expire first).
    let (mut child, url) = serve(&schema, data_dir.path());
    let acks = send(url, bodies.clone());
    assert_eq!(acks.iter().inspect(|a| check(a)).count(), EVENTS);
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&schema, pending) > 0 {
        assert!(Instant::now() < deadline, "the server did not drain");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let events = "SELECT count(DISTINCT message_id) FROM events WHERE state = 'done'";
    assert_eq!(count(&schema, events), EVENTS as i64, "seed {seed}");
    assert_eq!(count(&schema, "SELECT count(*) FROM events"), EVENTS as i64);
    let twice = "SELECT count(*) FROM (SELECT event_id FROM decisions \
                 GROUP BY event_id HAVING count(*) > 1) AS twice";
    assert_eq!(
        count(&schema, twice),
        0,
        "an event decided twice (seed {seed})"
    );
    let decided = "SELECT count(DISTINCT event_id) FROM decisions";
    assert_eq!(count(&schema, decided), EVENTS as i64);
    let doubled = "SELECT count(*) FROM (SELECT event_id FROM record_events \
                   GROUP BY event_id HAVING count(*) > 1) AS doubled";
    assert_eq!(
        count(&schema, doubled),
        0,
        "an entry written twice (seed {seed})"
    );
    let entries = "SELECT count(*) FROM record_events WHERE event_id IS NOT NULL";
    assert_eq!(count(&schema, entries), EVENTS as i64, "seed {seed}");
    assert!(acked > 0, "some events were acknowledged before a kill");
    assert!(
        left_pending > 0,
        "no kill left an event it had acknowledged undecided; the test proved nothing (seed {seed})"
    );
}
