//! Phone numbers to E.164 under a project's default country, and the opt-out
//! keywords.
//!
//! This module owns two small decisions the host makes about raw text: which
//! E.164 number a typed phone number means ([`to_e164`], [`same_phone`]), and
//! whether an inbound message body asks to stop ([`is_opt_out`]) or to be
//! contacted again ([`is_opt_in`]). It does not validate that a number is
//! assigned or reachable, format numbers for display, guess a country from
//! a number, or keep the do-not-contact list: those belong to the callers.
//!
//! # Why hand-written and not the `phonenumber` crate
//!
//! Measured on this project's 2-core machine (rustc 1.95; call times from
//! release builds) against `phonenumber 0.3.10+9.0.33`, the Rust port of
//! libphonenumber:
//!
//! | | `phonenumber` | this module |
//! | --- | --- | --- |
//! | crates added to the host's tree | 19 (regex, regex-cache, nom, quick-xml, strum, heapless, postcard, …) | 0 (`thiserror` is already there) |
//! | cold build on its own, debug / release | 27 s / 71 s wall | one file |
//! | compile time the host does not already pay | about 21 s CPU (debug) | none |
//! | stripped binary | +3.3 MB (4.7 MB vs a 0.34 MB hello-world) | a few KB of table |
//! | unpacked source | 15 MB (geocoding and carrier data) | this file |
//! | first call (loads its metadata) | 83 ms | no set-up |
//! | later calls | 1.4 to 2 µs | about 90 ns |
//!
//! On the 28 inputs in this module's tests the two agree 24 times. The
//! other 4 are the crate's mistakes for our purpose: under HU it keeps the
//! `(0)` of `+44 (0)7700 900123` (`+4407700900123`) and reads Eger's
//! `36123456` as a six-digit `+36123456`; under LT it takes the `8` of the
//! toll-free `+370 800 12345` for a trunk prefix; under IT it reads the
//! mobile `3921234567` as `+3921234567`. What the crate adds is per-range
//! validity (it calls the Ofcom drama number `07700 900123` invalid), which
//! the host does not want: it compares numbers, it does not vet them, and
//! rejecting a customer's number because a range table is stale is worse
//! than accepting it. So the host carries a compact table instead: calling
//! code, national trunk prefixes and possible national lengths for the EU
//! and EEA countries, Switzerland, the UK, the US and Canada, copied from
//! libphonenumber's metadata 9.0.33 (the union of the `possibleLengths` of
//! each territory's number types). Adding a country is one line.
//!
//! # How a number is read
//!
//! Spaces, `-`, `.`, `/`, `(` and `)` are formatting and are dropped; a `+`
//! may only lead. Then, under the default country:
//!
//! 1. `+` or the country's international prefix (`00`, or `011` in the US and
//!    Canada) means the country code follows. A trunk prefix written after a
//!    known country code (`+44 (0)7700 900123`, `+36 06 30 …`) is dropped.
//!    Beyond that a number with a country code is trusted: only the E.164
//!    length (7 to 15 digits) is checked, so a stale table never rejects it.
//! 2. A leading trunk prefix (`0`, `06` in Hungary, `1` in the US) is dropped
//!    when what is left has a possible national length.
//! 3. Digits that start with the country's own calling code are ambiguous
//!    (`36301234567` under HU). They are read as international when what
//!    follows the calling code has a possible national length and the whole
//!    does not. When both readings fit, a country with a trunk prefix reads
//!    them as international (its national numbers are written with the
//!    prefix, so bare digits starting with the calling code are a number
//!    missing its `+`); a country without one reads them as national, since
//!    that is how its numbers are always written (Italian mobiles on `39x`).
//! 4. Otherwise digits of a possible national length get the calling code;
//!    any other length is an error that says which lengths fit.

use thiserror::Error;

