//! The host's verdict on every action a plugin proposes for one event.
//!
//! A plugin's answer is a request, never a command: [`validate`] checks each
//! proposal against the project's rules and returns one [`Verdict`] per
//! proposal. It is a pure function of its arguments — no I/O, no clock (the
//! event's own time is "now") — so dry runs and replays of past events give
//! the same verdicts. Loading records, rules and the do-not-contact list is
//! the caller's job; executing accepted actions is the executors'.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::calling_hours::{CallingHours, local_time, parse_zone};
use super::segments::segments;
use crate::model::{
    Action, Disposition, ProjectId, RecordId, SHARED_CALLBACK_ID, SendSms, SetDisposition,
    Timestamp,
};
pub use crate::model::{
    CallingHoursPolicy, DEFAULT_HORIZON_DAYS, DEFAULT_MAX_ACTIONS_PER_EVENT, PastCallbackPolicy,
    ProjectRules,
};

const SECONDS_PER_DAY: i64 = 86_400;

/// Why the host rejected or adjusted an action; stable snake_case codes.
///
/// The codes are stored with each decision and shown by the API, so a
/// variant is never renamed, only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The record is unknown, or belongs to another project of the tenant.
    RecordOutOfScope,
    /// A custom disposition id the project does not have.
    UnknownDisposition,
    /// A Shared Callback (id 2) without a next call date.
    CallbackNeedsTime,
    /// A next call date before the event's time.
    TimeInPast,
    /// A next call date more than the project's horizon after the event.
    BeyondHorizon,
    /// The record's phone is on the tenant's do-not-contact list.
    DoNotContact,
    /// The event already has as many accepted actions as the project allows.
    TooManyActions,
    /// A higher-priority (or same-priority, earlier) action for the record was accepted.
    OverriddenByPriority,
    /// Accepted, with the next call date moved into calling hours.
    ShiftedToCallingHours,
    /// Outside calling hours under the `reject` policy, or the zone is unknown.
    OutsideCallingHours,
    /// An SMS with no text (nothing but white space).
    EmptyMessage,
    /// An SMS that would cost more segments than the project allows.
    TooManySegments,
    /// The record has had as many SMS today (its local day), or as many
    /// contact attempts in the window (a callback), as the project allows.
    ContactLimit,
    /// Accepted, to be sent at the start of the project's SMS hours.
    ShiftedToSmsHours,
    /// Outside the project's SMS hours under the `reject` policy, or the zone is unknown.
    OutsideSmsHours,
}

impl Reason {
    /// The stable snake_case code, the same string serde writes.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::RecordOutOfScope => "record_out_of_scope",
            Reason::UnknownDisposition => "unknown_disposition",
            Reason::CallbackNeedsTime => "callback_needs_time",
            Reason::TimeInPast => "time_in_past",
            Reason::BeyondHorizon => "beyond_horizon",
            Reason::DoNotContact => "do_not_contact",
            Reason::TooManyActions => "too_many_actions",
            Reason::OverriddenByPriority => "overridden_by_priority",
            Reason::ShiftedToCallingHours => "shifted_to_calling_hours",
            Reason::OutsideCallingHours => "outside_calling_hours",
            Reason::EmptyMessage => "empty_message",
            Reason::TooManySegments => "too_many_segments",
            Reason::ContactLimit => "contact_limit",
            Reason::ShiftedToSmsHours => "shifted_to_sms_hours",
            Reason::OutsideSmsHours => "outside_sms_hours",
        }
    }
}

/// What validation needs of a record the action names; looked up by the caller within the event's tenant.
///
/// The map passed to [`validate`] may hold the tenant's records of other
/// projects; an action naming one of those is rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordScope {
    pub id: RecordId,
    pub project_id: ProjectId,
    /// E.164, compared verbatim with the do-not-contact list.
    pub phone: String,
    /// IANA zone; `None` (or empty) means the project's.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// SMS the host sent (or scheduled) to the record since its local day
    /// began at the event's time: what the per-day cap counts.
    #[serde(default)]
    pub sms_today: u32,
    /// Contact attempts on the record in the project's window before the
    /// event (the call the event reports included): what the contact cap
    /// counts.
    #[serde(default)]
    pub contacts: u32,
}

