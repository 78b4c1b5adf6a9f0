//! The remote back end: carries validated actions out through a
//! contact-center record API of the `/v2` shape (the one `api::v2` serves),
//! over HTTP with reqwest's blocking client.
//! [`TenantRouter`](super::TenantRouter) decides which tenants' events come
//! here; the `call` submodule makes one HTTP call with its timeouts and
//! retries.
//!
//! # Which remote record
//! The pipeline still reads the *local* store: a receipt names a local
//! record, inbound senders and `find-records` match local records, and
//! validation checks local records and the local do-not-contact list. So a
//! remote tenant keeps local mirrors of its records, and each mirror names
//! its remote twin in two custom fields: [`REMOTE_PROJECT_FIELD`]
//! (`remoteProjectId`) and [`REMOTE_ID_FIELD`] (`remoteId`), both whole
//! numbers. (Ids are per server, so the local id cannot double as the
//! remote one, and the `/v2` path needs the remote project too.) An action
//! on a mirror without them is not executed: its verdict says
//! `remote_id_missing`.
//!
//! # One action
//! `GET …/v2/projects/{p}/records/{r}` (that it exists, and its zone: the
//! API reads `next_calldate` on the record's wall clock), then
//! `POST …/records/{r}/dispositions` with `dispositionid`, `userid`
//! `System`, `next_calldate` and a `description` naming the note, plugin,
//! version and event, under HTTP Basic (account, token) and
//! `Idempotency-Key: smstrigger-{event}-{record}-{plugin}`. The key makes a
//! retry, or a re-run of an event whose local commit was lost, return the
//! first answer instead of setting the disposition twice. A wall-clock time
//! in a DST fold is read by the remote as the earlier instant.
//!
//! # Failures
//! Each call gets [`RetryPolicy`]: connect timeout 2 s, request timeout
//! 5 s, 3 attempts with 100 ms then 400 ms between them, retried only on a
//! 5xx or a transport error (refused, reset, timed out). A 417 is the
//! remote's considered refusal: [`Delivery::Refused`], with the remote's
//! `{errorcode, errormessage, property}`, never retried; so is a record
//! with no remote twin. Anything else (retries exhausted, another 4xx such
//! as bad credentials, an answer not in the `/v2` envelope) is
//! [`Delivery::Failed`], which the outbox retries later.
//!
//! # Where it runs
//! Never on the commit path: a remote tenant's writes are queued in the
//! outbox by the commit that decides their event, and delivered by the
//! outbox's workers (see [`super::outbox`]), one [`Self::deliver`] per
//! queued write; the records live remotely, so nothing is written locally.

mod call;

use std::sync::{Arc, OnceLock};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::model::{EventId, RecordId, TenantId, Timestamp};
use crate::store::{OutboxItem, RecordWrite, Store};
use call::{Outcome, call};
pub use call::{RemoteError, RemoteTarget, RetryPolicy};

/// The `/v2` API's wall-clock format, local to the record.
pub const V2_DATETIME: &str = "%Y-%m-%d %H:%M:%S";
/// The local record field holding the remote record's id.
pub const REMOTE_ID_FIELD: &str = "remoteId";
/// The local record field holding the remote record's project id.
pub const REMOTE_PROJECT_FIELD: &str = "remoteProjectId";
/// The `userid` remote dispositions are set as.
pub const REMOTE_USER: &str = "System";

/// What one attempt at a queued write came to; the errors are the
/// `{errorcode, errormessage, property}` a tenant sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The remote set the disposition: its event-list entry.
    Delivered(Value),
    /// The remote refused for good; not retried.
    Refused(Value),
    /// It did not work this time; the outbox retries.
    Failed(Value),
}

/// Carries one remote tenant's queued writes out over HTTP; see the
/// module docs.
pub struct RemoteExecutor {
    store: Arc<dyn Store>,
    policy: RetryPolicy,
    /// Built on first use, on the dispatcher's thread: reqwest's blocking
    /// client must not be built inside an async runtime.
    client: OnceLock<Result<Client, String>>,
}

