//! `smstrigger-proof http`: the HTTP load benchmark of `smstrigger serve`.
//!
//! 1. Set-up over HTTP: a tenant, a project, N records with distinct
//!    phones, `reply-call-time` uploaded, activated and bound.
//! 2. Peak: wrk at full speed with pre-generated signed webhooks →
//!    accepted events/s and the 202's p50/p99.
//! 3. Decisions: once the journal is drained, from the server's SQLite
//!    file: every event done and executed exactly once, and the sustained
//!    decision rate.
//! 4. Floor: the same requests against `smstrigger-proof floor` → the
//!    server's ratio to the floor.
//! 5. Latency to decision: wrk paced at half the peak → p50/p99 of
//!    `decided_us − accepted_us`.
//! 6. RSS and restart: many tenants, each with the plugin bound and one
//!    event decided → the server's RSS; then SIGTERM, restart on the same
//!    data dir, time until `/healthz` answers, and events decided after it.
//!
//! `--smoke` runs the same steps tiny and judges correctness only.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use serde_json::json;

use crate::api::{Api, INBOUND_PATH};
use crate::journal::{Journal, Range};
use crate::report::Report;
use crate::requests::{self, Inbound, RequestFiles, Target};
use crate::rss::vm_rss_bytes;
use crate::server::{Server, Spawn, free_port};
use crate::setup::{self, Tenant};
use crate::wrk;

/// The per-tenant webhook quota the server is started with: high enough
/// that one tenant's load is not throttled (the default is 1,000/s).
pub const EVENTS_PER_SECOND: u32 = 10_000_000;

/// The promises of a full run.
pub const FLOOR_RATIO_TARGET: f64 = 0.60;
pub const DECISION_RATE_TARGET: f64 = 25_000.0;
pub const DECISION_P99_TARGET_MS: f64 = 50.0;
pub const RSS_TARGET_MIB: f64 = 200.0;
pub const RESTART_TARGET_MS: f64 = 1_000.0;

/// How many tenants get an event after the restart.
const RESTART_SAMPLE: usize = 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny scale (2 s runs, 8 connections, 50 tenants, 500 records);
    /// judges correctness only.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds of each wrk run [default: 20, smoke 2].
    #[arg(long)]
    pub duration: Option<u64>,
    /// wrk connections [default: 64, smoke 8].
    #[arg(long)]
    pub connections: Option<usize>,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Tenants of the RSS and restart phase [default: 1000, smoke 50].
    #[arg(long)]
    pub tenants: Option<usize>,
    /// Records (distinct sender phones) of the load tenant [default: 10000, smoke 500].
    #[arg(long)]
    pub records: Option<usize>,
    /// The fastest rate (requests/s, server or floor) the request files
    /// must cover: each run has duration × this × 1.5 requests
    /// [default: 60000, smoke 20000].
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// Keep the work directory (data dirs, logs, request files).
    #[arg(long)]
    pub keep: bool,
}

/// The scale of one run.
struct Scale {
    smoke: bool,
    duration: Duration,
    connections: usize,
    threads: usize,
    tenants: usize,
    records: usize,
    max_rate: f64,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let (duration, connections, tenants, records, max_rate) = if args.smoke {
            (2, 8, 50, 500, 20_000.0)
        } else {
            (20, 64, 1_000, 10_000, 60_000.0)
        };
        let threads = args.threads.max(1);
        Self {
            smoke: args.smoke,
            duration: Duration::from_secs(args.duration.unwrap_or(duration).max(1)),
            connections: args.connections.unwrap_or(connections).max(threads),
            threads,
            tenants: args.tenants.unwrap_or(tenants),
            records: args.records.unwrap_or(records).max(1),
            max_rate: args.max_rate.unwrap_or(max_rate),
        }
    }

    /// Requests per wrk thread for a run at up to `rate`/s.
    fn per_thread(&self, rate: f64) -> usize {
        let total = self.duration.as_secs_f64() * rate * 1.5;
        (total / self.threads as f64).ceil() as usize + self.connections
    }

    /// How long a drain may take after a run.
    fn drain_timeout(&self) -> Duration {
        Duration::from_secs(300) + self.duration * 20
    }
}

pub fn run(args: Args) -> Result<Report> {
    let scale = Scale::of(&args);
    crate::load::in_work_dir("http", scale.smoke, args.keep, |work, report| {
        run_in(&scale, work, report)
    })
}

