//! Three hosts under load, one SIGKILLed in the middle of it and started
//! again later on the same data directory: every acknowledged event is
//! decided and executed exactly once, and the events the dead host held
//! are finished by the others once its leases run out.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const HOSTS: usize = 3;
const EVENTS: usize = 900;
/// Client threads; each sends its events to the hosts in turn.
const SENDERS: usize = 3;
const RECORDS: usize = 20;
/// Events sent after the killed host is back.
const AFTER_RESTART: usize = 30;
/// The host killed (and restarted).
const VICTIM: usize = 1;
/// The lease a claim lasts (the PostgreSQL store's default).
const LEASE: Duration = Duration::from_secs(5);
/// What a takeover may take beyond the lease: a sweep of the survivors
/// (1 s), then processing and committing on a loaded debug build.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(5);

/// An acknowledged webhook: its event's number and the host that
/// answered 202 (`accepted`, or `duplicate` for a retry of an event
/// whose first answer was lost).
struct Ack {
    event: usize,
    host: usize,
}

/// Sends events `events` (by number) from `SENDERS` threads, each to the
/// hosts in turn, retrying on the next host whatever gets no 202 (a dead
/// host, a request cut off by the kill), as a provider retries.
fn send_all(tenant: &Tenant, urls: &[Host], events: Range<usize>, acks: &Mutex<Vec<Ack>>) {
    let next = AtomicUsize::new(events.start);
    let (next, end) = (&next, events.end);
    std::thread::scope(|scope| {
        for sender in 0..SENDERS {
            scope.spawn(move || {
                let c = client();
                let mut turn = sender;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        return;
                    }
                    let started = Instant::now();
                    loop {
                        let host = turn % urls.len();
                        turn += 1;
                        match tenant.receipt(&urls[host], &c, i, "").send() {
                            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                                let body: Value = response.json().unwrap();
                                assert!(
                                    body["status"] == "accepted" || body["status"] == "duplicate",
                                    "event {i}: {body}"
                                );
                                acks.lock().unwrap().push(Ack { event: i, host });
                                break;
                            }
                            Ok(response) if response.status().is_server_error() => {}
                            Ok(response) => {
                                let status = response.status();
                                panic!("event {i}: {status} {}", response.text().unwrap());
                            }
                            Err(_) => {} // the host is down or was killed mid-request
                        }
                        assert!(
                            started.elapsed() < Duration::from_secs(60),
                            "event {i}: no host acknowledged it within 60 s"
                        );
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            });
        }
    });
}

/// Pending events leased to the process `pid`.
fn held_by(db: &mut postgres::Client, pid: u32) -> Vec<i64> {
    db.query(
        "SELECT id FROM events WHERE state = 'pending' AND lease_owner LIKE $1 ORDER BY id",
        &[&leases_of(pid)],
    )
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect()
}

