//! The hostile tenant H of `isolation`: its set-up and its barrage.
//!
//! H has one project per attack of the hostile test plugin, each bound
//! with that attack (`sleep`, `wait-for-clock`, `loop`, `memory`) plus one
//! bound with `state` (a Discard on the event's record), and its executor
//! pointed at a loopback listener that accepts connections and never
//! answers ([`Silent`]); its records mirror remote ids, so the `state`
//! project's actions queue in H's outbox and wait there.
//!
//! [`barrage`] runs for a block of time on threads of its own: H's
//! webhooks round-robin over its projects; dry runs of the `loop` attack
//! and replays of its recent decisions from many threads; uploads of
//! compile bombs ([`crate::bombs`]). It keeps every answer for the
//! scenario to judge.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::api::{Api, TenantKeys};
use crate::bombs::{self, Bomb};
use crate::load::{Bodies, Sent};
use crate::requests::{ZONE, record_phone};

/// The name H installs the hostile plugin under.
pub const PLUGIN: &str = "hostile";

/// One attack H binds (one project each): how each of its events may end
/// (state, error code; `-` for none), and an ending at least one must
/// reach, if any.
pub struct Attack {
    pub name: &'static str,
    pub allowed: &'static [(&'static str, &'static str)],
    pub required: Option<(&'static str, &'static str)>,
}

/// The end of a call stopped for its CPU: fuel or the deadline, whichever
/// comes first on a busy machine.
const CPU_STOPS: &[(&str, &str)] = &[("failed", "out_of_fuel"), ("failed", "deadline_exceeded")];

/// H's attacks, one project each.
pub const ATTACKS: [Attack; 5] = [
    // Sleeps return at once: decided, no actions, no failure. H's events
    // run one at a time at nice 19 (its plugins burn fuel), so on a
    // machine its own dry runs keep busy one may wait past the 1 s
    // deadline; a decided one could not have slept its 3 s.
    Attack {
        name: "sleep",
        allowed: &[("done", "-"), ("failed", "deadline_exceeded")],
        required: Some(("done", "-")),
    },
    // The monotonic clock stands still: fuel or the deadline stop it.
    Attack {
        name: "wait-for-clock",
        allowed: CPU_STOPS,
        required: None,
    },
    Attack {
        name: "loop",
        allowed: CPU_STOPS,
        required: None,
    },
    // The memory limit; on a machine so busy that 16 MiB take a second to
    // touch, the deadline may come first.
    Attack {
        name: "memory",
        allowed: &[("failed", "memory_limit"), ("failed", "deadline_exceeded")],
        required: Some(("failed", "memory_limit")),
    },
    // One Discard, queued for the silent remote.
    Attack {
        name: REMOTE_ATTACK,
        allowed: &[("done", "-")],
        required: None,
    },
];

/// The attack whose actions go to the outbox (one Discard per event).
pub const REMOTE_ATTACK: &str = "state";

/// The first remote id H's records mirror (`remoteId`), so none is 0.
const REMOTE_ID_BASE: usize = 1_000;