/// One action as one plugin asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    pub plugin: String,
    /// The binding's priority; higher wins a conflict on the same record.
    pub priority: i32,
    pub action: Action,
}

/// The host's verdict on one proposal: accepted (possibly adjusted) or rejected, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub accepted: bool,
    /// Why it was rejected, or how it was adjusted; `None` for a plain accept.
    pub reason: Option<Reason>,
    /// As it will be executed (shifted time applied); as proposed when rejected.
    pub action: Action,
    /// Human text for logs and the API, e.g. what was moved where.
    pub detail: Option<String>,
    /// An accepted SMS moved into the project's SMS hours: when it goes out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<Timestamp>,
}

impl Verdict {
    fn accept(action: Action, reason: Option<Reason>, detail: Option<String>) -> Self {
        Verdict {
            accepted: true,
            reason,
            action,
            detail,
            send_at: None,
        }
    }

    fn reject(action: &Action, reason: Reason, detail: String) -> Self {
        Verdict {
            accepted: false,
            reason: Some(reason),
            action: action.clone(),
            detail: Some(detail),
            send_at: None,
        }
    }
}

/// Checks every proposal of one event; returns one verdict per proposal, in order.
///
/// Each proposal first faces the per-action rules (scope, disposition, time,
/// horizon, do-not-contact, calling hours; for an SMS scope, do-not-contact
/// and its text; the first failing one wins). Survivors are then ranked by
/// descending priority, ties by input order: the first disposition and the
/// first SMS per record win, and at most `max_actions_per_event` are
/// accepted. A rejected proposal never blocks another. An unknown time zone
/// rejects a callback as `outside_calling_hours` (its local time cannot be
/// known); without calling hours the zone is never read.
pub fn validate(
    event_time: Timestamp,
    rules: &ProjectRules,
    records: &BTreeMap<RecordId, RecordScope>,
    do_not_contact: &BTreeSet<String>,
    proposals: &[Proposal],
) -> Vec<Verdict> {
    let mut verdicts: Vec<Verdict> = proposals
        .iter()
        .map(|p| check(event_time, rules, records, do_not_contact, &p.action))
        .collect();
    let mut ranked: Vec<usize> = (0..proposals.len())
        .filter(|&i| verdicts[i].accepted)
        .collect();
    ranked.sort_by_key(|&i| Reverse(proposals[i].priority));
    let mut winners: BTreeMap<(RecordId, bool), &Proposal> = BTreeMap::new();
    for i in ranked {
        let proposal = &proposals[i];
        let record = proposal.action.record_id();
        let sms = matches!(proposal.action, Action::SendSms(_));
        if let Some(winner) = winners.get(&(record, sms)) {
            let detail = format!(
                "record {record} already has an action from plugin {} (priority {})",
                winner.plugin, winner.priority
            );
            verdicts[i] = Verdict::reject(&proposal.action, Reason::OverriddenByPriority, detail);
        } else if winners.len() >= rules.max_actions_per_event {
            let detail = format!(
                "the event's limit of {} actions is reached",
                rules.max_actions_per_event
            );
            verdicts[i] = Verdict::reject(&proposal.action, Reason::TooManyActions, detail);
        } else {
            winners.insert((record, sms), proposal);
        }
    }
    verdicts
}

/// The per-action rules for one action, in order; the first failing one
/// wins.
fn check(
    event_time: Timestamp,
    rules: &ProjectRules,
    records: &BTreeMap<RecordId, RecordScope>,
    do_not_contact: &BTreeSet<String>,
    action: &Action,
) -> Verdict {
    let id = action.record_id();
    let Some(record) = records
        .get(&id)
        .filter(|r| r.project_id == rules.project_id)
    else {
        return Verdict::reject(
            action,
            Reason::RecordOutOfScope,
            format!("record {id} is not in project {}", rules.project_id),
        );
    };
    match action {
        Action::SetDisposition(set) => {
            check_disposition(event_time, rules, record, do_not_contact, set)
        }
        Action::SendSms(sms) => check_sms(event_time, rules, record, do_not_contact, sms),
    }
}