fn run_in(scale: &Scale, work: &Path, report: &mut Report) -> Result<()> {
    report.note(format!(
        "{} s runs, {} wrk threads, {} connections, {} records, {} tenants; \
         server quotas events_per_second = {EVENTS_PER_SECOND}, max_pending = {}",
        scale.duration.as_secs(),
        scale.threads,
        scale.connections,
        scale.records,
        scale.tenants,
        crate::server::MAX_PENDING
    ));
    let data = work.join("data");
    let log = work.join("server.log");
    let server = Server::smstrigger(&data, log.clone(), EVENTS_PER_SECOND)?;
    let api = Api::new(&server.url)?;
    let component = setup::plugin_component()?;

    // 1. Set-up.
    let started = Instant::now();
    let load = setup::tenant(
        &api,
        "load",
        setup::phones(scale.records),
        &component,
        json!({}),
    )?;
    report.figure("setup_s", started.elapsed().as_secs_f64(), "s");
    report.note(format!(
        "load tenant {} (project {})",
        load.keys.id, load.project
    ));
    let journal = Journal::open(&data)?;
    let target = Target {
        project: load.project,
        secret: &load.keys.webhook_secret,
        phones: &load.phones,
    };
    let webhook = format!("{}{INBOUND_PATH}", server.url);

    // 2. Peak.
    let started = Instant::now();
    let peak_files = requests::write_files(
        &work.join("peak"),
        "peak",
        scale.threads,
        scale.per_thread(scale.max_rate),
        &target,
    )?;
    report.figure(
        "requests_generated",
        (peak_files.per_thread * peak_files.threads) as f64,
        "requests",
    );
    report.figure("generate_s", started.elapsed().as_secs_f64(), "s");
    let before = journal.last_event_id()?;
    let peak = load_run(scale, &webhook, &peak_files, None)?;
    record_run(report, "peak", &peak);

    // 3. Decisions of the peak run.
    let drained = journal.wait_drained(scale.drain_timeout())?;
    report.figure("peak_drain_after_run_s", drained.as_secs_f64(), "s");
    let range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    check_acks(report, "peak", &peak, &journal, range, scale.connections)?;
    if let Some(timings) = timings(report, &journal, range) {
        report.figure(
            "peak_server_accept_per_s",
            timings.accept_rate_per_s,
            "events/s",
        );
        report.figure("peak_decision_rate_per_s", timings.rate_per_s, "events/s");
        if drained < Duration::from_secs(1) {
            report.note(
                "the journal drained within a second of the peak run: decisions kept pace \
                 with accepts, so the peak's decision rate is bounded by its accept rate",
            );
        }
    }

    // 3b. Decision capacity: the peak's events again, journaled as a
    // backlog while the server is down, drained by the restarted server
    // with no HTTP load on it.
    drop(journal);
    let status = server.terminate(Duration::from_secs(60))?;
    report.correct(
        "clean stop before the backlog",
        status.success(),
        format!("the server exited with {status} after SIGTERM"),
    );
    let backlog = crate::journal::copy_as_backlog(&data, range)?;
    report.figure(
        "backlog_events",
        (backlog.upto - backlog.after) as f64,
        "events",
    );
    let server = Server::smstrigger(&data, log.clone(), EVENTS_PER_SECOND)?;
    let api = Api::new(&server.url)?;
    let webhook = format!("{}{INBOUND_PATH}", server.url);
    let journal = Journal::open(&data)?;
    let drained = journal.wait_drained(scale.drain_timeout())?;
    report.figure("backlog_drain_s", drained.as_secs_f64(), "s");
    decided_once(report, "backlog decided once", &journal, backlog)?;
    if let Some(timings) = timings(report, &journal, backlog) {
        report.figure("decision_rate_per_s", timings.rate_per_s, "events/s");
        report.speed(
            "decision rate",
            timings.rate_per_s >= DECISION_RATE_TARGET,
            format!(
                "{:.0} decided and executed events/s over a backlog of {} \
                 (target >= {DECISION_RATE_TARGET:.0})",
                timings.rate_per_s,
                backlog.upto - backlog.after
            ),
        );
    }

    // 4. The floor, with the same requests.
    let floor_dir = work.join("floor");
    let floor_server = Server::start(Spawn::floor(
        &floor_dir,
        free_port()?,
        work.join("floor.log"),
    )?)?;
    let floor_run = load_run(
        scale,
        &format!("{}{INBOUND_PATH}", floor_server.url),
        &peak_files,
        None,
    )?;
    let floor_status = floor_server.terminate(Duration::from_secs(30))?;
    record_run(report, "floor", &floor_run);
    report.correct(
        "floor run clean",
        floor_run.problems().is_empty() && floor_status.success(),
        run_detail(&floor_run, &format!("the floor exited with {floor_status}")),
    );
    let ratio = peak.accepted_per_s() / floor_run.accepted_per_s();
    report.figure("ratio_to_floor", ratio, "x");
    report.speed(
        "ratio to the floor",
        ratio >= FLOOR_RATIO_TARGET,
        format!(
            "{:.0} / {:.0} accepted/s = {ratio:.2}x (target >= {FLOOR_RATIO_TARGET:.2}x)",
            peak.accepted_per_s(),
            floor_run.accepted_per_s()
        ),
    );

    // 5. Latency to decision at half the peak.
    let rate = (peak.accepted_per_s() * 0.5).max(1.0);
    let latency_files = requests::write_files(
        &work.join("latency"),
        "latency",
        scale.threads,
        scale.per_thread(rate),
        &target,
    )?;
    let before = journal.last_event_id()?;
    let paced = load_run(scale, &webhook, &latency_files, Some(rate))?;
    report.figure("paced_target_per_s", rate, "events/s");
    record_run(report, "paced", &paced);
    journal.wait_drained(scale.drain_timeout())?;
    let range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    check_acks(report, "paced", &paced, &journal, range, scale.connections)?;
    if let Some(timings) = timings(report, &journal, range) {
        let (p50, p99) = (timings.latency_ms(50.0), timings.latency_ms(99.0));
        report.figure("decision_latency_p50_ms", p50, "ms");
        report.figure("decision_latency_p99_ms", p99, "ms");
        report.figure("decision_latency_max_ms", timings.latency_ms(100.0), "ms");
        report.speed(
            "latency to decision",
            p99 < DECISION_P99_TARGET_MS,
            format!(
                "p99 {p99:.1} ms at {:.0} events/s (target < {DECISION_P99_TARGET_MS:.0} ms)",
                paced.accepted_per_s()
            ),
        );
    }

    // 6. RSS with many tenants, then a restart.
    let started = Instant::now();
    let mut tenants = setup::many_tenants(&api, scale.tenants, &component, 4)?;
    report.figure("tenants_setup_s", started.elapsed().as_secs_f64(), "s");
    let before = journal.last_event_id()?;
    let ids = send_one_each(&api, &tenants, "rss")?;
    journal.wait_decided(&ids, scale.drain_timeout())?;
    check_outcomes(report, "every tenant's first event", &journal, before)?;
    let rss_mib = vm_rss_bytes(server.pid())? as f64 / (1 << 20) as f64;
    report.figure("tenants", tenants.len() as f64 + 1.0, "tenants");
    report.figure("rss_mib", rss_mib, "MiB");
    report.speed(
        "resident memory",
        rss_mib < RSS_TARGET_MIB,
        format!(
            "{rss_mib:.1} MiB with {} tenants, each plugin loaded (target < {RSS_TARGET_MIB:.0} MiB)",
            tenants.len() + 1
        ),
    );

    report.note(
        "every tenant uploads the same reply-call-time bytes (one SHA-256), so the \
         server may share one compiled component among them",
    );

    let stopped = Instant::now();
    let status = server.terminate(Duration::from_secs(60))?;
    report.figure("stop_s", stopped.elapsed().as_secs_f64(), "s");
    report.correct(
        "clean stop",
        status.success(),
        format!("the server exited with {status} after SIGTERM"),
    );
    drop(journal);
    let server = Server::smstrigger(&data, log, EVENTS_PER_SECOND)?;
    let ready_ms = server.ready_after.as_secs_f64() * 1000.0;
    report.figure("restart_ready_ms", ready_ms, "ms");
    report.speed(
        "restart",
        ready_ms < RESTART_TARGET_MS,
        format!(
            "/healthz answered {ready_ms:.0} ms after spawn (target < {RESTART_TARGET_MS:.0} ms)"
        ),
    );
    let api = Api::new(&server.url)?;
    let journal = Journal::open(&data)?;
    let step = (tenants.len() / RESTART_SAMPLE).max(1);
    let mut sample: Vec<Tenant> = tenants.drain(..).step_by(step).collect();
    sample.push(load);
    let before = journal.last_event_id()?;
    let started = Instant::now();
    let ids = send_one_each(&api, &sample, "restart")?;
    journal.wait_decided(&ids, scale.drain_timeout())?;
    report.figure(
        "restart_sample_decided_ms",
        started.elapsed().as_secs_f64() * 1000.0,
        "ms",
    );
    check_outcomes(report, "events after the restart", &journal, before)?;
    let status = server.terminate(Duration::from_secs(60))?;
    report.correct(
        "clean final stop",
        status.success(),
        format!("the restarted server exited with {status} after SIGTERM"),
    );
    Ok(())
}