/// What is wrong with a phone number or the default country it was read under.
///
/// Every message names the input (cut to 40 characters) and says what would
/// make it acceptable, so it can go back to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhoneError {
    /// A character that is neither a digit, formatting, nor a leading `+`.
    #[error(
        "phone number {input:?} contains {found:?}; use digits, spaces, - . / ( ) and at most one leading +"
    )]
    InvalidCharacter { input: String, found: char },
    /// Fewer than the 7 digits the shortest E.164 number has.
    #[error("phone number {input:?} has {digits} digits; a phone number needs at least 7")]
    TooShort { input: String, digits: usize },
    /// More than the 15 digits E.164 allows with the country code.
    #[error(
        "phone number {input:?} has {digits} digits; E.164 allows at most 15 including the country code"
    )]
    TooLong { input: String, digits: usize },
    /// A `+` or international prefix followed by `0`, which no country code starts with.
    #[error(
        "phone number {input:?} has a country code starting with 0, which no country has; drop the + or 00 to write a national number"
    )]
    ZeroCountryCode { input: String },
    /// National digits whose length fits no number of the default country.
    #[error(
        "phone number {input:?} has {digits} digits, which fits no {country} number ({country} numbers have {expected} digits after the country code); if it is foreign, write it with + and its country code"
    )]
    NotNational {
        input: String,
        country: &'static str,
        digits: usize,
        expected: String,
    },
    /// A default country the table does not have.
    #[error(
        "default country {country:?} is not one this host can read numbers for; use one of {}",
        known_countries()
    )]
    UnknownCountry { country: String },
}

/// Normalizes a typed phone number to E.164 (`+36301234567`) under
/// `default_country`, an ISO 3166 alpha-2 code such as `"HU"`.
///
/// See the module documentation for how national, trunk-prefixed and
/// ambiguous numbers are read. Never panics: letters, a misplaced `+`, fewer
/// than 7 or more than 15 digits, and an unknown default country are all a
/// [`PhoneError`]. The default country is checked even when the number has
/// its own country code, so a misconfigured project fails on every number.
pub fn to_e164(raw: &str, default_country: &str) -> Result<String, PhoneError> {
    let country = find_country(default_country).ok_or_else(|| PhoneError::UnknownCountry {
        country: shown(default_country),
    })?;
    let (plus, digits) = clean(raw)?;
    if digits.len() < E164_MIN_DIGITS {
        return Err(PhoneError::TooShort {
            input: shown(raw),
            digits: digits.len(),
        });
    }
    let international = if plus {
        Some(digits.as_str())
    } else {
        digits.strip_prefix(country.international_prefix)
    };
    let e164 = match international {
        Some(rest) if rest.starts_with('0') => {
            return Err(PhoneError::ZeroCountryCode { input: shown(raw) });
        }
        Some(rest) => drop_trunk_after_code(rest),
        None => national(country, &digits).ok_or_else(|| PhoneError::NotNational {
            input: shown(raw),
            country: country.iso,
            digits: digits.len(),
            expected: lengths_text(country.lengths),
        })?,
    };
    match e164.len() {
        n if n < E164_MIN_DIGITS => Err(PhoneError::TooShort {
            input: shown(raw),
            digits: n,
        }),
        n if n > E164_MAX_DIGITS => Err(PhoneError::TooLong {
            input: shown(raw),
            digits: n,
        }),
        _ => Ok(format!("+{e164}")),
    }
}

/// Whether `iso` (ISO 3166 alpha-2, any case, surrounding blanks ignored)
/// is a default country [`to_e164`] can read numbers under.
///
/// A project's `defaultCountry` is checked with this when it is created, so
/// a misconfigured project is refused up front instead of failing on every
/// number later.
pub fn is_supported_country(iso: &str) -> bool {
    find_country(iso).is_some()
}

/// Whether `a` and `b` are the same phone number under `default_country`.
///
/// True only when both normalize with [`to_e164`] and the results are equal;
/// a number that does not normalize matches nothing, not even itself.
pub fn same_phone(a: &str, b: &str, default_country: &str) -> bool {
    matches!(
        (to_e164(a, default_country), to_e164(b, default_country)),
        (Ok(a), Ok(b)) if a == b
    )
}