/// An SMS to `record` at `event_time`: a phone that may be contacted, a
/// text within the project's segments, room in the record's day, and the
/// project's SMS hours (shifted or refused outside them).
fn check_sms(
    event_time: Timestamp,
    rules: &ProjectRules,
    record: &RecordScope,
    do_not_contact: &BTreeSet<String>,
    sms: &SendSms,
) -> Verdict {
    let action = Action::SendSms(sms.clone());
    let reject = |reason, detail| Verdict::reject(&action, reason, detail);
    let id = record.id;
    if do_not_contact.contains(&record.phone) {
        return reject(
            Reason::DoNotContact,
            format!("record {id}'s phone is on the do-not-contact list"),
        );
    }
    if sms.text.trim().is_empty() {
        return reject(Reason::EmptyMessage, "the SMS has no text".into());
    }
    let cost = segments(&sms.text);
    if cost.count > rules.sms.max_segments {
        return reject(
            Reason::TooManySegments,
            format!(
                "the text is {} {} units, {} segments; the project allows {}",
                cost.units,
                cost.encoding.as_str(),
                cost.count,
                rules.sms.max_segments
            ),
        );
    }
    if record.sms_today >= rules.sms.max_per_day {
        return reject(
            Reason::ContactLimit,
            format!(
                "record {id} has had {} SMS today; the project allows {} a day",
                record.sms_today, rules.sms.max_per_day
            ),
        );
    }
    let zone = record_zone(record.time_zone.as_deref(), rules);
    match within_sms_hours(rules, zone, event_time) {
        Placement::Kept => Verdict::accept(action, None, None),
        Placement::Refused { detail } => reject(Reason::OutsideSmsHours, detail),
        Placement::Shifted { to, detail } => Verdict {
            send_at: Some(to),
            ..Verdict::accept(action, Some(Reason::ShiftedToSmsHours), Some(detail))
        },
    }
}

/// Rules 2–7 (scope is checked) for a disposition on `record`.
fn check_disposition(
    event_time: Timestamp,
    rules: &ProjectRules,
    record: &RecordScope,
    do_not_contact: &BTreeSet<String>,
    set: &SetDisposition,
) -> Verdict {
    let action = Action::SetDisposition(set.clone());
    let reject = |reason, detail| Verdict::reject(&action, reason, detail);
    let id = record.id;
    match set.disposition {
        Disposition::Custom { id, .. }
            if id != SHARED_CALLBACK_ID && !rules.dispositions.contains(&id) =>
        {
            return reject(
                Reason::UnknownDisposition,
                format!("project {} has no disposition {id}", rules.project_id),
            );
        }
        Disposition::Custom {
            id: SHARED_CALLBACK_ID,
            next_calldate: None,
        } => {
            return reject(
                Reason::CallbackNeedsTime,
                "a Shared Callback needs a next call date".into(),
            );
        }
        _ => {}
    }
    let next = set.disposition.next_calldate();
    let horizon_end = event_time.saturating_add(i64::from(rules.horizon_days) * SECONDS_PER_DAY);
    if let Some(at) = next {
        if at < event_time {
            return reject(
                Reason::TimeInPast,
                format!("next call date {at} is before the event's time {event_time}"),
            );
        }
        if at > horizon_end {
            let days = rules.horizon_days;
            return reject(
                Reason::BeyondHorizon,
                format!("next call date {at} is more than {days} days after the event"),
            );
        }
    }
    if do_not_contact.contains(&record.phone) {
        return reject(
            Reason::DoNotContact,
            format!("record {id}'s phone is on the do-not-contact list"),
        );
    }
    let Some(at) = next else {
        return Verdict::accept(action, None, None);
    };
    if let Some(cap) = &rules.contacts
        && record.contacts >= cap.max_attempts
    {
        return reject(
            Reason::ContactLimit,
            format!(
                "record {id} has had {} contact attempts in {} days; the project allows {}",
                record.contacts, cap.window_days, cap.max_attempts
            ),
        );
    }
    let zone = record_zone(record.time_zone.as_deref(), rules);
    let (moved, detail) = match within_calling_hours(rules, zone, at) {
        Placement::Kept => return Verdict::accept(action, None, None),
        Placement::Refused { detail } => return reject(Reason::OutsideCallingHours, detail),
        Placement::Shifted { to, detail } => (to, detail),
    };
    if moved > horizon_end {
        let days = rules.horizon_days;
        return reject(
            Reason::BeyondHorizon,
            format!("{detail}, more than {days} days after the event"),
        );
    }
    let mut shifted = set.clone();
    shifted.disposition = match set.disposition {
        Disposition::SharedCallback { .. } => Disposition::SharedCallback { at: moved },
        Disposition::Custom { id, .. } => Disposition::Custom {
            id,
            next_calldate: Some(moved),
        },
        Disposition::Discard => Disposition::Discard,
    };
    Verdict::accept(
        shifted.into(),
        Some(Reason::ShiftedToCallingHours),
        Some(detail),
    )
}

