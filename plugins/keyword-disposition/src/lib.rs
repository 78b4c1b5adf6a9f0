//! An inbound message that is one of the configured keywords → that
//! keyword's disposition on every record in the message's `matches`.
//! Other messages, and delivery receipts, → nothing.
//!
//! Config: `keywords`, comma-separated entries `KEYWORD=ID` or
//! `KEYWORD=ID@DELAY`, e.g. `CALLBACK=2@30m, PAID=41, WRONG NUMBER=42`:
//! - `KEYWORD` must be the whole message, compared as
//!   [`smstrigger_sdk::text::is_keyword`] does (case, surrounding space and
//!   trailing punctuation ignored); it may hold spaces, not `=` or `,`, and
//!   no two entries may share one;
//! - `ID` is the disposition to set; `2` (Shared Callback) needs a delay;
//! - `DELAY` is a whole number and a unit, `m`, `h` or `d` (24 real hours):
//!   the next call date is the message's time plus the delay.
//!
//! Space around entries and parts is ignored, and so are empty entries. A
//! malformed entry fails every inbound event with an error naming it.
//! Unset or empty: no actions, and an info line saying so.

use smstrigger_sdk::text::{is_keyword, normalize_keyword};
use smstrigger_sdk::{Action, Event, Level, SHARED_CALLBACK_ID, Trigger, config, log};

/// The rule; exported as the plugin's `on-event`.
pub struct KeywordDisposition;

impl Trigger for KeywordDisposition {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::Inbound(sms) = event else {
            return Ok(Vec::new());
        };
        let rules = parse_keywords(&config("keywords").unwrap_or_default())?;
        if rules.is_empty() {
            log(Level::Info, "no `keywords` configured: nothing to do");
            return Ok(Vec::new());
        }
        let Some(rule) = rules.iter().find(|r| is_keyword(&sms.message, &r.keyword)) else {
            return Ok(Vec::new());
        };
        let next = rule.delay_seconds.map(|d| sms.timestamp.saturating_add(d));
        let note = format!("customer replied {}", rule.keyword);
        (sms.matches.iter())
            .map(|record| {
                Action::disposition(record.id, rule.disposition_id, next)
                    .map(|action| action.with_note(note.clone()))
            })
            .collect()
    }
}

smstrigger_sdk::export_trigger!(KeywordDisposition);

/// One entry of the `keywords` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordRule {
    /// The keyword, normalized: trimmed, without trailing punctuation,
    /// upper-cased ([`normalize_keyword`]).
    pub keyword: String,
    /// The disposition a matching message sets.
    pub disposition_id: u32,
    /// Seconds from the message to the next call date, if the entry has a delay.
    pub delay_seconds: Option<i64>,
}

