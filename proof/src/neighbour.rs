//! `smstrigger-proof neighbour`: a noisy neighbour.
//!
//! Tenant B (`reply-call-time`, as in `http`) sends a steady 10 events/s
//! from a small Rust loop (signed webhooks, every answer kept). Tenant A
//! has the hostile test plugin bound with an attack (default `loop`: it
//! burns its whole fuel budget on every event) and floods the webhook with
//! wrk far over its events-per-second quota.
//!
//! The quota is the server's `events_per_second` (`SMSTRIGGER_EVENTS_PER_SECOND`),
//! the same for every tenant: the API sets per-tenant *plugin* limits
//! (fuel, memory, deadline) but not a per-tenant event rate. It is set low
//! (default 100/s) so that A's flood is far over it and B's 10/s is not.
//!
//! 1. Alone: B for a block; B's journal → decision latency.
//! 2. With A: A's wrk flood starts; a second later B runs again for a
//!    block of the same length; then A's backlog drains.
//!
//! Full runs repeat (1, 2) in three rounds of 10 s blocks (30 s of each
//! in all): other processes sharing the machine then weigh on B alone and
//! on B with A alike, instead of on whichever phase they happen to meet.
//!
//! Promises: B got only 202s (no 429, no other status, no error), every B
//! event was decided and executed exactly once, A got 429s, every A event
//! failed inside the sandbox (with `loop`: out of fuel or past the
//! deadline); and (full runs) B's p99 with A within 2× of B's p99 alone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::api::{Api, INBOUND_PATH};
use crate::journal::{Journal, Range};
use crate::load::{self, Bodies, Db, Tally};
use crate::report::Report;
use crate::requests::{self, Target};
use crate::server::Server;
use crate::setup::{self, PLUGIN};
use crate::wrk;

/// How much slower (p99) B may be with A flooding than alone.
pub const P99_RATIO_TARGET: f64 = 2.0;

/// The name A installs the hostile plugin under.
const HOSTILE: &str = "hostile";

/// The error codes of a plugin stopped for using too much CPU.
const CPU_CODES: [&str; 2] = ["out_of_fuel", "deadline_exceeded"];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny scale (3 s phases, quota 20/s, a 300/s flood, few records);
    /// judges correctness only.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds of each phase (B alone; B with A), over all rounds
    /// [default: 30, smoke 3].
    #[arg(long)]
    pub duration: Option<u64>,
    /// Rounds of (B alone, B with A), each a `duration / rounds` long
    /// block, so that other load on the machine weighs on both alike
    /// [default: 3, smoke 1].
    #[arg(long)]
    pub rounds: Option<u32>,
    /// The server's events-per-second quota (every tenant's)
    /// [default: 100, smoke 20].
    #[arg(long)]
    pub quota: Option<u32>,
    /// B's events per second.
    #[arg(long, default_value_t = 10.0)]
    pub b_rate: f64,
    /// A's requests per second (wrk, paced); 0: as fast as wrk can
    /// [default: 2000, smoke 300].
    #[arg(long)]
    pub flood_rate: Option<f64>,
    /// The hostile plugin's attack (its `attack` config key).
    #[arg(long, default_value = "loop")]
    pub attack: String,
    /// A's own fuel limit, set by the operator (`PUT /v1/tenants/{id}/limits`)
    /// [default: not set: the server's default budget].
    #[arg(long)]
    pub a_fuel: Option<u64>,
    /// wrk connections of the flood [default: 32, smoke 8].
    #[arg(long)]
    pub connections: Option<usize>,
    /// wrk threads of the flood.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// B's records [default: 10000, smoke 500].
    #[arg(long)]
    pub records: Option<usize>,
    /// Keep the work directory (data dir, log); it is kept anyway when
    /// the run fails.
    #[arg(long)]
    pub keep: bool,
}

struct Scale {
    smoke: bool,
    duration: Duration,
    rounds: u32,
    quota: u32,
    b_rate: f64,
    flood_rate: Option<f64>,
    attack: String,
    a_fuel: Option<u64>,
    connections: usize,
    threads: usize,
    records: usize,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let threads = args.threads.max(1);
        let (duration, rounds, quota, flood, connections, records) = if args.smoke {
            (3, 1, 20, 300.0, 8, 500)
        } else {
            (30, 3, 100, 2_000.0, 32, 10_000)
        };
        let flood_rate = args.flood_rate.unwrap_or(flood);
        Self {
            smoke: args.smoke,
            duration: Duration::from_secs(args.duration.unwrap_or(duration).max(1)),
            rounds: args.rounds.unwrap_or(rounds).max(1),
            quota: args.quota.unwrap_or(quota).max(1),
            b_rate: args.b_rate.max(0.1),
            flood_rate: (flood_rate > 0.0).then_some(flood_rate),
            attack: args.attack.clone(),
            a_fuel: args.a_fuel,
            connections: args.connections.unwrap_or(connections).max(threads),
            threads,
            records: args.records.unwrap_or(records).max(1),
        }
    }
}

