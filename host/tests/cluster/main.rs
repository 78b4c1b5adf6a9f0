//! Many `smstrigger serve` processes (the real binary) on one PostgreSQL
//! database: webhooks spread over the hosts, a host SIGKILLed under load,
//! a swap made through one host and used by the others, one tenant's
//! quota held across all of them. What happened is read from PostgreSQL
//! directly, not through the hosts.
//!
//! Each test gets a schema of its own on the server at
//! `SMSTRIGGER_TEST_DATABASE_URL` (default
//! [`smstrigger_test_pg::DEFAULT_DATABASE_URL`]),
//! passed to every host in the URL's `search_path`, and dropped after.
//! When PostgreSQL cannot be reached the tests pass without running and
//! say so once on stderr, unless `SMSTRIGGER_REQUIRE_POSTGRES=1` (CI).
//!
//! One test binary, a module per promise.

mod exactly_once;
mod quota;
mod swap;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use smstrigger_test_pg::Schema;

pub const OPERATOR_KEY: &str = "cluster-operator-key";

/// The key every host seals secrets with: hosts on one database must
/// share it (32 bytes, hex).
const SECRETS_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// How long a host may take to answer `/healthz` (a debug build on a
/// loaded machine, migrations included).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A schema of its own on the test server (dropped, with everything in
/// it, when this is), and the hosts' directories.
pub struct Database {
    schema: Schema,
    /// The URL the hosts get: the server's, `search_path` set to the schema.
    pub url: String,
    /// Where the hosts' data directories and logs go.
    pub dir: tempfile::TempDir,
}

