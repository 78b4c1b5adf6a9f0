//! Events as they arrive, and how they are journaled: dedupe keys, the
//! subject that orders them, late receipts, and the acceptance window an
//! event's timestamp must fall in ([`Acceptance`]). Every way in (the
//! webhooks, `smstrigger ingest`) goes through `Pipeline::prepare`, which
//! checks the window here, so none can take an event another would refuse.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{AcceptWindowConfig, Clock};
use crate::model::{
    CallDirection, CallOutcome, DeliveryStatus, ProjectId, RecordId, TenantId, Timestamp,
};
use crate::phone;
use crate::store::{self, AcceptWindow, JournalEntry, Store};

/// An event as the webhooks deliver it, before any record is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Incoming {
    /// A delivery receipt for a message sent to a record.
    #[serde(rename_all = "camelCase")]
    Status {
        message_id: String,
        project_id: ProjectId,
        record_id: RecordId,
        status: DeliveryStatus,
        #[serde(default)]
        template_id: Option<String>,
        timestamp: Timestamp,
    },
    /// A message a customer sent.
    #[serde(rename_all = "camelCase")]
    Inbound {
        /// Made up from the sender, time and body when the provider sent none,
        /// so a retried webhook still dedupes.
        #[serde(default)]
        message_id: Option<String>,
        project_id: ProjectId,
        source_phone_number: String,
        message: String,
        timestamp: Timestamp,
    },
    /// A disposition set on a call to or from a record.
    #[serde(rename_all = "camelCase")]
    CallDisposition {
        call_id: String,
        project_id: ProjectId,
        /// The customer's phone (the called number, or the caller's).
        phone: String,
        /// The record called: as the webhook named it, else the one record
        /// of the project with `phone`, found when the event is journaled
        /// (so a journaled call always has it).
        #[serde(default)]
        record_id: Option<RecordId>,
        disposition: CallOutcome,
        direction: CallDirection,
        attempts: u32,
        #[serde(default)]
        first_attempt: Option<Timestamp>,
        #[serde(default)]
        agent: Option<String>,
        timestamp: Timestamp,
    },
}

impl Incoming {
    pub fn project_id(&self) -> ProjectId {
        match self {
            Incoming::Status { project_id, .. }
            | Incoming::Inbound { project_id, .. }
            | Incoming::CallDisposition { project_id, .. } => *project_id,
        }
    }

    /// When the event happened, as its sender stamped it.
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Incoming::Status { timestamp, .. }
            | Incoming::Inbound { timestamp, .. }
            | Incoming::CallDisposition { timestamp, .. } => *timestamp,
        }
    }
}

/// Which event timestamps the pipeline takes in.
#[derive(Debug, Clone)]
pub enum Acceptance {
    /// Those within the tenant's acceptance window, or `default` for a
    /// tenant that set none, of `clock`'s now (see [`check_window`]): what
    /// the server and `smstrigger ingest` use, and the default.
    Window { default: AcceptWindow, clock: Clock },
    /// Any: for tests, benchmarks and tools that drive the pipeline with
    /// events of fixed dates on purpose. Never the server's.
    Any,
}

impl Default for Acceptance {
    /// The documented default window on the system clock.
    fn default() -> Self {
        Acceptance::Window {
            default: AcceptWindowConfig::default().defaults(),
            clock: Clock::default(),
        }
    }
}

impl Acceptance {
    /// Refuses `incoming` when its timestamp is outside `tenant`'s window.
    /// A tenant that does not exist owns no project: `UnknownProject`.
    pub fn check(
        &self,
        store: &dyn Store,
        tenant: TenantId,
        incoming: &Incoming,
    ) -> Result<(), AcceptError> {
        let Acceptance::Window { default, clock } = self else {
            return Ok(());
        };
        let window = match store.tenant(tenant) {
            Ok(settings) => settings.accept_window.unwrap_or(*default),
            Err(store::Error::NotFound { .. }) => {
                return Err(AcceptError::UnknownProject(incoming.project_id()));
            }
            Err(other) => return Err(AcceptError::Store(other)),
        };
        check_window(incoming.timestamp(), clock.now(), window)
    }
}

/// Why an event was refused before it was journaled; nothing is stored.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("project {0} does not exist")]
    UnknownProject(ProjectId),
    #[error("record {0} does not exist in project {1}")]
    UnknownRecord(RecordId, ProjectId),
    #[error("invalid phone number: {0}")]
    InvalidPhone(#[from] phone::PhoneError),
    #[error("no record of project {1} has the phone {0}")]
    NoRecordWithPhone(String, ProjectId),
    #[error(
        "{count} records of project {project} have the phone {phone}: name the record (recordid)"
    )]
    AmbiguousPhone {
        phone: String,
        project: ProjectId,
        count: usize,
    },
    #[error(
        "timestamp {} is outside the acceptance window: at most {} s ({}) before and {} s \
         after the host's clock, which reads {}",
        rfc3339(*.timestamp), .window.past_secs, days(.window.past_secs),
        .window.future_secs, rfc3339(*.now)
    )]
    OutsideWindow {
        timestamp: Timestamp,
        now: Timestamp,
        window: AcceptWindow,
    },
    #[error(transparent)]
    Store(store::Error),
}

