//! `smstrigger-proof cluster`: two `smstrigger serve` hosts on one
//! PostgreSQL database (a database of the run's own, see [`crate::pg`]).
//!
//! 1. Set-up through host A: a tenant, a project, N records,
//!    `reply-call-time` uploaded and bound; host B sees it all.
//! 2. Peak: one wrk per host at once, signed webhooks at full speed →
//!    the cluster's accepted events/s; every acknowledged event decided
//!    and executed once; the database's cost per event.
//! 3. Floor: `smstrigger-proof floor --database-url`, a bare handler
//!    inserting the same rows into PostgreSQL with group commit, under
//!    the same two wrk runs → the cluster's ratio to it.
//! 4. Backlog: the hosts stopped, the peak's events journaled again as
//!    pending, both restarted → decided and executed events/s, and the
//!    database's cost per decided event.
//! 5. Latency: both hosts paced at half the peak → p99 of journal →
//!    decision.
//! 6. Kill: client threads spread over both hosts; host B SIGKILLed
//!    while it holds claims, restarted later → its claims decided by A
//!    once their leases run out, every acknowledged event decided once.
//!
//! `--smoke` runs the same steps tiny and judges correctness only.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::api::{Api, INBOUND_PATH};
use crate::journal::Range;
use crate::load::{self, Answer, Bodies, Sent, Tally};
use crate::pg::{self, Cost, Database, Journal};
use crate::report::Report;
use crate::requests::{self, RequestFiles, Target};
use crate::server::{Server, Spawn, free_port};
use crate::setup;
use crate::wrk;

/// The promises of a full run.
pub const FLOOR_RATIO_TARGET: f64 = 0.5;
pub const DECISION_RATE_TARGET: f64 = 10_000.0;
pub const DECISION_P99_TARGET_MS: f64 = 100.0;
/// A dead host's claims run out within the lease (4 s after its last
/// renewal, at most 4 s after the kill); the others look for them at
/// least once a second: the 5 s.
pub const TAKEOVER_TARGET: Duration = Duration::from_secs(5);

/// The key both hosts seal secrets with (32 bytes, hex).
const SECRETS_KEY: &str = "c1a55e5c1a55e5c1a55e5c1a55e5c1a55e5c1a55e5c1a55e5c1a55e5c1a55e5c";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny scale (2 s runs, 8 connections, 500 records); judges
    /// correctness only.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds of each wrk run [default: 20, smoke 2].
    #[arg(long)]
    pub duration: Option<u64>,
    /// wrk connections in all, half per host [default: 64, smoke 8].
    #[arg(long)]
    pub connections: Option<usize>,
    /// Records (distinct sender phones) [default: 10000, smoke 500].
    #[arg(long)]
    pub records: Option<usize>,
    /// The fastest rate (requests/s, cluster or floor) the request files
    /// must cover [default: 30000, smoke 10000].
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// The PostgreSQL server (any database on it); the run creates and
    /// drops a database of its own there.
    #[arg(long, env = "SMSTRIGGER_TEST_DATABASE_URL", default_value = pg::DEFAULT_SERVER_URL)]
    pub database_url: String,
    /// Keep the work directory (data dirs, logs, request files).
    #[arg(long)]
    pub keep: bool,
}

struct Scale {
    smoke: bool,
    duration: Duration,
    /// Per host.
    connections: usize,
    records: usize,
    max_rate: f64,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let (duration, connections, records, max_rate) = if args.smoke {
            (2, 8, 500, 10_000.0)
        } else {
            (20, 64, 10_000, 30_000.0)
        };
        Self {
            smoke: args.smoke,
            duration: Duration::from_secs(args.duration.unwrap_or(duration).max(1)),
            connections: (args.connections.unwrap_or(connections) / 2).max(1),
            records: args.records.unwrap_or(records).max(1),
            max_rate: args.max_rate.unwrap_or(max_rate),
        }
    }

    /// Requests per host for a run at up to `rate`/s in all.
    fn per_host(&self, rate: f64) -> usize {
        (self.duration.as_secs_f64() * rate * 0.75).ceil() as usize + self.connections
    }

    fn drain_timeout(&self) -> Duration {
        Duration::from_secs(300) + self.duration * 20
    }
}

