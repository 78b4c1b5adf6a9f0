//! Running `wrk` with the harness's Lua script over pre-generated request
//! files, and reading its `--latency` output: requests, duration,
//! requests/s, the latency distribution, non-2xx answers, socket errors,
//! and the script's own counts of accepted, duplicate and other answers.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::requests::RequestFiles;

/// The Lua script (`proof/lua/signed-webhooks.lua`), written next to the
/// request files before each run.
pub const SCRIPT: &str = include_str!("../lua/signed-webhooks.lua");

/// One wrk run.
pub struct Run<'a> {
    /// The full URL requests go to (the webhook's).
    pub url: String,
    pub threads: usize,
    pub connections: usize,
    pub duration: Duration,
    pub files: &'a RequestFiles,
    /// Paces each connection to this many requests per second in total
    /// (wrk's `delay()`); `None`: as fast as the server answers.
    pub rate: Option<f64>,
}

/// The script's own tallies, from its `proof-counts` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// 202 answers saying `accepted`.
    pub accepted: u64,
    /// 202 answers saying `duplicate`.
    pub duplicate: u64,
    /// 202 answers saying neither.
    pub other202: u64,
    pub non202: u64,
    /// Of the non-202 answers, the 429s (a tenant's quota).
    pub s429: u64,
    /// Requests sent after a thread's file ran out (repeats; a flood may
    /// run past its files on purpose).
    pub exhausted: u64,
    /// Requests loaded from the files.
    pub loaded: u64,
}

/// What wrk reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub requests: u64,
    pub duration_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p75_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// "Non-2xx or 3xx responses" (0 when wrk prints no such line).
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors (0 when wrk prints none).
    pub socket_errors: SocketErrors,
    pub counts: Counts,
    /// Each thread's first non-202 answer (status and start of the body).
    pub first_errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
}

impl SocketErrors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

impl Output {
    /// Accepted answers per second of the run.
    pub fn accepted_per_s(&self) -> f64 {
        if self.duration_s > 0.0 {
            self.counts.accepted as f64 / self.duration_s
        } else {
            0.0
        }
    }

    /// What went wrong in the run, if anything: non-202 answers,
    /// duplicates, unexpected 202 bodies, socket errors, repeats.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let c = &self.counts;
        if c.non202 > 0 || self.non_2xx > 0 {
            let first = if self.first_errors.is_empty() {
                String::new()
            } else {
                format!(", first: {}", self.first_errors.join(" | "))
            };
            problems.push(format!(
                "{} non-202 answers ({} non-2xx){first}",
                c.non202, self.non_2xx
            ));
        }
        if c.duplicate > 0 {
            problems.push(format!("{} answers said duplicate", c.duplicate));
        }
        if c.other202 > 0 {
            problems.push(format!(
                "{} 202 answers said neither accepted nor duplicate",
                c.other202
            ));
        }
        if c.exhausted > 0 {
            problems.push(format!(
                "the request files ran out ({} repeats sent): generate more (http: raise --max-rate)",
                c.exhausted
            ));
        }
        if self.socket_errors.total() > 0 {
            let e = &self.socket_errors;
            problems.push(format!(
                "socket errors: connect {}, read {}, write {}, timeout {}",
                e.connect, e.read, e.write, e.timeout
            ));
        }
        problems
    }
}

impl Run<'_> {
    /// Runs wrk and parses its output; fails if wrk fails.
    pub fn run(&self) -> Result<Output> {
        let script = self.files.dir.join("signed-webhooks.lua");
        std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        // The script's start gate, written by the last thread's init().
        let ready = self.files.dir.join("ready");
        if ready.exists() {
            std::fs::remove_file(&ready)?;
        }
        let delay_ms = self
            .rate
            .map_or(0.0, |rate| self.connections as f64 * 1000.0 / rate);
        let output = Command::new("wrk")
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .args(["--timeout", "10s", "--latency", "-s"])
            .arg(&script)
            .arg(&self.url)
            .arg("--")
            .arg(&self.files.dir)
            .arg(format!("{delay_ms:.4}"))
            .arg(self.threads.to_string())
            .output()
            .context("running wrk (install it with `apt-get install -y wrk`)")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("wrk failed ({}):\n{stdout}\n{stderr}", output.status);
        }
        parse(&stdout).with_context(|| format!("reading wrk's output:\n{stdout}\n{stderr}"))
    }
}

/// Reads wrk's `--latency` output and the script's `proof-counts` line.
pub fn parse(text: &str) -> Result<Output> {
    let mut out = Output::default();
    let mut seen_requests = false;
    let mut seen_counts = false;
    let mut in_distribution = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Latency Distribution") {
            in_distribution = true;
            continue;
        }
        if in_distribution {
            if let Some((pct, value)) = line.split_once('%') {
                let ms = time_ms(value.trim())?;
                match pct.trim() {
                    "50" => out.p50_ms = ms,
                    "75" => out.p75_ms = ms,
                    "90" => out.p90_ms = ms,
                    "99" => out.p99_ms = ms,
                    _ => {}
                }
                continue;
            }
            in_distribution = false;
        }
        if let Some((count, rest)) = line.split_once(" requests in ") {
            out.requests = count.trim().parse().context("the request count")?;
            let duration = rest.split(',').next().unwrap_or_default().trim();
            out.duration_s = time_ms(duration)? / 1000.0;
            seen_requests = true;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            for part in rest.split(',') {
                let mut words = part.split_whitespace();
                let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                    bail!("a socket error count: `{part}`");
                };
                let n: u64 = n.parse().context("a socket error count")?;
                match kind {
                    "connect" => out.socket_errors.connect = n,
                    "read" => out.socket_errors.read = n,
                    "write" => out.socket_errors.write = n,
                    "timeout" => out.socket_errors.timeout = n,
                    _ => {}
                }
            }
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            out.non_2xx = rest.trim().parse().context("the non-2xx count")?;
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            out.requests_per_s = rest.trim().parse().context("requests/sec")?;
        } else if let Some(rest) = line.strip_prefix("proof-first-error ") {
            out.first_errors.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("proof-counts ") {
            out.counts = parse_counts(rest)?;
            seen_counts = true;
        }
    }
    if !seen_requests {
        bail!("no `N requests in T` line");
    }
    if !seen_counts {
        bail!("no `proof-counts` line from the script");
    }
    Ok(out)
}