impl RemoteExecutor {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_policy(store, RetryPolicy::default())
    }

    pub fn with_policy(store: Arc<dyn Store>, policy: RetryPolicy) -> Self {
        Self {
            store,
            policy,
            client: OnceLock::new(),
        }
    }

    /// One attempt at a queued write on `target`.
    pub fn deliver(&self, target: &RemoteTarget, item: &OutboxItem) -> Delivery {
        let error = |e: RemoteError| serde_json::to_value(e).unwrap_or(Value::Null);
        match self.apply(target, item.tenant_id, item.event_id, &item.write) {
            Outcome::Executed(entry) => Delivery::Delivered(entry),
            Outcome::Refused(e) => Delivery::Refused(error(e)),
            Outcome::Failed(e) => Delivery::Failed(error(e)),
        }
    }

    fn apply(
        &self,
        target: &RemoteTarget,
        tenant: TenantId,
        event: EventId,
        write: &RecordWrite,
    ) -> Outcome {
        let (project, record) = match self.remote_ids(tenant, write.record_id) {
            Ok(ids) => ids,
            Err(outcome) => return outcome,
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(error) => return Outcome::Failed(error),
        };
        let url = format!("{}/v2/projects/{project}/records/{record}", target.base_url);
        let remote = match call(&self.policy, target, || client.get(&url)) {
            Ok(remote) => remote,
            Err(outcome) => return outcome,
        };
        let zone = remote["timezone"].as_str().unwrap_or("UTC");
        let next_calldate = match write.next_calldate.map(|at| wall_clock(at, zone)) {
            None => None,
            Some(Some(local)) => Some(local),
            Some(None) => {
                return Outcome::Refused(RemoteError::new(
                    "invalid_time_zone",
                    format!("the remote record's zone {zone:?} is unknown"),
                ));
            }
        };
        let version = write.plugin_version.map_or("-".into(), |v| v.to_string());
        let origin = format!("{} v{version}, event {event}", write.plugin);
        let body = json!({
            "dispositionid": write.disposition_id,
            "userid": REMOTE_USER,
            "next_calldate": next_calldate,
            "description": match &write.note {
                Some(note) => format!("{note} ({origin})"),
                None => origin,
            },
        });
        let key = format!("smstrigger-{event}-{}-{}", write.record_id, write.plugin);
        match call(&self.policy, target, || {
            client
                .post(format!("{url}/dispositions"))
                .header("Idempotency-Key", &key)
                .json(&body)
        }) {
            Ok(entry) => Outcome::Executed(entry),
            Err(outcome) => outcome,
        }
    }

    /// The remote (project, record) a local record mirrors.
    fn remote_ids(&self, tenant: TenantId, record: RecordId) -> Result<(u64, u64), Outcome> {
        let stored = self.store.record(tenant, record).map_err(|e| {
            Outcome::Failed(RemoteError::new(
                "local_store",
                format!("reading record {record}: {e}"),
            ))
        })?;
        let field = |name: &str| -> Result<u64, Outcome> {
            stored
                .fields
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.trim().parse().ok())
                .ok_or_else(|| {
                    Outcome::Refused(RemoteError {
                        errorcode: "remote_id_missing".into(),
                        errormessage: format!(
                            "record {record} has no {name} field holding a whole number, so \
                             its remote twin is unknown"
                        ),
                        property: Some(name.into()),
                    })
                })
        };
        Ok((field(REMOTE_PROJECT_FIELD)?, field(REMOTE_ID_FIELD)?))
    }

    fn client(&self) -> Result<&Client, RemoteError> {
        self.client
            .get_or_init(|| {
                Client::builder()
                    .connect_timeout(self.policy.connect_timeout)
                    .timeout(self.policy.request_timeout)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| RemoteError::new("remote_unavailable", format!("no HTTP client: {e}")))
    }
}

/// `at` on the wall clock of `zone`, as the `/v2` API reads it.
fn wall_clock(at: Timestamp, zone: &str) -> Option<String> {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    Some(
        tz.timestamp_opt(at, 0)
            .single()?
            .format(V2_DATETIME)
            .to_string(),
    )
}