/// A loopback listener that accepts connections and never answers: a
/// remote that hangs. It holds every connection until dropped.
pub struct Silent {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Silent {
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the silent remote")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        });
        Ok(Self {
            url,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops accepting and drops every held connection; returns how many
    /// connections it accepted.
    pub fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or(0)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One of H's projects.
#[derive(Debug, Clone)]
pub struct AttackProject {
    pub attack: &'static str,
    pub project: u64,
    pub phones: Vec<String>,
    /// Its first record's id (dry runs name it).
    pub record: u64,
}

/// H, ready for its barrage.
pub struct Hostile {
    pub keys: TenantKeys,
    pub projects: Vec<AttackProject>,
}

/// Creates H: its executor pointed at `remote_url`, one project per
/// attack with `records` records each (mirroring remote ids), the hostile
/// plugin uploaded once and bound to each project with its attack.
pub fn set_up(api: &Api, records: usize, remote_url: &str) -> Result<Hostile> {
    let path = smstrigger_test_components::HOSTILE_PLUGIN;
    let component =
        std::fs::read(path).with_context(|| format!("reading the hostile plugin {path}"))?;
    let keys = api.create_tenant("hostile-h")?;
    let mut settings = api.send(
        "reading H's settings",
        api.client
            .get(format!("{}/v1/tenant", api.url))
            .bearer_auth(&keys.api_key),
    )?;
    settings["executor"] = json!({ "kind": "remote", "baseUrl": remote_url,
        "account": "1", "token": "silent-remote-token" });
    api.send(
        "pointing H's executor at the silent remote",
        api.client
            .put(format!("{}/v1/tenant", api.url))
            .bearer_auth(&keys.api_key)
            .json(&settings),
    )?;
    api.upload_plugin(&keys, PLUGIN, &component)?;
    let mut projects = Vec::new();
    for (n, attack) in ATTACKS.iter().map(|a| a.name).enumerate() {
        let project = api.create_project(&keys, &format!("hostile-{attack}"))?;
        // Phones distinct from every other project's.
        let phones: Vec<String> = (0..records)
            .map(|i| record_phone(5_000_000 + n * 100_000 + i))
            .collect();
        let ids = import_mirrored(api, &keys, project, &phones)?;
        api.bind(&keys, project, PLUGIN, json!({ "attack": attack }))?;
        projects.push(AttackProject {
            attack,
            project,
            phones,
            record: ids[0],
        });
    }
    Ok(Hostile { keys, projects })
}

/// Imports one record per phone with `remoteProjectId`/`remoteId` fields.
fn import_mirrored(
    api: &Api,
    keys: &TenantKeys,
    project: u64,
    phones: &[String],
) -> Result<Vec<u64>> {
    let lines: String = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            let fields = json!([
                ["remoteProjectId", "1"],
                ["remoteId", (REMOTE_ID_BASE + i).to_string()]
            ]);
            format!("{}\n", json!({ "phone": phone, "fields": fields }))
        })
        .collect();
    let imported = api.send(
        "importing H's records",
        api.client
            .post(format!("{}/v1/projects/{project}/records/import", api.url))
            .bearer_auth(&keys.api_key)
            .header("content-type", "application/x-ndjson")
            .body(lines),
    )?;
    let ids: Vec<u64> = imported["ids"]
        .as_array()
        .ok_or_else(|| anyhow!("the import answered no ids: {imported}"))?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    if ids.len() != phones.len() {
        bail!("imported {} of H's records of {}", ids.len(), phones.len());
    }
    Ok(ids)
}

/// How hard H pushes in one block.
#[derive(Debug, Clone)]
pub struct Intensity {
    /// H's webhooks per second, over all its projects.
    pub event_rate: f64,
    /// Threads sending dry runs and replays.
    pub flood_threads: usize,
    /// Dry runs and replays per second over all those threads (paced).
    pub flood_rate: f64,
    /// How many recent decisions each replay asks for.
    pub replay_limit: usize,
    /// Uploads bombs at all.
    pub bombs: bool,
    /// Uploads one of the admitted bomb first.
    pub admitted_bomb: bool,
    /// Seconds between two uploads of refused bombs.
    pub upload_interval: Duration,
}

/// Everything H got back in one block.
#[derive(Debug, Default)]
pub struct Answers {
    /// H's webhooks, by attack.
    pub events: Vec<(&'static str, Sent)>,
    /// Dry runs and replays: (kind, status or 0 for no answer) → count.
    pub flood: BTreeMap<(&'static str, u16), u64>,
    /// Uploads: (bomb, status, error code) → count; and the answers that
    /// were not what the bomb may get.
    pub uploads: BTreeMap<(&'static str, u16, String), u64>,
    pub unexpected_uploads: Vec<String>,
}

impl Answers {
    pub fn extend(&mut self, other: Answers) {
        self.events.extend(other.events);
        for (key, n) in other.flood {
            *self.flood.entry(key).or_default() += n;
        }
        for (key, n) in other.uploads {
            *self.uploads.entry(key).or_default() += n;
        }
        self.unexpected_uploads.extend(other.unexpected_uploads);
    }
}

/// H's barrage for `duration`: webhooks, dry runs and replays, uploads,
/// each on threads of its own; returns when all have stopped (an upload
/// being compiled is waited for).
pub fn barrage(
    api: &Api,
    hostile: &Hostile,
    intensity: &Intensity,
    tag: &str,
    duration: Duration,
) -> Answers {
    let until = Instant::now() + duration;
    std::thread::scope(|scope| {
        let events = scope.spawn(|| send_events(api, hostile, intensity.event_rate, tag, until));
        // No flood at a rate of 0.
        let threads = if intensity.flood_rate > 0.0 {
            intensity.flood_threads.max(1)
        } else {
            0
        };
        let floods: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || flood(api, hostile, intensity, t, until)))
            .collect();
        let uploads = scope.spawn(|| upload_bombs(api, &hostile.keys, intensity, until));
        let mut answers = Answers {
            events: events.join().expect("H's webhook thread panicked"),
            ..Answers::default()
        };
        for handle in floods {
            for (key, n) in handle.join().expect("a flood thread panicked") {
                *answers.flood.entry(key).or_default() += n;
            }
        }
        let (uploads, unexpected) = uploads.join().expect("the upload thread panicked");
        answers.uploads = uploads;
        answers.unexpected_uploads = unexpected;
        answers
    })
}

/// H's webhooks at `rate`, round-robin over its projects, until `until`.
fn send_events(
    api: &Api,
    hostile: &Hostile,
    rate: f64,
    tag: &str,
    until: Instant,
) -> Vec<(&'static str, Sent)> {
    let bodies: Vec<Bodies<'_>> = hostile
        .projects
        .iter()
        .map(|p| Bodies::new(p.project, &p.phones, format!("h-{tag}-{}", p.attack)))
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let mut sent = Vec::new();
    for k in 0.. {
        let due = started + interval * k as u32;
        // A slow answer can leave the schedule behind: stop on the clock.
        if due >= until || Instant::now() >= until {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let which = k % bodies.len();
        let (message_id, body) = bodies[which].nth(k / bodies.len(), 0, 1);
        let answer = api.post_inbound(&hostile.keys.webhook_secret, message_id, body);
        sent.push((hostile.projects[which].attack, answer));
    }
    sent
}

/// Dry runs of the `loop` attack and replays of H's recent decisions, in
/// turn, at `rate` per second, until `until`.
fn flood(
    api: &Api,
    hostile: &Hostile,
    intensity: &Intensity,
    thread: usize,
    until: Instant,
) -> BTreeMap<(&'static str, u16), u64> {
    let rate = intensity.flood_rate / intensity.flood_threads.max(1) as f64;
    let target = hostile
        .projects
        .iter()
        .find(|p| p.attack == "loop")
        .unwrap_or(&hostile.projects[0]);
    let event = json!({
        "kind": "inbound", "messageId": format!("dry-{thread}"), "projectId": target.project,
        "sourcePhoneNumber": target.phones[0], "message": "call me",
        "timestamp": chrono::Utc::now().timestamp(),
        "matches": [{ "id": target.record, "projectId": target.project,
                      "phone": target.phones[0], "timeZone": ZONE }],
    });
    let dry_run = json!({ "event": event, "config": { "attack": "loop" } });
    let replay_limit = intensity.replay_limit;
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let mut counts = BTreeMap::new();
    for k in 0usize.. {
        let due = started + interval * k as u32;
        // A slow answer can leave the schedule behind: stop on the clock.
        if due >= until || Instant::now() >= until {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let (kind, request) = if (k + thread).is_multiple_of(2) {
            (
                "dry-run",
                api.client
                    .post(format!("{}/v1/plugins/{PLUGIN}/dry-run", api.url))
                    .json(&dry_run),
            )
        } else {
            (
                "replay",
                api.client
                    .post(format!("{}/v1/plugins/{PLUGIN}/versions/1/replay", api.url))
                    .json(&json!({ "limit": replay_limit })),
            )
        };
        let status = request
            .bearer_auth(&hostile.keys.api_key)
            .send()
            .map_or(0, |response| response.status().as_u16());
        *counts.entry((kind, status)).or_default() += 1;
    }
    counts
}

type UploadCounts = BTreeMap<(&'static str, u16, String), u64>;

/// Uploads the admitted bomb (if asked), then refused bombs in turn every
/// `upload_interval` until `until`. Each answer must be a 422 with one of
/// the bomb's codes, or a 429 (`upload_rate`, `compile_busy`).
fn upload_bombs(
    api: &Api,
    keys: &TenantKeys,
    intensity: &Intensity,
    until: Instant,
) -> (UploadCounts, Vec<String>) {
    let refused = bombs::refused();
    let admitted = intensity.admitted_bomb.then(bombs::admitted);
    let mut counts = UploadCounts::new();
    let mut unexpected = Vec::new();
    if !intensity.bombs {
        return (counts, unexpected);
    }
    let mut upload = |bomb: &Bomb| {
        let answer = api
            .client
            .put(format!("{}/v1/plugins/bomb", api.url))
            .bearer_auth(&keys.api_key)
            .header("content-type", "application/wasm")
            .body(bomb.bytes.clone())
            .send();
        let (status, code) = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().unwrap_or("-").to_string();
                (status, code)
            }
            Err(e) => (0, format!("no answer: {e}")),
        };
        let expected = match status {
            422 => bomb.codes.contains(&code.as_str()),
            429 => ["upload_rate", "compile_busy"].contains(&code.as_str()),
            _ => false,
        };
        if !expected {
            unexpected.push(format!("{}: {status} {code}", bomb.name));
        }
        *counts.entry((bomb.name, status, code)).or_default() += 1;
    };
    if let Some(bomb) = &admitted {
        upload(bomb);
    }
    for bomb in refused.iter().cycle() {
        if Instant::now() >= until {
            break;
        }
        upload(bomb);
        std::thread::sleep(intensity.upload_interval);
    }
    (counts, unexpected)
}
