//! What a scenario hands back: its figures, its promises (checks), a
//! readable table of both and one final JSON line of everything.
//!
//! A check is either about correctness (always enforced) or about speed
//! (enforced only in full runs: a smoke run on a debug build measures
//! speed but does not judge it).

use serde_json::{Map, Value, json};

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// A snake_case key, used in the JSON line.
    pub key: String,
    pub value: f64,
    /// The unit shown in the table (`events/s`, `ms`, `MiB`, …).
    pub unit: &'static str,
}

/// Whether a check is judged in every run or only in full runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Correctness,
    Speed,
}

/// One promise and whether it held.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub kind: Kind,
    pub held: bool,
    /// What was measured against what was promised, in words.
    pub detail: String,
}

/// A scenario's result.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    /// Smoke runs judge correctness only.
    pub smoke: bool,
    pub figures: Vec<Figure>,
    pub checks: Vec<Check>,
    /// Free-form lines printed under the table (settings, caveats).
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str, smoke: bool) -> Self {
        Self {
            scenario,
            smoke,
            figures: Vec::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn figure(&mut self, key: &str, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            key: key.to_string(),
            value,
            unit,
        });
    }

    /// Records a correctness promise.
    pub fn correct(&mut self, name: &str, held: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_string(),
            kind: Kind::Correctness,
            held,
            detail: detail.into(),
        });
    }

    /// Records a speed promise (judged only in full runs).
    pub fn speed(&mut self, name: &str, held: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_string(),
            kind: Kind::Speed,
            held,
            detail: detail.into(),
        });
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// Whether the check counts towards passing in this run.
    fn judged(&self, check: &Check) -> bool {
        check.kind == Kind::Correctness || !self.smoke
    }

    /// Every judged check held.
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.held || !self.judged(check))
    }

    /// The readable table: figures, then checks, then notes.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mode = if self.smoke { " (smoke)" } else { "" };
        out.push_str(&format!("== {}{mode} ==\n", self.scenario));
        let width = self.figures.iter().map(|f| f.key.len()).max().unwrap_or(0);
        for figure in &self.figures {
            out.push_str(&format!(
                "  {:width$}  {:>14} {}\n",
                figure.key,
                format_value(figure.value),
                figure.unit
            ));
        }
        if !self.checks.is_empty() {
            out.push_str("  promises:\n");
        }
        for check in &self.checks {
            let verdict = match (check.held, self.judged(check)) {
                (true, _) => "ok  ",
                (false, true) => "FAIL",
                (false, false) => "miss",
            };
            let judged = if self.judged(check) {
                ""
            } else {
                " (not judged in smoke runs)"
            };
            out.push_str(&format!(
                "    [{verdict}] {}: {}{judged}\n",
                check.name, check.detail
            ));
        }
        for line in &self.notes {
            out.push_str(&format!("  note: {line}\n"));
        }
        out.push_str(&format!(
            "  result: {}\n",
            if self.passed() { "PASSED" } else { "FAILED" }
        ));
        out
    }

    /// Everything as one JSON object.
    pub fn json(&self) -> Value {
        let figures: Map<String, Value> = self
            .figures
            .iter()
            .map(|f| (f.key.clone(), json_number(f.value)))
            .collect();
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "kind": match c.kind { Kind::Correctness => "correctness", Kind::Speed => "speed" },
                    "held": c.held,
                    "judged": self.judged(c),
                    "detail": c.detail,
                })
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "smoke": self.smoke,
            "passed": self.passed(),
            "figures": figures,
            "checks": checks,
        })
    }
}

/// Whole numbers without decimals, small ones with up to three.
fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn json_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9e15 {
        json!(value as i64)
    } else if value.is_finite() {
        json!((value * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_speed_target_fails_only_full_runs() {
        let mut smoke = Report::new("http", true);
        smoke.speed("fast", false, "1 < 2");
        smoke.correct("right", true, "yes");
        assert!(smoke.passed());
        let mut full = smoke.clone();
        full.smoke = false;
        assert!(!full.passed());
        assert_eq!(full.json()["passed"], json!(false));
    }

    #[test]
    fn a_broken_correctness_promise_fails_smoke_runs() {
        let mut smoke = Report::new("http", true);
        smoke.correct("right", false, "no");
        assert!(!smoke.passed());
        assert!(smoke.table().contains("[FAIL] right"));
    }

    #[test]
    fn figures_keep_their_keys_in_the_json() {
        let mut report = Report::new("http", false);
        report.figure("rate", 1234.5678, "events/s");
        report.figure("count", 7.0, "events");
        let json = report.json();
        assert_eq!(json["figures"]["rate"], json!(1234.568));
        assert_eq!(json["figures"]["count"], json!(7));
    }
}
