//! Properties of the SDK's date helpers on hostile text: whatever a customer
//! types (or a fuzzer makes up), `find_date`, `find_datetime`,
//! `local_to_timestamp` and `timestamp_to_local` answer a value or a
//! `TimeError`, never a panic, and a well-formed `YYYY-MM-DD hh:mm` inside
//! any other text is found.
//!
//! Each property runs proptest's default 256 cases, so `cargo test` stays
//! fast. For a long run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p smstrigger-sdk --test time_props
//! ```

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::TZ_VARIANTS;
use proptest::prelude::*;
use smstrigger_sdk::time::{
    TimeError, find_date, find_datetime, local_to_timestamp, timestamp_to_local,
};

/// Text a customer might send, and text nobody would: free Unicode, and
/// date-shaped runs of digits, dashes, colons, `T`s and blanks, with
/// numbers of any width (years beyond 9999, months and days beyond 99).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9\\- :T.]{0,40}",
        "[a-z ]{0,8}[0-9]{1,6}-[0-9]{0,3}-[0-9]{0,3}[ T]{0,2}[0-9]{0,3}:?[0-9]{0,3}[a-z ]{0,8}",
        (
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>()
        )
            .prop_map(|(y, mo, d, h, mi)| format!("on {y:04}-{mo:02}-{d:02} {h}:{mi:02} please")),
        // Multi-byte characters around and inside the shape, to catch byte
        // offsets that are not character boundaries.
        "[é€😀0-9\\-: ]{0,30}",
    ]
}

/// IANA names (every one chrono-tz knows) and names that are not.
fn zone() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(TZ_VARIANTS.iter().map(|tz| tz.name()).collect::<Vec<_>>())
            .prop_map(String::from),
        1 => any::<String>(),
        1 => "[A-Za-z_/+\\-0-9]{0,24}",
    ]
}

/// Any local date and time chrono can hold, weighted towards the edges of
/// its range, where a zone's offset could push the instant out of it.
fn local() -> impl Strategy<Value = NaiveDateTime> {
    let seconds_of_day = 0u32..86_400;
    let edge = prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        Just(NaiveDate::MIN.succ_opt().unwrap()),
        Just(NaiveDate::MAX.pred_opt().unwrap()),
    ];
    let days = (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
        .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap());
    let recent = (0i32..200 * 366).prop_map(|n| {
        NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(n.into())
    });
    (
        prop_oneof![1 => edge, 1 => days, 2 => recent],
        seconds_of_day,
    )
        .prop_map(|(date, s)| {
            date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(s, 0).unwrap())
        })
}

/// A local time with a four-digit year (0000 to 9999), to the minute.
fn four_digit_local() -> impl Strategy<Value = NaiveDateTime> {
    let first = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
    (0..=(last - first).num_days(), 0u32..24, 0u32..60).prop_map(move |(day, h, m)| {
        (first + chrono::Duration::days(day))
            .and_hms_opt(h, m, 0)
            .unwrap()
    })
}

/// Text around a date that cannot itself hold a date or touch it: no
/// digits (and no `:` that would continue the time).
fn prose() -> impl Strategy<Value = String> {
    "[^0-9:]{0,30}"
}

proptest! {
    #[test]
    fn find_date_never_panics(text in text()) {
        let _ = find_date(&text);
    }

    #[test]
    fn find_datetime_never_panics(text in text()) {
        let _ = find_datetime(&text);
    }

    #[test]
    fn what_find_datetime_finds_is_a_date_find_date_also_finds(text in text()) {
        // Both scan for the same first date; when a date and time are
        // found, the date alone is found too.
        if let Ok(Some(found)) = find_datetime(&text) {
            prop_assert_eq!(find_date(&text), Ok(Some(found.date())));
        }
    }

    #[test]
    fn local_to_timestamp_never_panics(local in local(), zone in zone()) {
        match local_to_timestamp(local, &zone) {
            Ok(ts) => {
                // The instant found (the earlier one in a fold) reads back
                // as the same local time.
                if let Ok(back) = timestamp_to_local(ts, &zone) {
                    prop_assert_eq!(back, local, "{} in {} -> {}", local, zone, ts);
                }
            }
            Err(TimeError::UnknownZone { .. }) => {
                prop_assert!(zone.parse::<chrono_tz::Tz>().is_err());
            }
            Err(_) => {}
        }
    }

    #[test]
    fn timestamp_to_local_never_panics(ts in any::<i64>(), zone in zone()) {
        let _ = timestamp_to_local(ts, &zone);
    }

    #[test]
    fn a_formatted_datetime_inside_any_text_is_found(
        before in prose(),
        after in prose(),
        local in four_digit_local(),
        separator in prop_oneof![Just(" "), Just("T"), Just("  ")],
        short_hour in any::<bool>(),
    ) {
        let date = local.format("%Y-%m-%d");
        let clock = if short_hour { local.format("%-H:%M") } else { local.format("%H:%M") };
        let text = format!("{before}{date}{separator}{clock}{after}");
        prop_assert_eq!(find_datetime(&text), Ok(Some(local)), "{:?}", text);
        prop_assert_eq!(find_date(&text), Ok(Some(local.date())), "{:?}", text);
    }
}
