//! The arithmetic that moves a callback into a project's calling window
//! ([`CallingHours`], a value type of `model`).
//!
//! Owns local-time reasoning only: turning an instant into a record's wall
//! clock, and finding the next instant the project may call. It knows
//! nothing of records, plugins or policies; `validate` decides what to do
//! with the answer.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

pub use crate::model::CallingHours;
use crate::model::Timestamp;

/// How many local days `next_allowed` looks ahead before it gives up.
///
/// One day is always enough unless the window's start falls in a DST gap
/// that also swallows its end; then the next day is tried.
const MAX_DAYS_AHEAD: u32 = 3;

/// Parses an IANA zone name, with an error a person can act on.
pub(crate) fn parse_zone(zone: &str) -> Result<Tz, String> {
    zone.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {zone:?}"))
}

/// `at` on the wall clock of `zone`.
pub(crate) fn local_time(at: Timestamp, zone: Tz) -> Result<DateTime<Tz>, String> {
    if !crate::model::EVENT_TIME_RANGE.contains(&at) {
        return Err(format!("timestamp {at} is outside years 1 to 9999"));
    }
    zone.timestamp_opt(at, 0)
        .single()
        .ok_or_else(|| format!("timestamp {at} is out of range"))
}

/// The first instant of `at`'s local day in `zone` (midnight, or the first
/// instant after a DST gap that swallows it).
pub(crate) fn day_start(at: Timestamp, zone: &str) -> Result<Timestamp, String> {
    let tz = parse_zone(zone)?;
    let midnight = local_time(at, tz)?
        .date_naive()
        .and_time(chrono::NaiveTime::MIN);
    instants_of(tz, midnight)
        .into_iter()
        .min()
        .ok_or_else(|| format!("the day of {at} has no start in {zone}"))
}

impl CallingHours {
    /// The first instant at or after `at` within the window in `zone`, and whether it moved.
    ///
    /// Before `start` moves to `start` the same local day; at or after `end`
    /// moves to `start` the next day. A `start` that falls in a DST gap
    /// becomes the first instant after the gap; one that falls in a fold
    /// takes the earlier instant (unless that is before `at`). Fails for an
    /// unknown zone or a timestamp chrono cannot represent.
    pub fn next_allowed(&self, at: Timestamp, zone: &str) -> Result<(Timestamp, bool), String> {
        let tz = parse_zone(zone)?;
        let local = local_time(at, tz)?;
        if self.contains(local.time()) {
            return Ok((at, false));
        }
        let mut day = local.date_naive();
        if local.time() >= self.end {
            day = day.succ_opt().ok_or("date out of range")?;
        }
        for _ in 0..MAX_DAYS_AHEAD {
            let wanted = day.and_time(self.start);
            let found = instants_of(tz, wanted)
                .into_iter()
                .filter(|&t| t >= at)
                .min();
            if let Some(t) = found
                && self.contains(local_time(t, tz)?.time())
            {
                return Ok((t, true));
            }
            day = day.succ_opt().ok_or("date out of range")?;
        }
        Err(format!(
            "no instant within calling hours in {zone} in the {MAX_DAYS_AHEAD} days after {at}"
        ))
    }
}

/// The instants a local time names in `tz`: one, two in a fold, or (in a
/// gap) the first instant after the gap.
fn instants_of(tz: Tz, wanted: NaiveDateTime) -> Vec<Timestamp> {
    use chrono::LocalResult::{Ambiguous, None, Single};
    match tz.from_local_datetime(&wanted) {
        Single(t) => vec![t.timestamp()],
        Ambiguous(earlier, later) => vec![earlier.timestamp(), later.timestamp()],
        None => first_instant_after_gap(tz, wanted).into_iter().collect(),
    }
}