impl AcceptError {
    /// A stable snake_case code naming why: the API's error code for the
    /// refusals that are the sender's (`not_found`, `invalid_phone`,
    /// `outside_accept_window`); `store` for the host's own failure.
    pub fn code(&self) -> &'static str {
        match self {
            AcceptError::UnknownProject(_)
            | AcceptError::UnknownRecord(..)
            | AcceptError::NoRecordWithPhone(..) => "not_found",
            AcceptError::InvalidPhone(_) => "invalid_phone",
            AcceptError::AmbiguousPhone { .. } => "ambiguous_phone",
            AcceptError::OutsideWindow { .. } => "outside_accept_window",
            AcceptError::Store(_) => "store",
        }
    }
}

/// Refuses an event stamped more than `window.past_secs` before `now` or
/// more than `window.future_secs` after it: a webhook replayed long after
/// it was captured, a receipt from last year that would set a callback in
/// the past, or one stamped in the future to outlive later events. Checked
/// before journaling, so nothing of a refused event is stored. Replays and
/// dry runs are not webhooks and judge with the event's own time.
pub fn check_window(
    timestamp: Timestamp,
    now: Timestamp,
    window: AcceptWindow,
) -> Result<(), AcceptError> {
    // In i128, where no window or timestamp overflows.
    let offset = i128::from(timestamp) - i128::from(now);
    let allowed = -i128::from(window.past_secs)..=i128::from(window.future_secs);
    if allowed.contains(&offset) {
        Ok(())
    } else {
        Err(AcceptError::OutsideWindow {
            timestamp,
            now,
            window,
        })
    }
}

fn rfc3339(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| format!("{at}"), |t| t.to_rfc3339())
}

