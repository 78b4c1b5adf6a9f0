//! `smstrigger-proof swap`: hot swaps under a steady load.
//!
//! 1. Set-up as `http`: one tenant, its records, `reply-call-time` v1
//!    uploaded, active and bound; then v2 staged: the same component with
//!    a custom section appended (same behaviour, another SHA-256).
//! 2. The rate: `--rate`, or (full runs) half of the peak of a short
//!    unpaced wrk run; smoke runs use a fixed small rate.
//! 3. Steady: wrk at that rate (each connection paced with `delay()`),
//!    no swaps. Swaps: the same rate, while another thread activates v2,
//!    v1, v2, … every interval from the moment wrk starts sending.
//! 4. From the server's database, for each run: every event is done with
//!    exactly one decision and one record_event of the same version; the
//!    steady run was decided by v1 only, the swap run by both versions,
//!    changing with the swaps.
//!
//! 5. Shadow: v1 active, v2 shadowing it, the same rate again; the shadow
//!    compares every event of the run (after the run drains).
//!
//! Promises: no failed request (non-202 or socket error), no lost or
//! doubled event, both versions decided events; every event of the shadow
//! run decided by v1 alone and compared by the shadow, all the same (v2
//! decides as v1 does); and (full runs) the p99 of the 202 and of journal →
//! decision with swaps within 2× of without, and journal → decision with a
//! shadow within 1.1× of without.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::api::{Api, INBOUND_PATH};
use crate::journal::{Journal, Range};
use crate::load::{self, Db};
use crate::report::Report;
use crate::requests::{self, RequestFiles, Target};
use crate::server::Server;
use crate::setup::{self, PLUGIN};
use crate::wrk;

/// How much slower (p99) a run with swaps may be than one without.
pub const P99_RATIO_TARGET: f64 = 2.0;
/// How much slower (journal → decision p99) a run with a shadow may be
/// than one without: the shadow runs off the live path.
pub const SHADOW_P99_RATIO_TARGET: f64 = 1.1;

/// The custom section v2 carries.
const SECTION_NAME: &str = "smstrigger-proof";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny scale (3 s runs, a swap every 0.5 s, 8 connections, 500
    /// records, 200 requests/s); judges correctness only.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds of each run (steady, then swaps) [default: 60, smoke 3].
    #[arg(long)]
    pub duration: Option<u64>,
    /// Milliseconds between swaps [default: 1000, smoke 500].
    #[arg(long)]
    pub swap_every_ms: Option<u64>,
    /// Requests per second of both runs [default: half the measured peak,
    /// smoke 200].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of the peak measurement that sets the default rate.
    #[arg(long, default_value_t = 5)]
    pub peak_duration: u64,
    /// wrk connections [default: 64, smoke 8].
    #[arg(long)]
    pub connections: Option<usize>,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Records (distinct sender phones) [default: 10000, smoke 500].
    #[arg(long)]
    pub records: Option<usize>,
    /// Keep the work directory (data dir, log, request files); it is kept
    /// anyway when the run fails.
    #[arg(long)]
    pub keep: bool,
}

struct Scale {
    smoke: bool,
    duration: Duration,
    swap_every: Duration,
    rate: Option<f64>,
    peak_duration: Duration,
    connections: usize,
    threads: usize,
    records: usize,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let threads = args.threads.max(1);
        let (duration, every, rate, connections, records) = if args.smoke {
            (3, 500, Some(200.0), 8, 500)
        } else {
            (60, 1000, None, 64, 10_000)
        };
        Self {
            smoke: args.smoke,
            duration: Duration::from_secs(args.duration.unwrap_or(duration).max(1)),
            swap_every: Duration::from_millis(args.swap_every_ms.unwrap_or(every).max(10)),
            rate: args.rate.or(rate),
            peak_duration: Duration::from_secs(args.peak_duration.max(1)),
            connections: args.connections.unwrap_or(connections).max(threads),
            threads,
            records: args.records.unwrap_or(records).max(1),
        }
    }

    /// Requests per wrk thread for `duration` at `rate`/s, with margin.
    fn per_thread(&self, duration: Duration, rate: f64) -> usize {
        let total = duration.as_secs_f64() * rate * 1.5;
        (total / self.threads as f64).ceil() as usize + self.connections
    }

    fn drain_timeout(&self) -> Duration {
        Duration::from_secs(300) + self.duration * 10
    }
}