fn unix_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[test]
fn a_host_killed_under_load_loses_and_doubles_nothing_and_the_others_finish_its_claims() {
    let Some(db) = Database::fresh() else {
        return;
    };
    // The webhook quota out of the way: this test is about delivery.
    let env = [("SMSTRIGGER_EVENTS_PER_SECOND", "1000000".to_string())];
    let mut hosts: Vec<Host> = (0..HOSTS).map(|n| db.host(n, &env)).collect();
    let tenant = Tenant::set_up(&hosts[0], RECORDS);
    let mut pg = db.client();

    let acks = Mutex::new(Vec::new());
    let victim_pid = hosts[VICTIM].pid();
    let (killed_at_us, orphans) = std::thread::scope(|scope| {
        let (urls, acks, tenant) = (&hosts, &acks, &tenant);
        let load = scope.spawn(move || send_all(tenant, urls, 0..EVENTS, acks));
        // Kill once a third of the load is in and the victim holds claims.
        let started = Instant::now();
        while acks.lock().unwrap().len() < EVENTS / 3 || held_by(&mut pg, victim_pid).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(60) && !load.is_finished(),
                "the victim never held a claim under load\n{}",
                urls[VICTIM].log_tail()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let killed_at_us = unix_us();
        urls[VICTIM].kill();
        // Dead, it commits nothing more: what it holds now is exactly
        // what the others must take over.
        let orphans = held_by(&mut pg, victim_pid);
        load.join().unwrap();
        (killed_at_us, orphans)
    });
    assert!(
        !orphans.is_empty(),
        "the victim held no pending event when it died: the test proved nothing"
    );

    // The orphans are decided by the survivors within the lease, before
    // the victim is back.
    let deadline = Instant::now() + LEASE + TAKEOVER_MARGIN + Duration::from_secs(5);
    loop {
        let left: i64 = pg
            .query_one(
                "SELECT count(*) FROM events WHERE id = ANY($1) AND state = 'pending'",
                &[&orphans],
            )
            .unwrap()
            .get(0);
        if left == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for row in pg
        .query(
            "SELECT id, state, lease_owner, decided_us FROM events WHERE id = ANY($1)",
            &[&orphans],
        )
        .unwrap()
    {
        let (id, state, owner, decided_us): (i64, String, Option<String>, Option<i64>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(state, "done", "orphan {id} is {state}");
        let owner = owner.unwrap_or_default();
        assert!(
            !owner.contains(&format!("-{victim_pid}-")),
            "orphan {id} decided by the dead host ({owner})"
        );
        let after = Duration::from_micros((decided_us.unwrap() - killed_at_us).max(0) as u64);
        assert!(
            after <= LEASE + TAKEOVER_MARGIN,
            "orphan {id} decided {after:?} after the kill (lease {LEASE:?} + {TAKEOVER_MARGIN:?})"
        );
    }

    // The victim comes back on its data directory and takes events again.
    hosts[VICTIM].spawn();
    send_all(&tenant, &hosts, EVENTS..EVENTS + AFTER_RESTART, &acks);
    db.wait_drained(Duration::from_secs(120));

    let acks = acks.into_inner().unwrap();
    let acked: BTreeSet<String> = acks.iter().map(|a| format!("m-{}", a.event)).collect();
    assert_eq!(
        acked.len(),
        EVENTS + AFTER_RESTART,
        "every event acknowledged"
    );
    let mut answered = [0usize; HOSTS];
    for ack in &acks {
        answered[ack.host] += 1;
    }
    assert!(
        answered.iter().all(|&n| n > 0),
        "every host answered webhooks: {answered:?}"
    );

    let rows = pg
        .query(
            "SELECT e.message_id, e.state, e.lease_owner,
                    (SELECT count(*) FROM decisions d WHERE d.event_id = e.id),
                    (SELECT count(*) FROM record_events r WHERE r.event_id = e.id)
             FROM events e WHERE e.tenant_id = $1",
            &[&(tenant.id as i64)],
        )
        .unwrap();
    let mut journaled = BTreeSet::new();
    let mut deciders: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        let (message, state, owner, decisions, entries): (
            String,
            String,
            Option<String>,
            i64,
            i64,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        assert_eq!(state, "done", "{message}");
        assert_eq!(decisions, 1, "{message} decided {decisions} times");
        assert_eq!(entries, 1, "{message} wrote {entries} record events");
        *deciders.entry(owner.unwrap_or_default()).or_default() += 1;
        journaled.insert(message);
    }
    assert_eq!(
        journaled, acked,
        "the journal holds exactly the acknowledged events"
    );
    // Which hosts decide is up to the claims: on a loaded machine one host
    // may drain the backlog while another waits for a core (CI saw 96 and
    // 834 events between two of them). More than one proves the hosts
    // share the journal; exactly once is proved above, whoever decided.
    assert!(
        deciders.len() >= 2,
        "the hosts shared the deciding: {deciders:?}"
    );
}