fn parse_counts(text: &str) -> Result<Counts> {
    let mut counts = Counts::default();
    for pair in text.split_whitespace() {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("`{pair}` is not name=value"))?;
        let value: u64 = value.parse().with_context(|| format!("count {name}"))?;
        match name {
            "accepted" => counts.accepted = value,
            "duplicate" => counts.duplicate = value,
            "other202" => counts.other202 = value,
            "non202" => counts.non202 = value,
            "s429" => counts.s429 = value,
            "exhausted" => counts.exhausted = value,
            "loaded" => counts.loaded = value,
            _ => {}
        }
    }
    Ok(counts)
}

/// A wrk time (`850.00us`, `1.23ms`, `2.00s`, `1.00m`, `1.00h`) in ms.
pub fn time_ms(text: &str) -> Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("`{text}` has no unit"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("`{text}` is not a time"))?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => bail!("`{text}`: unknown unit {unit}"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "\
Running 20s test @ http://127.0.0.1:40123/v1/webhooks/sms/inbound
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.58ms    4.33ms  81.07ms   79.48%
    Req/Sec     3.06k   290.15     3.84k    71.25%
  Latency Distribution
     50%   10.02ms
     75%   12.43ms
     90%   15.49ms
     99%   24.61ms
  121848 requests in 20.01s, 16.73MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 13
Requests/sec:   6089.45
Transfer/sec:    856.01KB
proof-counts accepted=121835 duplicate=0 other202=0 non202=13 s429=4 exhausted=0 loaded=1800000
proof-first-error 503 {\"error\":{\"code\":\"overloaded\"}}
";

    #[test]
    fn reads_every_figure_of_a_full_run() {
        let out = parse(FULL).unwrap();
        assert_eq!(out.requests, 121_848);
        assert!((out.duration_s - 20.01).abs() < 1e-9);
        assert!((out.requests_per_s - 6089.45).abs() < 1e-9);
        assert_eq!(
            (out.p50_ms, out.p75_ms, out.p90_ms, out.p99_ms),
            (10.02, 12.43, 15.49, 24.61)
        );
        assert_eq!(out.non_2xx, 13);
        assert_eq!(
            out.socket_errors,
            SocketErrors {
                connect: 0,
                read: 2,
                write: 0,
                timeout: 7
            }
        );
        assert_eq!(out.counts.accepted, 121_835);
        assert_eq!(out.counts.non202, 13);
        assert_eq!(out.counts.s429, 4);
        assert_eq!(out.counts.loaded, 1_800_000);
        assert!((out.accepted_per_s() - 121_835.0 / 20.01).abs() < 1e-6);
        assert_eq!(
            out.first_errors,
            vec![r#"503 {"error":{"code":"overloaded"}}"#.to_string()]
        );
        let problems = out.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("first: 503"), "{problems:?}");
    }

    #[test]
    fn a_clean_run_has_no_error_lines_and_no_problems() {
        let text = "\
Running 2s test @ http://127.0.0.1:1/v1/webhooks/sms/inbound
  2 threads and 8 connections
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    2.00s
     99%    1.50m
  400 requests in 2.00s, 60.00KB read
Requests/sec:    199.90
Transfer/sec:     30.00KB
proof-counts accepted=400 duplicate=0 other202=0 non202=0 exhausted=0 loaded=1000
";
        let out = parse(text).unwrap();
        assert_eq!(out.p50_ms, 0.85);
        assert_eq!(out.p75_ms, 1.2);
        assert_eq!(out.p90_ms, 2000.0);
        assert_eq!(out.p99_ms, 90_000.0);
        assert_eq!(out.non_2xx, 0);
        assert_eq!(out.socket_errors.total(), 0);
        assert!(out.problems().is_empty());
    }

    #[test]
    fn duplicates_and_repeats_are_problems() {
        let text = "  10 requests in 1.00m, 1.00KB read\n\
                    proof-counts accepted=5 duplicate=5 other202=0 non202=0 exhausted=5 loaded=5\n";
        let out = parse(text).unwrap();
        assert_eq!(out.duration_s, 60.0);
        let problems = out.problems().join("; ");
        assert!(problems.contains("5 answers said duplicate"), "{problems}");
        assert!(problems.contains("ran out"), "{problems}");
    }

    #[test]
    fn output_without_the_scripts_counts_is_refused() {
        let err = parse("  10 requests in 1.00s, 1.00KB read\n").unwrap_err();
        assert!(err.to_string().contains("proof-counts"), "{err}");
        assert!(time_ms("12").is_err());
        assert!(time_ms("12.0ks").is_err());
    }
}
