//! Helpers shared by the scenarios: the work directory every scenario runs
//! in; the [`Api`] calls the load scenarios add (staged uploads,
//! activation, per-tenant limits, signed webhooks whose every answer is
//! kept: status, event id, latency); a component with a custom
//! section appended; a small seeded random generator; and read-only
//! queries of the server's database that check, per tenant and range of
//! events, that each was decided and executed exactly once.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use smstrigger_test_components::bombs::leb;

use crate::api::{Api, INBOUND_PATH, SIGNATURE_HEADER};
use crate::journal::{Range, db_path};
use crate::report::Report;
use crate::requests::{self, Inbound, sign};
use crate::server::OPERATOR_KEY;
use crate::stats::percentile;

/// The calls of the load scenarios that `api` itself does not make.
impl Api {
    /// Uploads a version of plugin `name` without activating it
    /// (`?activate=false`); returns its version and SHA-256.
    pub fn upload_staged(
        &self,
        api_key: &str,
        name: &str,
        component: &[u8],
    ) -> Result<(u64, String)> {
        let uploaded = self.send(
            "uploading a plugin version (not activated)",
            self.client
                .put(format!("{}/v1/plugins/{name}?activate=false", self.url))
                .bearer_auth(api_key)
                .header("content-type", "application/wasm")
                .body(component.to_vec()),
        )?;
        if uploaded["active"] != json!(false) {
            bail!("the staged upload says it is active: {uploaded}");
        }
        let version = uploaded["version"]
            .as_u64()
            .ok_or_else(|| anyhow!("the upload answered no version: {uploaded}"))?;
        let sha256 = uploaded["sha256"]
            .as_str()
            .ok_or_else(|| anyhow!("the upload answered no sha256: {uploaded}"))?;
        Ok((version, sha256.to_string()))
    }

    /// `POST /v1/plugins/{name}/activate` with `{"version": version}`.
    pub fn activate(&self, api_key: &str, name: &str, version: u64) -> Result<()> {
        let activated = self.send(
            "activating a plugin version",
            self.client
                .post(format!("{}/v1/plugins/{name}/activate", self.url))
                .bearer_auth(api_key)
                .json(&json!({ "version": version })),
        )?;
        if activated["activeVersion"] != json!(version) {
            bail!("activating v{version} answered {activated}");
        }
        Ok(())
    }

    /// `POST /v1/plugins/{name}/versions/{version}/shadow`: the shadow.
    pub fn start_shadow(&self, api_key: &str, name: &str, version: u64) -> Result<Value> {
        self.send(
            "starting a shadow",
            self.client
                .post(format!(
                    "{}/v1/plugins/{name}/versions/{version}/shadow",
                    self.url
                ))
                .bearer_auth(api_key),
        )
    }

    /// `GET /v1/plugins/{name}/shadow`: the shadow's comparison so far.
    pub fn shadow(&self, api_key: &str, name: &str) -> Result<Value> {
        self.send(
            "reading a shadow",
            self.client
                .get(format!("{}/v1/plugins/{name}/shadow", self.url))
                .bearer_auth(api_key),
        )
    }

    /// `GET /v1/plugins/{name}`.
    pub fn plugin(&self, api_key: &str, name: &str) -> Result<Value> {
        self.send(
            "reading a plugin",
            self.client
                .get(format!("{}/v1/plugins/{name}", self.url))
                .bearer_auth(api_key),
        )
    }

    /// `PUT /v1/tenants/{id}/limits` with the operator key.
    pub fn set_limits(&self, tenant: u64, limits: &Value) -> Result<Value> {
        self.send(
            "setting a tenant's limits",
            self.client
                .put(format!("{}/v1/tenants/{tenant}/limits", self.url))
                .bearer_auth(OPERATOR_KEY)
                .json(limits),
        )
    }

    /// Posts one signed inbound webhook and keeps whatever happened.
    pub fn post_inbound(&self, secret: &str, message_id: String, body: String) -> Sent {
        let started = Instant::now();
        let signature = sign(secret, &body);
        let result = self
            .client
            .post(format!("{}{INBOUND_PATH}", self.url))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send();
        let answer = match result {
            Err(e) => Answer::Error(error_kind(&e)),
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().unwrap_or_default();
                if status == 202 {
                    let ack: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match (ack["status"].as_str(), ack["eventId"].as_u64()) {
                        (Some("accepted"), Some(id)) => Answer::Accepted(id),
                        (Some("duplicate"), Some(id)) => Answer::Duplicate(id),
                        _ => Answer::Status(status),
                    }
                } else {
                    Answer::Status(status)
                }
            }
        };
        Sent {
            message_id,
            answer,
            latency: started.elapsed(),
        }
    }
}

