//! `smstrigger-proof crash`: SIGKILL under load.
//!
//! One tenant with `reply-call-time` (as in `http`). Client threads send
//! signed webhooks as fast as the server answers (each message once, never
//! retried), keeping every answer: which message got a 202 and which event
//! id it named. Meanwhile the server is killed with SIGKILL at random
//! moments (a seeded delay of 0.5–3 s after each restart) and restarted on
//! the same data directory and port; the load goes on through the
//! restarts (failed connections are expected then, and not failures).
//!
//! After the last restart and a little more load, once nothing is pending,
//! from the server's database: every event that got a 202 is journaled
//! under the message it acknowledged, is done, and has exactly one
//! decision and one record_event; every event of the run has exactly one
//! decision and one record_event, no event id appears twice in
//! record_events and no message was journaled twice.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::api::Api;
use crate::journal::{Journal, Range};
use crate::load::{self, Answer, Bodies, Db, Rng, Sent, Tally};
use crate::report::Report;
use crate::server::{Server, Spawn, free_port};
use crate::setup::{self, PLUGIN};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny scale (3 kills 0.3–1 s apart, 4 clients, 500 records).
    #[arg(long)]
    pub smoke: bool,
    /// How many times to SIGKILL the server [default: 20, smoke 3].
    #[arg(long)]
    pub kills: Option<usize>,
    /// The shortest delay before a kill, ms [default: 500, smoke 300].
    #[arg(long)]
    pub min_delay_ms: Option<u64>,
    /// The longest delay before a kill, ms [default: 3000, smoke 1000].
    #[arg(long)]
    pub max_delay_ms: Option<u64>,
    /// Client threads, each with one request in flight [default: 8, smoke 4].
    #[arg(long)]
    pub clients: Option<usize>,
    /// Records (distinct sender phones) [default: 10000, smoke 500].
    #[arg(long)]
    pub records: Option<usize>,
    /// The seed of the kill delays [default: from the clock; printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep the work directory (data dir, log); it is kept anyway when
    /// the run fails.
    #[arg(long)]
    pub keep: bool,
}

struct Scale {
    smoke: bool,
    kills: usize,
    min_delay: f64,
    max_delay: f64,
    clients: usize,
    records: usize,
    seed: u64,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let (kills, min, max, clients, records) = if args.smoke {
            (3, 300, 1_000, 4, 500)
        } else {
            (20, 500, 3_000, 8, 10_000)
        };
        let min = args.min_delay_ms.unwrap_or(min) as f64 / 1000.0;
        let max = (args.max_delay_ms.unwrap_or(max) as f64 / 1000.0).max(min);
        Self {
            smoke: args.smoke,
            kills: args.kills.unwrap_or(kills),
            min_delay: min,
            max_delay: max,
            clients: args.clients.unwrap_or(clients).max(1),
            records: args.records.unwrap_or(records).max(1),
            seed: args.seed.unwrap_or_else(Rng::clock_seed),
        }
    }
}

pub fn run(args: Args) -> Result<Report> {
    let scale = Scale::of(&args);
    load::in_work_dir("crash", scale.smoke, args.keep, |work, report| {
        run_in(&scale, work, report)
    })
}