/// Parses the `keywords` setting (format in the crate docs); an error
/// names the first bad entry and what is wrong with it.
pub fn parse_keywords(setting: &str) -> Result<Vec<KeywordRule>, String> {
    let mut rules: Vec<KeywordRule> = Vec::new();
    for entry in setting.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| format!("config `keywords`: entry `{entry}`: {why}");
        let rule = parse_entry(entry).map_err(|why| bad(&why))?;
        if rules.iter().any(|seen| seen.keyword == rule.keyword) {
            return Err(bad("an earlier entry has the same keyword"));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_entry(entry: &str) -> Result<KeywordRule, String> {
    let (keyword, rest) = entry
        .split_once('=')
        .ok_or("expected KEYWORD=ID or KEYWORD=ID@DELAY")?;
    let keyword = normalize_keyword(keyword);
    if keyword.is_empty() {
        return Err("the keyword is empty".into());
    }
    let (id, delay) = match rest.split_once('@') {
        Some((id, delay)) => (id.trim(), Some(delay.trim())),
        None => (rest.trim(), None),
    };
    let disposition_id = number(id).ok_or_else(|| format!("`{id}` is not a disposition id"))?;
    let delay_seconds = delay.map(parse_delay).transpose()?;
    if disposition_id == SHARED_CALLBACK_ID && delay_seconds.is_none() {
        return Err("the Shared Callback (id 2) needs a delay, e.g. `@30m`".into());
    }
    Ok(KeywordRule {
        keyword,
        disposition_id,
        delay_seconds,
    })
}

/// `30m`, `2h` or `1d` as seconds.
fn parse_delay(delay: &str) -> Result<i64, String> {
    let units = [('m', 60), ('h', 3600), ('d', 86_400)];
    (units.into_iter())
        .find_map(|(unit, seconds)| Some(i64::from(number(delay.strip_suffix(unit)?)?) * seconds))
        .ok_or_else(|| format!("`{delay}` is not a delay like 30m, 2h or 1d"))
}

/// A `u32` written as plain decimal digits (no sign, no space).
fn number(text: &str) -> Option<u32> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::DeliveryStatus;
    use smstrigger_sdk::testing::{self, Run, TestHost};

    const PHONE: &str = "+36301234567";
    const KEYWORDS: &str = "CALLBACK=2@30m, PAID=41, WRONG NUMBER=42, LATER=43@2d";

    fn rule(keyword: &str, disposition_id: u32, delay: Option<i64>) -> KeywordRule {
        let (keyword, delay_seconds) = (keyword.to_string(), delay);
        KeywordRule {
            keyword,
            disposition_id,
            delay_seconds,
        }
    }

    fn reply(keywords: Option<&str>, message: &str, matches: &[u64]) -> Run {
        let host = keywords.map_or_else(TestHost::new, |k| TestHost::new().config("keywords", k));
        let matches = matches
            .iter()
            .map(|&id| testing::record(id, PHONE))
            .collect();
        let at = testing::local("2026-12-01 10:00");
        host.run::<KeywordDisposition>(testing::inbound_matching(PHONE, message, at, matches))
    }

    #[test]
    fn parses_entries_with_and_without_delays() {
        assert_eq!(
            parse_keywords(KEYWORDS).unwrap(),
            [
                rule("CALLBACK", 2, Some(30 * 60)),
                rule("PAID", 41, None),
                rule("WRONG NUMBER", 42, None),
                rule("LATER", 43, Some(2 * 86_400)),
            ]
        );
        let hours = parse_keywords("A=5@3h").unwrap();
        assert_eq!(hours, [rule("A", 5, Some(3 * 3600))]);
    }

    #[test]
    fn parsing_ignores_space_and_empty_entries() {
        let parsed = parse_keywords(" ,  paid =  41 @ 1d ,, ").unwrap();
        assert_eq!(parsed, [rule("PAID", 41, Some(86_400))]);
        assert_eq!(parse_keywords("").unwrap(), []);
        assert_eq!(parse_keywords(" , ").unwrap(), []);
    }

    #[test]
    fn a_malformed_entry_is_an_error_naming_it() {
        // The bad entry is the last one of each setting.
        for (setting, why) in [
            ("PAID=41, WRONG", "KEYWORD=ID"),
            ("=41", "keyword is empty"),
            ("?!=41", "keyword is empty"),
            ("PAID=forty", "not a disposition id"),
            ("PAID=-1", "not a disposition id"),
            ("PAID=99999999999", "not a disposition id"),
            ("LATER=43@30", "not a delay"),
            ("LATER=43@30s", "not a delay"),
            ("LATER=43@h", "not a delay"),
            ("LATER=43@-1h", "not a delay"),
            ("LATER=43@1h@2h", "not a delay"),
            ("CALLBACK=2", "needs a delay"),
            ("PAID=41, paid!=42", "same keyword"),
        ] {
            let bad = setting.rsplit(',').next().unwrap().trim();
            let err = parse_keywords(setting).unwrap_err();
            assert!(err.starts_with("config `keywords`"), "{err}");
            assert!(
                err.contains(&format!("entry `{bad}`: ")) && err.contains(why),
                "{err}"
            );
        }
    }

    #[test]
    fn a_keyword_sets_its_disposition_on_every_matched_record() {
        let run = reply(Some(KEYWORDS), "paid.", &[1, 2]);
        let expected = |id| Action::custom(id, 41, None).with_note("customer replied PAID");
        assert_eq!(run.actions(), &[expected(1), expected(2)]);
    }

    #[test]
    fn a_delay_sets_the_next_call_date_after_the_message() {
        let run = reply(Some(KEYWORDS), " Callback! ", &[1]);
        let at = testing::local("2026-12-01 10:30");
        assert_eq!(
            run.actions(),
            &[Action::shared_callback(1, at).with_note("customer replied CALLBACK")]
        );
        let run = reply(Some(KEYWORDS), "wrong number", &[1]);
        assert_eq!(
            run.actions(),
            &[Action::custom(1, 42, None).with_note("customer replied WRONG NUMBER")]
        );
        let run = reply(Some(KEYWORDS), "LATER", &[1]);
        assert_eq!(
            run.actions()[0].next_calldate(),
            Some(testing::local("2026-12-03 10:00"))
        );
    }

    #[test]
    fn messages_that_are_not_exactly_a_keyword_do_nothing() {
        for message in ["paid already, thanks", "PAIDX", "", "callback tomorrow"] {
            let run = reply(Some(KEYWORDS), message, &[1]);
            assert_eq!(run.actions(), &[], "{message:?}");
        }
    }

    #[test]
    fn no_matched_records_or_a_delivery_receipt_do_nothing() {
        assert_eq!(reply(Some(KEYWORDS), "PAID", &[]).actions(), &[]);
        let event = testing::outbound(&testing::record(1, PHONE), DeliveryStatus::Delivered, 0);
        let host = TestHost::new().config("keywords", "oops");
        assert_eq!(host.run::<KeywordDisposition>(event).actions(), &[]);
    }

    #[test]
    fn unset_keywords_do_nothing_and_say_so_once() {
        for keywords in [None, Some("")] {
            let run = reply(keywords, "PAID", &[1]);
            assert_eq!(run.actions(), &[]);
            let line = "no `keywords` configured: nothing to do";
            assert_eq!(run.logs, [(Level::Info, line.into())]);
        }
    }

    #[test]
    fn a_malformed_setting_fails_the_event_with_the_entry() {
        let err = reply(Some("PAID=41, WRONG=x"), "PAID", &[1])
            .result
            .unwrap_err();
        assert!(err.contains("`WRONG=x`"), "{err}");
    }
}
