//! What became of the hostile tenant's events, read from the server's
//! SQLite file (read-only, beside the running server): how each project's
//! events ended (state and error code), how long its plugin calls ran, and
//! the state of its outbox. `isolation` judges these against what each
//! attack may end as.

use std::path::Path;

use anyhow::Result;
use rusqlite::{Connection, params};

use crate::journal::Range;

/// Read-only queries of one tenant's events in a range.
pub struct Contained {
    conn: Connection,
}

/// How one project's events ended.
#[derive(Debug, Clone, Default)]
pub struct Endings {
    /// Events of the project in the range.
    pub events: u64,
    /// (state, the decision's error code or `-`, count), most first.
    pub by_code: Vec<(String, String, u64)>,
    /// Events with other than exactly one decision.
    pub decisions_not_one: u64,
    /// The longest plugin call, in µs (0 with none).
    pub longest_run_us: i64,
}

impl Endings {
    /// `done/- 12, failed/out_of_fuel 3`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .by_code
            .iter()
            .map(|(state, code, n)| format!("{state}/{code} {n}"))
            .collect();
        format!(
            "{} events: {}; {} without exactly one decision; longest run {:.1} ms",
            self.events,
            parts.join(", "),
            self.decisions_not_one,
            self.longest_run_us as f64 / 1000.0
        )
    }

    /// Some events, each decided once, every ending one of `allowed`.
    pub fn all_within(&self, allowed: &[(&str, &str)]) -> bool {
        self.events > 0
            && self.decisions_not_one == 0
            && self
                .by_code
                .iter()
                .all(|(state, code, _)| allowed.iter().any(|(s, c)| s == state && c == code))
    }
}

impl Endings {
    /// Whether at least one event ended as `(state, code)`.
    pub fn reached(&self, (state, code): (&str, &str)) -> bool {
        self.by_code
            .iter()
            .any(|(s, c, n)| s == state && c == code && *n > 0)
    }
}

/// A tenant's outbox items for a range of events, by state.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    /// (state, count).
    pub by_state: Vec<(String, u64)>,
    /// Events of the project with other than exactly one outbox item.
    pub events_not_one: u64,
}

impl Outbox {
    pub fn count(&self, state: &str) -> u64 {
        self.by_state
            .iter()
            .filter(|(s, _)| s == state)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .by_state
            .iter()
            .map(|(state, n)| format!("{state} {n}"))
            .collect();
        format!(
            "outbox items: {}; {} events without exactly one item",
            if parts.is_empty() {
                "none".to_string()
            } else {
                parts.join(", ")
            },
            self.events_not_one
        )
    }
}

impl Contained {
    pub fn open(data_dir: &Path) -> Result<Self> {
        Ok(Self {
            conn: crate::journal::open_read_only(data_dir)?,
        })
    }

    /// How `tenant`'s events in `project` within `range` ended.
    pub fn endings(&self, tenant: u64, project: u64, range: Range) -> Result<Endings> {
        let bounds = params![tenant, project, range.after, range.upto];
        let mut stmt = self.conn.prepare(
            "SELECT e.state, coalesce(d.error_code, '-'), count(*) FROM events e
             LEFT JOIN decisions d ON d.event_id = e.id
             WHERE e.tenant_id = ?1 AND e.project_id = ?2 AND e.id > ?3 AND e.id <= ?4
             GROUP BY 1, 2 ORDER BY 3 DESC",
        )?;
        let by_code = stmt
            .query_map(bounds, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let (events, decisions_not_one, longest_run_us) = self.conn.query_row(
            "SELECT count(*),
                    coalesce(sum((SELECT count(*) FROM decisions d WHERE d.event_id = e.id) != 1), 0),
                    coalesce(max((SELECT max(d.duration_us) FROM decisions d
                                  WHERE d.event_id = e.id)), 0)
             FROM events e
             WHERE e.tenant_id = ?1 AND e.project_id = ?2 AND e.id > ?3 AND e.id <= ?4",
            bounds,
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        Ok(Endings {
            events,
            by_code,
            decisions_not_one,
            longest_run_us,
        })
    }

    /// The outbox items of `tenant`'s events in `project` within `range`.
    pub fn outbox(&self, tenant: u64, project: u64, range: Range) -> Result<Outbox> {
        let bounds = params![tenant, project, range.after, range.upto];
        let mut stmt = self.conn.prepare(
            "SELECT o.state, count(*) FROM outbox o JOIN events e ON e.id = o.event_id
             WHERE o.tenant_id = ?1 AND e.project_id = ?2 AND e.id > ?3 AND e.id <= ?4
             GROUP BY 1 ORDER BY 2 DESC",
        )?;
        let by_state = stmt
            .query_map(bounds, |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let events_not_one = self.conn.query_row(
            "SELECT count(*) FROM events e
             WHERE e.tenant_id = ?1 AND e.project_id = ?2 AND e.id > ?3 AND e.id <= ?4
               AND (SELECT count(*) FROM outbox o WHERE o.event_id = e.id) != 1",
            bounds,
            |row| row.get(0),
        )?;
        Ok(Outbox {
            by_state,
            events_not_one,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_are_within_only_when_every_code_is_allowed() {
        let endings = Endings {
            events: 3,
            by_code: vec![
                ("failed".into(), "out_of_fuel".into(), 2),
                ("failed".into(), "deadline_exceeded".into(), 1),
            ],
            decisions_not_one: 0,
            longest_run_us: 1_000,
        };
        let cpu = [("failed", "out_of_fuel"), ("failed", "deadline_exceeded")];
        assert!(endings.all_within(&cpu));
        assert!(!endings.all_within(&cpu[..1]));
        assert!(
            !Endings::default().all_within(&cpu),
            "no events proves nothing"
        );
        let doubled = Endings {
            decisions_not_one: 1,
            ..endings
        };
        assert!(!doubled.all_within(&cpu));
        assert!(doubled.reached(("failed", "deadline_exceeded")));
        assert!(!doubled.reached(("failed", "memory_limit")));
    }
}
