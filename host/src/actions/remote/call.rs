//! One call to a `/v2` API under a [`RetryPolicy`]: timeouts, retries with
//! exponential backoff on a 5xx or a transport error, and the answer read
//! as the remote's response, its refusal (417) or a failure.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use serde::Serialize;
use serde_json::Value;

use crate::store::ExecutorSettings;

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

/// Why an action was not executed, in the `/v2` error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteError {
    pub errorcode: String,
    pub errormessage: String,
    pub property: Option<String>,
}

impl RemoteError {
    pub(super) fn new(errorcode: &str, errormessage: impl Into<String>) -> Self {
        Self {
            errorcode: errorcode.into(),
            errormessage: errormessage.into(),
            property: None,
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
    /// Not done because the remote could not be used: the event fails.
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
            Err(error) if error.is_builder() => {
                return Err(Outcome::Failed(RemoteError::new(
                    "remote_rejected",
                    error.to_string(),
                )));
            }
            Err(error) => last = error.to_string(),
        }
        tracing::debug!(attempt, attempts, error = %last, "remote call failed");
        if attempt < attempts {
            std::thread::sleep(backoff);
            backoff *= policy.backoff_factor;
        }
    }
    Err(Outcome::Failed(RemoteError::new(
        "remote_unavailable",
        format!(
            "{} did not answer after {attempts} attempts: {last}",
            target.base_url
        ),
    )))
}

/// Reads a non-5xx answer: a success envelope, a 417 refusal, or anything
/// else (a failure of the executor, not of the action).
fn classify(response: Response) -> Result<Value, Outcome> {
    let status = response.status();
    let body: Value = response
        .text()
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let first = &body["errors"][0];
    let text = |key: &str| first[key].as_str().map(String::from);
    if status.is_success() && body["errors"].as_array().is_some_and(Vec::is_empty) {
        return Ok(body["response"].clone());
    }
    if status == StatusCode::EXPECTATION_FAILED {
        return Err(Outcome::Refused(RemoteError {
            errorcode: text("errorcode").unwrap_or_else(|| "refused".into()),
            errormessage: text("errormessage").unwrap_or_else(|| "the remote refused".into()),
            property: text("property"),
        }));
    }
    Err(Outcome::Failed(RemoteError::new(
        "remote_rejected",
        format!(
            "HTTP {status}: {}",
            text("errormessage").unwrap_or_else(|| "not a /v2 answer".into())
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
    fn a_success_envelope_yields_its_response() {
        let (target, _) = answering("200 OK", r#"{"errors":[],"response":{"id":7}}"#);
        let client = Client::new();
        let outcome = call(&fast(), &target, || {
            client.get(format!("{}/x", target.base_url))
        });
        assert_eq!(outcome, Ok(json!({"id": 7})));
    }
}
