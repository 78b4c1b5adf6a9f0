//! The remote back end: carries validated actions out through a
//! contact-center record API of the `/v2` shape (the one `api::v2` serves),
//! over HTTPS with reqwest's blocking client.
//! [`TenantRouter`](super::TenantRouter) decides which tenants' events come
//! here; [`policy`] decides which URLs and addresses may be called,
//! [`client`] owns the one HTTP client (TLS, no redirects, the resolver
//! that checks addresses at connect time), and the `call` submodule makes
//! one HTTP call with its timeouts and retries and reads its answer.
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
//! Before each action the tenant's URL is checked against the operator's
//! [`UrlPolicy`] again (an IP-literal host is never seen by the resolver,
//! and the rules may have changed since the URL was set); a refused one
//! fails the attempt with `remote_refused_address` and nothing is sent.
//! Each call gets [`RetryPolicy`]: connect timeout 2 s, request timeout
//! 5 s, 3 attempts with 100 ms then 400 ms between them, retried only on a
//! 5xx or a transport error (refused, reset, timed out). A 417 is the
//! remote's considered refusal: [`Delivery::Refused`], with the remote's
//! code and property (cut short) and a message of ours, never retried; so
//! is a record with no remote twin. Anything else (retries exhausted, a
//! redirect, another 4xx such as bad credentials, an answer not in the
//! `/v2` envelope, an address refused at connect time) is
//! [`Delivery::Failed`] with `remote_unavailable`, `remote_rejected` or
//! `remote_refused_address` and a fixed message (see `call`: nothing of the
//! transport error or of the remote's body), which the outbox retries
//! later. A delivered action's verdict gets `"executed": true` and
//! `"remote"`: the remote's event-list entry, reduced to the `/v2` entry's
//! own fields ([`ENTRY_FIELDS`]) with scalar values.
//!
//! # Where it runs
//! Never on the commit path: a remote tenant's writes are queued in the
//! outbox by the commit that decides their event, and delivered by the
//! outbox's workers (see [`super::outbox`]), one [`RemoteExecutor::deliver`]
//! per queued write; the records live remotely, so nothing is written
//! locally.

mod call;
pub mod client;
pub mod policy;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::RemoteConfig;
use crate::model::{EventId, RecordId, TenantId, Timestamp};
use crate::store::{OutboxItem, RecordWrite, Store};
use crate::wire::v2::DispositionRequest;
/// The `/v2` wall-clock format, and the fields of the remote's event-list
/// entry an executed verdict keeps (the `/v2` entry's own); anything else
/// the remote sends is dropped.
pub use crate::wire::v2::{ENTRY_FIELDS, V2_DATETIME};
pub use call::{
    MAX_ANSWER_BYTES, MAX_REMOTE_CODE_CHARS, REMOTE_REFUSED_ADDRESS, REMOTE_REJECTED,
    REMOTE_UNAVAILABLE, RemoteError, RemoteTarget, RetryPolicy,
};
use call::{Outcome, call};
pub use client::{ClientError, RemoteClient};
pub use policy::{UrlError, UrlPolicy};

/// The local record field holding the remote record's id.
pub const REMOTE_ID_FIELD: &str = "remoteId";
/// The local record field holding the remote record's project id.
pub const REMOTE_PROJECT_FIELD: &str = "remoteProjectId";
/// The `userid` remote dispositions are set as: not `System`, which an
/// smstrigger serving `/v2` keeps for its own host's entries.
pub const REMOTE_USER: &str = "smstrigger";
/// The longest string value of an entry field kept; longer ones are cut.
pub const MAX_ENTRY_TEXT_CHARS: usize = 2048;

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
    client: RemoteClient,
}

impl RemoteExecutor {
    /// An executor with the strict URL rules (https only, no refused
    /// range allowed) and the system's certificate roots.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_client(
            store,
            RemoteClient::new(UrlPolicy::default()),
            RetryPolicy::default(),
        )
    }

    /// The executor the operator's `[remote]` section describes; fails
    /// when its CA file cannot be read.
    pub fn from_config(store: Arc<dyn Store>, config: &RemoteConfig) -> Result<Self, ClientError> {
        Ok(Self::with_client(
            store,
            RemoteClient::from_config(config)?,
            RetryPolicy::default(),
        ))
    }

    /// An executor calling through `client` under `policy`.
    pub fn with_client(store: Arc<dyn Store>, client: RemoteClient, policy: RetryPolicy) -> Self {
        Self {
            store,
            policy,
            client,
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
        if let Err(error) = self.client.policy().check(&target.base_url) {
            tracing::warn!(url = %target.base_url, %error, "remote URL refused");
            return Outcome::Failed(RemoteError::new(
                REMOTE_REFUSED_ADDRESS,
                format!("executor.baseUrl {error}"),
            ));
        }
        let client = match self.client.get(&self.policy) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "no remote HTTP client");
                return Outcome::Failed(RemoteError::new(
                    REMOTE_UNAVAILABLE,
                    "the server has no HTTP client for remote calls",
                ));
            }
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
                // The zone is the remote's text: it stays in the log.
                tracing::warn!(zone, "the remote record's time zone is unknown");
                return Outcome::Refused(RemoteError::new(
                    "invalid_time_zone",
                    "the remote record's time zone is unknown",
                ));
            }
        };
        let version = write.plugin_version.map_or("-".into(), |v| v.to_string());
        let origin = format!("{} v{version}, event {event}", write.plugin);
        let body = DispositionRequest {
            dispositionid: write.disposition_id,
            userid: REMOTE_USER.into(),
            next_calldate,
            description: Some(match &write.note {
                Some(note) => format!("{note} ({origin})"),
                None => origin,
            }),
        };
        let key = format!("smstrigger-{event}-{}-{}", write.record_id, write.plugin);
        match call(&self.policy, target, || {
            client
                .post(format!("{url}/dispositions"))
                .header("Idempotency-Key", &key)
                .json(&body)
        }) {
            Ok(entry) => Outcome::Executed(entry_view(&entry)),
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
}

/// The remote's event-list entry as a verdict keeps it: only
/// [`ENTRY_FIELDS`], only scalars, strings cut at [`MAX_ENTRY_TEXT_CHARS`].
fn entry_view(entry: &Value) -> Value {
    let kept: Map<String, Value> = ENTRY_FIELDS
        .iter()
        .filter_map(|name| {
            let value = match entry.get(*name)? {
                Value::String(text) => {
                    Value::String(text.chars().take(MAX_ENTRY_TEXT_CHARS).collect())
                }
                scalar @ (Value::Number(_) | Value::Bool(_) | Value::Null) => scalar.clone(),
                Value::Array(_) | Value::Object(_) => return None,
            };
            Some((name.to_string(), value))
        })
        .collect();
    Value::Object(kept)
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
