//! `smstrigger-proof isolation`: a quiet tenant beside a hostile one.
//!
//! Tenant Q (`reply-call-time`, as in `http`) sends a steady stream of
//! signed webhooks (default 20/s). Tenant H ([`crate::hostile`]) has the
//! hostile test plugin bound with `sleep`, `wait-for-clock`, `loop` and
//! `memory` (one project each) and sends its own events to all of them;
//! floods dry runs (of `loop`) and replays from many threads; uploads
//! compile bombs; and points its executor at a loopback listener that
//! accepts and never answers, so the actions of a fifth project (`state`:
//! one Discard per event) queue in its outbox. The server runs with the
//! operator's `[remote] allow_http = true` and `allow_networks =
//! ["127.0.0.0/8"]`, so that URL is allowed.
//!
//! Rounds of (Q alone; Q with H's barrage), so that other load on the
//! machine weighs on both alike. After the last round the server gets
//! SIGTERM.
//!
//! Promises: Q got only 202s (no 429, no error) and every Q event was
//! decided and executed exactly once; each of H's events ended as its
//! attack may (sleep: decided, which a 3 s sleep under a 1 s deadline
//! could not be; wait-for-clock and loop:
//! `out_of_fuel` or `deadline_exceeded`; memory: `memory_limit`; the
//! remote project: decided, its one action pending in the outbox); H's
//! webhooks got 202 or 429, its dry runs and replays 200 or 429 (some
//! 429), its bombs 422 naming the bound or 429, and no bomb was kept; no
//! 5xx anywhere (answers and `/metrics`); the server exited 0 within its
//! shutdown grace and a margin; and (full runs) Q's journal → decision p99
//! with H within 2× of Q alone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::api::Api;
use crate::contained::Contained;
use crate::hostile::{self, ATTACKS, Answers, Intensity, REMOTE_ATTACK, Silent};
use crate::journal::{Journal, Range};
use crate::load::{self, Answer, Bodies, Db, Tally};
use crate::report::Report;
use crate::server::{OPERATOR_KEY, Server, Spawn, free_port};
use crate::setup::{self, PLUGIN};

/// How much slower (p99) Q may be with H than alone.
pub const P99_RATIO_TARGET: f64 = 2.0;

/// The server's `shutdown_grace_secs` in this scenario (the default).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How much past its grace the server may take to exit after SIGTERM.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// The server's per-tenant events-per-second quota: over H's and Q's
/// rates, so their events are journaled and H's fail in the sandbox.
const EVENTS_PER_SECOND: u32 = 1_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny scale (3 s phases, slower barrage, only bombs the bounds
    /// refuse); judges correctness only.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds of each phase (Q alone; Q with H), over all rounds
    /// [default: 30, smoke 3].
    #[arg(long)]
    pub duration: Option<u64>,
    /// Rounds of (Q alone, Q with H) [default: 3, smoke 1].
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Q's events per second.
    #[arg(long, default_value_t = 20.0)]
    pub q_rate: f64,
    /// H's events per second over its five projects [default: 10, smoke
    /// 5: its CPU-heavy events run one at a time at a low priority, each
    /// up to its 1 s deadline, and drain slowly after each round].
    #[arg(long)]
    pub h_rate: Option<f64>,
    /// H's dry runs and replays per second (paced; 0: none, to see what
    /// the rest costs Q) [default: 200, smoke 50].
    #[arg(long)]
    pub flood_rate: Option<f64>,
    /// Threads sending H's dry runs and replays (more than the
    /// per-tenant cap of 4 in flight) [default: 8].
    #[arg(long)]
    pub flood_threads: Option<usize>,
    /// H uploads no compile bombs (to see what the rest costs Q).
    #[arg(long)]
    pub no_bombs: bool,
    /// Q's records [default: 2000, smoke 200].
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
    q_rate: f64,
    intensity: Intensity,
    records: usize,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let smoke = args.smoke;
        let (duration, rounds, h_rate, flood_rate, threads, records) = if smoke {
            (3, 1, 5.0, 50.0, 8, 200)
        } else {
            (30, 3, 10.0, 200.0, 8, 2_000)
        };
        Self {
            smoke,
            duration: Duration::from_secs(args.duration.unwrap_or(duration).max(1)),
            rounds: args.rounds.unwrap_or(rounds).max(1),
            q_rate: args.q_rate.max(0.1),
            intensity: Intensity {
                event_rate: args.h_rate.unwrap_or(h_rate).max(0.1),
                flood_threads: args.flood_threads.unwrap_or(threads).max(1),
                flood_rate: args.flood_rate.unwrap_or(flood_rate).max(0.0),
                // A replay runs each CPU-heavy decision again, up to its
                // 1 s deadline (`wait-for-clock` always reaches it).
                replay_limit: 10,
                bombs: !args.no_bombs,
                // In smoke runs the admitted bomb's compile, cut at 1 s of
                // CPU at a low priority, can take many seconds of wall
                // time on a busy machine.
                admitted_bomb: !smoke,
                upload_interval: Duration::from_millis(500),
            },
            records: args.records.unwrap_or(records).max(1),
        }
    }
}

