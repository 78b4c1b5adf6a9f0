//! Dates in free text and local times in a record's zone.
//!
//! Customers write dates as `2026-12-01` and times as `2026-12-01 14:30`,
//! local to them. A rule finds such a date in a message with
//! [`find_date`] or [`find_datetime`], then turns it into an instant with
//! [`local_to_timestamp`] in the record's IANA zone. Every way this can go
//! wrong is a [`TimeError`] whose message says which, so a rule can log it.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

pub use chrono::{Datelike, Duration, NaiveDate as Date, NaiveDateTime as DateTime, Timelike};

use crate::model::Timestamp;

/// Why a date or time could not be read or placed on the time line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// Text shaped like a date or time that is not one, e.g. `2025-1-5`, or
    /// a date where a date and time was expected.
    Malformed { text: String, reason: &'static str },
    /// A well-formed date or time that does not exist, e.g. `2025-02-30`,
    /// `2025-13-01` or `24:10`.
    Impossible { text: String },
    /// A local time that a daylight-saving change skips in `zone`.
    Gap { local: NaiveDateTime, zone: String },
    /// A time zone name that is not in the IANA database.
    UnknownZone { zone: String },
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeError::Malformed { text, reason } => write!(f, "malformed date `{text}`: {reason}"),
            TimeError::Impossible { text } => write!(f, "impossible date or time `{text}`"),
            TimeError::Gap { local, zone } => write!(
                f,
                "{} does not exist in {zone}: the clocks skip it for daylight saving",
                local.format("%Y-%m-%d %H:%M")
            ),
            TimeError::UnknownZone { zone } => write!(f, "unknown time zone `{zone}`"),
        }
    }
}

impl std::error::Error for TimeError {}

/// Finds the first `YYYY-MM-DD` in `text`.
///
/// `Ok(None)` when the text holds nothing shaped like a date; an error when
/// it holds one that is malformed (`2025-1-05`) or impossible (`2025-02-30`).
pub fn find_date(text: &str) -> Result<Option<NaiveDate>, TimeError> {
    Ok(scan_date(text)?.map(|(date, _)| date))
}

/// Finds the first `YYYY-MM-DD hh:mm` in `text` (a `T` may stand for the
/// space, and the hour may have one digit).
///
/// `Ok(None)` when the text holds no date at all; an error when the first
/// date is malformed or impossible, or has no time after it.
pub fn find_datetime(text: &str) -> Result<Option<NaiveDateTime>, TimeError> {
    let Some((date, rest)) = scan_date(text)? else {
        return Ok(None);
    };
    let time = rest.trim_start_matches([' ', 'T']);
    let hour_len = time.bytes().take_while(u8::is_ascii_digit).count();
    let shaped = (1..=2).contains(&hour_len)
        && time.as_bytes().get(hour_len) == Some(&b':')
        && digits_at(time, hour_len + 1) == 2;
    if !shaped || time.len() == rest.len() {
        return Err(TimeError::Malformed {
            text: format!("{date}{}", first_word(rest)),
            reason: "expected a time as hh:mm after the date",
        });
    }
    let clock = &time[..hour_len + 3];
    let (hour, minute) = (
        clock[..hour_len].parse().ok(),
        clock[hour_len + 1..].parse().ok(),
    );
    match hour
        .zip(minute)
        .and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0))
    {
        Some(time) => Ok(Some(date.and_time(time))),
        None => Err(TimeError::Impossible {
            text: format!("{date} {clock}"),
        }),
    }
}

/// Turns a local date and time in the IANA `zone` into a timestamp.
///
/// A time the clocks skip (a DST gap) is an error that says so; a time that
/// happens twice (a DST fold) is the earlier of the two instants.
pub fn local_to_timestamp(local: NaiveDateTime, zone: &str) -> Result<Timestamp, TimeError> {
    let tz: Tz = zone.parse().map_err(|_| TimeError::UnknownZone {
        zone: zone.to_string(),
    })?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|instant| instant.timestamp())
        .ok_or_else(|| TimeError::Gap {
            local,
            zone: zone.to_string(),
        })
}

/// The local date and time of `timestamp` in the IANA `zone`.
pub fn timestamp_to_local(timestamp: Timestamp, zone: &str) -> Result<NaiveDateTime, TimeError> {
    let tz: Tz = zone.parse().map_err(|_| TimeError::UnknownZone {
        zone: zone.to_string(),
    })?;
    let utc = chrono::DateTime::from_timestamp(timestamp, 0).ok_or(TimeError::Impossible {
        text: timestamp.to_string(),
    })?;
    Ok(utc.with_timezone(&tz).naive_local())
}

