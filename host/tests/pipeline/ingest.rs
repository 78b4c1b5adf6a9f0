//! `smstrigger ingest`, the real binary: it takes events in as the
//! webhooks do, acceptance window included, so a line the webhooks would
//! refuse is refused here too, and nothing of it is journaled.

use std::io::Write;
use std::process::{Command, Stdio};

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::store::AcceptWindow;

use super::*;

const DAY: i64 = 86_400;

/// Runs `smstrigger ingest` on `dir` with `lines` on stdin; its stdout
/// lines, one per input line.
fn ingest(dir: &std::path::Path, lines: &[String]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smstrigger"))
        .args(["ingest", "--data-dir"])
        .arg(dir)
        .env_remove("SMSTRIGGER_CONFIG")
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting smstrigger ingest");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// A delivery receipt line for `record` of `tenant`, stamped `at`.
fn receipt(tenant: TenantId, project: ProjectId, record: RecordId, id: &str, at: i64) -> String {
    serde_json::json!({
        "tenant": tenant,
        "event": Incoming::Status {
            message_id: id.into(),
            project_id: project,
            record_id: record,
            status: DeliveryStatus::Delivered,
            template_id: None,
            timestamp: at,
        },
    })
    .to_string()
}

#[test]
fn ingest_refuses_an_event_outside_the_tenants_acceptance_window_and_journals_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    // Two tenants: one on the server's default window (7 days back, 5
    // minutes ahead), one that widened its own to 30 days back.
    let (strict, wide) = {
        let store = SqliteStore::open(dir.path()).unwrap();
        let mut tenants = Vec::new();
        for name in ["strict", "wide"] {
            let tenant = store.create_tenant(name, "secret").unwrap().id;
            let project = store
                .create_project(tenant, &settings(CallingHoursPolicy::Shift))
                .unwrap();
            let record = create_record(&store, tenant, project.id, "+36301234567");
            tenants.push((tenant, project.id, record.id));
        }
        let mut wide = store.tenant(tenants[1].0).unwrap();
        wide.accept_window = Some(AcceptWindow {
            past_secs: 30 * DAY as u64,
            future_secs: 300,
        });
        store.update_tenant(wide.id, &wide).unwrap();
        (tenants[0], tenants[1])
    };
    // `ingest` judges on the system clock, as the server does.
    let now = chrono::Utc::now().timestamp();
    let lines = [
        receipt(strict.0, strict.1, strict.2, "fresh", now - 60),
        receipt(strict.0, strict.1, strict.2, "eight-days", now - 8 * DAY),
        receipt(strict.0, strict.1, strict.2, "ahead", now + 3_600),
        receipt(wide.0, wide.1, wide.2, "twenty-days", now - 20 * DAY),
        receipt(wide.0, wide.1, wide.2, "forty-days", now - 40 * DAY),
    ];
    let answers = ingest(dir.path(), &lines);
    assert_eq!(answers.len(), lines.len(), "{answers:#?}");
    for (i, refused) in [(1, true), (2, true), (4, true), (0, false), (3, false)] {
        let answer = &answers[i];
        match refused {
            true => assert!(
                answer.starts_with("refused outside_accept_window: ")
                    && answer.contains("acceptance window"),
                "line {i}: {answer}"
            ),
            false => assert!(answer.starts_with("accepted "), "line {i}: {answer}"),
        }
    }

    let db = rusqlite::Connection::open(dir.path().join("smstrigger.db")).unwrap();
    let mut journaled: Vec<String> = db
        .prepare("SELECT message_id FROM events ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    journaled.sort();
    assert_eq!(journaled, ["fresh", "twenty-days"]);
}
