//! Reading the server's SQLite file (`<data-dir>/smstrigger.db`, opened
//! read-only beside the running server): the journal's last id and
//! pending count, waiting for a drain, and the decision figures of a range
//! of events: whether each is `done` with exactly one `record_events` row
//! (decided and executed once), and, from `events.accepted_us` /
//! `decided_us`, the sustained decision rate and accept-to-decision
//! latency.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::stats::percentile;

/// The server's database in `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("smstrigger.db")
}

/// A read-only connection to `data_dir`'s database (WAL readers never
/// block the server's writer).
pub fn open_read_only(data_dir: &Path) -> Result<Connection> {
    let path = db_path(data_dir);
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// A read-only view of the server's journal.
pub struct Journal {
    conn: Connection,
}

/// Events `(after, upto]` by id: one run's events.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub after: u64,
    pub upto: u64,
}

/// What became of a range of events (the schema every server has).
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcomes {
    pub events: u64,
    /// Events in state `done`.
    pub done: u64,
    /// Events with other than exactly one `record_events` row.
    pub not_executed_once: u64,
}

impl Outcomes {
    /// Some events, every one done and executed exactly once.
    pub fn all_decided_once(&self) -> bool {
        self.events > 0 && self.done == self.events && self.not_executed_once == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "{} events, {} done, {} not executed exactly once",
            self.events, self.done, self.not_executed_once
        )
    }
}

/// When a range of events was accepted and decided (`events.accepted_us`,
/// `events.decided_us`).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Events with no `decided_us`.
    pub undecided: u64,
    /// Decided events per second of (last − first decision).
    pub rate_per_s: f64,
    /// Journaled events per second of (last − first accept).
    pub accept_rate_per_s: f64,
    /// `decided_us − accepted_us`, sorted ascending, in µs.
    pub latencies_us: Vec<i64>,
}

impl Timings {
    /// The `p`-th percentile of accept-to-decision latency, in ms.
    pub fn latency_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
    }
}

impl Journal {
    /// Opens `data_dir`'s database read-only (WAL readers never block the
    /// server's writer).
    pub fn open(data_dir: &Path) -> Result<Self> {
        Ok(Self {
            conn: open_read_only(data_dir)?,
        })
    }