/// One wrk run over `files` at the scale's threads, connections and duration.
fn load_run(
    scale: &Scale,
    url: &str,
    files: &RequestFiles,
    rate: Option<f64>,
) -> Result<wrk::Output> {
    wrk::Run {
        url: url.to_string(),
        threads: scale.threads,
        connections: scale.connections,
        duration: scale.duration,
        files,
        rate,
    }
    .run()
}

/// The figures of a wrk run, prefixed `name_`.
fn record_run(report: &mut Report, name: &str, out: &wrk::Output) {
    let key = |what: &str| format!("{name}_{what}");
    report.figure(&key("accepted_per_s"), out.accepted_per_s(), "events/s");
    report.figure(&key("requests_per_s"), out.requests_per_s, "requests/s");
    report.figure(&key("accepted"), out.counts.accepted as f64, "events");
    report.figure(&key("p50_ms"), out.p50_ms, "ms");
    report.figure(&key("p99_ms"), out.p99_ms, "ms");
    report.figure(&key("non_202"), out.counts.non202 as f64, "answers");
    report.figure(
        &key("socket_errors"),
        out.socket_errors.total() as f64,
        "errors",
    );
}

fn run_detail(out: &wrk::Output, extra: &str) -> String {
    let problems = out.problems();
    let base = if problems.is_empty() {
        format!(
            "{} requests, all 202 accepted, no socket errors",
            out.requests
        )
    } else {
        problems.join("; ")
    };
    if extra.is_empty() {
        base
    } else {
        format!("{base}; {extra}")
    }
}

