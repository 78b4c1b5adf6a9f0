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
//! fails the event with `remote_refused_address` and nothing is sent.
//! Each call gets [`RetryPolicy`]: connect timeout 2 s, request timeout
//! 5 s, 3 attempts with 100 ms then 400 ms between them, retried only on a
//! 5xx or a transport error (refused, reset, timed out). A 417 is the
//! remote's considered refusal: never retried, the verdict gets
//! `"executed": false` and `"remoteError": {errorcode, errormessage,
//! property}` (the remote's code and property, cut short; a message of
//! ours), and the event is done. Anything else (retries exhausted, a
//! redirect, another 4xx such as bad credentials, an answer not in the
//! `/v2` envelope, an address refused at connect time) fails the event: the
//! verdict gets `"executed": false` with `remote_unavailable`,
//! `remote_rejected` or `remote_refused_address` and a fixed message (see
//! `call`: nothing of the transport error or of the remote's body), the
//! event's later actions are not attempted, and a decision by
//! [`REMOTE_DECIDER`] with outcome `failed` carries the reason. A failed
//! event is visible at `GET /v1/events/{id}` and not retried by itself:
//! the pipeline has no delayed retry, so leaving it pending would re-run
//! its plugins in a tight loop, hold back the record's later events and
//! fill the journal. An executed action's verdict gets `"executed": true`
//! and `"remote"`: the remote's event-list entry, reduced to the `/v2`
//! entry's own fields ([`ENTRY_FIELDS`]) with scalar values.
//!
//! # What is committed locally
//! The decisions (annotated as above), opt-outs and the event's done (or
//! failed) mark, in the router's one transaction; never the record writes:
//! the records live remotely.

mod call;
pub mod client;
pub mod policy;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::config::RemoteConfig;
use crate::model::{EventId, RecordId, TenantId, Timestamp};
use crate::store::{DecisionRecord, ProcessedEvent, RecordWrite, Store};
pub use call::{
    MAX_ANSWER_BYTES, MAX_REMOTE_CODE_CHARS, REMOTE_REFUSED_ADDRESS, REMOTE_REJECTED,
    REMOTE_UNAVAILABLE, RemoteError, RemoteTarget, RetryPolicy,
};
use call::{Outcome, call};
pub use client::{ClientError, RemoteClient};
pub use policy::{UrlError, UrlPolicy};

/// The `/v2` API's wall-clock format, local to the record.
pub const V2_DATETIME: &str = "%Y-%m-%d %H:%M:%S";
/// The local record field holding the remote record's id.
pub const REMOTE_ID_FIELD: &str = "remoteId";
/// The local record field holding the remote record's project id.
pub const REMOTE_PROJECT_FIELD: &str = "remoteProjectId";
/// The name of the decision recording why an event's remote execution failed.
pub const REMOTE_DECIDER: &str = "host:remote-executor";
/// The `userid` remote dispositions are set as.
pub const REMOTE_USER: &str = "System";
/// The fields of the remote's event-list entry an executed verdict keeps
/// (the `/v2` entry's own); anything else the remote sends is dropped.
pub const ENTRY_FIELDS: &[&str] = &[
    "eventid",
    "recordid",
    "eventtype",
    "userid",
    "created",
    "dispositionid",
    "next_calldate",
    "plugin",
    "pluginversion",
    "description",
];
/// The longest string value of an entry field kept; longer ones are cut.
pub const MAX_ENTRY_TEXT_CHARS: usize = 2048;

/// Carries one remote tenant's events out over HTTP; see the module docs.
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

    /// Carries out `event`'s record writes on `target`, in order; returns
    /// the event as it is to be committed locally: no writes, verdicts
    /// marked `executed` (or not, with why), and a failed
    /// [`REMOTE_DECIDER`] decision when the remote could not be used. Never
    /// fails itself: every failure ends up in the returned event.
    pub fn carry_out(&self, target: &RemoteTarget, event: &ProcessedEvent) -> ProcessedEvent {
        let started = Instant::now();
        let mut done = event.clone();
        done.writes.clear();
        let mut failure: Option<RemoteError> = None;
        for write in &event.writes {
            let outcome = match &failure {
                Some(first) => Outcome::Failed(RemoteError::new(
                    &first.errorcode,
                    format!(
                        "not attempted after an earlier failure: {}",
                        first.errormessage
                    ),
                )),
                None => self.apply(target, event.tenant_id, event.event_id, write),
            };
            if let Outcome::Failed(error) = &outcome {
                tracing::warn!(event = %event.event_id, record = %write.record_id,
                    code = %error.errorcode, error = %error.errormessage, "remote action failed");
                failure.get_or_insert_with(|| error.clone());
            }
            annotate(&mut done.decisions, write, outcome);
        }
        if let Some(error) = failure {
            let mut decision = DecisionRecord::host(
                REMOTE_DECIDER,
                "failed",
                Some((error.errorcode, error.errormessage)),
            );
            decision.priority = i32::MIN;
            decision.duration_us = started.elapsed().as_micros() as u64;
            done.decisions.push(decision);
        }
        done
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

/// Marks the verdict `write` came from: executed, or not and why.
fn annotate(decisions: &mut [DecisionRecord], write: &RecordWrite, outcome: Outcome) {
    let Some(verdict) = decisions
        .iter_mut()
        .filter(|d| d.plugin == write.plugin)
        .filter_map(|d| d.verdicts.as_array_mut())
        .flatten()
        .find(|v| {
            v["accepted"] == true
                && v["action"]["recordId"] == json!(write.record_id)
                && v.get("executed").is_none()
        })
    else {
        return;
    };
    match outcome {
        Outcome::Executed(entry) => {
            verdict["executed"] = json!(true);
            verdict["remote"] = entry;
        }
        Outcome::Refused(error) | Outcome::Failed(error) => {
            verdict["executed"] = json!(false);
            verdict["remoteError"] = json!(error);
        }
    }
}