/// The transition instant that skips over `wanted`, a local time in a gap.
///
/// Binary search for the first instant whose local time is at or after
/// `wanted`; UTC offsets stay within ±15 hours, so the answer lies within
/// 15 hours of `wanted` read as UTC.
fn first_instant_after_gap(tz: Tz, wanted: NaiveDateTime) -> Option<Timestamp> {
    let naive = wanted.and_utc().timestamp();
    let span = Duration::hours(15).num_seconds();
    let local_at = |t: Timestamp| tz.timestamp_opt(t, 0).single().map(|d| d.naive_local());
    let (mut lo, mut hi) = (naive - span, naive + span);
    if local_at(lo)? >= wanted || local_at(hi)? < wanted {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid)? < wanted {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDAPEST: &str = "Europe/Budapest";

    fn window(start: &str, end: &str) -> CallingHours {
        CallingHours::parse(start, end).unwrap()
    }

    /// A local wall-clock time in `zone` as a timestamp (must be unambiguous).
    fn at(zone: &str, local: &str) -> Timestamp {
        let tz: Tz = zone.parse().unwrap();
        let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
        tz.from_local_datetime(&naive).single().unwrap().timestamp()
    }

    fn utc(local: &str) -> Timestamp {
        at("UTC", local)
    }

    #[test]
    fn after_the_end_moves_to_the_start_of_the_next_day() {
        let hours = window("08:00", "20:00");
        let got = hours
            .next_allowed(at(BUDAPEST, "2026-12-01 21:00"), BUDAPEST)
            .unwrap();
        assert_eq!(got, (at(BUDAPEST, "2026-12-02 08:00"), true));
    }

    #[test]
    fn before_the_start_moves_to_the_start_of_the_same_day() {
        let hours = window("08:00", "20:00");
        let got = hours
            .next_allowed(at(BUDAPEST, "2026-12-01 06:30"), BUDAPEST)
            .unwrap();
        assert_eq!(got, (at(BUDAPEST, "2026-12-01 08:00"), true));
    }

    #[test]
    fn exactly_the_start_and_just_before_the_end_stay() {
        let hours = window("08:00", "20:00");
        for local in ["2026-12-01 08:00", "2026-12-01 19:59"] {
            let t = at(BUDAPEST, local);
            assert_eq!(hours.next_allowed(t, BUDAPEST).unwrap(), (t, false));
        }
    }

    #[test]
    fn exactly_the_end_moves_to_the_next_day() {
        let hours = window("08:00", "20:00");
        let got = hours
            .next_allowed(at(BUDAPEST, "2026-12-01 20:00"), BUDAPEST)
            .unwrap();
        assert_eq!(got, (at(BUDAPEST, "2026-12-02 08:00"), true));
    }

    #[test]
    fn a_start_in_the_spring_gap_takes_the_first_instant_after_it() {
        // 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 never happens.
        let hours = window("02:30", "20:00");
        let got = hours
            .next_allowed(at(BUDAPEST, "2026-03-28 21:00"), BUDAPEST)
            .unwrap();
        assert_eq!(got, (utc("2026-03-29 01:00"), true));
    }

    #[test]
    fn a_start_in_the_autumn_fold_takes_the_earlier_instant() {
        // 2026-10-25 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let hours = window("02:30", "20:00");
        let got = hours
            .next_allowed(at(BUDAPEST, "2026-10-24 21:00"), BUDAPEST)
            .unwrap();
        assert_eq!(got, (utc("2026-10-25 00:30"), true));
    }

    #[test]
    fn a_shift_across_the_autumn_fold_lands_on_the_local_start() {
        // 21:00 CEST is 19:00 UTC; 08:00 CET the next day is 07:00 UTC, 12 hours on.
        let hours = window("08:00", "20:00");
        let got = hours
            .next_allowed(at(BUDAPEST, "2026-10-24 21:00"), BUDAPEST)
            .unwrap();
        assert_eq!(got, (utc("2026-10-25 07:00"), true));
    }

    #[test]
    fn the_window_is_read_in_the_zone_given() {
        // 19:30 UTC in December: 20:30 in Budapest (too late), 19:30 in London (fine).
        let hours = window("08:00", "20:00");
        let t = utc("2026-12-01 19:30");
        assert_eq!(hours.next_allowed(t, "Europe/London").unwrap(), (t, false));
        assert_eq!(
            hours.next_allowed(t, BUDAPEST).unwrap(),
            (at(BUDAPEST, "2026-12-02 08:00"), true)
        );
    }

    #[test]
    fn an_unknown_zone_is_an_error() {
        let hours = window("08:00", "20:00");
        let err = hours.next_allowed(0, "Mars/Olympus").unwrap_err();
        assert!(err.contains("unknown time zone"), "{err}");
    }
}