/// A short name for a failed request, for the counts in the report.
fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// What one webhook got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 202, newly journaled as this event.
    Accepted(u64),
    /// 202, a repeat of this already journaled event.
    Duplicate(u64),
    /// Any other status (or a 202 without the usual body).
    Status(u16),
    /// No answer: connection refused or reset, timeout.
    Error(&'static str),
}

/// One webhook sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_id: String,
    pub answer: Answer,
    pub latency: Duration,
}

/// Counts of the answers of a set of webhooks.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub sent: u64,
    pub accepted: u64,
    pub duplicate: u64,
    /// Other statuses, by code.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Failed requests, by kind.
    pub errors: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    pub fn of(sent: &[Sent]) -> Self {
        let mut tally = Self::default();
        for one in sent {
            tally.sent += 1;
            match &one.answer {
                Answer::Accepted(_) => tally.accepted += 1,
                Answer::Duplicate(_) => tally.duplicate += 1,
                Answer::Status(code) => *tally.statuses.entry(*code).or_default() += 1,
                Answer::Error(kind) => *tally.errors.entry(kind).or_default() += 1,
            }
        }
        tally
    }

    pub fn status(&self, code: u16) -> u64 {
        self.statuses.get(&code).copied().unwrap_or(0)
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Every request newly accepted.
    pub fn all_accepted(&self) -> bool {
        self.sent > 0 && self.accepted == self.sent
    }

    /// `N sent: N accepted, N duplicate, status 429 ×N, errors connect ×N`.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            format!("{} accepted", self.accepted),
            format!("{} duplicate", self.duplicate),
        ];
        for (code, n) in &self.statuses {
            parts.push(format!("status {code} x{n}"));
        }
        for (kind, n) in &self.errors {
            parts.push(format!("{kind} errors x{n}"));
        }
        format!("{} sent: {}", self.sent, parts.join(", "))
    }
}

/// The event ids of the newly accepted answers.
pub fn accepted_ids(sent: &[Sent]) -> Vec<u64> {
    sent.iter()
        .filter_map(|s| match s.answer {
            Answer::Accepted(id) => Some(id),
            _ => None,
        })
        .collect()
}

/// The `p`-th percentile of the latencies of the accepted answers, in ms.
pub fn ack_latency_ms(sent: &[Sent], p: f64) -> f64 {
    let mut us: Vec<i64> = sent
        .iter()
        .filter(|s| matches!(s.answer, Answer::Accepted(_)))
        .map(|s| s.latency.as_micros() as i64)
        .collect();
    us.sort_unstable();
    percentile(&us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// Webhook bodies for one project, in the `requests` module's shape, with
/// message ids `<prefix>-<k>`.
pub struct Bodies<'a> {
    pub project: u64,
    pub phones: &'a [String],
    pub prefix: String,
    stamp: String,
    dates: [String; 3],
}

impl<'a> Bodies<'a> {
    pub fn new(project: u64, phones: &'a [String], prefix: impl Into<String>) -> Self {
        let now = Utc::now();
        Self {
            project,
            phones,
            prefix: prefix.into(),
            stamp: requests::timestamp(now),
            dates: requests::call_dates(now),
        }
    }

    /// The `k`-th (message id, body); `slot` spreads phones between
    /// senders that share the phones (`k * senders + slot`).
    pub fn nth(&self, k: usize, slot: usize, senders: usize) -> (String, String) {
        let global = k * senders.max(1) + slot;
        let message_id = format!("{}-{k}", self.prefix);
        let body = Inbound {
            project: self.project,
            phone: &self.phones[global % self.phones.len()],
            message_id: &message_id,
            timestamp: &self.stamp,
            call_date: &self.dates[global % self.dates.len()],
        }
        .body();
        (message_id, body)
    }
}

/// Sends `rate` webhooks a second for `duration` on one thread, each at
/// its scheduled time (start + k / rate), never catching up with a burst
/// after a slow answer by more than one request.
pub fn paced(
    client: &Api,
    secret: &str,
    bodies: &Bodies<'_>,
    rate: f64,
    duration: Duration,
) -> Vec<Sent> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let count = (duration.as_secs_f64() * rate).round().max(1.0) as usize;
    let started = Instant::now();
    let mut sent = Vec::with_capacity(count);
    for k in 0..count {
        let due = started + interval * k as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let (message_id, body) = bodies.nth(k, 0, 1);
        sent.push(client.post_inbound(secret, message_id, body));
    }
    sent
}

