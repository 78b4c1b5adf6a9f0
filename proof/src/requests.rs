//! Pre-generated, signed inbound webhooks: the body every load run sends,
//! its HMAC signature, the record phones it cycles through, and the
//! per-wrk-thread request files the Lua script loads.
//!
//! Each message names a local time 1–3 days ahead at 10:00 (inside the
//! project's calling hours), so `reply-call-time` answers a Shared
//! Callback that validates and executes. Message ids are unique per file
//! prefix, so no request is a duplicate of another.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Days, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The projects' time zone.
pub const ZONE: &str = "Europe/Budapest";

/// Hex HMAC-SHA256 of `body` under the tenant's webhook `secret`, as the
/// server expects it in `X-Smstrigger-Signature`.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `i`-th distinct record phone (Hungarian mobile, E.164); `i` below
/// nine million.
pub fn record_phone(i: usize) -> String {
    format!("+3630{:07}", 1_000_000 + i)
}

/// What one inbound webhook says.
pub struct Inbound<'a> {
    pub project: u64,
    pub phone: &'a str,
    pub message_id: &'a str,
    /// The message's timestamp (RFC 3339).
    pub timestamp: &'a str,
    /// The local date the customer asks to be called on, `YYYY-MM-DD`.
    pub call_date: &'a str,
}

impl Inbound<'_> {
    /// The JSON body, in the source system's field names. Every value is
    /// plain ASCII without quotes or backslashes, so no escaping is needed
    /// and the body holds no tab or newline.
    pub fn body(&self) -> String {
        format!(
            r#"{{"direction":"in","message":"Please call me at {} 10:00, thanks","numberId":1,"projectId":{},"sourcePhoneNumber":"{}","timestamp":"{}","messageId":"{}"}}"#,
            self.call_date, self.project, self.phone, self.timestamp, self.message_id
        )
    }
}

/// The local dates 1, 2 and 3 days after `now` in [`ZONE`].
pub fn call_dates(now: DateTime<Utc>) -> [String; 3] {
    let zone: chrono_tz::Tz = ZONE.parse().expect("a known zone");
    let today = now.with_timezone(&zone).date_naive();
    [1, 2, 3].map(|days| (today + Days::new(days)).format("%Y-%m-%d").to_string())
}

/// `now` as the webhooks' RFC 3339 timestamp.
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A set of request files, one per wrk thread.
pub struct RequestFiles {
    pub dir: PathBuf,
    pub threads: usize,
    pub per_thread: usize,
}

/// Who the requests are for.
pub struct Target<'a> {
    pub project: u64,
    pub secret: &'a str,
    pub phones: &'a [String],
}

/// Writes `dir/requests-<t>.txt` for each of `threads` wrk threads, each
/// holding `per_thread` lines of `<signature>\t<body>`. Message ids are
/// `<prefix>-<t>-<k>`; phones cycle through `target.phones` so that
/// consecutive requests name different senders.
pub fn write_files(
    dir: &Path,
    prefix: &str,
    threads: usize,
    per_thread: usize,
    target: &Target<'_>,
) -> Result<RequestFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = Utc::now();
    let stamp = timestamp(now);
    let dates = call_dates(now);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let (stamp, dates) = (&stamp, &dates);
                scope.spawn(move || -> Result<()> {
                    let path = file_path(dir, t);
                    let file = File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut out = BufWriter::with_capacity(1 << 20, file);
                    for k in 0..per_thread {
                        let global = k * threads + t;
                        let message_id = format!("{prefix}-{t}-{k}");
                        let body = Inbound {
                            project: target.project,
                            phone: &target.phones[global % target.phones.len()],
                            message_id: &message_id,
                            timestamp: stamp,
                            call_date: &dates[global % dates.len()],
                        }
                        .body();
                        writeln!(out, "{}\t{body}", sign(target.secret, &body))?;
                    }
                    out.flush()?;
                    Ok(())
                })
            })
            .collect();
        writers
            .into_iter()
            .try_for_each(|writer| writer.join().expect("a writer thread panicked"))
    })?;
    Ok(RequestFiles {
        dir: dir.to_path_buf(),
        threads,
        per_thread,
    })
}

/// Thread `t`'s file in `dir` (the Lua script builds the same name).
pub fn file_path(dir: &Path, t: usize) -> PathBuf {
    dir.join(format!("requests-{t}.txt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bodies_are_json_with_the_webhook_fields() {
        let body = Inbound {
            project: 3,
            phone: &record_phone(7),
            message_id: "peak-0-1",
            timestamp: "2026-11-26T10:00:00Z",
            call_date: "2026-11-28",
        }
        .body();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["direction"], "in");
        assert_eq!(parsed["projectId"], 3);
        assert_eq!(parsed["sourcePhoneNumber"], "+36301000007");
        assert_eq!(parsed["messageId"], "peak-0-1");
        assert!(
            parsed["message"]
                .as_str()
                .unwrap()
                .contains("2026-11-28 10:00")
        );
    }

    #[test]
    fn call_dates_are_the_next_three_local_days() {
        // 23:30 UTC is already the next day in Budapest (UTC+1 in winter).
        let now = "2026-11-26T23:30:00Z".parse().unwrap();
        assert_eq!(
            call_dates(now),
            ["2026-11-28", "2026-11-29", "2026-11-30"].map(String::from)
        );
    }

    #[test]
    fn files_hold_unique_ids_and_cycle_phones() {
        let dir = tempfile::tempdir().unwrap();
        let phones: Vec<String> = (0..3).map(record_phone).collect();
        let target = Target {
            project: 1,
            secret: "s",
            phones: &phones,
        };
        write_files(dir.path(), "t", 2, 4, &target).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        let mut senders = std::collections::BTreeSet::new();
        for t in 0..2 {
            let text = std::fs::read_to_string(file_path(dir.path(), t)).unwrap();
            assert_eq!(text.lines().count(), 4);
            for line in text.lines() {
                let (signature, body) = line.split_once('\t').unwrap();
                assert_eq!(signature, sign("s", body));
                let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
                ids.insert(parsed["messageId"].as_str().unwrap().to_string());
                senders.insert(parsed["sourcePhoneNumber"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(ids.len(), 8);
        assert_eq!(senders.len(), 3);
    }
}