    /// The highest event id so far (0 when there are none).
    pub fn last_event_id(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM events", [], |row| {
                row.get(0)
            })?)
    }

    /// Events still `pending`.
    pub fn pending(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM events WHERE state = 'pending'",
            [],
            |row| row.get(0),
        )?)
    }

    /// Waits until no event is pending; fails after `timeout`.
    pub fn wait_drained(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let pending = self.pending()?;
            if pending == 0 {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!("{pending} events are still pending after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every event in `ids` has left `pending`.
    pub fn wait_decided(&self, ids: &[u64], timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let mut stmt = self
            .conn
            .prepare("SELECT state FROM events WHERE id = ?1")?;
        for id in ids {
            loop {
                let state: Option<String> =
                    stmt.query_row(params![id], |row| row.get(0)).optional()?;
                match state.as_deref() {
                    Some("pending") | None => {}
                    Some(_) => break,
                }
                if started.elapsed() > timeout {
                    bail!("event {id} is still {state:?} after {timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(())
    }

    /// Whether every event of `range` is done and executed exactly once.
    pub fn outcomes(&self, range: Range) -> Result<Outcomes> {
        let bounds = params![range.after, range.upto];
        let (events, done) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(state = 'done'), 0)
             FROM events WHERE id > ?1 AND id <= ?2",
            bounds,
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let not_executed_once = self.conn.query_row(
            "SELECT count(*) FROM events e
             WHERE e.id > ?1 AND e.id <= ?2
               AND (SELECT count(*) FROM record_events r WHERE r.event_id = e.id) != 1",
            bounds,
            |row| row.get(0),
        )?;
        Ok(Outcomes {
            events,
            done,
            not_executed_once,
        })
    }

    /// Up to `limit` events of `range` that are not done or not executed
    /// exactly once, each described with its decisions, for diagnosis.
    pub fn misexecuted(&self, range: Range, limit: usize) -> Result<Vec<String>> {
        let mut events = self.conn.prepare(
            "SELECT e.id, e.state, e.message_id,
                    (SELECT count(*) FROM record_events r WHERE r.event_id = e.id) AS executed
             FROM events e WHERE e.id > ?1 AND e.id <= ?2 AND (e.state != 'done' OR executed != 1)
             ORDER BY e.id LIMIT ?3",
        )?;
        let found: Vec<(u64, String, String, u64)> = events
            .query_map(params![range.after, range.upto, limit as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut decisions = self.conn.prepare(
            "SELECT plugin, version, outcome, coalesce(error_code, ''), verdicts
             FROM decisions WHERE event_id = ?1 ORDER BY id",
        )?;
        let mut described = Vec::with_capacity(found.len());
        for (id, state, message_id, executed) in found {
            let decided: Vec<String> = decisions
                .query_map(params![id], |row| {
                    let verdicts: String = row.get(4)?;
                    Ok(format!(
                        "{} v{:?} {} {} {}",
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<u32>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        verdicts.chars().take(300).collect::<String>()
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            described.push(format!(
                "event {id} ({message_id}): {state}, {executed} record_events; decisions: [{}]",
                decided.join("; ")
            ));
        }
        Ok(described)
    }

    /// The decision rate and latencies of `range`; needs the server's
    /// `events.accepted_us` and `decided_us` columns.
    pub fn timings(&self, range: Range) -> Result<Timings> {
        let bounds = params![range.after, range.upto];
        let context = "reading events.accepted_us and decided_us (does this server record them?)";
        let (events, undecided, first_accept, last_accept, first_decision, last_decision): (
            u64,
            u64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        ) = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(decided_us IS NULL), 0),
                        min(accepted_us), max(accepted_us), min(decided_us), max(decided_us)
                 FROM events WHERE id > ?1 AND id <= ?2",
                bounds,
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )
            .context(context)?;
        let mut latencies_us: Vec<i64> = self
            .conn
            .prepare(
                "SELECT decided_us - accepted_us FROM events
                 WHERE id > ?1 AND id <= ?2 AND decided_us IS NOT NULL AND accepted_us IS NOT NULL",
            )
            .context(context)?
            .query_map(bounds, |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        latencies_us.sort_unstable();
        Ok(Timings {
            undecided,
            rate_per_s: per_second(events - undecided, first_decision, last_decision),
            accept_rate_per_s: per_second(events, first_accept, last_accept),
            latencies_us,
        })
    }
}

/// `count` events over the span `first..last` (µs), per second.
fn per_second(count: u64, first: Option<i64>, last: Option<i64>) -> f64 {
    match (first, last) {
        (Some(first), Some(last)) if last > first => count as f64 * 1e6 / (last - first) as f64,
        _ => f64::NAN,
    }
}

/// Journals a copy of `range`'s events as pending, while the server is
/// down (new dedupe keys and message ids, the same inputs): a backlog for
/// a restarted server to drain with no HTTP load, which is what its
/// decision capacity is measured on. Returns the copies' range.
pub fn copy_as_backlog(data_dir: &Path, range: Range) -> Result<Range> {
    let conn = Connection::open(db_path(data_dir)).context("opening the journal to write")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let after: u64 = conn.query_row("SELECT coalesce(max(id), 0) FROM events", [], |row| {
        row.get(0)
    })?;
    conn.execute(
        "INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                             received_at, state, accepted_us)
         SELECT tenant_id, project_id, dedupe_key || ':backlog', message_id || ':backlog',
                subject, input, received_at, 'pending',
                CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
         FROM events WHERE id > ?1 AND id <= ?2 ORDER BY id",
        params![range.after, range.upto],
    )
    .context("copying events as a backlog")?;
    let upto: u64 = conn.query_row("SELECT max(id) FROM events", [], |row| row.get(0))?;
    Ok(Range { after, upto })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_needs_a_span() {
        assert_eq!(per_second(10, Some(0), Some(1_000_000)), 10.0);
        assert!(per_second(1, Some(5), Some(5)).is_nan());
        assert!(per_second(1, None, None).is_nan());
    }

    /// A database shaped like the server's, with two events: one decided
    /// and executed once, one executed twice.
    #[test]
    fn decisions_find_events_not_executed_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, state TEXT NOT NULL,
                                  accepted_us INTEGER, decided_us INTEGER);
             CREATE TABLE record_events (id INTEGER PRIMARY KEY, event_id INTEGER);
             INSERT INTO events VALUES (1, 'done', 1000000, 1002000),
                                       (2, 'done', 1500000, 1510000),
                                       (3, 'pending', 1600000, NULL);
             INSERT INTO record_events (event_id) VALUES (1), (2), (2);",
        )
        .unwrap();
        drop(conn);
        let journal = Journal::open(dir.path()).unwrap();
        assert_eq!(journal.last_event_id().unwrap(), 3);
        assert_eq!(journal.pending().unwrap(), 1);
        let two = Range { after: 0, upto: 2 };
        let outcomes = journal.outcomes(two).unwrap();
        assert_eq!(
            (outcomes.events, outcomes.done, outcomes.not_executed_once),
            (2, 2, 1)
        );
        assert!(!outcomes.all_decided_once());
        assert!(
            journal
                .outcomes(Range { after: 0, upto: 1 })
                .unwrap()
                .all_decided_once()
        );
        let timings = journal.timings(two).unwrap();
        assert_eq!(timings.latencies_us, vec![2000, 10_000]);
        assert_eq!(timings.latency_ms(99.0), 10.0);
        assert_eq!(timings.latency_ms(50.0), 2.0);
        // Two decisions 508 ms apart.
        assert!((timings.rate_per_s - 2.0 / 0.508).abs() < 1e-9);
        let first = journal.timings(Range { after: 0, upto: 1 }).unwrap();
        assert!(first.rate_per_s.is_nan());
        let all = journal.timings(Range { after: 0, upto: 3 }).unwrap();
        assert_eq!(all.undecided, 1);
    }
}
