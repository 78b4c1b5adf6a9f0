//! Run a rule natively with plain `cargo test`: no wasm, no host.
//!
//! ```
//! use smstrigger_sdk::testing::{self, TestHost};
//! use smstrigger_sdk::{Action, Trigger, Event};
//!
//! struct Echo;
//! impl Trigger for Echo {
//!     fn on_event(event: Event) -> Result<Vec<Action>, String> {
//!         let phone = smstrigger_sdk::config("phone").unwrap_or_default();
//!         let found = smstrigger_sdk::find_records(&phone);
//!         Ok(found.iter().map(|r| Action::discard(r.id)).collect())
//!     }
//! }
//!
//! let record = testing::record(7, "+36301234567");
//! let run = TestHost::new()
//!     .config("phone", "+36301234567")
//!     .record(record.clone())
//!     .run::<Echo>(testing::inbound(&record, "hi", testing::local("2026-12-01 10:00")));
//! assert_eq!(run.actions(), &[Action::discard(7)]);
//! ```
//!
//! [`TestHost`] stands in for the host: it answers `config` from the
//! settings given, `find_records` from the records given (matching on the
//! phone's digits), and keeps every `log` line for assertions.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use crate::model::{
    Action, Assessment, CallDirection, CallDisposition, CallOutcome, ContactRecord, DeliveryStatus,
    Event, InboundSms, Level, OutboundStatus, Timestamp, Trigger,
};

/// The zone [`record`] gives records and [`local`] reads times in.
pub const DEFAULT_ZONE: &str = "Europe/Budapest";

/// The project [`record`] and the event builders use.
pub const DEFAULT_PROJECT: u64 = 1;

/// A stand-in host: configuration, records to find, and the log.
#[derive(Debug, Clone, Default)]
pub struct TestHost {
    config: BTreeMap<String, String>,
    records: Vec<ContactRecord>,
}

/// What one run of a rule returned and logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The rule's answer.
    pub result: Result<Vec<Action>, String>,
    /// Every line the rule logged, in order.
    pub logs: Vec<(Level, String)>,
}

impl TestHost {
    /// A host with no configuration and no records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a configuration value the rule reads with `config`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds a record that `find_records` can return.
    pub fn record(mut self, record: ContactRecord) -> Self {
        self.records.push(record);
        self
    }

    /// Runs rule `T` on `event` against this host.
    pub fn run<T: Trigger>(&self, event: Event) -> Run {
        STATE.with(|state| {
            *state.borrow_mut() = Some(State {
                host: self.clone(),
                logs: Vec::new(),
            })
        });
        let result = T::on_event(event);
        let state = STATE.with(|state| state.borrow_mut().take());
        Run {
            result,
            logs: state.map(|state| state.logs).unwrap_or_default(),
        }
    }
}

impl Run {
    /// The actions, or a panic with the rule's error.
    #[track_caller]
    pub fn actions(&self) -> &[Action] {
        match &self.result {
            Ok(actions) => actions,
            Err(message) => panic!("the rule failed: {message}"),
        }
    }

    /// Whether some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.iter().any(|(_, line)| line.contains(needle))
    }
}

/// A record in [`DEFAULT_PROJECT`] and [`DEFAULT_ZONE`] with no fields.
pub fn record(id: u64, phone: &str) -> ContactRecord {
    ContactRecord {
        id,
        project_id: DEFAULT_PROJECT,
        phone: phone.to_string(),
        time_zone: DEFAULT_ZONE.to_string(),
        fields: Vec::new(),
        last_disposition: None,
    }
}

/// A delivery receipt for a message sent to `contact`.
pub fn outbound(contact: &ContactRecord, status: DeliveryStatus, at: Timestamp) -> Event {
    Event::Outbound(OutboundStatus {
        message_id: format!("out-{}-{at}", contact.id),
        project_id: contact.project_id,
        contact: contact.clone(),
        status,
        template_id: None,
        timestamp: at,
    })
}

/// A message from `sender`, matched to `sender` alone.
pub fn inbound(sender: &ContactRecord, message: &str, at: Timestamp) -> Event {
    inbound_matching(&sender.phone, message, at, vec![sender.clone()])
}

/// A message from `phone`, matched to `matches` (possibly none).
pub fn inbound_matching(
    phone: &str,
    message: &str,
    at: Timestamp,
    matches: Vec<ContactRecord>,
) -> Event {
    Event::Inbound(InboundSms {
        message_id: format!("in-{phone}-{at}"),
        project_id: matches.first().map_or(DEFAULT_PROJECT, |r| r.project_id),
        source_phone_number: phone.to_string(),
        message: message.to_string(),
        timestamp: at,
        matches,
        last_outbound: None,
    })
}

/// The dialer's disposition `name` (id `id`, meaning `assessment`) on an
/// outbound call to `contact`, its `attempts`-th, set at `at`.
pub fn call_disposition(
    contact: &ContactRecord,
    (id, name, assessment): (u32, &str, Assessment),
    attempts: u32,
    at: Timestamp,
) -> Event {
    Event::CallDisposition(CallDisposition {
        call_id: format!("call-{}-{at}", contact.id),
        project_id: contact.project_id,
        contact: contact.clone(),
        disposition: CallOutcome {
            id,
            name: name.to_string(),
            assessment,
        },
        direction: CallDirection::Outbound,
        attempts,
        first_attempt: None,
        agent: None,
        timestamp: at,
    })
}

/// The instant of local time `YYYY-MM-DD hh:mm` in [`DEFAULT_ZONE`].
#[track_caller]
pub fn local(datetime: &str) -> Timestamp {
    local_in(datetime, DEFAULT_ZONE)
}

/// The instant of local time `YYYY-MM-DD hh:mm` in `zone`.
#[track_caller]
pub fn local_in(datetime: &str, zone: &str) -> Timestamp {
    let local = NaiveDateTime::parse_from_str(datetime, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("`{datetime}` is not YYYY-MM-DD hh:mm: {e}"));
    crate::time::local_to_timestamp(local, zone).unwrap_or_else(|e| panic!("{e}"))
}

struct State {
    host: TestHost,
    logs: Vec<(Level, String)>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// The native side of the host calls, answered by the running [`TestHost`].
#[doc(hidden)]
pub mod stub {
    use super::*;

    fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
        STATE.with(|state| {
            let mut state = state.borrow_mut();
            let state = state
                .as_mut()
                .expect("host calls outside a plugin run: call the rule through TestHost::run");
            f(state)
        })
    }

    pub fn log(level: Level, message: &str) {
        with(|state| state.logs.push((level, message.to_string())))
    }

    pub fn config(key: &str) -> Option<String> {
        with(|state| state.host.config.get(key).cloned())
    }

    pub fn find_records(phone: &str) -> Vec<ContactRecord> {
        let digits = |p: &str| p.chars().filter(char::is_ascii_digit).collect::<String>();
        let wanted = digits(phone);
        with(|state| {
            state
                .host
                .records
                .iter()
                .filter(|r| digits(&r.phone) == wanted)
                .cloned()
                .collect()
        })
    }
}