/// The two hosts: each its own data directory (compile cache), log and
/// port, both on the run's database.
struct Hosts<'a> {
    work: &'a Path,
    db: &'a Database,
    ports: [u16; 2],
}

impl Hosts<'_> {
    /// Starts host `n` (0 = A, 1 = B).
    fn start(&self, n: usize) -> Result<Server> {
        let name = ["a", "b"][n];
        let log = if n == 0 {
            self.work.join("server.log")
        } else {
            self.work.join(format!("server-{name}.log"))
        };
        let spawn = Spawn::smstrigger(
            &self.work.join(format!("data-{name}")),
            self.ports[n],
            log,
            crate::http::EVENTS_PER_SECOND,
        )?
        .on_database(&self.db.url, SECRETS_KEY);
        Server::start(spawn)
    }
}

pub fn run(args: Args) -> Result<Report> {
    let scale = Scale::of(&args);
    let db = Database::create(&args.database_url)?;
    load::in_work_dir("cluster", scale.smoke, args.keep, |work, report| {
        run_in(&scale, &db, work, report)
    })
}

fn run_in(scale: &Scale, db: &Database, work: &Path, report: &mut Report) -> Result<()> {
    report.note(format!(
        "2 hosts on database {} ({} s runs, {} connections per host, {} records)",
        db.name,
        scale.duration.as_secs(),
        scale.connections,
        scale.records
    ));
    let hosts = Hosts {
        work,
        db,
        ports: [free_port()?, free_port()?],
    };
    let a = hosts.start(0)?;
    let b = hosts.start(1)?;
    let mut journal = Journal::open(db)?;

    // 1. Set-up through A.
    let tenant = setup::tenant(
        &Api::new(&a.url)?,
        "cluster",
        setup::phones(scale.records),
        &setup::plugin_component()?,
        json!({}),
    )?;
    let target = Target {
        project: tenant.project,
        secret: &tenant.keys.webhook_secret,
        phones: &tenant.phones,
    };
    let files = |name: &str, rate: f64| -> Result<[RequestFiles; 2]> {
        let write = |host: &str| {
            requests::write_files(
                &work.join(format!("{name}-{host}")),
                &format!("{name}-{host}"),
                1,
                scale.per_host(rate),
                &target,
            )
        };
        Ok([write("a")?, write("b")?])
    };

    // 2. Peak.
    let peak_files = files("peak", scale.max_rate)?;
    let before = journal.last_event_id()?;
    let cost_before = journal.cost(&db.name)?;
    let peak = both(scale, [&a.url, &b.url], &peak_files, None)?;
    record(report, "peak", &peak);
    journal.wait_drained(scale.drain_timeout())?;
    let peak_range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    let cost_after = journal.cost(&db.name)?;
    check_run(report, "peak", &peak, &mut journal, peak_range, scale)?;
    report_cost(report, "peak", &cost_before, &cost_after, peak_range);
    let accepted_per_s: f64 = peak.iter().map(wrk::Output::accepted_per_s).sum();

    // 3. The floor, with the same requests.
    let mut floor_spawn = Spawn::floor(&work.join("floor"), free_port()?, work.join("floor.log"))?;
    floor_spawn
        .args
        .extend(["--database-url".into(), db.url.clone()]);
    let floor = Server::start(floor_spawn)?;
    let floor_run = both(scale, [&floor.url, &floor.url], &peak_files, None)?;
    let floor_status = floor.terminate(Duration::from_secs(30))?;
    record(report, "floor", &floor_run);
    report.correct(
        "floor run clean",
        floor_run.iter().all(|o| o.problems().is_empty()) && floor_status.success(),
        format!(
            "{:?}; the floor exited with {floor_status}",
            problems(&floor_run)
        ),
    );
    let floor_per_s: f64 = floor_run.iter().map(wrk::Output::accepted_per_s).sum();
    let ratio = load::ratio(accepted_per_s, floor_per_s);
    report.figure("ratio_to_floor", ratio, "x");
    report.speed(
        "ratio to the PostgreSQL floor",
        ratio >= FLOOR_RATIO_TARGET,
        format!(
            "{accepted_per_s:.0} / {floor_per_s:.0} accepted/s = {ratio:.2}x \
             (target >= {FLOOR_RATIO_TARGET:.2}x)"
        ),
    );

    // 4. Decision capacity from a backlog.
    for (name, host) in [("A", a), ("B", b)] {
        let status = host.terminate(Duration::from_secs(60))?;
        report.correct(
            &format!("host {name} stops cleanly"),
            status.success(),
            format!("exited with {status} after SIGTERM"),
        );
    }
    let backlog = journal.copy_as_backlog(peak_range)?;
    let events = backlog.upto - backlog.after;
    report.figure("backlog_events", events as f64, "events");
    let cost_before = journal.cost(&db.name)?;
    let a = hosts.start(0)?;
    let b = hosts.start(1)?;
    let drained = journal.wait_drained(scale.drain_timeout())?;
    let cost_after = journal.cost(&db.name)?;
    report.figure("backlog_drain_s", drained.as_secs_f64(), "s");
    decided_once(report, "backlog decided once", &mut journal, backlog)?;
    report_cost(report, "backlog", &cost_before, &cost_after, backlog);
    let timings = journal.timings(backlog)?;
    report.figure("decision_rate_per_s", timings.rate_per_s, "events/s");
    report.speed(
        "decision rate",
        timings.rate_per_s >= DECISION_RATE_TARGET,
        format!(
            "{:.0} decided and executed events/s by 2 hosts over a backlog of {events} \
             (target >= {DECISION_RATE_TARGET:.0})",
            timings.rate_per_s
        ),
    );

    // 5. Latency to decision at half the peak.
    let rate = (accepted_per_s * 0.5).max(2.0);
    let paced_files = files("paced", rate)?;
    let before = journal.last_event_id()?;
    let paced = both(scale, [&a.url, &b.url], &paced_files, Some(rate / 2.0))?;
    record(report, "paced", &paced);
    journal.wait_drained(scale.drain_timeout())?;
    let range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    check_run(report, "paced", &paced, &mut journal, range, scale)?;
    let timings = journal.timings(range)?;
    let p99 = timings.latency_ms(99.0);
    report.figure("decision_latency_p50_ms", timings.latency_ms(50.0), "ms");
    report.figure("decision_latency_p99_ms", p99, "ms");
    report.speed(
        "latency to decision",
        p99 < DECISION_P99_TARGET_MS,
        format!(
            "p99 {p99:.1} ms at {:.0} events/s over 2 hosts (target < {DECISION_P99_TARGET_MS:.0} ms)",
            paced.iter().map(wrk::Output::accepted_per_s).sum::<f64>()
        ),
    );

    // 6. A host killed under load.
    kill_under_load(scale, &hosts, a, b, &tenant, &mut journal, report)
}

