//! What became of an event and of each plugin run on it: the states and
//! outcomes the journal stores, the API shows and the CLI reads, as enums
//! whose snake_case spelling is the stored and wire one.

use serde::{Deserialize, Serialize};

/// What one plugin run on an event came to (or the host's own decision
/// when no plugin ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    /// The plugin answered; its actions were judged.
    Ok,
    /// The plugin failed (a trap, a limit, its own error): none of its
    /// actions ran.
    Failed,
    /// The message was an opt-out: the host put the sender on the
    /// do-not-contact list.
    OptedOut,
    /// The message re-subscribed (`START`, `UNSTOP`): the host took the
    /// sender off the list where an opt-out had put it.
    OptedIn,
    /// The message asked for help (`HELP`, `INFO`): the host answered with
    /// the project's help text.
    HelpAnswered,
}

/// Where a journaled event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Waiting to be processed.
    Pending,
    /// Recorded but never processed: a later status of its message had
    /// already arrived.
    Superseded,
    /// Processed, every plugin's run committed with its record changes.
    Done,
    /// Processed, and at least one plugin failed on it.
    Failed,
}

macro_rules! spelled {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $name {
            /// The stored and wire spelling, the same string serde writes.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value `text` spells, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// Every value, for tests and documentation.
            pub const ALL: &[$name] = &[$($name::$variant),*];
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(DecisionOutcome {
    Ok => "ok",
    Failed => "failed",
    OptedOut => "opted_out",
    OptedIn => "opted_in",
    HelpAnswered => "help_answered",
});
spelled!(EventState {
    Pending => "pending",
    Superseded => "superseded",
    Done => "done",
    Failed => "failed",
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored rows, the API's JSON and the CLI read the same strings as
    /// before these were enums.
    #[test]
    fn the_spellings_are_the_stored_and_wire_ones() {
        let outcomes: Vec<_> = DecisionOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            outcomes,
            ["ok", "failed", "opted_out", "opted_in", "help_answered"]
        );
        let states: Vec<_> = EventState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(states, ["pending", "superseded", "done", "failed"]);
    }

    #[test]
    fn serde_and_as_str_agree_and_parse_round_trips() {
        for &outcome in DecisionOutcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{outcome}\""));
            assert_eq!(DecisionOutcome::parse(outcome.as_str()), Some(outcome));
        }
        for &state in EventState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(EventState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn an_unknown_spelling_parses_to_nothing() {
        assert_eq!(DecisionOutcome::parse("OK"), None);
        assert_eq!(EventState::parse("processing"), None);
        assert!(serde_json::from_str::<EventState>("\"Done\"").is_err());
    }
}