/// A component with a custom section appended: id 0, the LEB128 size of
/// the rest, the LEB128 length of `name`, `name`, then `payload`. A
/// component may end with a custom section, so the result behaves exactly
/// as `component` does but has another SHA-256.
pub fn with_custom_section(component: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = leb(name.len());
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = component.to_vec();
    out.push(0);
    out.extend(leb(content.len()));
    out.extend(content);
    out
}

/// Lower-case hex SHA-256 of `bytes`, as the server names components.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A seeded random generator (SplitMix64): reproducible kill times.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed from the clock.
    pub fn clock_seed() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos() as u64)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        low + unit * (high - low)
    }
}

/// Read-only queries of the server's database beyond [`crate::journal`]'s.
pub struct Db {
    conn: Connection,
}

/// Whether a tenant's events in a range were each decided and executed
/// exactly once.
#[derive(Debug, Clone, Default)]
pub struct Exactly {
    pub events: u64,
    pub done: u64,
    pub failed: u64,
    pub pending: u64,
    /// Events with other than exactly one decision by the plugin.
    pub decisions_not_one: u64,
    /// Events with other than exactly one `record_events` row.
    pub record_events_not_one: u64,
    /// Event ids that appear more than once in `record_events`.
    pub doubled_dispositions: u64,
    /// `record_events` rows whose plugin version is not their decision's.
    pub version_mismatch: u64,
    /// Message ids journaled more than once.
    pub repeated_messages: u64,
}

impl Exactly {
    pub fn held(&self) -> bool {
        self.events > 0
            && self.done == self.events
            && self.decisions_not_one == 0
            && self.record_events_not_one == 0
            && self.doubled_dispositions == 0
            && self.version_mismatch == 0
            && self.repeated_messages == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "{} events: {} done, {} failed, {} pending; {} without exactly one decision, \
             {} without exactly one record_event, {} event ids doubled in record_events, \
             {} record_events of another version than their decision, {} message ids journaled twice",
            self.events,
            self.done,
            self.failed,
            self.pending,
            self.decisions_not_one,
            self.record_events_not_one,
            self.doubled_dispositions,
            self.version_mismatch,
            self.repeated_messages
        )
    }
}

/// What one journaled event is, for checking an acknowledgement.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub tenant: u64,
    pub message_id: String,
    pub state: String,
    pub decisions: u64,
    pub record_events: u64,
}

impl Db {
    pub fn open(data_dir: &Path) -> Result<Self> {
        Ok(Self {
            conn: crate::journal::open_read_only(data_dir)?,
        })
    }