fn run_in(scale: &Scale, work: &Path, report: &mut Report) -> Result<()> {
    let data = work.join("data");
    let log = work.join("server.log");
    let port = free_port()?;
    let spawn = || Spawn::smstrigger(&data, port, log.clone(), crate::http::EVENTS_PER_SECOND);
    let mut server = Some(Server::start(spawn()?)?);
    let url = server.as_ref().map(|s| s.url.clone()).unwrap_or_default();
    let api = Api::new(&url)?;
    let tenant = setup::tenant(
        &api,
        "crash",
        setup::phones(scale.records),
        &setup::plugin_component()?,
        json!({}),
    )?;
    let start = Journal::open(&data)?.last_event_id()?;
    report.note(format!(
        "{} kills, each {:.1}–{:.1} s after the server was ready (seed {}); {} client threads; \
         tenant {} (project {}), {} records; server log {}",
        scale.kills,
        scale.min_delay,
        scale.max_delay,
        scale.seed,
        scale.clients,
        tenant.keys.id,
        tenant.project,
        scale.records,
        log.display()
    ));

    // The load, with kills and restarts.
    let mut rng = Rng::new(scale.seed);
    let stop = AtomicBool::new(false);
    let mut ready_ms = Vec::new();
    let mut killed_us = Vec::new();
    let started = Instant::now();
    let (killing, answers) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..scale.clients)
            .map(|t| {
                let (url, stop, tenant) = (&url, &stop, &tenant);
                scope.spawn(move || -> Result<Vec<Sent>> {
                    let client = Api::with_timeout(url, Duration::from_secs(10))?;
                    let bodies = Bodies::new(tenant.project, &tenant.phones, format!("crash-{t}"));
                    let mut sent = Vec::new();
                    let mut k = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let (message_id, body) = bodies.nth(k, t, scale.clients);
                        k += 1;
                        let one =
                            client.post_inbound(&tenant.keys.webhook_secret, message_id, body);
                        if matches!(one.answer, Answer::Error(_)) {
                            // The server is down: do not spin.
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        sent.push(one);
                    }
                    Ok(sent)
                })
            })
            .collect();
        let killing = (|| -> Result<()> {
            std::thread::sleep(Duration::from_secs(1));
            for _ in 0..scale.kills {
                let delay = rng.uniform(scale.min_delay, scale.max_delay);
                std::thread::sleep(Duration::from_secs_f64(delay));
                // Dropping a `Server` SIGKILLs it (std's `Child::kill`)
                // and reaps it.
                killed_us.push(load::unix_us());
                drop(server.take());
                let restarted = Server::start(spawn()?)?;
                ready_ms.push(restarted.ready_after.as_secs_f64() * 1000.0);
                server = Some(restarted);
            }
            // Load on the last incarnation too.
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        let mut answers = Vec::new();
        for client in clients {
            match client.join().expect("a client thread panicked") {
                Ok(sent) => answers.extend(sent),
                Err(e) => return (Err(e), answers),
            }
        }
        (killing, answers)
    });
    killing?;
    let load_s = started.elapsed().as_secs_f64();

    // Drained, then checked.
    let journal = Journal::open(&data)?;
    let drained = journal.wait_drained(Duration::from_secs(600))?;
    report.figure("drain_after_load_s", drained.as_secs_f64(), "s");
    let db = Db::open(&data)?;
    let tally = Tally::of(&answers);
    report.figure("kills", ready_ms.len() as f64, "SIGKILLs");
    report.figure("load_s", load_s, "s");
    report.figure("requests", tally.sent as f64, "requests");
    report.figure("acknowledged", tally.accepted as f64, "202 accepted");
    report.figure("duplicate_answers", tally.duplicate as f64, "202 duplicate");
    report.figure("failed_requests", tally.error_total() as f64, "requests");
    report.figure(
        "other_statuses",
        tally.statuses.values().sum::<u64>() as f64,
        "answers",
    );
    let mut sorted = ready_ms.clone();
    sorted.sort_by(f64::total_cmp);
    if !sorted.is_empty() {
        report.figure("restart_ready_p50_ms", sorted[sorted.len() / 2], "ms");
        report.figure("restart_ready_max_ms", sorted[sorted.len() - 1], "ms");
    }
    // What each kill interrupted: events journaled before it and decided
    // only after the restart.
    let interrupted = killed_us
        .iter()
        .map(|at| db.spanning(tenant.keys.id, *at))
        .collect::<Result<Vec<u64>>>()?;
    report.figure(
        "interrupted_events",
        interrupted.iter().sum::<u64>() as f64,
        "events",
    );
    report.figure(
        "kills_that_interrupted_work",
        interrupted.iter().filter(|n| **n > 0).count() as f64,
        "kills",
    );
    report.note(format!(
        "events journaled before each kill and decided after its restart: {interrupted:?}"
    ));
    report.correct(
        "every kill and restart done",
        ready_ms.len() == scale.kills,
        format!(
            "{} of {} kills, each followed by a restart that answered /healthz",
            ready_ms.len(),
            scale.kills
        ),
    );
    // Only 202s, failed connections around the kills, and (if the journal
    // were full) 503 are expected; anything else is the server's error.
    let unexpected: u64 = tally
        .statuses
        .iter()
        .filter(|(code, _)| **code != 503)
        .map(|(_, n)| *n)
        .sum();
    report.correct(
        "no unexpected answer",
        unexpected == 0 && tally.accepted > 0,
        tally.summary(),
    );

    // Every acknowledged event, one by one.
    let mut lost = Vec::new();
    let mut wrong = Vec::new();
    let mut acked = 0u64;
    for sent in &answers {
        let Answer::Accepted(id) = sent.answer else {
            continue;
        };
        acked += 1;
        match db.event(id)? {
            None => lost.push(format!("event {id} ({})", sent.message_id)),
            Some(row) => {
                if row.tenant != tenant.keys.id
                    || row.message_id != sent.message_id
                    || row.state != "done"
                    || row.decisions != 1
                    || row.record_events != 1
                {
                    wrong.push(format!(
                        "event {id} acknowledged for {} is tenant {}'s {}: {}, {} decisions, {} record_events",
                        sent.message_id, row.tenant, row.message_id, row.state, row.decisions, row.record_events
                    ));
                }
            }
        }
    }
    report.correct(
        "every acknowledged event journaled",
        lost.is_empty() && acked > 0,
        if lost.is_empty() {
            format!("{acked} of {acked} acknowledged events are in the journal")
        } else {
            format!(
                "{} of {acked} missing, e.g. {}",
                lost.len(),
                lost[..lost.len().min(5)].join(", ")
            )
        },
    );
    report.correct(
        "every acknowledged event decided once",
        wrong.is_empty() && acked > 0,
        if wrong.is_empty() {
            format!("{acked} acknowledged events: each its own message's, done, one decision, one record_event")
        } else {
            format!("{} wrong, e.g. {}", wrong.len(), wrong[..wrong.len().min(5)].join("; "))
        },
    );

    // Every event of the run.
    let range = Range {
        after: start,
        upto: journal.last_event_id()?,
    };
    let exactly = db.exactly_once(tenant.keys.id, PLUGIN, range)?;
    report.figure("events_journaled", exactly.events as f64, "events");
    report.figure(
        "journaled_unacknowledged",
        exactly.events.saturating_sub(acked) as f64,
        "events",
    );
    report.figure(
        "doubled_dispositions",
        exactly.doubled_dispositions as f64,
        "event ids",
    );
    report.correct(
        "every event of the run decided and executed exactly once",
        exactly.held(),
        exactly.summary(),
    );
    if !exactly.held() {
        for line in journal.misexecuted(range, 5)? {
            report.note(line);
        }
    }
    report.note(format!(
        "{} events journaled for {acked} acknowledged: {} were journaled but their 202 was \
         lost to a kill (expected: the answer, not the event, is lost)",
        exactly.events,
        exactly.events.saturating_sub(acked)
    ));

    let server = server.context("no server is running")?;
    let status = server.terminate(Duration::from_secs(60))?;
    report.correct(
        "clean final stop",
        status.success(),
        format!("the last server exited with {status} after SIGTERM"),
    );
    Ok(())
}