/// The opt-out family, as regulators read it: stop, quit, end, revoke,
/// opt out, cancel, unsubscribe (and `STOPALL`, which carriers treat as
/// `STOP`). Every tenant's customers may use them whatever the tenant's
/// own list says: a tenant's keywords add to the family, never replace it.
pub const STOP_FAMILY: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "END",
    "QUIT",
    "REVOKE",
    "OPT OUT",
    "OPTOUT",
    "CANCEL",
];

/// The words that take a phone that opted out back off the do-not-contact
/// list: an explicit re-subscription. `YES` is not one.
pub const START_FAMILY: &[&str] = &["START", "UNSTOP"];

/// The words that ask for help, answered with the project's help text.
pub const HELP_FAMILY: &[&str] = &["HELP", "INFO"];

/// The opt-out keywords a tenant starts with (DESIGN: "Phones, times and
/// opt-outs"): the family; a tenant may add its own.
pub const DEFAULT_OPT_OUT_KEYWORDS: &[&str] = STOP_FAMILY;

/// Whether an inbound message body is an opt-out: its whole body is one of
/// [`STOP_FAMILY`] or of the tenant's `keywords`, compared as
/// [`keyword_form`] reads both (case, punctuation and spacing aside), so
/// `Stop.`, `'STOP'` and `opt-out` opt out: missing a real opt-out costs
/// more than honouring a polite one. Anything else in the body means it is
/// not an opt-out (`stop sending me ads`), and `YES` is never one. Blank
/// keywords in the list match nothing.
pub fn is_opt_out(message: &str, keywords: &[String]) -> bool {
    let body = keyword_form(message);
    !body.is_empty()
        && STOP_FAMILY
            .iter()
            .copied()
            .chain(keywords.iter().map(String::as_str))
            .any(|keyword| keyword_form(keyword) == body)
}

/// Whether an inbound message body re-subscribes: its whole body is one of
/// [`START_FAMILY`], read as [`is_opt_out`] reads.
pub fn is_opt_in(message: &str) -> bool {
    let body = keyword_form(message);
    START_FAMILY
        .iter()
        .any(|keyword| keyword_form(keyword) == body)
}

/// Whether an inbound message body asks for help: its whole body is one of
/// [`HELP_FAMILY`], read as [`is_opt_out`] reads.
pub fn is_help(message: &str) -> bool {
    let body = keyword_form(message);
    HELP_FAMILY
        .iter()
        .any(|keyword| keyword_form(keyword) == body)
}

/// A message body as keywords are compared: Unicode upper case, every
/// character that is neither a letter nor a digit a space, spaces
/// collapsed and trimmed (`" 'Opt-out!' "` → `OPT OUT`).
pub fn keyword_form(text: &str) -> String {
    let upper = text.to_uppercase();
    let spaced = upper.split(|c: char| !c.is_alphanumeric());
    spaced
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shortest and longest E.164 numbers, in digits including the country code.
const E164_MIN_DIGITS: usize = 7;
const E164_MAX_DIGITS: usize = 15;

/// The most digits worth reading: 15 plus the longest international prefix.
/// Longer input is rejected while it is read, so a huge body costs nothing.
const MAX_RAW_DIGITS: usize = E164_MAX_DIGITS + 3;

/// How one country writes its numbers.
struct Country {
    /// ISO 3166 alpha-2 code.
    iso: &'static str,
    /// E.164 calling code; calling codes are prefix-free, except that the US
    /// and Canada share `1` (with the same rules).
    code: &'static str,
    /// What is dialled before a national number; the first one listed is
    /// current, later ones are still seen in old records (Lithuania's `8`).
    trunk: &'static [&'static str],
    /// Dialled before a country code when calling abroad.
    international_prefix: &'static str,
    /// Possible national (significant) number lengths, in digits.
    lengths: &'static [u8],
}

const fn country(
    iso: &'static str,
    code: &'static str,
    trunk: &'static [&'static str],
    lengths: &'static [u8],
) -> Country {
    Country {
        iso,
        code,
        trunk,
        international_prefix: "00",
        lengths,
    }
}