pub fn run(args: Args) -> Result<Report> {
    let scale = Scale::of(&args);
    load::in_work_dir("swap", scale.smoke, args.keep, |work, report| {
        run_in(&scale, work, report)
    })
}

fn run_in(scale: &Scale, work: &Path, report: &mut Report) -> Result<()> {
    let data = work.join("data");
    let log = work.join("server.log");
    let server = Server::smstrigger(&data, log.clone(), crate::http::EVENTS_PER_SECOND)?;
    let api = Api::new(&server.url)?;
    let client = Api::with_timeout(&server.url, Duration::from_secs(60))?;

    // 1. Set-up: v1 active and bound, v2 staged.
    let v1_bytes = setup::plugin_component()?;
    let v2_bytes = load::with_custom_section(
        &v1_bytes,
        SECTION_NAME,
        b"v2: the same component with this custom section appended",
    );
    let tenant = setup::tenant(
        &api,
        "swap",
        setup::phones(scale.records),
        &v1_bytes,
        json!({}),
    )?;
    let info = client.plugin(&tenant.keys.api_key, PLUGIN)?;
    let v1 = info["activeVersion"]
        .as_u64()
        .with_context(|| format!("the plugin has no active version: {info}"))?;
    let v2_upload = client.upload_staged(&tenant.keys.api_key, PLUGIN, &v2_bytes);
    report.correct(
        "v2 (custom section appended) accepted",
        v2_upload.is_ok(),
        match &v2_upload {
            Ok((v2, sha)) => format!(
                "v{v2} stored, not active, sha256 {}… ({} bytes, v1 is {} bytes)",
                &sha[..12.min(sha.len())],
                v2_bytes.len(),
                v1_bytes.len()
            ),
            Err(e) => format!("{e:#}"),
        },
    );
    let (v2, v2_sha) = v2_upload?;
    let v1_sha = load::sha256_hex(&v1_bytes);
    report.correct(
        "the versions differ in SHA-256 only",
        v1_sha != v2_sha && v1 != v2,
        format!(
            "v{v1} sha256 {}…, v{v2} sha256 {}…",
            &v1_sha[..12],
            &v2_sha[..12.min(v2_sha.len())]
        ),
    );
    report.note(format!(
        "tenant {} (project {}), {} records; v{v1} and v{v2} of {PLUGIN}; server log {}",
        tenant.keys.id,
        tenant.project,
        scale.records,
        log.display()
    ));

    let target = Target {
        project: tenant.project,
        secret: &tenant.keys.webhook_secret,
        phones: &tenant.phones,
    };
    let webhook = format!("{}{INBOUND_PATH}", server.url);
    let journal = Journal::open(&data)?;
    let db = Db::open(&data)?;

    // 2. The rate.
    let rate = match scale.rate {
        Some(rate) => rate,
        None => {
            let files = requests::write_files(
                &work.join("peak"),
                "peak",
                scale.threads,
                scale.per_thread(scale.peak_duration, 40_000.0),
                &target,
            )?;
            let peak = wrk_run(scale, &webhook, &files, scale.peak_duration, None)?;
            std::fs::remove_dir_all(&files.dir).ok();
            report.figure("peak_accepted_per_s", peak.accepted_per_s(), "events/s");
            report.correct(
                "peak run clean",
                peak.problems().is_empty(),
                run_detail(&peak),
            );
            journal.wait_drained(scale.drain_timeout())?;
            (peak.accepted_per_s() * 0.5).max(1.0)
        }
    };
    report.figure("rate_per_s", rate, "requests/s");
    report.note(format!(
        "{} s steady, then {} s with a swap every {} ms; {rate:.0} requests/s, \
         {} wrk threads, {} connections",
        scale.duration.as_secs(),
        scale.duration.as_secs(),
        scale.swap_every.as_millis(),
        scale.threads,
        scale.connections
    ));

    // 3a. Steady.
    let files = requests::write_files(
        &work.join("steady"),
        "steady",
        scale.threads,
        scale.per_thread(scale.duration, rate),
        &target,
    )?;
    let before = journal.last_event_id()?;
    let steady = wrk_run(scale, &webhook, &files, scale.duration, Some(rate))?;
    journal.wait_drained(scale.drain_timeout())?;
    let steady_range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    std::fs::remove_dir_all(&files.dir).ok();

    // 3b. Swaps.
    let files = requests::write_files(
        &work.join("swaps"),
        "swaps",
        scale.threads,
        scale.per_thread(scale.duration, rate),
        &target,
    )?;
    let before = journal.last_event_id()?;
    let stop = AtomicBool::new(false);
    let (swapping, swaps) = std::thread::scope(|scope| {
        let swapper = scope.spawn(|| {
            swap_loop(
                &client,
                &tenant.keys.api_key,
                [v2, v1],
                scale.swap_every,
                &files.dir.join("ready"),
                &stop,
            )
        });
        let out = wrk_run(scale, &webhook, &files, scale.duration, Some(rate));
        stop.store(true, Ordering::SeqCst);
        let swaps = swapper.join().expect("the swapper panicked");
        (out, swaps)
    });
    let swapping = swapping?;
    journal.wait_drained(scale.drain_timeout())?;
    let swap_range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    std::fs::remove_dir_all(&files.dir).ok();

    // 4. Judgement.
    for (name, out, range) in [
        ("steady", &steady, steady_range),
        ("swaps", &swapping, swap_range),
    ] {
        record_run(report, name, out);
        report.correct(
            &format!("{name}: no failed request"),
            out.problems().is_empty() && out.counts.accepted > 0,
            run_detail(out),
        );
        let acked = out.counts.accepted;
        let exactly = db.exactly_once(tenant.keys.id, PLUGIN, range)?;
        report.correct(
            &format!("{name}: events journaled as acknowledged"),
            exactly.events >= acked && exactly.events <= acked + scale.connections as u64,
            format!(
                "{} events journaled for {acked} acknowledged (in-flight margin {})",
                exactly.events, scale.connections
            ),
        );
        report.correct(
            &format!("{name}: every event decided and executed exactly once"),
            exactly.held(),
            exactly.summary(),
        );
        if !exactly.held() {
            for line in journal.misexecuted(range, 5)? {
                report.note(format!("{name}: {line}"));
            }
        }
    }

    let steady_versions = db.decisions_by_version(tenant.keys.id, PLUGIN, steady_range)?;
    report.correct(
        "steady: decided by v1 only",
        steady_versions.len() == 1 && steady_versions[0].0 == Some(v1),
        format!("decisions by version: {}", versions_text(&steady_versions)),
    );
    let swap_versions = db.decisions_by_version(tenant.keys.id, PLUGIN, swap_range)?;
    let count_of = |v: u64| {
        swap_versions
            .iter()
            .find(|(version, _)| *version == Some(v))
            .map_or(0, |(_, n)| *n)
    };
    let (by_v1, by_v2) = (count_of(v1), count_of(v2));
    let changes = db.version_changes(tenant.keys.id, PLUGIN, swap_range)?;
    let swapped = swaps.ok;
    report.figure("swaps", swapped as f64, "activations");
    report.figure("swap_failures", swaps.failed.len() as f64, "activations");
    report.figure("swap_call_p99_ms", swaps.p99_ms(), "ms");
    report.figure("swaps_decided_by_v1", by_v1 as f64, "events");
    report.figure("swaps_decided_by_v2", by_v2 as f64, "events");
    report.figure("version_changes", changes as f64, "changes");
    report.correct(
        "every activation answered 200",
        swaps.failed.is_empty() && swapped > 0,
        if swaps.failed.is_empty() {
            format!("{swapped} activations")
        } else {
            format!(
                "{} of {} failed, first: {}",
                swaps.failed.len(),
                swapped + swaps.failed.len() as u64,
                swaps.failed[0]
            )
        },
    );
    report.correct(
        "the versions alternate",
        by_v1 > 0 && by_v2 > 0 && swap_versions.len() == 2 && changes >= swapped / 2 && changes > 0,
        format!(
            "decisions by version: {}; the deciding version changed {changes} times \
             (in decision order) over {swapped} swaps (promise: both versions decide, \
             at least one change per two swaps)",
            versions_text(&swap_versions)
        ),
    );

    // Speed: p99s with swaps against without.
    let ack_ratio = load::ratio(swapping.p99_ms, steady.p99_ms);
    report.figure("ack_p99_ratio", ack_ratio, "x");
    report.speed(
        "202 p99 with swaps",
        ack_ratio <= P99_RATIO_TARGET,
        format!(
            "{:.2} ms with swaps vs {:.2} ms without = {ack_ratio:.2}x (target <= {P99_RATIO_TARGET:.0}x)",
            swapping.p99_ms, steady.p99_ms
        ),
    );
    let steady_t = journal.timings(steady_range)?;
    let swap_t = journal.timings(swap_range)?;
    report.correct(
        "decision times recorded",
        steady_t.undecided == 0 && swap_t.undecided == 0,
        format!(
            "{} + {} events lack decided_us",
            steady_t.undecided, swap_t.undecided
        ),
    );
    for (name, t) in [("steady", &steady_t), ("swaps", &swap_t)] {
        report.figure(&format!("{name}_decision_p50_ms"), t.latency_ms(50.0), "ms");
        report.figure(&format!("{name}_decision_p99_ms"), t.latency_ms(99.0), "ms");
        report.figure(
            &format!("{name}_decision_max_ms"),
            t.latency_ms(100.0),
            "ms",
        );
    }
    let decision_ratio = load::ratio(swap_t.latency_ms(99.0), steady_t.latency_ms(99.0));
    report.figure("decision_p99_ratio", decision_ratio, "x");
    report.speed(
        "journal-to-decision p99 with swaps",
        decision_ratio <= P99_RATIO_TARGET,
        format!(
            "{:.2} ms with swaps vs {:.2} ms without = {decision_ratio:.2}x (target <= {P99_RATIO_TARGET:.0}x)",
            swap_t.latency_ms(99.0),
            steady_t.latency_ms(99.0)
        ),
    );

    // 5. A shadow of v2 beside v1 at the same rate.
    client.activate(&tenant.keys.api_key, PLUGIN, v1)?;
    let started = client.start_shadow(&tenant.keys.api_key, PLUGIN, v2)?;
    report.note(format!("shadow started: {started}"));
    let files = requests::write_files(
        &work.join("shadow"),
        "shadow",
        scale.threads,
        scale.per_thread(scale.duration, rate),
        &target,
    )?;
    let before = journal.last_event_id()?;
    let shadowed = wrk_run(scale, &webhook, &files, scale.duration, Some(rate))?;
    journal.wait_drained(scale.drain_timeout())?;
    let shadow_range = Range {
        after: before,
        upto: journal.last_event_id()?,
    };
    std::fs::remove_dir_all(&files.dir).ok();
    record_run(report, "shadow", &shadowed);
    let exactly = db.exactly_once(tenant.keys.id, PLUGIN, shadow_range)?;
    report.correct(
        "shadow: every event decided and executed exactly once",
        shadowed.problems().is_empty() && exactly.held(),
        format!("{}; {}", run_detail(&shadowed), exactly.summary()),
    );
    let shadow_versions = db.decisions_by_version(tenant.keys.id, PLUGIN, shadow_range)?;
    report.correct(
        "shadow: decided by v1 only (the shadow executes nothing)",
        shadow_versions.len() == 1 && shadow_versions[0].0 == Some(v1),
        format!("decisions by version: {}", versions_text(&shadow_versions)),
    );
    let compared = wait_compared(
        &client,
        &tenant.keys.api_key,
        shadow_range.upto,
        scale.drain_timeout(),
    )?;
    let count = |key: &str| compared[key].as_u64().unwrap_or(0);
    report.figure("shadow_compared_same", count("same") as f64, "events");
    report.correct(
        "shadow: every event compared, all the same",
        count("same") == exactly.events && count("different") == 0 && count("failed") == 0,
        format!(
            "{} same, {} different, {} failed of {} events decided",
            count("same"),
            count("different"),
            count("failed"),
            exactly.events
        ),
    );
    let shadow_t = journal.timings(shadow_range)?;
    report.figure("shadow_decision_p99_ms", shadow_t.latency_ms(99.0), "ms");
    let shadow_ratio = load::ratio(shadow_t.latency_ms(99.0), steady_t.latency_ms(99.0));
    report.figure("shadow_decision_p99_ratio", shadow_ratio, "x");
    report.speed(
        "journal-to-decision p99 with a shadow",
        shadow_ratio <= SHADOW_P99_RATIO_TARGET,
        format!(
            "{:.2} ms with a shadow vs {:.2} ms without = {shadow_ratio:.2}x (target <= {SHADOW_P99_RATIO_TARGET}x)",
            shadow_t.latency_ms(99.0),
            steady_t.latency_ms(99.0)
        ),
    );

    let status = server.terminate(Duration::from_secs(60))?;
    report.correct(
        "clean stop",
        status.success(),
        format!("the server exited with {status} after SIGTERM"),
    );
    Ok(())
}