/// Phase 6: clients spread over both hosts; B SIGKILLed while it holds
/// claims, restarted after its leases ran out.
fn kill_under_load(
    scale: &Scale,
    hosts: &Hosts<'_>,
    a: Server,
    b: Server,
    tenant: &setup::Tenant,
    journal: &mut Journal,
    report: &mut Report,
) -> Result<()> {
    // Enough clients that the hosts fall behind: a host that keeps up
    // decides each claim within milliseconds and may hold none at the
    // moment of the kill.
    let clients = 16;
    let urls = [a.url.clone(), b.url.clone()];
    let before = journal.last_event_id()?;
    let stop = AtomicBool::new(false);
    let victim = b.pid();
    let mut b = Some(b);
    let (killed, answers) = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..clients)
            .map(|t| {
                let (urls, stop) = (&urls, &stop);
                scope.spawn(move || -> Result<Vec<Sent>> {
                    let apis = [
                        Api::with_timeout(&urls[0], Duration::from_secs(10))?,
                        Api::with_timeout(&urls[1], Duration::from_secs(10))?,
                    ];
                    let bodies = Bodies::new(tenant.project, &tenant.phones, format!("kill-{t}"));
                    let mut sent = Vec::new();
                    let mut k = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let (message_id, body) = bodies.nth(k, t, clients);
                        let one = apis[(k + t) % 2].post_inbound(
                            &tenant.keys.webhook_secret,
                            message_id,
                            body,
                        );
                        k += 1;
                        if matches!(one.answer, Answer::Error(_)) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        sent.push(one);
                    }
                    Ok(sent)
                })
            })
            .collect();
        let killing = (|| -> Result<(i64, Vec<i64>)> {
            std::thread::sleep(Duration::from_secs(1));
            let started = Instant::now();
            while journal.held_by(victim)?.is_empty() {
                if started.elapsed() > Duration::from_secs(30) {
                    anyhow::bail!("host B never held a claim under load");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let killed_us = load::unix_us();
            drop(b.take()); // SIGKILL, reaped
            // A commit B sent just before it died still completes in the
            // database; what B holds once those settled is the orphans.
            std::thread::sleep(Duration::from_millis(500));
            let orphans = journal.held_by(victim)?;
            std::thread::sleep(TAKEOVER_TARGET + Duration::from_secs(1));
            b = Some(hosts.start(1)?);
            std::thread::sleep(Duration::from_secs(if scale.smoke { 1 } else { 3 }));
            Ok((killed_us, orphans))
        })();
        stop.store(true, Ordering::SeqCst);
        let mut answers = Vec::new();
        for sender in senders {
            answers.extend(sender.join().expect("a client thread panicked")?);
        }
        anyhow::Ok((killing, answers))
    })?;
    let (killed_us, orphans) = killed?;
    journal.wait_drained(scale.drain_timeout())?;
    let range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    let tally = Tally::of(&answers);
    report.figure("kill_acknowledged", tally.accepted as f64, "202 accepted");
    report.figure("kill_orphans", orphans.len() as f64, "events");
    report.correct(
        "the kill left claims to take over",
        !orphans.is_empty(),
        format!("host B held {} pending events when killed", orphans.len()),
    );
    let (done, by_dead, last_decided) = journal.takeover(&orphans, victim)?;
    report.correct(
        "the dead host's claims finished by the other",
        done == orphans.len() as u64 && by_dead == 0,
        format!(
            "{done} of {} done, {by_dead} by the dead host",
            orphans.len()
        ),
    );
    let after_s = last_decided.map_or(f64::NAN, |us| (us - killed_us) as f64 / 1e6);
    report.figure("takeover_s", after_s, "s");
    report.speed(
        "takeover within the lease",
        after_s <= TAKEOVER_TARGET.as_secs_f64(),
        format!(
            "the last of B's claims decided {after_s:.2} s after the kill \
             (target <= {} s: the 4 s lease and a 1 s sweep)",
            TAKEOVER_TARGET.as_secs()
        ),
    );
    let acked: Vec<u64> = load::accepted_ids(&answers);
    report.correct(
        "acknowledged events journaled",
        acked
            .iter()
            .all(|id| *id > range.after && *id <= range.upto),
        tally.summary(),
    );
    decided_once(
        report,
        "events around the kill decided once",
        journal,
        range,
    )?;
    let b = b.take();
    for (name, host) in [("A", Some(a)), ("B", b)] {
        if let Some(host) = host {
            let status = host.terminate(Duration::from_secs(60))?;
            report.correct(
                &format!("host {name} stops cleanly at the end"),
                status.success(),
                format!("exited with {status} after SIGTERM"),
            );
        }
    }
    Ok(())
}