const NANP: &[&str] = &["1"];

/// The countries a project may have as its default, from libphonenumber 9.0.33.
static COUNTRIES: &[Country] = &[
    country("AT", "43", &["0"], &[4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
    country("BE", "32", &["0"], &[8, 9]),
    country("BG", "359", &["0"], &[6, 7, 8, 9, 12]),
    country("CH", "41", &["0"], &[9, 12]),
    country("CY", "357", &[], &[8]),
    country("CZ", "420", &[], &[9, 10, 11, 12]),
    country(
        "DE",
        "49",
        &["0"],
        &[4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    ),
    country("DK", "45", &[], &[8]),
    country("EE", "372", &[], &[7, 8, 10]),
    country("ES", "34", &[], &[9]),
    country("FI", "358", &["0"], &[5, 6, 7, 8, 9, 10, 11, 12]),
    country("FR", "33", &["0"], &[9]),
    country("GB", "44", &["0"], &[7, 9, 10]),
    country("GR", "30", &[], &[10, 11, 12]),
    country("HR", "385", &["0"], &[7, 8, 9]),
    country("HU", "36", &["06"], &[8, 9]),
    country("IE", "353", &["0"], &[7, 8, 9, 10]),
    country("IS", "354", &[], &[7, 9]),
    country("IT", "39", &[], &[6, 7, 8, 9, 10, 11, 12]),
    country("LI", "423", &["0"], &[7, 9]),
    country("LT", "370", &["0", "8"], &[8]),
    country("LU", "352", &[], &[4, 5, 6, 7, 8, 9, 10, 11]),
    country("LV", "371", &[], &[8]),
    country("MT", "356", &[], &[8]),
    country("NL", "31", &["0"], &[5, 6, 7, 8, 9, 10, 11]),
    country("NO", "47", &[], &[5, 8]),
    country("PL", "48", &[], &[6, 7, 8, 9, 10]),
    country("PT", "351", &[], &[9]),
    country("RO", "40", &["0"], &[6, 9]),
    country("SE", "46", &["0"], &[6, 7, 8, 9, 10, 12]),
    country("SI", "386", &["0"], &[5, 6, 7, 8]),
    country("SK", "421", &["0"], &[6, 7, 9]),
    Country {
        international_prefix: "011",
        ..country("US", "1", NANP, &[10])
    },
    Country {
        international_prefix: "011",
        ..country("CA", "1", NANP, &[10])
    },
];

impl Country {
    fn fits(&self, national: &str) -> bool {
        u8::try_from(national.len()).is_ok_and(|n| self.lengths.contains(&n))
    }
}

fn find_country(iso: &str) -> Option<&'static Country> {
    let iso = iso.trim();
    COUNTRIES.iter().find(|c| c.iso.eq_ignore_ascii_case(iso))
}

fn known_countries() -> String {
    let codes: Vec<&str> = COUNTRIES.iter().map(|c| c.iso).collect();
    codes.join(", ")
}

/// Returns whether the number led with `+`, and its digits.
fn clean(raw: &str) -> Result<(bool, String), PhoneError> {
    let trimmed = raw.trim();
    let (plus, body) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(MAX_RAW_DIGITS);
    for c in body.chars() {
        if c.is_ascii_digit() {
            if digits.len() == MAX_RAW_DIGITS {
                return Err(PhoneError::TooLong {
                    input: shown(raw),
                    digits: body.chars().filter(char::is_ascii_digit).count(),
                });
            }
            digits.push(c);
        } else if !(c.is_whitespace() || matches!(c, '-' | '.' | '/' | '(' | ')' | '‐'..='―')) {
            return Err(PhoneError::InvalidCharacter {
                input: shown(raw),
                found: c,
            });
        }
    }
    Ok((plus, digits))
}

/// Country code and national number of an international number, without a
/// trunk prefix written after a known country code. Only prefixes starting
/// with `0` are dropped: no national number in the table starts with 0 in a
/// country that has a trunk prefix, but Lithuanian numbers may start with 8.
fn drop_trunk_after_code(digits: &str) -> String {
    let known = COUNTRIES.iter().find(|c| digits.starts_with(c.code));
    if let Some(country) = known {
        let rest = &digits[country.code.len()..];
        for trunk in country.trunk.iter().filter(|t| t.starts_with('0')) {
            if let Some(national) = rest.strip_prefix(trunk)
                && national_number(country, national)
            {
                return format!("{}{national}", country.code);
            }
        }
    }
    digits.to_owned()
}

/// Whether `digits` left after a trunk prefix can be a national number of
/// `country`: of its lengths, and not starting with 0 (none does in a
/// country with a trunk prefix), so dropping a prefix never leaves
/// another to drop, and a normalized number reads as itself.
fn national_number(country: &Country, digits: &str) -> bool {
    country.fits(digits) && !digits.starts_with('0')
}

/// Country code and national number of digits written without `+` or an
/// international prefix, by the rules in the module documentation.
fn national(country: &Country, digits: &str) -> Option<String> {
    for trunk in country.trunk {
        if let Some(national) = digits.strip_prefix(trunk)
            && national_number(country, national)
        {
            return Some(format!("{}{national}", country.code));
        }
    }
    let as_international = digits
        .strip_prefix(country.code)
        .is_some_and(|rest| country.fits(rest));
    let as_national = country.fits(digits);
    // Read as international, the digits may still carry the trunk prefix
    // after the country code; dropped here as the `+` path drops it, so a
    // normalized number reads as itself.
    match (as_international, as_national) {
        (true, false) => Some(drop_trunk_after_code(digits)),
        (true, true) if !country.trunk.is_empty() => Some(drop_trunk_after_code(digits)),
        (_, true) => Some(format!("{}{digits}", country.code)),
        (false, false) => None,
    }
}

fn lengths_text(lengths: &[u8]) -> String {
    match lengths {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(u8::to_string).collect();
            format!("{} or {last}", rest.join(", "))
        }
    }
}

/// The input as an error shows it: trimmed and cut to 40 characters.
fn shown(raw: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    let trimmed = raw.trim();
    match trimmed.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(raw: &str, country: &str) -> String {
        to_e164(raw, country).unwrap_or_else(|e| panic!("{raw:?} under {country}: {e}"))
    }

    #[test]
    fn hungarian_spellings_all_normalize_to_one_number() {
        for raw in [
            "+36301234567",
            "36301234567",
            "06301234567",
            "06 30 123 4567",
            "+36 (30) 123-4567",
            "0036301234567",
            "06-30/123-4567",
            "301234567",
            "+36 06 30 123 4567",
            " \t+36 30 123 4567\n",
        ] {
            assert_eq!(e164(raw, "HU"), "+36301234567", "{raw:?}");
        }
    }

    #[test]
    fn ambiguous_calling_code_prefix_reads_by_length() {
        // 36 is also the area code of Eger: eight digits are a national number.
        assert_eq!(e164("36123456", "HU"), "+3636123456");
        assert_eq!(e164("0636123456", "HU"), "+3636123456");
        // Spain has no trunk prefix and nine-digit numbers.
        assert_eq!(e164("34612345678", "ES"), "+34612345678");
        assert_eq!(e164("612345678", "ES"), "+34612345678");
    }

    #[test]
    fn when_both_readings_fit_the_trunk_prefix_decides() {
        // Germany writes national numbers with 0: bare 49… is international.
        assert_eq!(e164("49301234567", "DE"), "+49301234567");
        // Italy has no trunk prefix: a 39x mobile is national.
        assert_eq!(e164("3921234567", "IT"), "+393921234567");
    }

    #[test]
    fn uk_numbers() {
        assert_eq!(e164("07700 900123", "GB"), "+447700900123");
        assert_eq!(e164("+44 (0)7700 900123", "GB"), "+447700900123");
        assert_eq!(e164("+44 (0)7700 900123", "HU"), "+447700900123");
    }

    #[test]
    fn us_numbers() {
        assert_eq!(e164("(415) 555-2671", "US"), "+14155552671");
        assert_eq!(e164("1 415 555 2671", "US"), "+14155552671");
        assert_eq!(e164("415.555.2671", "CA"), "+14155552671");
        assert_eq!(e164("011 36 30 123 4567", "US"), "+36301234567");
    }

    #[test]
    fn foreign_number_keeps_its_country_under_hu() {
        assert_eq!(e164("+447700900123", "HU"), "+447700900123");
        assert_eq!(e164("00447700900123", "HU"), "+447700900123");
        assert_eq!(e164("+1 415 555 2671", "HU"), "+14155552671");
    }

    #[test]
    fn lithuanian_legacy_trunk_eight_is_dropped_only_nationally() {
        assert_eq!(e164("8 612 34567", "LT"), "+37061234567");
        assert_eq!(e164("0 612 34567", "LT"), "+37061234567");
        // A toll-free number starts with 8 after the country code.
        assert_eq!(e164("+370 800 12345", "LT"), "+37080012345");
    }

    #[test]
    fn country_code_is_case_insensitive() {
        assert_eq!(e164("06301234567", " hu "), "+36301234567");
    }

    #[test]
    fn letters_are_rejected_naming_the_input() {
        let err = to_e164("06 30 CALL ME", "HU").unwrap_err();
        assert!(matches!(
            err,
            PhoneError::InvalidCharacter { found: 'C', .. }
        ));
        assert!(err.to_string().contains("\"06 30 CALL ME\""), "{err}");
        assert!(matches!(
            to_e164("36+301234567", "HU"),
            Err(PhoneError::InvalidCharacter { found: '+', .. })
        ));
        assert!(matches!(
            to_e164("+36 30 123 4567 ext. 12", "HU"),
            Err(PhoneError::InvalidCharacter { found: 'e', .. })
        ));
    }

    #[test]
    fn fewer_than_seven_digits_is_too_short() {
        for raw in ["", "   ", "+", "123456", "+36 123", "06 30"] {
            assert!(
                matches!(to_e164(raw, "HU"), Err(PhoneError::TooShort { .. })),
                "{raw:?}"
            );
        }
        assert!(matches!(
            to_e164("0012345", "HU"),
            Err(PhoneError::TooShort { digits: 5, .. })
        ));
    }

    #[test]
    fn more_than_fifteen_digits_is_too_long() {
        assert!(matches!(
            to_e164("+3630123456789012", "HU"),
            Err(PhoneError::TooLong { digits: 16, .. })
        ));
        let huge = "1".repeat(1_000_000);
        let err = to_e164(&huge, "HU").unwrap_err();
        assert!(matches!(
            err,
            PhoneError::TooLong {
                digits: 1_000_000,
                ..
            }
        ));
        assert!(err.to_string().len() < 200, "the message cuts the input");
    }

    #[test]
    fn country_code_cannot_start_with_zero() {
        let err = to_e164("+06301234567", "HU").unwrap_err();
        assert!(matches!(err, PhoneError::ZeroCountryCode { .. }));
        assert!(err.to_string().contains("drop the +"), "{err}");
    }

    #[test]
    fn national_number_of_no_possible_length_is_rejected() {
        let err = to_e164("1234567", "HU").unwrap_err();
        assert!(matches!(
            err,
            PhoneError::NotNational {
                country: "HU",
                digits: 7,
                ..
            }
        ));
        assert!(err.to_string().contains("8 or 9 digits"), "{err}");
        assert!(matches!(
            to_e164("0036301234567", "US"),
            Err(PhoneError::NotNational { .. })
        ));
    }

    #[test]
    fn unknown_default_country_is_rejected_even_for_plus_numbers() {
        let err = to_e164("+36301234567", "XX").unwrap_err();
        assert!(matches!(err, PhoneError::UnknownCountry { .. }));
        assert!(err.to_string().contains("HU"), "{err}");
        assert!(to_e164("+36301234567", "").is_err());
    }

    #[test]
    fn supported_countries_are_the_table_in_any_case() {
        for iso in ["HU", "hu", " De ", "US", "CA", "GB"] {
            assert!(is_supported_country(iso), "{iso:?}");
        }
        for iso in ["XX", "", "HUN", "UK", "36"] {
            assert!(!is_supported_country(iso), "{iso:?}");
        }
    }

    #[test]
    fn table_is_well_formed() {
        for c in COUNTRIES {
            assert_eq!(c.iso.len(), 2, "{}", c.iso);
            assert!(c.code.bytes().all(|b| b.is_ascii_digit()) && !c.code.starts_with('0'));
            assert!(!c.lengths.is_empty() && c.lengths.iter().all(|&n| n <= 15));
            let found = find_country(c.iso).expect("listed");
            assert!(std::ptr::eq(found, c), "{} is listed twice", c.iso);
            for other in COUNTRIES.iter().filter(|o| o.code != c.code) {
                assert!(
                    !other.code.starts_with(c.code),
                    "{} prefixes {}",
                    c.iso,
                    other.iso
                );
            }
        }
    }

    #[test]
    fn same_phone_compares_normalized_numbers() {
        assert!(same_phone("06 30 123 4567", "+36301234567", "HU"));
        assert!(same_phone("36301234567", "0036 30 123 4567", "HU"));
        assert!(!same_phone("06301234567", "06301234568", "HU"));
        assert!(!same_phone("07700 900123", "07700 900123", "HU"));
        assert!(!same_phone("garbage", "garbage", "HU"));
    }

    fn keywords() -> Vec<String> {
        DEFAULT_OPT_OUT_KEYWORDS
            .iter()
            .map(|k| k.to_string())
            .collect()
    }

    #[test]
    fn every_family_keyword_opts_out_in_any_case() {
        for keyword in STOP_FAMILY {
            assert!(is_opt_out(keyword, &[]), "{keyword}");
            assert!(is_opt_out(&keyword.to_lowercase(), &keywords()));
        }
        assert!(is_opt_out("  Stop \n", &[]));
        assert!(is_opt_out("sToPaLl", &[]));
        assert!(is_opt_out("opt out", &[]));
        assert!(is_opt_out("Opt-Out", &[]));
    }

    #[test]
    fn punctuation_around_a_keyword_still_opts_out() {
        for body in [
            "STOP.", "stop!", "Stop!!", "STOP ?", "stop…", "STOP！", "'STOP'", "«stop»", "-Stop-",
        ] {
            assert!(is_opt_out(body, &keywords()), "{body:?}");
        }
        assert!(!is_opt_out("...", &keywords()));
    }

    #[test]
    fn only_the_whole_body_opts_out() {
        for body in [
            "YES",
            "yes",
            "stop sending me ads",
            "STOP STOP",
            "please stop",
            "s.t.o.p",
            "",
            "  ",
        ] {
            assert!(!is_opt_out(body, &keywords()), "{body:?}");
        }
    }

    #[test]
    fn tenant_keywords_add_to_the_family_in_unicode_upper_case() {
        let hungarian = vec!["leiratkozás".to_string(), " ".to_string()];
        assert!(is_opt_out("LEIRATKOZÁS", &hungarian));
        assert!(is_opt_out("Leiratkozás.", &hungarian));
        assert!(
            is_opt_out("STOP", &hungarian),
            "the family holds whatever the tenant's list"
        );
        assert!(is_opt_out("unsubscribe", &[]), "even with no list at all");
        assert!(!is_opt_out(" ", &hungarian), "blank keywords match nothing");
        let german = vec!["Abmeldung Straße".to_string()];
        assert!(is_opt_out("ABMELDUNG STRASSE", &german));
    }

    #[test]
    fn start_and_unstop_re_subscribe_and_yes_does_not() {
        for body in ["START", "start", "Unstop!", " 'Start' "] {
            assert!(is_opt_in(body), "{body:?}");
        }
        for body in ["YES", "yes please", "start calling me", "STOP", ""] {
            assert!(!is_opt_in(body), "{body:?}");
        }
    }
}
