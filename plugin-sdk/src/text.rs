//! Keyword matching the way customers type.
//!
//! `yes`, ` YES `, `Yes.` and `yes!!` all mean `YES`: case, surrounding
//! white space and trailing punctuation are ignored. The whole message must
//! be the keyword; `yes, but not today` is not `YES`.

/// The message reduced to what keyword matching compares: trimmed, trailing
/// punctuation removed, upper-cased.
pub fn normalize_keyword(message: &str) -> String {
    message
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_uppercase()
}

/// Whether the whole `message` is `keyword`, ignoring case, surrounding
/// white space and trailing punctuation.
pub fn is_keyword(message: &str, keyword: &str) -> bool {
    let keyword = normalize_keyword(keyword);
    !keyword.is_empty() && normalize_keyword(message) == keyword
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_space_and_trailing_punctuation_are_ignored() {
        for message in ["YES", "yes", " YES ", "Yes.", "yes!!", "\tyEs ?\n"] {
            assert!(is_keyword(message, "YES"), "{message:?}");
        }
    }

    #[test]
    fn the_whole_message_must_be_the_keyword() {
        for message in ["yes, but not today", "YESTERDAY", "no", "", ".YES"] {
            assert!(!is_keyword(message, "YES"), "{message:?}");
        }
    }

    #[test]
    fn an_empty_keyword_matches_nothing() {
        assert!(!is_keyword("", ""));
        assert!(!is_keyword("...", "!"));
    }

    #[test]
    fn non_ascii_keywords_compare_case_insensitively() {
        assert!(is_keyword("igen!", "IGEN"));
        assert!(is_keyword("Köszönöm.", "köszönöm"));
    }
}