/// The shadow's report once it has compared up to event `upto`.
fn wait_compared(
    client: &Api,
    api_key: &str,
    upto: u64,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let report = client.shadow(api_key, PLUGIN)?;
        if report["comparedTo"].as_u64().unwrap_or(0) >= upto {
            return Ok(report);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the shadow compared up to {} of {upto}: {report}",
                report["comparedTo"]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the swapper did.
#[derive(Debug, Default)]
struct Swaps {
    ok: u64,
    failed: Vec<String>,
    /// How long each activation call took, µs.
    call_us: Vec<i64>,
}

impl Swaps {
    fn p99_ms(&self) -> f64 {
        let mut sorted = self.call_us.clone();
        sorted.sort_unstable();
        load::ms(&sorted, 99.0)
    }
}

/// Once `ready` exists (wrk is about to send), activates `versions[0]`,
/// `versions[1]`, `versions[0]`, … every `every` until `stop`.
fn swap_loop(
    client: &Api,
    api_key: &str,
    versions: [u64; 2],
    every: Duration,
    ready: &Path,
    stop: &AtomicBool,
) -> Swaps {
    let mut swaps = Swaps::default();
    while !ready.exists() {
        if stop.load(Ordering::SeqCst) {
            return swaps;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    for k in 1u32.. {
        let due = started + every * k;
        loop {
            if stop.load(Ordering::SeqCst) {
                return swaps;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(10)));
        }
        let version = versions[(k as usize - 1) % 2];
        let called = Instant::now();
        match client.activate(api_key, PLUGIN, version) {
            Ok(()) => {
                swaps.ok += 1;
                swaps.call_us.push(called.elapsed().as_micros() as i64);
            }
            Err(e) => swaps.failed.push(format!("activating v{version}: {e:#}")),
        }
    }
    swaps
}

fn wrk_run(
    scale: &Scale,
    url: &str,
    files: &RequestFiles,
    duration: Duration,
    rate: Option<f64>,
) -> Result<wrk::Output> {
    wrk::Run {
        url: url.to_string(),
        threads: scale.threads,
        connections: scale.connections,
        duration,
        files,
        rate,
    }
    .run()
}

fn record_run(report: &mut Report, name: &str, out: &wrk::Output) {
    let key = |what: &str| format!("{name}_{what}");
    report.figure(&key("accepted"), out.counts.accepted as f64, "events");
    report.figure(&key("accepted_per_s"), out.accepted_per_s(), "events/s");
    report.figure(&key("ack_p50_ms"), out.p50_ms, "ms");
    report.figure(&key("ack_p99_ms"), out.p99_ms, "ms");
    report.figure(&key("non_2xx"), out.non_2xx as f64, "answers");
    report.figure(
        &key("socket_errors"),
        out.socket_errors.total() as f64,
        "errors",
    );
}

fn run_detail(out: &wrk::Output) -> String {
    let problems = out.problems();
    if problems.is_empty() {
        format!(
            "{} requests, all 202 accepted, no socket errors",
            out.requests
        )
    } else {
        problems.join("; ")
    }
}

fn versions_text(versions: &[(Option<u64>, u64)]) -> String {
    if versions.is_empty() {
        return "none".into();
    }
    versions
        .iter()
        .map(|(v, n)| match v {
            Some(v) => format!("v{v} {n}"),
            None => format!("no version {n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
