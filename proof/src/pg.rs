//! The PostgreSQL side of the `cluster` scenario: a database of the run's
//! own (created, and dropped after), the hosts' journal read directly
//! (the same figures [`crate::journal`] reads from a SQLite file), and
//! what the database spent: transactions, rows and WAL bytes.
//!
//! A database rather than a schema, so its `pg_stat_database` row counts
//! this run's transactions only. WAL is the server's, shared with
//! whatever else runs on it: the figure is an upper bound on a shared
//! server. Statements (and round trips) need `pg_stat_statements` in
//! `shared_preload_libraries`; without it they are reported as missing.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use postgres::{Client, NoTls};

use crate::journal::{Outcomes, Range, Timings};

/// Where the run creates its database when `--database-url` is not given.
pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database of this run's own; dropped (connections and all) on drop.
pub struct Database {
    admin: postgres::Config,
    pub name: String,
    /// The hosts' URL: the server's, with this database.
    pub url: String,
}

impl Database {
    /// Creates `proof_cluster_<pid>` on the server at `server_url`.
    pub fn create(server_url: &str) -> Result<Self> {
        let mut admin: postgres::Config = server_url
            .parse()
            .with_context(|| format!("{server_url} is not a PostgreSQL URL"))?;
        admin.connect_timeout(Duration::from_secs(5));
        let mut client = admin
            .connect(NoTls)
            .with_context(|| format!("connecting to {server_url}"))?;
        let name = format!("proof_cluster_{}", std::process::id());
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .context("creating the run's database (needs CREATEDB)")?;
        let url = match server_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => bail!("{server_url} names no database"),
        };
        Ok(Self { admin, name, url })
    }

    /// A client in the run's database.
    pub fn client(&self) -> Result<Client> {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        Ok(config.connect(NoTls)?)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(NoTls)
            && let Err(e) = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        {
            eprintln!("dropping database {}: {e}", self.name);
        }
    }
}

/// The hosts' journal in the run's database.
pub struct Journal {
    client: Client,
}

impl Journal {
    pub fn open(db: &Database) -> Result<Self> {
        Ok(Self {
            client: db.client()?,
        })
    }

    pub fn last_event_id(&mut self) -> Result<u64> {
        let id: i64 = self
            .client
            .query_one("SELECT coalesce(max(id), 0) FROM events", &[])?
            .get(0);
        Ok(id as u64)
    }

    pub fn pending(&mut self) -> Result<u64> {
        let n: i64 = self
            .client
            .query_one("SELECT count(*) FROM events WHERE state = 'pending'", &[])?
            .get(0);
        Ok(n as u64)
    }

