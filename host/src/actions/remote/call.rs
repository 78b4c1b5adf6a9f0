//! One call to a `/v2` API under a [`RetryPolicy`]: timeouts, retries with
//! exponential backoff on a 5xx or a transport error, and the answer read
//! as the remote's response, its refusal (417) or a failure.
//!
//! What a failure tells the tenant is generic on purpose: a fixed code
//! ([`REMOTE_UNAVAILABLE`], [`REMOTE_REJECTED`], [`REMOTE_REFUSED_ADDRESS`])
//! and a fixed message, never the transport error's text (it told open
//! ports from closed ones: a port scanner) nor the remote's body (it handed
//! the answer of any reachable URL to the tenant). A 417's `errorcode` and
//! `property` are the documented `/v2` contract and pass, reduced to
//! [`MAX_REMOTE_CODE_CHARS`] characters of `[A-Za-z0-9_.-]`; its
//! `errormessage` does not. The details go to the server's log.

use std::io::Read;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::Value;

use super::client::AddressRefused;
use crate::store::ExecutorSettings;
use crate::wire::v2::Envelope;
/// Why an action was not executed, in the `/v2` error shape.
pub use crate::wire::v2::ErrorItem as RemoteError;

/// The remote could not be reached or did not answer in time (refused,
/// reset, timed out, a 5xx after every attempt, a TLS failure).
pub const REMOTE_UNAVAILABLE: &str = "remote_unavailable";
/// The remote answered, but not with a `/v2` success or refusal (a
/// redirect, bad credentials, another 4xx, something else entirely).
pub const REMOTE_REJECTED: &str = "remote_rejected";
/// The host would not call the address: the URL or every address its
/// name resolved to is refused by the operator's rules.
pub const REMOTE_REFUSED_ADDRESS: &str = "remote_refused_address";
/// The longest `errorcode` or `property` of a 417 passed to the tenant;
/// longer ones are cut there.
pub const MAX_REMOTE_CODE_CHARS: usize = 64;
/// The most of one answer's body that is read (1 MiB); a longer answer
/// is cut there, is no longer JSON, and counts as not a `/v2` answer.
pub const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Timeouts and retries of every remote call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub connect_timeout: Duration,
    /// The whole request, answer body included.
    pub request_timeout: Duration,
    /// Tries per call, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second try; each later wait is `backoff_factor`
    /// times the one before.
    pub first_backoff: Duration,
    pub backoff_factor: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            attempts: 3,
            first_backoff: Duration::from_millis(100),
            backoff_factor: 4,
        }
    }
}

/// Where one tenant's actions go: its `executor` settings when remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTarget {
    pub base_url: String,
    pub account: String,
    pub token: String,
}

impl RemoteTarget {
    /// The target of `settings`; `None` for the embedded store.
    pub fn from_settings(settings: &ExecutorSettings) -> Option<Self> {
        match settings {
            ExecutorSettings::Embedded => None,
            ExecutorSettings::Remote {
                base_url,
                account,
                token,
            } => Some(Self {
                base_url: base_url.trim_end_matches('/').to_string(),
                account: account.clone(),
                token: token.clone(),
            }),
        }
    }
}

/// What became of one action.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// Done; the remote's answer (its event-list entry).
    Executed(Value),
    /// Not done, for a reason that is the action's: the event is done.
    Refused(RemoteError),
    /// Not done because the remote could not be used: the outbox retries.
    Failed(RemoteError),
}

/// Sends one call under `policy`; the `response` of a success envelope, or
/// the outcome a failure means.
pub(super) fn call(
    policy: &RetryPolicy,
    target: &RemoteTarget,
    build: impl Fn() -> RequestBuilder,
) -> Result<Value, Outcome> {
    let attempts = policy.attempts.max(1);
    let mut backoff = policy.first_backoff;
    let mut last = String::new();
    for attempt in 1..=attempts {
        match build()
            .basic_auth(&target.account, Some(&target.token))
            .send()
        {
            Ok(response) if response.status().is_server_error() => {
                last = format!("HTTP {}", response.status());
            }
            Ok(response) => return classify(response),
            Err(error) if is_refused_address(&error) => {
                tracing::warn!(url = %target.base_url, error = %chain(&error), "remote address refused");
                return Err(Outcome::Failed(RemoteError::new(
                    REMOTE_REFUSED_ADDRESS,
                    "the executor's host resolves only to addresses this server may not call",
                )));
            }
            Err(error) if error.is_builder() => {
                tracing::warn!(url = %target.base_url, error = %chain(&error), "remote request not built");
                return Err(Outcome::Failed(RemoteError::new(
                    REMOTE_REJECTED,
                    "the executor URL could not be used for a request",
                )));
            }
            Err(error) => last = chain(&error),
        }
        tracing::debug!(attempt, attempts, error = %last, "remote call failed");
        if attempt < attempts {
            std::thread::sleep(backoff);
            backoff *= policy.backoff_factor;
        }
    }
    tracing::warn!(url = %target.base_url, attempts, error = %last, "remote unavailable");
    Err(Outcome::Failed(RemoteError::new(
        REMOTE_UNAVAILABLE,
        format!("the executor did not answer after {attempts} attempts"),
    )))
}

