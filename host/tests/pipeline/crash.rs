//! Crash safety: the real binary (`smstrigger ingest`) is killed with
//! SIGKILL at random points while it journals and processes, restarted on
//! the same data directory, and fed the unacknowledged events again, as a
//! provider retries. Every event must end up processed exactly once: none
//! lost, no decision or event-list entry doubled.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use smstrigger_host::model::DeliveryStatus;
use smstrigger_test_components as components;

use super::*;

const EVENTS: usize = 300;
const RECORDS: u64 = 20;
const KILLS: usize = 25;

/// A small deterministic generator, so a failing run can be repeated.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn spawn(data_dir: &std::path::Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smstrigger"))
        .args(["ingest", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting smstrigger ingest");
    let stdout = child.stdout.take().unwrap();
    let (acks, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if acks.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

#[test]
fn a_killed_pipeline_processes_every_accepted_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, records) = {
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let (tenant, project, records) = crash_tenant(store.as_ref(), "secret");
        // Stamped now: `ingest` executes on the system clock, and a callback
        // already past when it executes would not be executed at all.
        let now = chrono::Utc::now().timestamp();
        let lines: Vec<String> = (0..EVENTS)
            .map(|i| {
                serde_json::json!({
                    "tenant": tenant,
                    "event": Incoming::Status {
                        message_id: format!("m-{i}"),
                        project_id: project.id,
                        record_id: records[i % records.len()],
                        status: DeliveryStatus::NotTraceable,
                        template_id: None,
                        timestamp: now + i as i64,
                    },
                })
                .to_string()
            })
            .collect();
        std::fs::write(dir.path().join("events.jsonl"), lines.join("\n")).unwrap();
        (tenant, records)
    };
    let lines: Vec<String> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();

    let seed = 0x5EED_u64 ^ std::process::id() as u64;
    let mut rng = Lcg(seed);
    let mut acked = 0; // events before this index are acknowledged
    let mut left_pending = 0; // kills that left accepted events unprocessed
    let check = |line: &str| {
        assert!(
            line.starts_with("accepted ") || line.starts_with("duplicate "),
            "unexpected answer `{line}` (seed {seed})"
        );
    };
    for kill in 0..KILLS {
        let (mut child, acks) = spawn(dir.path());
        let mut stdin = child.stdin.take().unwrap();
        // Resend everything not yet acknowledged, then kill at a random
        // moment: before, during or after journaling and processing.
        let burst = 1 + rng.below(30) as usize;
        let sent: Vec<&String> = lines.iter().skip(acked).take(burst).collect();
        for line in &sent {
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
        }
        let _ = stdin.flush();
        // Every other kill waits for the first acknowledgement, so that
        // some kills land while journaled events are being processed
        // however slowly a loaded machine starts the process.
        if kill % 2 == 0
            && let Ok(line) = acks.recv_timeout(Duration::from_secs(30))
        {
            check(&line);
            acked += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        // Acknowledgements arrive in order; count the ones that made it out.
        while let Ok(line) = acks.try_recv() {
            check(&line);
            acked += 1;
        }
        let pending = SqliteStore::open(dir.path())
            .unwrap()
            .pending_count()
            .unwrap();
        left_pending += usize::from(pending > 0);
    }

    // A final, undisturbed run: everything again (all retries), then drain.
    let (mut child, acks) = spawn(dir.path());
    let mut stdin = child.stdin.take().unwrap();
    for line in &lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_eq!(acks.iter().count(), EVENTS);

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.pending_count().unwrap(), 0);
    let mut entries_per_event: BTreeMap<EventId, usize> = BTreeMap::new();
    for record in &records {
        for entry in store.record_events(tenant, *record).unwrap() {
            *entries_per_event
                .entry(entry.event_id.unwrap())
                .or_default() += 1;
        }
    }
    let mut events = BTreeSet::new();
    for (event, entries) in &entries_per_event {
        assert_eq!(
            *entries, 1,
            "event {event} wrote {entries} entries (seed {seed})"
        );
        let view = store.event(tenant, *event).unwrap();
        assert_eq!(view.state, smstrigger_host::model::EventState::Done);
        assert_eq!(
            view.decisions.len(),
            1,
            "event {event} decided twice (seed {seed})"
        );
        events.insert(view.message_id);
    }
    assert_eq!(
        events.len(),
        EVENTS,
        "every message processed once (seed {seed})"
    );
    assert!(acked > 0, "some events were acknowledged before a kill");
    assert!(
        left_pending > 0,
        "no kill interrupted processing; the test proved nothing (seed {seed})"
    );
}

/// The crash tests' tenant on `store`: a project, `not-traceable-callback`
/// installed and bound, and [`RECORDS`] records.
pub fn crash_tenant(store: &dyn Store, webhook_secret: &str) -> (TenantId, Project, Vec<RecordId>) {
    let tenant = store.create_tenant("acme", webhook_secret).unwrap().id;
    let project = store
        .create_project(tenant, &settings(Default::default()))
        .unwrap();
    install(
        store,
        tenant,
        "not-traceable-callback",
        components::NOT_TRACEABLE_CALLBACK,
    );
    store
        .set_bindings(
            tenant,
            project.id,
            &[Binding {
                plugin: "not-traceable-callback".into(),
                priority: 1,
                config: Default::default(),
            }],
        )
        .unwrap();
    let records = (0..RECORDS)
        .map(|i| create_record(store, tenant, project.id, &format!("+3630{i:07}")).id)
        .collect();
    (tenant, project, records)
}