pub fn run(args: Args) -> Result<Report> {
    let scale = Scale::of(&args);
    load::in_work_dir("neighbour", scale.smoke, args.keep, |work, report| {
        run_in(&scale, work, report)
    })
}

fn run_in(scale: &Scale, work: &Path, report: &mut Report) -> Result<()> {
    let data = work.join("data");
    let log = work.join("server.log");
    let server = Server::smstrigger(&data, log.clone(), scale.quota)?;
    let api = Api::new(&server.url)?;
    let client = Api::with_timeout(&server.url, Duration::from_secs(30))?;

    // Set-up: B as in `http`, A with the hostile plugin.
    let b = setup::tenant(
        &api,
        "quiet-b",
        setup::phones(scale.records),
        &setup::plugin_component()?,
        json!({}),
    )?;
    let hostile_path = smstrigger_test_components::HOSTILE_PLUGIN;
    let hostile = std::fs::read(hostile_path)
        .with_context(|| format!("reading the hostile plugin {hostile_path}"))?;
    let a_keys = api.create_tenant("noisy-a")?;
    let a_project = api.create_project(&a_keys, "noisy-a-collections")?;
    let a_phones = setup::phones(scale.records.min(1_000));
    api.import_records(&a_keys, a_project, &a_phones)?;
    api.upload_plugin(&a_keys, HOSTILE, &hostile)?;
    api.bind(
        &a_keys,
        a_project,
        HOSTILE,
        json!({ "attack": scale.attack }),
    )?;
    if let Some(fuel) = scale.a_fuel {
        let limits = client.set_limits(a_keys.id, &json!({ "fuel": fuel }))?;
        report.note(format!("A's limits set by the operator: {limits}"));
    }
    let flood_text = match scale.flood_rate {
        Some(rate) => format!("{rate:.0} requests/s (paced)"),
        None => "as fast as wrk can".to_string(),
    };
    report.note(format!(
        "server quota events_per_second = {} (SMSTRIGGER_EVENTS_PER_SECOND; the same for \
         every tenant: the API has per-tenant plugin limits but no per-tenant event rate)",
        scale.quota
    ));
    report.note(format!(
        "B: tenant {} (project {}), {} records, {PLUGIN}, {} events/s; A: tenant {} \
         (project {a_project}), hostile plugin with attack `{}` and the default plugin \
         limits, flooding {flood_text} with {} wrk connections; {} s of B alone and {} s of B \
         with A, in {} rounds of alone then with; server log {}",
        b.keys.id,
        b.project,
        scale.records,
        scale.b_rate,
        a_keys.id,
        scale.attack,
        scale.connections,
        scale.duration.as_secs(),
        scale.duration.as_secs(),
        scale.rounds,
        log.display()
    ));

    let journal = Journal::open(&data)?;
    let db = Db::open(&data)?;
    let webhook = format!("{}{INBOUND_PATH}", server.url);
    let wait = Duration::from_secs(120) + scale.duration * 4;

    // Rounds of (B alone, then B with A flooding): with more than one,
    // whatever else loads the machine weighs on both alike.
    let block = scale.duration / scale.rounds;
    let start = journal.last_event_id()?;
    let flood_start = start;
    let mut alone = Vec::new();
    let mut with = Vec::new();
    let mut floods = Vec::new();
    let mut drains = Vec::new();
    for round in 0..scale.rounds {
        // B alone.
        let sent = load::paced(
            &client,
            &b.keys.webhook_secret,
            &Bodies::new(b.project, &b.phones, format!("alone-{round}")),
            scale.b_rate,
            block,
        );
        journal.wait_decided(&load::accepted_ids(&sent), wait)?;
        alone.extend(sent);

        // B with A flooding.
        let flood_secs = block + Duration::from_secs(3);
        let per_thread = match scale.flood_rate {
            Some(rate) => {
                (flood_secs.as_secs_f64() * rate * 1.2 / scale.threads as f64).ceil() as usize
                    + scale.connections
            }
            None => 100_000,
        };
        let files = requests::write_files(
            &work.join(format!("flood-{round}")),
            &format!("flood-{round}"),
            scale.threads,
            per_thread,
            &Target {
                project: a_project,
                secret: &a_keys.webhook_secret,
                phones: &a_phones,
            },
        )?;
        let (flood, sent) = std::thread::scope(|scope| -> Result<_> {
            let flood = scope.spawn(|| {
                wrk::Run {
                    url: webhook.clone(),
                    threads: scale.threads,
                    connections: scale.connections,
                    duration: flood_secs,
                    files: &files,
                    rate: scale.flood_rate,
                }
                .run()
            });
            let ready = files.dir.join("ready");
            let deadline = Instant::now() + Duration::from_secs(120);
            while !ready.exists() && !flood.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            // A second of flood first: B meets A's steady state.
            std::thread::sleep(Duration::from_secs(1));
            let sent = load::paced(
                &client,
                &b.keys.webhook_secret,
                &Bodies::new(b.project, &b.phones, format!("with-{round}")),
                scale.b_rate,
                block,
            );
            let flood = flood.join().expect("the flood thread panicked");
            Ok((flood, sent))
        })?;
        floods.push(flood?);
        journal.wait_decided(&load::accepted_ids(&sent), wait)?;
        with.extend(sent);
        std::fs::remove_dir_all(&files.dir).ok();
        // A's backlog drains before B is alone again.
        drains.push(journal.wait_drained(wait));
    }
    let flood_end = journal.last_event_id()?;
    let drain_failures: Vec<String> = drains
        .iter()
        .filter_map(|d| d.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    let slowest = drains
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .max()
        .copied()
        .unwrap_or_default();
    report.correct(
        "everything drained",
        drain_failures.is_empty(),
        if drain_failures.is_empty() {
            format!(
                "nothing pending at most {:.1} s after B's last answer of a round",
                slowest.as_secs_f64()
            )
        } else {
            drain_failures.join("; ")
        },
    );
    let upto = journal.last_event_id()?;
    let flood = sum(&floods);

    // B's answers and decisions.
    for (name, sent) in [("alone", &alone), ("with_a", &with)] {
        let tally = Tally::of(sent);
        report.correct(
            &format!("B {name}: every webhook accepted (no 429, no other status)"),
            tally.all_accepted(),
            tally.summary(),
        );
        report.figure(&format!("b_{name}_sent"), tally.sent as f64, "requests");
        report.figure(
            &format!("b_{name}_429"),
            tally.status(429) as f64,
            "answers",
        );
        report.figure(
            &format!("b_{name}_ack_p99_ms"),
            load::ack_latency_ms(sent, 99.0),
            "ms",
        );
    }
    let b_range = Range { after: start, upto };
    let exactly = db.exactly_once(b.keys.id, PLUGIN, b_range)?;
    let acked = load::accepted_ids(&alone).len() + load::accepted_ids(&with).len();
    report.correct(
        "B: every event decided and executed exactly once",
        exactly.held() && exactly.events == acked as u64,
        format!("{acked} acknowledged; {}", exactly.summary()),
    );
    let (alone_us, alone_missing) = db.latencies(&load::accepted_ids(&alone))?;
    let (with_us, with_missing) = db.latencies(&load::accepted_ids(&with))?;
    report.correct(
        "B: decision times recorded",
        alone_missing == 0 && with_missing == 0 && !alone_us.is_empty() && !with_us.is_empty(),
        format!("{alone_missing} + {with_missing} of B's events lack decided_us"),
    );
    for (name, us) in [("alone", &alone_us), ("with_a", &with_us)] {
        report.figure(
            &format!("b_{name}_decision_p50_ms"),
            load::ms(us, 50.0),
            "ms",
        );
        report.figure(
            &format!("b_{name}_decision_p99_ms"),
            load::ms(us, 99.0),
            "ms",
        );
        report.figure(
            &format!("b_{name}_decision_max_ms"),
            load::ms(us, 100.0),
            "ms",
        );
    }
    let (p99_alone, p99_with) = (load::ms(&alone_us, 99.0), load::ms(&with_us, 99.0));
    let ratio = load::ratio(p99_with, p99_alone);
    report.figure("b_decision_p99_ratio", ratio, "x");
    report.speed(
        "B's journal-to-decision p99 with A flooding",
        ratio <= P99_RATIO_TARGET,
        format!(
            "{p99_with:.2} ms with A vs {p99_alone:.2} ms alone = {ratio:.2}x \
             (target <= {P99_RATIO_TARGET:.0}x; {} and {} samples)",
            with_us.len(),
            alone_us.len()
        ),
    );

    // A: its answers, its accepted rate, how its events ended.
    let a_range = Range {
        after: flood_start,
        upto,
    };
    report.figure("a_requests", flood.requests as f64, "requests");
    report.figure("a_requests_per_s", flood.requests_per_s, "requests/s");
    report.figure("a_202_accepted", flood.counts.accepted as f64, "answers");
    report.figure("a_202_duplicate", flood.counts.duplicate as f64, "answers");
    report.figure("a_429", flood.counts.s429 as f64, "answers");
    report.figure(
        "a_other_non_202",
        flood.counts.non202.saturating_sub(flood.counts.s429) as f64,
        "answers",
    );
    report.figure(
        "a_socket_errors",
        flood.socket_errors.total() as f64,
        "errors",
    );
    report.figure("a_ack_p99_ms_worst_round", flood.p99_ms, "ms");
    report.correct(
        "A got 429s",
        flood.counts.s429 > 0,
        format!(
            "{} of {} requests answered 429, {} accepted, {} other non-202",
            flood.counts.s429,
            flood.requests,
            flood.counts.accepted,
            flood.counts.non202.saturating_sub(flood.counts.s429)
        ),
    );
    // A's events are journaled only while it floods.
    let (a_events, _, _) = db.accepted_span(a_keys.id, a_range)?;
    let a_rate = load::ratio(a_events as f64, flood.duration_s);
    report.figure("a_events_journaled", a_events as f64, "events");
    report.figure("a_accepted_per_s", a_rate, "events/s");
    let (fuel, run_us) = db.mean_cost(a_keys.id, a_range)?;
    report.figure("a_mean_fuel", fuel.unwrap_or(f64::NAN), "units");
    report.figure(
        "a_mean_run_ms",
        run_us.map_or(f64::NAN, |us| us / 1000.0),
        "ms",
    );
    let endings = db.endings(a_keys.id, a_range)?;
    let endings_text = endings
        .iter()
        .map(|(state, code, n)| format!("{state}/{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    for (state, code, n) in &endings {
        report.figure(&format!("a_{state}_{code}"), *n as f64, "events");
    }
    if scale.attack == "loop" {
        let contained = a_events > 0
            && endings
                .iter()
                .all(|(state, code, _)| state == "failed" && CPU_CODES.contains(&code.as_str()));
        report.correct(
            "A's events all failed in the sandbox (out of fuel or past the deadline)",
            contained,
            format!("A's events: {endings_text}"),
        );
    } else {
        report.note(format!("A's events: {endings_text}"));
    }
    report.note(format!(
        "A's flood: wrk {:.0} requests/s over {:.1} s in all; {} of A's events journaled \
         among events {}..={}",
        flood.requests_per_s,
        flood.duration_s,
        a_events,
        flood_start + 1,
        flood_end
    ));

    let status = server.terminate(Duration::from_secs(60))?;
    report.correct(
        "clean stop",
        status.success(),
        format!("the server exited with {status} after SIGTERM"),
    );
    Ok(())
}

/// The rounds' floods together: counts and durations added, the request
/// rate over the total duration, the worst p99.
fn sum(floods: &[wrk::Output]) -> wrk::Output {
    let mut sum = wrk::Output::default();
    for out in floods {
        sum.requests += out.requests;
        sum.duration_s += out.duration_s;
        sum.p99_ms = sum.p99_ms.max(out.p99_ms);
        sum.non_2xx += out.non_2xx;
        sum.socket_errors.connect += out.socket_errors.connect;
        sum.socket_errors.read += out.socket_errors.read;
        sum.socket_errors.write += out.socket_errors.write;
        sum.socket_errors.timeout += out.socket_errors.timeout;
        sum.counts.accepted += out.counts.accepted;
        sum.counts.duplicate += out.counts.duplicate;
        sum.counts.other202 += out.counts.other202;
        sum.counts.non202 += out.counts.non202;
        sum.counts.s429 += out.counts.s429;
    }
    if sum.duration_s > 0.0 {
        sum.requests_per_s = sum.requests as f64 / sum.duration_s;
    }
    sum
}
