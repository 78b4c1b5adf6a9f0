//! The value types of a project's rules for automatic actions: its calling
//! window, what to do with a callback outside it, and the rules validation
//! applies. Plain values with their serde shapes; the arithmetic that uses
//! them lives with validation (`actions`), storing them with the store.

use std::collections::BTreeSet;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::ProjectId;

/// How far ahead a callback may be scheduled when a project says nothing.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;
/// How many actions one event may execute, across all plugins, when a project says nothing.
pub const DEFAULT_MAX_ACTIONS_PER_EVENT: usize = 16;

/// The most segments one SMS may cost (carriers concatenate up to about
/// ten): a longer text is refused, not sent as a costly surprise.
pub const DEFAULT_MAX_SMS_SEGMENTS: usize = 10;

/// SMS per record per local day when a project says nothing.
pub const DEFAULT_MAX_SMS_PER_DAY: u32 = 3;

/// Contact attempts per record in the rolling window when a project says
/// nothing: seven in seven days, as debt-collection rules count calls.
pub const DEFAULT_MAX_CONTACT_ATTEMPTS: u32 = 7;
pub const DEFAULT_CONTACT_WINDOW_DAYS: u32 = 7;

/// How often a project's records may be called, whatever a plugin asks:
/// the call dispositions received for a record and the callbacks the host
/// scheduled for it, each counted at the time it happened, over the last
/// `window_days`; a callback asked for when `max_attempts` are reached is
/// refused (`contact_limit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ContactRules {
    /// Attempts one record may have in the window (default 7).
    pub max_attempts: u32,
    /// The rolling window, in days (default 7).
    pub window_days: u32,
}

impl Default for ContactRules {
    fn default() -> Self {
        ContactRules {
            max_attempts: DEFAULT_MAX_CONTACT_ATTEMPTS,
            window_days: DEFAULT_CONTACT_WINDOW_DAYS,
        }
    }
}

impl ContactRules {
    /// The default rule, on: what a project that says nothing gets.
    pub fn on() -> Option<Self> {
        Some(ContactRules::default())
    }

    /// The window's length in seconds.
    pub fn window_secs(&self) -> i64 {
        i64::from(self.window_days) * 86_400
    }
}

/// A project's rules for the SMS its plugins send, whatever they ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SmsRules {
    /// When an SMS may go out, on each record's wall clock (default
    /// 08:00–21:00; separate from calling hours).
    pub hours: CallingHours,
    /// An SMS asked for outside them: `shift` (the default) sends it at the
    /// next allowed time, `reject` refuses it (`outside_sms_hours`).
    pub policy: CallingHoursPolicy,
    /// SMS one record may get per local day; more are refused
    /// (`contact_limit`).
    pub max_per_day: u32,
    /// The most segments one SMS may cost (`too_many_segments`).
    pub max_segments: usize,
    /// The answer to `HELP` (or `INFO`); none: such a message is like any
    /// other.
    pub help_text: Option<String>,
    /// Sent once when a phone opts out (not again while it stays out);
    /// none: nothing is sent.
    pub opt_out_confirmation: Option<String>,
}

impl Default for SmsRules {
    fn default() -> Self {
        SmsRules {
            hours: CallingHours::parse("08:00", "21:00").expect("a valid window"),
            policy: CallingHoursPolicy::Shift,
            max_per_day: DEFAULT_MAX_SMS_PER_DAY,
            max_segments: DEFAULT_MAX_SMS_SEGMENTS,
            help_text: None,
            opt_out_confirmation: None,
        }
    }
}

/// A project's calling window, local to each record: "08:00"–"20:00".
///
/// The window is `[start, end)`: a call at `start` is allowed, one at `end`
/// is not. `start < end` always holds for a window built by [`parse`] or
/// deserialized, so a window never spans midnight. Serialized as
/// `{"start": "HH:MM", "end": "HH:MM"}`; seconds are not kept.
///
/// [`parse`]: CallingHours::parse
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "CallingHoursRepr", into = "CallingHoursRepr")]
pub struct CallingHours {
    /// The first local time a call may be placed.
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9]$", example = "08:00")]
    pub start: NaiveTime,
    /// The first local time a call may no longer be placed.
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9]$", example = "20:00")]
    pub end: NaiveTime,
}

/// The JSON shape of [`CallingHours`]: two `"HH:MM"` strings.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallingHoursRepr {
    start: String,
    end: String,
}

impl TryFrom<CallingHoursRepr> for CallingHours {
    type Error = String;

    fn try_from(repr: CallingHoursRepr) -> Result<Self, String> {
        CallingHours::parse(&repr.start, &repr.end)
    }
}

impl From<CallingHours> for CallingHoursRepr {
    fn from(hours: CallingHours) -> Self {
        CallingHoursRepr {
            start: hours.start.format("%H:%M").to_string(),
            end: hours.end.format("%H:%M").to_string(),
        }
    }
}