/// The zone a record's times are read in: its own, or (when it has none,
/// or an empty one) the project's.
pub(crate) fn record_zone<'a>(record_zone: Option<&'a str>, rules: &'a ProjectRules) -> &'a str {
    record_zone
        .filter(|z| !z.is_empty())
        .unwrap_or(&rules.time_zone)
}

/// Where the project's calling hours put a callback at `at` on `zone`'s
/// wall clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Inside calling hours, or the project has none: it stays at `at`.
    Kept,
    /// Outside them under the `shift` policy: moved to the next allowed
    /// slot `to`; `detail` says from where to where.
    Shifted { to: Timestamp, detail: String },
    /// Outside them under the `reject` policy, or its local time cannot be
    /// known (an unknown zone); `detail` says why.
    Refused { detail: String },
}

/// Puts a callback at `at` through the project's calling hours in `zone`:
/// the one place both validation (at the event's time) and the last check
/// before execution (see [`super::execution_time`]) do it, so they cannot
/// disagree. Without calling hours the zone is never read.
pub(crate) fn within_calling_hours(rules: &ProjectRules, zone: &str, at: Timestamp) -> Placement {
    Hours {
        window: rules.calling_hours.as_ref(),
        policy: rules.policy,
        name: "calling hours",
    }
    .place(zone, at)
}

/// Puts an SMS going out at `at` through the project's SMS hours in
/// `zone`: what validation does at the event's time, done again by the SMS
/// outbox just before a send.
pub(crate) fn within_sms_hours(rules: &ProjectRules, zone: &str, at: Timestamp) -> Placement {
    Hours {
        window: Some(&rules.sms.hours),
        policy: rules.sms.policy,
        name: "SMS hours",
    }
    .place(zone, at)
}

/// A daily window an action must fall in (calling hours for callbacks,
/// SMS hours for SMS), what to do outside it, and its name in details.
struct Hours<'a> {
    window: Option<&'a CallingHours>,
    policy: CallingHoursPolicy,
    name: &'static str,
}

impl Hours<'_> {
    /// Where the window puts an action at `at` on `zone`'s wall clock.
    fn place(&self, zone: &str, at: Timestamp) -> Placement {
        let Some(hours) = self.window else {
            return Placement::Kept;
        };
        let moved = match hours.next_allowed(at, zone) {
            Err(detail) => return Placement::Refused { detail },
            Ok((_, false)) => return Placement::Kept,
            Ok((moved, true)) => moved,
        };
        let (start, end) = (hours.start.format("%H:%M"), hours.end.format("%H:%M"));
        let local = local_text(at, zone);
        let wall = parse_zone(zone).and_then(|tz| local_time(at, tz));
        let name = self.name;
        let side = match wall.map(|t| t.time()) {
            Ok(t) if t < hours.start => format!("before {start}"),
            Ok(t) if t == hours.end => format!("at {end}, when {name} end"),
            _ => format!("after {end}"),
        };
        if self.policy == CallingHoursPolicy::Reject {
            let detail = format!("{local} {zone} is {side}, outside {name} {start}–{end}");
            return Placement::Refused { detail };
        }
        let detail = format!(
            "{local} {zone} is {side}; moved to {}",
            local_text(moved, zone)
        );
        Placement::Shifted { to: moved, detail }
    }
}

/// `at` on `zone`'s wall clock as `YYYY-MM-DD HH:MM`, or the raw seconds if it has none.
fn local_text(at: Timestamp, zone: &str) -> String {
    parse_zone(zone)
        .and_then(|tz| local_time(at, tz))
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests;