/// Scans for the first `dddd-d{1,2}-d{1,2}` not inside a longer number and
/// returns the date with the text after it.
fn scan_date(text: &str) -> Result<Option<(NaiveDate, &str)>, TimeError> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let at_boundary = start == 0 || !bytes[start - 1].is_ascii_digit();
        if at_boundary && digits_at(text, start) == 4 && bytes.get(start + 4) == Some(&b'-') {
            let month_len = digits_at(text, start + 5);
            let day_at = start + 5 + month_len + 1;
            if (1..=2).contains(&month_len) && bytes.get(day_at - 1) == Some(&b'-') {
                let day_len = digits_at(text, day_at);
                if (1..=2).contains(&day_len) {
                    let end = day_at + day_len;
                    return date_at(&text[start..end], month_len, day_len)
                        .map(|date| Some((date, &text[end..])));
                }
            }
        }
        start += text[start..].chars().next().map_or(1, char::len_utf8);
    }
    Ok(None)
}

/// Parses a `dddd-d{1,2}-d{1,2}` slice, requiring two-digit month and day.
fn date_at(text: &str, month_len: usize, day_len: usize) -> Result<NaiveDate, TimeError> {
    if month_len != 2 || day_len != 2 {
        return Err(TimeError::Malformed {
            text: text.to_string(),
            reason: "expected YYYY-MM-DD with two-digit month and day",
        });
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| TimeError::Impossible {
        text: text.to_string(),
    })
}

/// How many ASCII digits start at byte `at` of `text`.
fn digits_at(text: &str, at: usize) -> usize {
    text.as_bytes().get(at..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// The text up to the next white space, for error messages.
fn first_word(text: &str) -> &str {
    let trimmed = text.trim_start();
    let lead = text.len() - trimmed.len();
    let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    &text[..lead + end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datetime(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn finds_a_datetime_inside_free_text() {
        let found = find_datetime("Please call me on 2026-12-01 14:30, thanks!").unwrap();
        assert_eq!(found, Some(datetime("2026-12-01 14:30")));
        assert_eq!(
            find_datetime("2026-12-01T09:05").unwrap(),
            Some(datetime("2026-12-01 09:05"))
        );
        assert_eq!(
            find_datetime("at 2026-12-01 9:05").unwrap(),
            Some(datetime("2026-12-01 09:05"))
        );
    }

    #[test]
    fn text_without_a_date_is_none_not_an_error() {
        assert_eq!(find_datetime("call me tomorrow").unwrap(), None);
        assert_eq!(find_date("order 1234567 shipped").unwrap(), None);
        assert_eq!(find_date("").unwrap(), None);
    }

    #[test]
    fn impossible_dates_are_not_dates() {
        for text in ["2025-02-30", "2025-13-01", "2025-00-10", "2023-02-29"] {
            assert_eq!(
                find_date(text),
                Err(TimeError::Impossible { text: text.into() }),
                "{text}"
            );
        }
        assert!(matches!(
            find_datetime("2026-12-01 24:10"),
            Err(TimeError::Impossible { .. })
        ));
        assert!(matches!(
            find_datetime("2026-12-01 14:60"),
            Err(TimeError::Impossible { .. })
        ));
    }

    #[test]
    fn leap_days_exist_only_in_leap_years() {
        assert_eq!(
            find_date("2024-02-29").unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert!(find_date("2025-02-29").is_err());
    }

    #[test]
    fn malformed_shapes_say_what_was_expected() {
        let err = find_date("on 2025-1-05 please").unwrap_err();
        assert!(matches!(err, TimeError::Malformed { .. }), "{err}");
        let err = find_datetime("2026-12-01 at noon").unwrap_err();
        assert!(err.to_string().contains("hh:mm"), "{err}");
        assert!(matches!(
            find_datetime("2026-12-01"),
            Err(TimeError::Malformed { .. })
        ));
    }

    #[test]
    fn digits_inside_longer_numbers_are_not_dates() {
        assert_eq!(find_date("ref 12026-12-01").unwrap(), None);
    }

    #[test]
    fn local_time_becomes_the_instant_in_that_zone() {
        // 14:30 in Budapest in winter is 13:30 UTC.
        let ts = local_to_timestamp(datetime("2026-12-01 14:30"), "Europe/Budapest").unwrap();
        assert_eq!(ts, 1_796_131_800);
        assert_eq!(
            timestamp_to_local(ts, "Europe/Budapest").unwrap(),
            datetime("2026-12-01 14:30")
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_is_an_error_that_says_so() {
        // Budapest skips 02:00-03:00 on 2026-03-29.
        let err = local_to_timestamp(datetime("2026-03-29 02:30"), "Europe/Budapest").unwrap_err();
        assert!(matches!(err, TimeError::Gap { .. }));
        assert!(err.to_string().contains("daylight saving"), "{err}");
    }

    #[test]
    fn a_time_in_the_autumn_fold_takes_the_earlier_instant() {
        // Budapest repeats 02:00-03:00 on 2026-10-25: first at UTC+2, then UTC+1.
        let ts = local_to_timestamp(datetime("2026-10-25 02:30"), "Europe/Budapest").unwrap();
        assert_eq!(ts, 1_792_888_200); // 00:30 UTC
    }

    #[test]
    fn unknown_zones_are_named() {
        let err = local_to_timestamp(datetime("2026-12-01 14:30"), "Mars/Olympus").unwrap_err();
        assert_eq!(err.to_string(), "unknown time zone `Mars/Olympus`");
    }
}
