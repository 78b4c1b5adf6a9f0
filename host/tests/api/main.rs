//! The HTTP API on a real listener (127.0.0.1, a free port), a real SQLite
//! file and real plugins, driven with a blocking HTTP client.
//!
//! One test binary, a module per area of the API.

mod accept_window;
mod audit;
mod calls;
mod cli;
mod data;
mod ops;
mod plugins;
mod provider;
mod remote;
mod secrets;
mod shadow;
mod timeouts;
mod uploads;
mod v2;
mod webhooks;
mod worlds;

use std::thread::JoinHandle;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use smstrigger_host::config::{Clock, Config};
use smstrigger_host::server;

pub const OPERATOR_KEY: &str = "operator-test-key";

/// The servers' clock in these tests: 2026-12-01 09:00 UTC (10:00 in
/// Budapest), the day the tests' events are stamped, so the acceptance
/// window and the execution-time check judge them the same whatever day
/// the tests run. A test may move it through `Server::clock`.
pub const NOW: i64 = 1_796_115_600;

/// A running server with its own data directory; stopped on drop.
pub struct Server {
    pub url: String,
    pub client: Client,
    /// The server's clock, pinned at [`NOW`].
    pub clock: Clock,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A tenant's credentials as `POST /v1/tenants` returned them.
#[derive(Debug, Clone)]
pub struct TenantKeys {
    pub id: u64,
    pub api_key: String,
    pub webhook_secret: String,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts a server after `configure` adjusts its config.
    pub fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            operator_key: Some(OPERATOR_KEY.into()),
            clock: Clock::pinned(NOW),
            ..Config::default()
        };
        configure(&mut config);
        let clock = config.clock.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                // Where it listens (what a provider's callbacks are signed for).
                let mut config = config;
                config.listen = listener.local_addr().unwrap();
                let state = server::state(config).unwrap();
                server::run(listener, state, async {
                    shutdown_rx.await.ok();
                })
                .await
                .unwrap();
            });
        });
        let address = ready_rx.recv().unwrap();
        Self {
            url: format!("http://{address}"),
            // No connection reuse: a request the server refuses before reading
            // its whole body (413) leaves that connection closed, and a pooled
            // client would send its next request into it.
            client: Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            clock,
            _dir: dir,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// The helpers of this module for a server running elsewhere (the real
    /// binary, say) at `url`, with its data in `dir`.
    pub fn at(url: String, dir: tempfile::TempDir) -> Self {
        Self {
            url,
            client: Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            clock: Clock::default(),
            _dir: dir,
            shutdown: None,
            thread: None,
        }
    }

    /// The server's data directory (its SQLite file and compile cache).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.url))
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.client.put(format!("{}{path}", self.url))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(format!("{}{path}", self.url))
    }

    /// Creates a tenant with the operator key.
    pub fn tenant(&self, name: &str) -> TenantKeys {
        let (status, body) = send(
            self.post("/v1/tenants")
                .bearer_auth(OPERATOR_KEY)
                .json(&json!({ "name": name })),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        TenantKeys {
            id: body["id"].as_u64().unwrap(),
            api_key: body["apiKey"].as_str().unwrap().into(),
            webhook_secret: body["webhookSecret"].as_str().unwrap().into(),
        }
    }

    /// Creates a project (Europe/Budapest, HU, 08:00–20:00) for `tenant`.
    pub fn project(&self, tenant: &TenantKeys) -> u64 {
        self.project_with(tenant, json!({}))
    }

    /// [`Self::project`] with the settings in `settings` (an object) on top.
    pub fn project_with(&self, tenant: &TenantKeys, settings: Value) -> u64 {
        let mut body = json!({
            "name": "collections",
            "timeZone": "Europe/Budapest",
            "defaultCountry": "HU",
            "callingHours": { "start": "08:00", "end": "20:00" },
            "callingHoursPolicy": "shift",
        });
        for (key, value) in settings.as_object().expect("settings are an object") {
            body[key] = value.clone();
        }
        let (status, body) = send(
            self.post("/v1/projects")
                .bearer_auth(&tenant.api_key)
                .json(&body),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_u64().unwrap()
    }

    /// Creates a record in `project`.
    pub fn record(&self, tenant: &TenantKeys, project: u64, phone: &str) -> u64 {
        let (status, body) = send(
            self.post(&format!("/v1/projects/{project}/records"))
                .bearer_auth(&tenant.api_key)
                .json(&json!({ "phone": phone })),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_u64().unwrap()
    }

    /// Uploads (and activates) a component as plugin `name`.
    pub fn install(&self, tenant: &TenantKeys, name: &str, path: &str) -> Value {
        let (status, body) = send(
            self.put(&format!("/v1/plugins/{name}"))
                .bearer_auth(&tenant.api_key)
                .body(std::fs::read(path).unwrap()),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Binds plugins to a project.
    pub fn bind(&self, tenant: &TenantKeys, project: u64, bindings: Value) {
        let (status, body) = send(
            self.put(&format!("/v1/projects/{project}/bindings"))
                .bearer_auth(&tenant.api_key)
                .json(&bindings),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// Sends a request; returns the status and the body as JSON (`Null` when
/// empty, a string when not JSON).
pub fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().expect("the server answers");
    let status = response.status();
    let text = response.text().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts an error answer: the status and the `{"error": {"code"}}` shape.
#[track_caller]
pub fn assert_error(answer: (StatusCode, Value), status: StatusCode, code: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Sends a request that must be refused 429 with `code`; returns its
/// `Retry-After`, in seconds.
#[track_caller]
pub fn retry_after_429(request: RequestBuilder, code: &str) -> u64 {
    let response = request.send().expect("the server answers");
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let answer = (response.status(), response.json().unwrap());
    assert_error(answer, StatusCode::TOO_MANY_REQUESTS, code);
    retry.expect("a Retry-After of whole seconds")
}