impl Database {
    /// A fresh schema; `None` when the server cannot be reached and it is
    /// not required (said once on stderr).
    pub fn fresh() -> Option<Self> {
        let schema = Schema::fresh()?;
        Some(Self {
            url: schema.url(),
            schema,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A plain client in the schema, for looking under the hosts.
    pub fn client(&self) -> postgres::Client {
        self.schema.client()
    }

    /// Starts host number `n` (its own data directory and log) with
    /// `env` on top of the shared settings.
    pub fn host(&self, n: usize, env: &[(&str, String)]) -> Host {
        Host::start(self, n, free_port(), env.to_vec())
    }

    /// Waits until no event is pending; fails after `timeout`.
    pub fn wait_drained(&self, timeout: Duration) {
        let mut db = self.client();
        let started = Instant::now();
        loop {
            let pending: i64 = db
                .query_one("SELECT count(*) FROM events WHERE state = 'pending'", &[])
                .unwrap()
                .get(0);
            if pending == 0 {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "{pending} events still pending after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One `smstrigger serve` process on the shared database; SIGKILLed on
/// drop.
pub struct Host {
    child: Mutex<Option<Child>>,
    pub url: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    database_url: String,
}

impl Host {
    fn start(db: &Database, n: usize, port: u16, env: Vec<(&str, String)>) -> Self {
        let env = env
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        let mut host = Self {
            child: Mutex::new(None),
            url: format!("http://127.0.0.1:{port}"),
            data_dir: db.dir.path().join(format!("host-{n}")),
            log: db.dir.path().join(format!("host-{n}.log")),
            port,
            env,
            database_url: db.url.clone(),
        };
        host.spawn();
        host
    }

    /// Spawns the process (again, after a kill: same port, data directory
    /// and log) and waits until it answers `/healthz`.
    pub fn spawn(&mut self) {
        assert!(
            self.child.get_mut().unwrap().is_none(),
            "the host is running"
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_smstrigger"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--database-url")
            .arg(&self.database_url)
            .env_remove("SMSTRIGGER_CONFIG")
            .env("SMSTRIGGER_OPERATOR_KEY", OPERATOR_KEY)
            .env("SMSTRIGGER_SECRETS_KEY", SECRETS_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        *self.child.get_mut().unwrap() = Some(command.spawn().expect("starting smstrigger serve"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let client = Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let started = Instant::now();
        loop {
            let exited = self
                .child
                .get_mut()
                .unwrap()
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap();
            if let Some(status) = exited {
                panic!(
                    "the host exited with {status} before it was ready\n{}",
                    self.log_tail()
                );
            }
            if let Ok(response) = client.get(format!("{}/healthz", self.url)).send()
                && response.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "the host did not answer /healthz within {READY_TIMEOUT:?}\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The running process's id (0 when it is not running).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no shutdown, no release of its claims.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
        }
    }

    /// The last lines of the host's output, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- last lines of {} ---\n{tail}", self.log.display())
    }

    pub fn get(&self, client: &Client, path: &str) -> RequestBuilder {
        client.get(format!("{}{path}", self.url))
    }

    pub fn post(&self, client: &Client, path: &str) -> RequestBuilder {
        client.post(format!("{}{path}", self.url))
    }

    pub fn put(&self, client: &Client, path: &str) -> RequestBuilder {
        client.put(format!("{}{path}", self.url))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client for the tests' requests; each request on a new connection,
/// so a killed host's pooled connection is never reused.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Sends a request; the status and the body as JSON (`Null` when empty).
pub fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().expect("the host answers");
    let status = response.status();
    let text = response.text().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// A tenant set up through one host, usable through every host.
pub struct Tenant {
    pub id: u64,
    pub api_key: String,
    pub webhook_secret: String,
    pub project: u64,
    pub records: Vec<u64>,
}

impl Tenant {
    /// A tenant with a project (Europe/Budapest, calling hours shifted, no
    /// cap on contact attempts),
    /// `records` records and `delivered-followup` installed and bound,
    /// all made through `host`.
    pub fn set_up(host: &Host, records: usize) -> Self {
        let c = client();
        let (status, body) = send(
            host.post(&c, "/v1/tenants")
                .bearer_auth(OPERATOR_KEY)
                .json(&json!({ "name": "acme" })),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let api_key = body["apiKey"].as_str().unwrap().to_string();
        let mut tenant = Self {
            id: body["id"].as_u64().unwrap(),
            api_key,
            webhook_secret: body["webhookSecret"].as_str().unwrap().into(),
            project: 0,
            records: Vec::new(),
        };
        let (status, body) = send(
            host.post(&c, "/v1/projects")
                .bearer_auth(&tenant.api_key)
                .json(&json!({
                    "name": "collections",
                    "timeZone": "Europe/Budapest",
                    "defaultCountry": "HU",
                    "callingHours": { "start": "08:00", "end": "20:00" },
                    "callingHoursPolicy": "shift",
                    // Loads send each record many receipts, all executed.
                    "contactRules": null,
                })),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tenant.project = body["id"].as_u64().unwrap();
        for i in 0..records {
            let (status, body) = send(
                host.post(&c, &format!("/v1/projects/{}/records", tenant.project))
                    .bearer_auth(&tenant.api_key)
                    .json(&json!({ "phone": format!("+3630{i:07}") })),
            );
            assert_eq!(status, StatusCode::CREATED, "{body}");
            tenant.records.push(body["id"].as_u64().unwrap());
        }
        tenant.upload(host, PLUGIN, &plugin_bytes(0), true);
        let (status, body) = send(
            host.put(&c, &format!("/v1/projects/{}/bindings", tenant.project))
                .bearer_auth(&tenant.api_key)
                .json(&json!([{ "plugin": PLUGIN, "priority": 1 }])),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        tenant
    }

    /// Uploads `bytes` as a new version of `name`; its version number.
    pub fn upload(&self, host: &Host, name: &str, bytes: &[u8], activate: bool) -> u64 {
        let query = if activate { "" } else { "?activate=false" };
        let (status, body) = send(
            host.put(&client(), &format!("/v1/plugins/{name}{query}"))
                .bearer_auth(&self.api_key)
                .body(bytes.to_vec()),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["version"].as_u64().unwrap()
    }

    /// A delivery receipt for the `i`-th event (message `m-{i}`), to the
    /// records in turn, stamped now; every other one signed, the others
    /// with the secret in the URL.
    pub fn receipt(&self, host: &Host, client: &Client, i: usize, query: &str) -> RequestBuilder {
        let body = json!({
            "messageId": format!("m-{i}"),
            "projectId": self.project,
            "recordId": self.records[i % self.records.len()],
            "status": "delivered",
            "timestamp": chrono::Utc::now().to_rfc3339(),
        })
        .to_string();
        let path = "/v1/webhooks/sms/status";
        if i.is_multiple_of(2) {
            let signature = smstrigger_host::api::sign(&self.webhook_secret, body.as_bytes());
            host.post(client, &format!("{path}{query}"))
                .header(smstrigger_host::api::SIGNATURE_HEADER, signature)
                .header("content-type", "application/json")
                .body(body)
        } else {
            let query = query.replacen('?', "&", 1);
            host.post(
                client,
                &format!("{path}?secret-key={}{query}", self.webhook_secret),
            )
            .header("content-type", "application/json")
            .body(body)
        }
    }
}

/// The plugin every test binds: a delivery receipt sets a shared
/// callback on its record, one record event per event.
pub const PLUGIN: &str = "delivered-followup";

/// `delivered-followup`'s bytes; `n > 0` appends a custom section, the
/// same code under another SHA-256 (a version to swap to).
pub fn plugin_bytes(n: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(smstrigger_test_components::DELIVERED_FOLLOWUP).unwrap();
    if n > 0 {
        let name = b"variant";
        bytes.push(0); // a custom section
        bytes.push((1 + name.len() + 1) as u8); // its size (one byte of LEB128)
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(name);
        bytes.push(n);
    }
    bytes
}

/// A `LIKE` pattern for the leases of the process `pid`: a host names
/// itself `machine-pid-random` in them.
pub fn leases_of(pid: u32) -> String {
    format!("%-{pid}-%")
}