    /// `tenant`'s events of `range`, checked against `plugin`'s decisions.
    pub fn exactly_once(&self, tenant: u64, plugin: &str, range: Range) -> Result<Exactly> {
        let bounds = params![tenant, range.after, range.upto, plugin];
        let mut out = self.conn.query_row(
            "SELECT count(*),
                    coalesce(sum(e.state = 'done'), 0),
                    coalesce(sum(e.state = 'failed'), 0),
                    coalesce(sum(e.state = 'pending'), 0),
                    coalesce(sum((SELECT count(*) FROM decisions d
                                  WHERE d.event_id = e.id AND d.plugin = ?4) != 1), 0),
                    coalesce(sum((SELECT count(*) FROM record_events r
                                  WHERE r.event_id = e.id) != 1), 0)
             FROM events e WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3",
            bounds,
            |row| {
                Ok(Exactly {
                    events: row.get(0)?,
                    done: row.get(1)?,
                    failed: row.get(2)?,
                    pending: row.get(3)?,
                    decisions_not_one: row.get(4)?,
                    record_events_not_one: row.get(5)?,
                    ..Exactly::default()
                })
            },
        )?;
        let bounds = params![tenant, range.after, range.upto];
        out.doubled_dispositions = self.conn.query_row(
            "SELECT count(*) FROM (
                SELECT r.event_id FROM record_events r JOIN events e ON e.id = r.event_id
                WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3
                GROUP BY r.event_id HAVING count(*) > 1)",
            bounds,
            |row| row.get(0),
        )?;
        out.version_mismatch = self.conn.query_row(
            "SELECT count(*) FROM record_events r
             JOIN events e ON e.id = r.event_id
             JOIN decisions d ON d.event_id = r.event_id AND d.plugin = r.plugin
             WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3
               AND r.plugin_version IS NOT d.version",
            bounds,
            |row| row.get(0),
        )?;
        out.repeated_messages = self.conn.query_row(
            "SELECT count(*) - count(DISTINCT message_id) FROM events
             WHERE tenant_id = ?1 AND id > ?2 AND id <= ?3",
            bounds,
            |row| row.get(0),
        )?;
        Ok(out)
    }

    /// How many of `plugin`'s decisions on `tenant`'s events of `range`
    /// each version made, by version.
    pub fn decisions_by_version(
        &self,
        tenant: u64,
        plugin: &str,
        range: Range,
    ) -> Result<Vec<(Option<u64>, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.version, count(*) FROM decisions d JOIN events e ON e.id = d.event_id
             WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3 AND d.plugin = ?4
             GROUP BY d.version ORDER BY d.version",
        )?;
        let rows = stmt
            .query_map(params![tenant, range.after, range.upto, plugin], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// How often the deciding version changes from one event to the next
    /// (in the order the decisions were made: by `decided_us`, then id).
    pub fn version_changes(&self, tenant: u64, plugin: &str, range: Range) -> Result<u64> {
        let mut stmt = self.conn.prepare(
            "SELECT d.version FROM decisions d JOIN events e ON e.id = d.event_id
             WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3 AND d.plugin = ?4
             ORDER BY e.decided_us, e.id",
        )?;
        let versions: Vec<Option<u64>> = stmt
            .query_map(params![tenant, range.after, range.upto, plugin], |row| {
                row.get(0)
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(versions.windows(2).filter(|w| w[0] != w[1]).count() as u64)
    }

    /// How `tenant`'s events of `range` ended: (state, the decisions'
    /// error code or `-`, count).
    pub fn endings(&self, tenant: u64, range: Range) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT e.state, coalesce(d.error_code, '-'), count(*) FROM events e
             LEFT JOIN decisions d ON d.event_id = e.id
             WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3
             GROUP BY 1, 2 ORDER BY 3 DESC",
        )?;
        let rows = stmt
            .query_map(params![tenant, range.after, range.upto], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// `tenant`'s events in `range` and the span of their `accepted_us`.
    pub fn accepted_span(
        &self,
        tenant: u64,
        range: Range,
    ) -> Result<(u64, Option<i64>, Option<i64>)> {
        Ok(self.conn.query_row(
            "SELECT count(*), min(accepted_us), max(accepted_us) FROM events
             WHERE tenant_id = ?1 AND id > ?2 AND id <= ?3",
            params![tenant, range.after, range.upto],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?)
    }

    /// Mean fuel and run time of `tenant`'s decisions in `range`.
    pub fn mean_cost(&self, tenant: u64, range: Range) -> Result<(Option<f64>, Option<f64>)> {
        Ok(self.conn.query_row(
            "SELECT avg(d.fuel_used), avg(d.duration_us) FROM decisions d
             JOIN events e ON e.id = d.event_id
             WHERE e.tenant_id = ?1 AND e.id > ?2 AND e.id <= ?3",
            params![tenant, range.after, range.upto],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?)
    }

    /// `decided_us − accepted_us` of each of `ids` that has both, sorted
    /// ascending (µs), and how many of `ids` lack either.
    pub fn latencies(&self, ids: &[u64]) -> Result<(Vec<i64>, u64)> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT decided_us - accepted_us FROM events WHERE id = ?1")?;
        let mut latencies = Vec::with_capacity(ids.len());
        let mut missing = 0;
        for id in ids {
            let latency: Option<Option<i64>> =
                stmt.query_row(params![id], |row| row.get(0)).optional()?;
            match latency.flatten() {
                Some(us) => latencies.push(us),
                None => missing += 1,
            }
        }
        latencies.sort_unstable();
        Ok((latencies, missing))
    }

    /// `tenant`'s events journaled before `at_us` and decided after it:
    /// the work a kill at that moment interrupted.
    pub fn spanning(&self, tenant: u64, at_us: i64) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM events
             WHERE tenant_id = ?1 AND accepted_us < ?2 AND decided_us > ?2",
            params![tenant, at_us],
            |row| row.get(0),
        )?)
    }

    /// Event `id` as journaled, with its decision and record_event counts.
    pub fn event(&self, id: u64) -> Result<Option<EventRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tenant_id, message_id, state,
                    (SELECT count(*) FROM decisions d WHERE d.event_id = e.id),
                    (SELECT count(*) FROM record_events r WHERE r.event_id = e.id)
             FROM events e WHERE id = ?1",
        )?;
        Ok(stmt
            .query_row(params![id], |row| {
                Ok(EventRow {
                    tenant: row.get(0)?,
                    message_id: row.get(1)?,
                    state: row.get(2)?,
                    decisions: row.get(3)?,
                    record_events: row.get(4)?,
                })
            })
            .optional()?)
    }
}