/// One wrk per URL at once, each over its own files; `rate` per run.
fn both(
    scale: &Scale,
    urls: [&str; 2],
    files: &[RequestFiles; 2],
    rate: Option<f64>,
) -> Result<[wrk::Output; 2]> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|n| {
                let run = wrk::Run {
                    url: format!("{}{INBOUND_PATH}", urls[n]),
                    threads: 1,
                    connections: scale.connections,
                    duration: scale.duration,
                    files: &files[n],
                    rate,
                };
                scope.spawn(move || run.run())
            })
            .collect();
        let mut outputs = runs
            .into_iter()
            .map(|r| r.join().expect("a wrk thread panicked"));
        Ok([outputs.next().unwrap()?, outputs.next().unwrap()?])
    })
}

fn record(report: &mut Report, name: &str, runs: &[wrk::Output; 2]) {
    let per_s: f64 = runs.iter().map(wrk::Output::accepted_per_s).sum();
    report.figure(&format!("{name}_accepted_per_s"), per_s, "events/s");
    for (host, out) in ["a", "b"].iter().zip(runs) {
        report.figure(
            &format!("{name}_{host}_accepted_per_s"),
            out.accepted_per_s(),
            "events/s",
        );
        report.figure(&format!("{name}_{host}_p99_ms"), out.p99_ms, "ms");
    }
}