impl CallingHours {
    /// Parses a window from two `"HH:MM"` local times.
    ///
    /// Fails when either is not a 24-hour `HH:MM` time, or when `start` is not
    /// before `end` (a window spanning midnight, or an empty one).
    pub fn parse(start: &str, end: &str) -> Result<Self, String> {
        let time = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| format!("calling hours: {s:?} is not a time as HH:MM"))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start >= end {
            return Err(format!(
                "calling hours: start {} must be before end {}",
                start.format("%H:%M"),
                end.format("%H:%M")
            ));
        }
        Ok(CallingHours { start, end })
    }

    /// Whether a local wall-clock time is inside the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        self.start <= time && time < self.end
    }
}

/// What to do with a callback outside calling hours: `"shift"` or `"reject"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallingHoursPolicy {
    /// Move it to the next allowed slot (the default: the customer still gets called).
    #[default]
    Shift,
    /// Reject it (validation's reason `outside_calling_hours`).
    Reject,
}

/// What to do with a callback whose next call date has passed by the time
/// it executes (it was in the event's future, so validation accepted it):
/// `"reject"` or `"now"` (see `actions::execution_time`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PastCallbackPolicy {
    /// Do not execute it; the record keeps what it had (the default).
    #[default]
    Reject,
    /// Execute it with the next call date moved to the executor's now, then
    /// through calling hours as validation puts a callback through them.
    Now,
}

/// A project's rules for automatic actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRules {
    pub project_id: ProjectId,
    /// IANA zone; the zone of records without their own.
    pub time_zone: String,
    /// When callbacks may be placed, local to each record; `None`: any time.
    #[serde(default)]
    pub calling_hours: Option<CallingHours>,
    #[serde(default)]
    pub policy: CallingHoursPolicy,
    /// What happens to a callback already past when it executes; not read
    /// by validation, which judges at the event's time.
    #[serde(default)]
    pub past_callback: PastCallbackPolicy,
    /// A next call date may be at most this many days after the event.
    #[serde(default = "default_horizon_days")]
    pub horizon_days: u32,
    /// Accepted actions per event, across all plugins; the rest are rejected.
    #[serde(default = "default_max_actions_per_event")]
    pub max_actions_per_event: usize,
    /// The project's custom disposition ids, active or not. Shared Callback
    /// (2) and Discard are always valid and need not be listed.
    #[serde(default)]
    pub dispositions: BTreeSet<u32>,
    /// The rules for SMS: sending hours, per-day cap, segments.
    #[serde(default)]
    pub sms: SmsRules,
    /// Contact attempts per record in a rolling window; `None`: no cap.
    #[serde(default = "ContactRules::on")]
    pub contacts: Option<ContactRules>,
}

fn default_horizon_days() -> u32 {
    DEFAULT_HORIZON_DAYS
}

fn default_max_actions_per_event() -> usize {
    DEFAULT_MAX_ACTIONS_PER_EVENT
}

impl ProjectRules {
    /// Rules with the documented defaults: no calling hours, no custom dispositions.
    pub fn new(project_id: ProjectId, time_zone: impl Into<String>) -> Self {
        ProjectRules {
            project_id,
            time_zone: time_zone.into(),
            calling_hours: None,
            policy: CallingHoursPolicy::default(),
            past_callback: PastCallbackPolicy::default(),
            horizon_days: DEFAULT_HORIZON_DAYS,
            max_actions_per_event: DEFAULT_MAX_ACTIONS_PER_EVENT,
            dispositions: BTreeSet::new(),
            sms: SmsRules::default(),
            contacts: ContactRules::on(),
        }
    }
}

/// A tenant's own plugin limits, set by the operator; unset fields keep
/// the server's defaults (the runtime applies them, see
/// `runtime::limits`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantLimits {
    #[serde(default)]
    pub fuel: Option<u64>,
    #[serde(default)]
    pub memory_mib: Option<usize>,
    #[serde(default)]
    pub wall_deadline_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str) -> CallingHours {
        CallingHours::parse(start, end).unwrap()
    }

    #[test]
    fn parse_accepts_hh_mm_and_rejects_other_shapes() {
        let hours = window("08:00", "20:00");
        assert_eq!(hours.start, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        assert_eq!(hours.end, NaiveTime::from_hms_opt(20, 0, 0).unwrap());
        for (start, end) in [("8am", "20:00"), ("08:00", "24:00"), ("", "20:00")] {
            assert!(CallingHours::parse(start, end).is_err(), "{start}–{end}");
        }
    }

    #[test]
    fn parse_rejects_a_start_not_before_the_end() {
        assert!(CallingHours::parse("20:00", "08:00").is_err());
        assert!(CallingHours::parse("08:00", "08:00").is_err());
    }

    #[test]
    fn serde_uses_hh_mm_strings_and_enforces_start_before_end() {
        let json = serde_json::to_value(window("08:00", "20:00")).unwrap();
        assert_eq!(json, serde_json::json!({"start": "08:00", "end": "20:00"}));
        assert_eq!(
            serde_json::from_value::<CallingHours>(json).unwrap(),
            window("08:00", "20:00")
        );
        let inverted = serde_json::json!({"start": "20:00", "end": "08:00"});
        assert!(serde_json::from_value::<CallingHours>(inverted).is_err());
    }
}