/// The machine's 1-minute load average (`/proc/loadavg`; NaN if
/// unreadable): the harness shares its cores with whatever else runs.
/// Runs a scenario in a fresh work directory (data dir, server log), with
/// the machine's load average before and after, the database's size and
/// the server log's problems in the report. The directory is kept when
/// asked, and whenever the scenario failed or broke a promise.
pub fn in_work_dir(
    scenario: &'static str,
    smoke: bool,
    keep: bool,
    body: impl FnOnce(&Path, &mut Report) -> Result<()>,
) -> Result<Report> {
    let work = tempfile::Builder::new()
        .prefix(&format!("smstrigger-proof-{scenario}-"))
        .tempdir()
        .context("creating the work directory")?;
    let mut report = Report::new(scenario, smoke);
    report.figure("load_average_before", load_average(), "runnable");
    let result = body(work.path(), &mut report);
    report.figure("load_average_after", load_average(), "runnable");
    note_database_size(&mut report, &work.path().join("data"));
    note_log_problems(&mut report, &work.path().join("server.log"));
    if keep || result.is_err() || !report.passed() {
        let kept = work.keep();
        report.note(format!("work directory kept: {}", kept.display()));
        if result.is_err() {
            eprintln!("smstrigger-proof: work directory kept: {}", kept.display());
        }
    }
    result.map(|()| report)
}

pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The server log's ERROR and WARN lines: how many, and the first
/// `first` of them (each cut to 400 characters).
pub fn log_problems(path: &Path, first: usize) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("ERROR") || line.contains(" WARN"))
        .collect();
    let shown = lines
        .iter()
        .take(first)
        .map(|line| line.chars().take(400).collect())
        .collect();
    (lines.len(), shown)
}

/// Adds the server log's ERROR and WARN lines to `report` (a count, and
/// the first few as notes when any check failed).
pub fn note_log_problems(report: &mut Report, log: &Path) {
    let (count, first) = log_problems(log, 5);
    report.figure("server_log_errors_and_warnings", count as f64, "lines");
    if !report.passed() {
        for line in first {
            report.note(format!("server log: {line}"));
        }
    }
}

/// The sizes of the server's database file and its write-ahead log, in
/// MiB, as figures `database_mib` and `wal_mib` (a WAL that is never
/// reset grows with every commit and is read whole after a crash).
pub fn note_database_size(report: &mut Report, data_dir: &Path) {
    let mib = |path: std::path::PathBuf| {
        std::fs::metadata(path).map_or(f64::NAN, |m| m.len() as f64 / (1 << 20) as f64)
    };
    let db = db_path(data_dir);
    if !db.exists() {
        return; // not an embedded store's run (the cluster's is PostgreSQL)
    }
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    report.figure("database_mib", mib(db), "MiB");
    report.figure("wal_mib", mib(wal.into()), "MiB");
}

/// Now, in Unix µs (the clock of `events.accepted_us`).
pub fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// `p`-th percentile of sorted µs samples, in ms (NaN when empty).
pub fn ms(sorted_us: &[i64], p: f64) -> f64 {
    percentile(sorted_us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// `a / b`, or NaN when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_section_is_appended_whole() {
        let component = b"\0asm\x0d\x00\x01\x00".to_vec();
        let out = with_custom_section(&component, "ab", &[9; 200]);
        assert_eq!(&out[..8], &component[..]);
        // id 0, size 1 + 2 + 200 = 203 (two LEB128 bytes), name length 2.
        assert_eq!(&out[8..13], &[0, 0xcb, 0x01, 2, b'a']);
        assert_eq!(out.len(), 8 + 1 + 2 + 203);
    }

    #[test]
    fn the_generator_is_seeded_and_uniform_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.uniform(0.5, 3.0);
            assert_eq!(x, b.uniform(0.5, 3.0));
            assert!((0.5..3.0).contains(&x));
        }
    }

    #[test]
    fn a_tally_counts_each_kind_of_answer() {
        let sent = |answer| Sent {
            message_id: "m".into(),
            answer,
            latency: Duration::from_millis(1),
        };
        let tally = Tally::of(&[
            sent(Answer::Accepted(1)),
            sent(Answer::Status(429)),
            sent(Answer::Status(429)),
            sent(Answer::Error("connect")),
        ]);
        assert_eq!((tally.sent, tally.accepted, tally.status(429)), (4, 1, 2));
        assert_eq!(tally.error_total(), 1);
        assert!(!tally.all_accepted());
        assert!(tally.summary().contains("status 429 x2"));
    }
}