fn problems(runs: &[wrk::Output; 2]) -> Vec<String> {
    runs.iter().flat_map(wrk::Output::problems).collect()
}

/// The runs were clean, the journal holds what they acknowledged (at
/// most one more per connection: requests in flight when wrk stopped),
/// every one decided and executed once.
fn check_run(
    report: &mut Report,
    name: &str,
    runs: &[wrk::Output; 2],
    journal: &mut Journal,
    range: Range,
    scale: &Scale,
) -> Result<()> {
    let acked: u64 = runs.iter().map(|o| o.counts.accepted).sum();
    report.correct(
        &format!("{name} runs clean"),
        problems(runs).is_empty() && acked > 0,
        format!("{acked} accepted; {:?}", problems(runs)),
    );
    let outcomes = journal.outcomes(range)?;
    let margin = 2 * scale.connections as u64;
    report.correct(
        &format!("{name} events journaled as acknowledged"),
        outcomes.events >= acked && outcomes.events <= acked + margin,
        format!(
            "{} journaled for {acked} acknowledged (margin {margin})",
            outcomes.events
        ),
    );
    decided_once(
        report,
        &format!("{name} events decided once"),
        journal,
        range,
    )
}

fn decided_once(
    report: &mut Report,
    name: &str,
    journal: &mut Journal,
    range: Range,
) -> Result<()> {
    let outcomes = journal.outcomes(range)?;
    report.correct(name, outcomes.all_decided_once(), outcomes.summary());
    Ok(())
}

/// The database's cost per event of `range` between two snapshots.
fn report_cost(report: &mut Report, name: &str, before: &Cost, after: &Cost, range: Range) {
    let [transactions, rows, wal, statements] = before.per_event(after, range.upto - range.after);
    let nan = f64::NAN;
    report.figure(
        &format!("{name}_db_transactions_per_event"),
        transactions.unwrap_or(nan),
        "xacts",
    );
    report.figure(
        &format!("{name}_db_rows_written_per_event"),
        rows.unwrap_or(nan),
        "rows",
    );
    report.figure(
        &format!("{name}_db_wal_bytes_per_event"),
        wal.unwrap_or(nan),
        "bytes",
    );
    match statements {
        Some(statements) => report.figure(
            &format!("{name}_db_statements_per_event"),
            statements,
            "statements",
        ),
        None => report.note(format!(
            "{name}: statements per event not measured: pg_stat_statements is not loaded \
             (shared_preload_libraries)"
        )),
    }
}