/// Whether the client's resolver refused every address of the host.
fn is_refused_address(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<AddressRefused>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// An error with its causes, for the server's log only.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` reduced to what a tenant may see of a remote's code: at most
/// [`MAX_REMOTE_CODE_CHARS`] characters of `[A-Za-z0-9_.-]`.
fn sanitized_code(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(MAX_REMOTE_CODE_CHARS)
        .collect()
}

/// Reads a non-5xx answer: a success envelope, a 417 refusal, or anything
/// else (a failure of the executor, not of the action).
fn classify(response: Response) -> Result<Value, Outcome> {
    let status = response.status();
    let mut bytes = Vec::new();
    let body: Value = std::io::Read::take(response, MAX_ANSWER_BYTES)
        .read_to_end(&mut bytes)
        .ok()
        .and_then(|_| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    if status.is_success()
        && let Some(response) = Envelope::success_response(&body)
    {
        return Ok(response);
    }
    if status == StatusCode::EXPECTATION_FAILED {
        tracing::info!(errors = %body["errors"], "the remote refused an action");
        let (errorcode, property) = Envelope::first_error(&body);
        let errorcode = errorcode
            .map(|code| sanitized_code(&code))
            .filter(|code| !code.is_empty())
            .unwrap_or_else(|| "refused".into());
        return Err(Outcome::Refused(RemoteError {
            errormessage: format!("the remote refused the action ({errorcode})"),
            errorcode,
            property: property
                .map(|p| sanitized_code(&p))
                .filter(|p| !p.is_empty()),
        }));
    }
    tracing::warn!(%status, errors = %body["errors"], "the remote's answer is not a /v2 answer");
    Err(Outcome::Failed(RemoteError::new(
        REMOTE_REJECTED,
        format!(
            "the executor answered HTTP {}, not with a /v2 answer",
            status.as_u16()
        ),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::blocking::Client;
    use serde_json::json;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// A loopback listener answering every request with `status` and
    /// `body`, counting requests.
    fn answering(status: &'static str, body: &'static str) -> (RemoteTarget, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                seen.fetch_add(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        let target = RemoteTarget {
            base_url: url,
            account: "1".into(),
            token: "t".into(),
        };
        (target, count)
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn a_5xx_is_retried_until_the_attempts_run_out() {
        let (target, count) = answering("503 Service Unavailable", "{}");
        let client = Client::new();
        let outcome = call(&fast(), &target, || {
            client.get(format!("{}/x", target.base_url))
        });
        assert!(
            matches!(outcome, Err(Outcome::Failed(ref e)) if e.errorcode == "remote_unavailable"),
            "{outcome:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_417_is_the_remotes_refusal_and_is_not_retried() {
        let body = r#"{"errors":[{"errorcode":"unknown_disposition","errormessage":"no 41","property":"dispositionid"}]}"#;
        let (target, count) = answering("417 Expectation Failed", body);
        let client = Client::new();
        let outcome = call(&fast(), &target, || {
            client.get(format!("{}/x", target.base_url))
        });
        let Err(Outcome::Refused(error)) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            (error.errorcode.as_str(), error.property.as_deref()),
            ("unknown_disposition", Some("dispositionid"))
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_refused_connection_is_retried_with_backoff() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = RemoteTarget {
            base_url: format!("http://127.0.0.1:{port}"),
            account: "1".into(),
            token: "t".into(),
        };
        let client = Client::new();
        let started = Instant::now();
        let policy = RetryPolicy {
            first_backoff: Duration::from_millis(50),
            ..RetryPolicy::default()
        };
        let outcome = call(&policy, &target, || {
            client.get(format!("{}/x", target.base_url))
        });
        assert!(matches!(outcome, Err(Outcome::Failed(_))), "{outcome:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "waited 50 + 200 ms between tries"
        );
    }

    #[test]
    fn an_answer_is_read_no_further_than_the_cap() {
        let padding = "x".repeat(MAX_ANSWER_BYTES as usize);
        let body = format!(r#"{{"errors":[],"pad":"{padding}","response":{{"id":7}}}}"#);
        let (target, _) = answering("200 OK", Box::leak(body.into_boxed_str()));
        let client = Client::new();
        let outcome = call(&fast(), &target, || {
            client.get(format!("{}/x", target.base_url))
        });
        assert!(
            matches!(outcome, Err(Outcome::Failed(ref e)) if e.errorcode == REMOTE_REJECTED),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_success_envelope_yields_its_response() {
        let (target, _) = answering("200 OK", r#"{"errors":[],"response":{"id":7}}"#);
        let client = Client::new();
        let outcome = call(&fast(), &target, || {
            client.get(format!("{}/x", target.base_url))
        });
        assert_eq!(outcome, Ok(json!({"id": 7})));
    }
}