fn days(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// Builds the journal entry for `incoming` of `tenant`: checks the project
/// and record exist in the tenant, normalizes the sender to E.164, and
/// derives the dedupe key, the subject and the keys that supersede it.
pub(crate) fn journal_entry(
    store: &dyn Store,
    tenant: TenantId,
    mut incoming: Incoming,
    received_at: Timestamp,
) -> Result<JournalEntry, AcceptError> {
    let project_id = incoming.project_id();
    let project = store.project(tenant, project_id).map_err(|e| match e {
        store::Error::NotFound { .. } => AcceptError::UnknownProject(project_id),
        other => AcceptError::Store(other),
    })?;
    let (dedupe_key, message_id, subject, superseded_by) = match &mut incoming {
        Incoming::Status {
            message_id,
            record_id,
            status,
            ..
        } => {
            let record = store
                .record(tenant, *record_id)
                .ok()
                .filter(|record| record.project_id == project_id)
                .ok_or(AcceptError::UnknownRecord(*record_id, project_id))?;
            let key = |status: DeliveryStatus| {
                format!(
                    "status:{message_id}:{}",
                    serde_json::json!(status).as_str().unwrap_or("")
                )
            };
            // Statuses only move forward: sent, then not traceable, then
            // delivered (final). One arriving after a later one is recorded
            // as superseded, never processed: a late `sent` or
            // `not_traceable` must not replace the callback a `delivered`
            // set.
            let superseded_by = match status {
                DeliveryStatus::Sent => {
                    vec![
                        key(DeliveryStatus::Delivered),
                        key(DeliveryStatus::NotTraceable),
                    ]
                }
                DeliveryStatus::NotTraceable => vec![key(DeliveryStatus::Delivered)],
                DeliveryStatus::Delivered => Vec::new(),
            };
            (
                key(*status),
                message_id.clone(),
                record.phone,
                superseded_by,
            )
        }
        Incoming::Inbound {
            message_id,
            source_phone_number,
            message,
            timestamp,
            ..
        } => {
            let e164 = phone::to_e164(source_phone_number, &project.settings.default_country)?;
            *source_phone_number = e164.clone();
            let id = message_id
                .get_or_insert_with(|| made_up_message_id(&e164, *timestamp, message))
                .clone();
            (format!("inbound:{id}"), id, e164, Vec::new())
        }
        Incoming::CallDisposition {
            call_id,
            phone: called,
            record_id,
            ..
        } => {
            let e164 = phone::to_e164(called, &project.settings.default_country)?;
            *called = e164.clone();
            let record = match *record_id {
                Some(id) => store
                    .record(tenant, id)
                    .ok()
                    .filter(|record| record.project_id == project_id)
                    .ok_or(AcceptError::UnknownRecord(id, project_id))?,
                None => {
                    let mut found = store
                        .records_by_phone(tenant, project_id, &e164)
                        .map_err(AcceptError::Store)?;
                    match found.len() {
                        0 => return Err(AcceptError::NoRecordWithPhone(e164, project_id)),
                        1 => found.remove(0),
                        count => {
                            return Err(AcceptError::AmbiguousPhone {
                                phone: e164,
                                project: project_id,
                                count,
                            });
                        }
                    }
                }
            };
            *record_id = Some(record.id);
            // A contact center retries its webhook: one call, one event.
            (
                format!("call:{call_id}"),
                call_id.clone(),
                record.phone,
                Vec::new(),
            )
        }
    };
    Ok(JournalEntry {
        tenant_id: tenant,
        project_id,
        dedupe_key,
        message_id,
        subject,
        superseded_by,
        input: serde_json::to_string(&incoming).map_err(|e| AcceptError::Store(e.into()))?,
        received_at,
    })
}

/// A stable id for a message the provider sent without one.
fn made_up_message_id(phone: &str, timestamp: Timestamp, message: &str) -> String {
    let digest = Sha256::digest(format!("{phone}\n{timestamp}\n{message}"));
    format!("in-{}", &hex::encode(digest)[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK_AND_FIVE_MINUTES: AcceptWindow = AcceptWindow {
        past_secs: 7 * 86_400,
        future_secs: 300,
    };

    #[test]
    fn the_window_takes_its_edges_and_refuses_a_second_beyond_them() {
        let now = 1_796_115_600;
        let window = WEEK_AND_FIVE_MINUTES;
        for inside in [now, now - 7 * 86_400, now + 300] {
            assert!(check_window(inside, now, window).is_ok(), "{inside}");
        }
        for outside in [
            now - 7 * 86_400 - 1,
            now + 301,
            now - 400 * 86_400,
            i64::MIN,
            i64::MAX,
        ] {
            assert!(check_window(outside, now, window).is_err(), "{outside}");
        }
    }

    #[test]
    fn a_refusal_names_the_window_and_the_timestamp() {
        let now = 1_796_115_600; // 2026-12-01T09:00:00Z
        let error = check_window(now - 400 * 86_400, now, WEEK_AND_FIVE_MINUTES).unwrap_err();
        let message = error.to_string();
        for part in [
            "2025-10-27T09:00:00+00:00",
            "604800 s (7 days)",
            "300 s",
            "2026-12-01T09:00:00+00:00",
        ] {
            assert!(message.contains(part), "{part} in {message}");
        }
    }

    /// The step every way in goes through: the tenant's own window, else
    /// the default one, on the clock it was given; `Any` takes everything.
    #[test]
    fn acceptance_reads_the_tenants_window_else_the_default_on_its_clock() {
        use crate::store::{SqliteStore, Tenants};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (plain, own) = (
            store.create_tenant("plain", "s").unwrap().id,
            store.create_tenant("own", "s").unwrap().id,
        );
        let mut settings = store.tenant(own).unwrap();
        settings.accept_window = Some(AcceptWindow {
            past_secs: 30 * 86_400,
            future_secs: 0,
        });
        store.update_tenant(own, &settings).unwrap();
        let now = 1_796_115_600;
        let acceptance = Acceptance::Window {
            default: WEEK_AND_FIVE_MINUTES,
            clock: Clock::pinned(now),
        };
        let stamped = |timestamp| Incoming::Inbound {
            message_id: None,
            project_id: ProjectId(1),
            source_phone_number: "+36301234567".into(),
            message: "hi".into(),
            timestamp,
        };
        let check = |tenant, at| acceptance.check(&store, tenant, &stamped(at));
        let twenty_days_ago = now - 20 * 86_400;
        assert!(matches!(
            check(plain, twenty_days_ago),
            Err(AcceptError::OutsideWindow { .. })
        ));
        assert!(check(own, twenty_days_ago).is_ok());
        assert!(check(plain, now + 300).is_ok());
        assert!(
            check(own, now + 1).is_err(),
            "its own window, not the default"
        );
        assert!(matches!(
            check(TenantId(99), now),
            Err(AcceptError::UnknownProject(ProjectId(1)))
        ));
        assert!(Acceptance::Any.check(&store, plain, &stamped(0)).is_ok());
        assert_eq!(check(plain, 0).unwrap_err().code(), "outside_accept_window");
    }

    #[test]
    fn a_window_wider_than_time_itself_does_not_overflow() {
        let huge = AcceptWindow {
            past_secs: u64::MAX,
            future_secs: u64::MAX,
        };
        assert!(check_window(i64::MIN, 0, huge).is_ok());
        assert!(check_window(i64::MAX, 0, huge).is_ok());
    }
}