    /// Whether any event is pending: one probe of the pending index, not
    /// a count (counting a backlog 50 times a second cost the database a
    /// third of a core the hosts being measured then lacked).
    fn any_pending(&mut self) -> Result<bool> {
        Ok(self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM events WHERE state = 'pending')",
                &[],
            )?
            .get(0))
    }

    /// Waits until no event is pending; fails after `timeout`. Rates and
    /// latencies come from the journal's own times, not from when this
    /// notices.
    pub fn wait_drained(&mut self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            if !self.any_pending()? {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!(
                    "{} events are still pending after {timeout:?}",
                    self.pending()?
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether every event of `range` is done and executed exactly once.
    pub fn outcomes(&mut self, range: Range) -> Result<Outcomes> {
        let row = self.client.query_one(
            "SELECT count(*), count(*) FILTER (WHERE state = 'done'),
                    count(*) FILTER (WHERE (SELECT count(*) FROM record_events r
                                            WHERE r.event_id = e.id) != 1)
             FROM events e WHERE e.id > $1 AND e.id <= $2",
            &[&(range.after as i64), &(range.upto as i64)],
        )?;
        Ok(Outcomes {
            events: row.get::<_, i64>(0) as u64,
            done: row.get::<_, i64>(1) as u64,
            not_executed_once: row.get::<_, i64>(2) as u64,
        })
    }

    /// The decision rate and accept-to-decision latencies of `range`.
    pub fn timings(&mut self, range: Range) -> Result<Timings> {
        let bounds: [&(dyn postgres::types::ToSql + Sync); 2] =
            [&(range.after as i64), &(range.upto as i64)];
        let row = self.client.query_one(
            "SELECT count(*), count(*) FILTER (WHERE decided_us IS NULL),
                    min(accepted_us), max(accepted_us), min(decided_us), max(decided_us)
             FROM events WHERE id > $1 AND id <= $2",
            &bounds,
        )?;
        let (events, undecided): (i64, i64) = (row.get(0), row.get(1));
        let mut latencies_us: Vec<i64> = self
            .client
            .query(
                "SELECT decided_us - accepted_us FROM events
                 WHERE id > $1 AND id <= $2 AND decided_us IS NOT NULL AND accepted_us IS NOT NULL",
                &bounds,
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        latencies_us.sort_unstable();
        Ok(Timings {
            undecided: undecided as u64,
            rate_per_s: per_second(events - undecided, row.get(4), row.get(5)),
            accept_rate_per_s: per_second(events, row.get(2), row.get(3)),
            latencies_us,
        })
    }

    /// The pending events leased to the process `pid` (a host names
    /// itself `machine-pid-random` in its leases).
    pub fn held_by(&mut self, pid: u32) -> Result<Vec<i64>> {
        Ok(self
            .client
            .query(
                "SELECT id FROM events WHERE state = 'pending' AND lease_owner LIKE $1",
                &[&format!("%-{pid}-%")],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Of `events`: how many are done, how many were decided by the
    /// process `pid`, and the latest `decided_us`.
    pub fn takeover(&mut self, events: &[i64], pid: u32) -> Result<(u64, u64, Option<i64>)> {
        let row = self.client.query_one(
            "SELECT count(*) FILTER (WHERE state = 'done'),
                    count(*) FILTER (WHERE lease_owner LIKE $2),
                    max(decided_us)
             FROM events WHERE id = ANY($1)",
            &[&events, &format!("%-{pid}-%")],
        )?;
        Ok((
            row.get::<_, i64>(0) as u64,
            row.get::<_, i64>(1) as u64,
            row.get(2),
        ))
    }

    /// Journals a copy of `range`'s events as pending while no host runs
    /// (new dedupe keys and message ids, the same inputs): a backlog to
    /// measure decision capacity on. Returns the copies' range.
    pub fn copy_as_backlog(&mut self, range: Range) -> Result<Range> {
        let after = self.last_event_id()?;
        self.client.execute(
            "INSERT INTO events (tenant_id, project_id, dedupe_key, message_id, subject, input,
                                 received_at, state, accepted_us)
             SELECT tenant_id, project_id, dedupe_key || ':backlog', message_id || ':backlog',
                    subject, input, received_at, 'pending',
                    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
             FROM events WHERE id > $1 AND id <= $2 ORDER BY id",
            &[&(range.after as i64), &(range.upto as i64)],
        )?;
        Ok(Range {
            after,
            upto: self.last_event_id()?,
        })
    }

    /// What the database has spent so far (see [`Cost`]).
    pub fn cost(&mut self, database: &str) -> Result<Cost> {
        // Statistics reach the shared counters within a second of a
        // transaction's end; a fresh snapshot reads them.
        std::thread::sleep(Duration::from_millis(1_200));
        self.client
            .batch_execute("SELECT pg_stat_clear_snapshot()")?;
        let row = self.client.query_one(
            "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted,
                    pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint
             FROM pg_stat_database WHERE datname = $1",
            &[&database],
        )?;
        let statements = self
            .client
            .query_one(
                "SELECT sum(s.calls)::bigint FROM pg_stat_statements s
                 JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1",
                &[&database],
            )
            .ok()
            .and_then(|r| r.get::<_, Option<i64>>(0));
        Ok(Cost {
            transactions: row.get(0),
            rows: row.get(1),
            wal_bytes: row.get(2),
            statements,
        })
    }
}

/// The database's counters at one moment; the difference of two is what
/// happened in between (this reader's own few statements included).
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub transactions: i64,
    /// Rows inserted, updated and deleted.
    pub rows: i64,
    /// The server's WAL position, in bytes.
    pub wal_bytes: i64,
    /// Statements executed (`pg_stat_statements`), if it is loaded.
    pub statements: Option<i64>,
}

impl Cost {
    /// `(transactions, rows, WAL bytes, statements)` per event from
    /// `self` to `later`.
    pub fn per_event(&self, later: &Cost, events: u64) -> [Option<f64>; 4] {
        let per = |a: i64, b: i64| Some((b - a) as f64 / events.max(1) as f64);
        [
            per(self.transactions, later.transactions),
            per(self.rows, later.rows),
            per(self.wal_bytes, later.wal_bytes),
            self.statements
                .zip(later.statements)
                .and_then(|(a, b)| per(a, b)),
        ]
    }
}

/// `count` events over the span `first..last` (µs), per second.
fn per_second(count: i64, first: Option<i64>, last: Option<i64>) -> f64 {
    match (first, last) {
        (Some(first), Some(last)) if last > first => count as f64 * 1e6 / (last - first) as f64,
        _ => f64::NAN,
    }
}