/// The run was clean, the journal holds the events it acknowledged (and
/// at most one per connection more: requests in flight when wrk stopped),
/// and every one was decided and executed exactly once.
fn check_acks(
    report: &mut Report,
    name: &str,
    out: &wrk::Output,
    journal: &Journal,
    range: Range,
    connections: usize,
) -> Result<()> {
    report.correct(
        &format!("{name} run clean"),
        out.problems().is_empty() && out.counts.accepted > 0,
        run_detail(out, ""),
    );
    let outcomes = journal.outcomes(range)?;
    let acked = out.counts.accepted;
    report.correct(
        &format!("{name} events journaled as acknowledged"),
        outcomes.events >= acked && outcomes.events <= acked + connections as u64,
        format!(
            "{} events journaled for {acked} acknowledged (in-flight margin {connections})",
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

/// Every event of `range` is done and executed exactly once; the first
/// few that are not are described in notes.
fn decided_once(report: &mut Report, name: &str, journal: &Journal, range: Range) -> Result<()> {
    let outcomes = journal.outcomes(range)?;
    report.correct(name, outcomes.all_decided_once(), outcomes.summary());
    if !outcomes.all_decided_once() {
        for line in journal.misexecuted(range, 5)? {
            report.note(format!("{name}: {line}"));
        }
    }
    Ok(())
}

/// The events after `before` are all done and executed exactly once.
fn check_outcomes(report: &mut Report, name: &str, journal: &Journal, before: u64) -> Result<()> {
    let range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    decided_once(report, &format!("{name} decided once"), journal, range)
}

/// The timings of `range`, or a failed check saying why there are none.
fn timings(
    report: &mut Report,
    journal: &Journal,
    range: Range,
) -> Option<crate::journal::Timings> {
    match journal.timings(range) {
        Ok(timings) => {
            report.correct(
                "decision times recorded",
                timings.undecided == 0 && !timings.latencies_us.is_empty(),
                format!(
                    "{} events have decided_us and accepted_us, {} lack decided_us",
                    timings.latencies_us.len(),
                    timings.undecided
                ),
            );
            Some(timings)
        }
        Err(e) => {
            report.correct("decision times recorded", false, format!("{e:#}"));
            None
        }
    }
}

/// One signed inbound event per tenant (to its first record), sent by a
/// few threads; returns the event ids.
fn send_one_each(api: &Api, tenants: &[Tenant], prefix: &str) -> Result<Vec<u64>> {
    let now = Utc::now();
    let stamp = requests::timestamp(now);
    let dates = requests::call_dates(now);
    let workers = 4.min(tenants.len().max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (stamp, dates) = (&stamp, &dates);
                scope.spawn(move || -> Result<Vec<u64>> {
                    (w..tenants.len())
                        .step_by(workers)
                        .map(|i| {
                            let tenant = &tenants[i];
                            let body = Inbound {
                                project: tenant.project,
                                phone: &tenant.phones[0],
                                message_id: &format!("{prefix}-{i}"),
                                timestamp: stamp,
                                call_date: &dates[i % dates.len()],
                            }
                            .body();
                            api.send_inbound(&tenant.keys.webhook_secret, &body)
                        })
                        .collect()
                })
            })
            .collect();
        let mut ids = Vec::with_capacity(tenants.len());
        for handle in handles {
            ids.extend(handle.join().expect("a sender thread panicked")?);
        }
        Ok(ids)
    })
}