pub fn run(args: Args) -> Result<Report> {
    let scale = Scale::of(&args);
    load::in_work_dir("isolation", scale.smoke, args.keep, |work, report| {
        run_in(&scale, work, report)
    })
}

/// The server's config file: remote URLs on loopback allowed over http
/// (for H's silent remote); every other setting the default.
fn write_config(work: &Path) -> Result<std::path::PathBuf> {
    let path = work.join("smstrigger.toml");
    let text = format!(
        "shutdown_grace_secs = {}\n\n[remote]\nallow_http = true\n\
         allow_networks = [\"127.0.0.0/8\"]\n",
        SHUTDOWN_GRACE.as_secs()
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn run_in(scale: &Scale, work: &Path, report: &mut Report) -> Result<()> {
    let began = Instant::now();
    let data = work.join("data");
    let log = work.join("server.log");
    let config = write_config(work)?;
    let mut spawn = Spawn::smstrigger(&data, free_port()?, log.clone(), EVENTS_PER_SECOND)?;
    spawn
        .args
        .extend(["--config".into(), config.display().to_string()]);
    let server = Server::start(spawn)?;
    let api = Api::new(&server.url)?;
    let client = Api::with_timeout(&server.url, Duration::from_secs(30))?;

    let silent = Silent::start()?;
    let q = setup::tenant(
        &api,
        "quiet-q",
        setup::phones(scale.records),
        &setup::plugin_component()?,
        json!({}),
    )?;
    let h = hostile::set_up(&api, 50, &silent.url)?;
    report.figure("setup_s", began.elapsed().as_secs_f64(), "s");
    let i = &scale.intensity;
    report.note(format!(
        "Q: tenant {} (project {}), {} records, {PLUGIN}, {} events/s. H: tenant {}, the hostile \
         plugin bound in five projects ({}), {} events/s over them, {} dry runs and replays/s \
         from {} threads, compile bombs every {} ms{}, executor at {} (accepts, never answers). {} s of Q alone and {} s of Q with H, in {} rounds; \
         server log {}",
        q.keys.id,
        q.project,
        scale.records,
        scale.q_rate,
        h.keys.id,
        ATTACKS.map(|attack| attack.name).join(", "),
        i.event_rate,
        i.flood_rate,
        i.flood_threads,
        i.upload_interval.as_millis(),
        if i.admitted_bomb {
            " after one the bounds admit"
        } else {
            " (only ones the bounds refuse)"
        },
        silent.url,
        scale.duration.as_secs(),
        scale.duration.as_secs(),
        scale.rounds,
        log.display()
    ));

    let journal = Journal::open(&data)?;
    let db = Db::open(&data)?;
    let wait = Duration::from_secs(120) + scale.duration * 4;
    let block = scale.duration / scale.rounds;
    let start = journal.last_event_id()?;
    let (mut alone, mut with, mut answers) = (Vec::new(), Vec::new(), Answers::default());
    let mut drains = Vec::new();
    for round in 0..scale.rounds {
        let sent = load::paced(
            &client,
            &q.keys.webhook_secret,
            &Bodies::new(q.project, &q.phones, format!("alone-{round}")),
            scale.q_rate,
            block,
        );
        journal.wait_decided(&load::accepted_ids(&sent), wait)?;
        alone.extend(sent);

        // H for a second more than Q, starting a second before it.
        let (barrage, sent) = std::thread::scope(|scope| {
            let barrage = scope.spawn(|| {
                hostile::barrage(
                    &api,
                    &h,
                    i,
                    &round.to_string(),
                    block + Duration::from_secs(1),
                )
            });
            std::thread::sleep(Duration::from_secs(1));
            let sent = load::paced(
                &client,
                &q.keys.webhook_secret,
                &Bodies::new(q.project, &q.phones, format!("with-{round}")),
                scale.q_rate,
                block,
            );
            (barrage.join().expect("H's barrage panicked"), sent)
        });
        answers.extend(barrage);
        journal.wait_decided(&load::accepted_ids(&sent), wait)?;
        with.extend(sent);
        // H's events are decided before Q is alone again.
        drains.push(journal.wait_drained(wait));
    }
    report.figure("rounds_s", began.elapsed().as_secs_f64(), "s");
    let upto = journal.last_event_id()?;
    let range = Range { after: start, upto };
    let drain_failures: Vec<String> = drains
        .iter()
        .filter_map(|d| d.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    report.correct(
        "everything drained after each round",
        drain_failures.is_empty(),
        drain_failures.join("; "),
    );

    judge_quiet(report, &db, &q.keys, range, &alone, &with)?;
    judge_hostile(report, &data, &client, &h, range, &answers)?;
    judge_metrics(report, &client);

    let accepted = silent.stop();
    report.figure("silent_remote_connections", accepted as f64, "connections");
    let stopping = Instant::now();
    let status = server.terminate(SHUTDOWN_GRACE + Duration::from_secs(60))?;
    let took = stopping.elapsed();
    report.figure("sigterm_to_exit_ms", took.as_secs_f64() * 1000.0, "ms");
    report.correct(
        "clean stop: exit 0 within the shutdown grace and a margin after SIGTERM",
        status.success() && took <= SHUTDOWN_GRACE + SHUTDOWN_MARGIN,
        format!(
            "exited with {status} {:.1} s after SIGTERM (grace {} s + {} s margin)",
            took.as_secs_f64(),
            SHUTDOWN_GRACE.as_secs(),
            SHUTDOWN_MARGIN.as_secs()
        ),
    );
    Ok(())
}

/// Q: only 202s, exactly once, and its p99 with H against alone.
fn judge_quiet(
    report: &mut Report,
    db: &Db,
    q: &crate::api::TenantKeys,
    range: Range,
    alone: &[load::Sent],
    with: &[load::Sent],
) -> Result<()> {
    for (name, sent) in [("alone", alone), ("with_h", with)] {
        let tally = Tally::of(sent);
        report.correct(
            &format!("Q {name}: every webhook accepted (no 429, no error)"),
            tally.all_accepted(),
            tally.summary(),
        );
        report.figure(&format!("q_{name}_sent"), tally.sent as f64, "requests");
        report.figure(
            &format!("q_{name}_ack_p99_ms"),
            load::ack_latency_ms(sent, 99.0),
            "ms",
        );
    }
    let exactly = db.exactly_once(q.id, PLUGIN, range)?;
    let acked = load::accepted_ids(alone).len() + load::accepted_ids(with).len();
    report.correct(
        "Q: every event decided and executed exactly once",
        exactly.held() && exactly.events == acked as u64,
        format!("{acked} acknowledged; {}", exactly.summary()),
    );
    let (alone_us, alone_missing) = db.latencies(&load::accepted_ids(alone))?;
    let (with_us, with_missing) = db.latencies(&load::accepted_ids(with))?;
    report.correct(
        "Q: decision times recorded",
        alone_missing == 0 && with_missing == 0 && !alone_us.is_empty() && !with_us.is_empty(),
        format!("{alone_missing} + {with_missing} of Q's events lack decided_us"),
    );
    for (name, us) in [("alone", &alone_us), ("with_h", &with_us)] {
        for (p, label) in [(50.0, "p50"), (99.0, "p99"), (100.0, "max")] {
            report.figure(
                &format!("q_{name}_decision_{label}_ms"),
                load::ms(us, p),
                "ms",
            );
        }
    }
    let (p99_alone, p99_with) = (load::ms(&alone_us, 99.0), load::ms(&with_us, 99.0));
    let ratio = load::ratio(p99_with, p99_alone);
    report.figure("q_decision_p99_ratio", ratio, "x");
    report.speed(
        "Q's journal-to-decision p99 with H",
        ratio <= P99_RATIO_TARGET,
        format!(
            "{p99_with:.2} ms with H vs {p99_alone:.2} ms alone = {ratio:.2}x \
             (target <= {P99_RATIO_TARGET:.0}x; {} and {} samples)",
            with_us.len(),
            alone_us.len()
        ),
    );
    Ok(())
}

/// H: each attack's events ended as it may, the remote project's actions
/// wait in the outbox, its answers were the named 4xx or success, and no
/// bomb was kept.
fn judge_hostile(
    report: &mut Report,
    data: &Path,
    client: &Api,
    h: &hostile::Hostile,
    range: Range,
    answers: &Answers,
) -> Result<()> {
    let contained = Contained::open(data)?;
    for (project, expected) in h.projects.iter().zip(ATTACKS) {
        let attack = expected.name;
        let endings = contained.endings(h.keys.id, project.project, range)?;
        for (state, code, n) in &endings.by_code {
            report.figure(&format!("h_{attack}_{state}_{code}"), *n as f64, "events");
        }
        report.figure(
            &format!("h_{attack}_longest_run_ms"),
            endings.longest_run_us as f64 / 1000.0,
            "ms",
        );
        let allowed_text: Vec<String> = expected
            .allowed
            .iter()
            .map(|(s, c)| format!("{s}/{c}"))
            .collect();
        let mut held = endings.all_within(expected.allowed);
        let mut required_text = String::new();
        if let Some(required) = expected.required {
            held &= endings.reached(required);
            required_text = format!(", some {}/{}", required.0, required.1);
        }
        report.correct(
            &format!(
                "H `{attack}`: every event ended as {}{required_text}",
                allowed_text.join(" or ")
            ),
            held,
            endings.summary(),
        );
        if attack == REMOTE_ATTACK {
            let outbox = contained.outbox(h.keys.id, project.project, range)?;
            report.figure("h_outbox_pending", outbox.count("pending") as f64, "items");
            report.correct(
                "H's actions for the silent remote wait in its outbox (one pending item per event)",
                outbox.events_not_one == 0
                    && outbox.count("pending") == endings.events
                    && endings.events > 0,
                outbox.summary(),
            );
        }
    }

    // H's webhooks: 202 or 429, nothing else.
    let sent: Vec<load::Sent> = answers.events.iter().map(|(_, s)| s.clone()).collect();
    let tally = Tally::of(&sent);
    let others = tally.sent - tally.accepted - tally.status(429);
    report.figure("h_webhooks_sent", tally.sent as f64, "requests");
    report.correct(
        "H's webhooks answered 202 or 429",
        tally.sent > 0 && others == 0,
        tally.summary(),
    );
    let h_5xx = sent
        .iter()
        .filter(|s| matches!(s.answer, Answer::Status(code) if code >= 500))
        .count();

    // Dry runs and replays: 200 or 429, some 429.
    let mut flood_text = Vec::new();
    let (mut s429, mut bad, mut flood_5xx) = (0, 0, 0);
    for ((kind, status), n) in &answers.flood {
        flood_text.push(format!("{kind} {status} x{n}"));
        report.figure(&format!("h_{kind}_{status}"), *n as f64, "answers");
        match status {
            200 => {}
            429 => s429 += n,
            500.. => {
                flood_5xx += n;
                bad += n;
            }
            _ => bad += n,
        }
    }
    report.correct(
        "H's dry runs and replays answered 200 or 429, with 429s",
        s429 > 0 && bad == 0,
        flood_text.join(", "),
    );

    // Bombs: 422 naming the bound, or 429; none kept.
    let mut upload_text = Vec::new();
    let mut upload_5xx = 0;
    for ((bomb, status, code), n) in &answers.uploads {
        upload_text.push(format!("{bomb}: {status} {code} x{n}"));
        if *status >= 500 {
            upload_5xx += n;
        }
    }
    let uploads: u64 = answers.uploads.values().sum();
    report.figure("h_bomb_uploads", uploads as f64, "requests");
    report.correct(
        "H's compile bombs answered 422 naming the bound, or 429",
        uploads > 0 && answers.unexpected_uploads.is_empty(),
        format!(
            "{}{}",
            upload_text.join(", "),
            if answers.unexpected_uploads.is_empty() {
                String::new()
            } else {
                format!("; unexpected: {}", answers.unexpected_uploads.join(", "))
            }
        ),
    );
    let plugins = client.send(
        "listing H's plugins",
        client
            .client
            .get(format!("{}/v1/plugins", client.url))
            .bearer_auth(&h.keys.api_key),
    )?;
    let names: Vec<&str> = plugins
        .as_array()
        .map(|all| all.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    report.correct(
        "no bomb was kept (H has only its hostile plugin)",
        names == [hostile::PLUGIN],
        format!("H's plugins: {names:?}"),
    );
    report.correct(
        "H got no 5xx",
        h_5xx == 0 && flood_5xx == 0 && upload_5xx == 0,
        format!("webhooks {h_5xx}, dry runs and replays {flood_5xx}, uploads {upload_5xx}"),
    );
    Ok(())
}

/// `/metrics` (with the operator key): no request answered 5xx.
fn judge_metrics(report: &mut Report, client: &Api) {
    let text = client
        .client
        .get(format!("{}/metrics", client.url))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .ok()
        .filter(|response| response.status().is_success())
        .and_then(|response| response.text().ok());
    let Some(text) = text else {
        report.note("/metrics was not readable with the operator key; not checked");
        return;
    };
    let (total, server_errors) = count_5xx(&text);
    report.figure("metrics_requests", total as f64, "requests");
    report.figure("metrics_5xx", server_errors as f64, "requests");
    report.correct(
        "no 5xx in the server's own request counts (/metrics)",
        total > 0 && server_errors == 0,
        format!("{server_errors} of {total} requests answered 5xx"),
    );
}

/// (all requests, requests answered 5xx) in `smstrigger_http_requests_total`.
fn count_5xx(metrics: &str) -> (u64, u64) {
    let (mut total, mut errors) = (0, 0);
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("smstrigger_http_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        total += n;
        if labels.contains("status=\"5") {
            errors += n;
        }
    }
    (total, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_5xx_are_counted_from_the_status_label() {
        let text = "# HELP smstrigger_http_requests_total x\n\
            smstrigger_http_requests_total{method=\"POST\",route=\"/a\",status=\"202\"} 40\n\
            smstrigger_http_requests_total{method=\"POST\",route=\"/b\",status=\"503\"} 2\n\
            smstrigger_http_requests_total{method=\"GET\",route=\"/c\",status=\"429\"} 5\n\
            smstrigger_http_request_seconds_count{status=\"500\"} 9\n";
        assert_eq!(count_5xx(text), (47, 2));
    }
}
