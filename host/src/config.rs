//! The server's configuration: a TOML file, overridden by `SMSTRIGGER_*`
//! environment variables and command-line flags, read once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::model::Timestamp;
use crate::runtime::Limits;
use crate::secrets::SecretsKey;

/// Where the server listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Where the embedded database and compile cache live unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "./smstrigger-data";
/// The largest request body accepted (webhooks, JSON): 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// The largest plugin component accepted: 16 MiB.
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 16 << 20;
/// Component bytes one tenant may store in all versions: 256 MiB.
pub const DEFAULT_MAX_STORED_BYTES: u64 = 256 << 20;
/// Versions kept per plugin besides the active and previous ones.
pub const DEFAULT_VERSIONS_KEPT: usize = 5;
/// Pending events of one tenant beyond which its webhooks answer 503
/// instead of journaling more than the workers can drain.
pub const DEFAULT_MAX_PENDING: u64 = 100_000;
/// CPU seconds one upload's compile may use (see `runtime::compile`):
/// room for the largest shipped plugin (JavaScript, 12 MB) about twice
/// over on one core (BENCHMARKS.md, "What compiling may cost").
pub const DEFAULT_COMPILE_CPU_SECS: u64 = 60;
/// MiB of data (heap and other private writable memory) one upload's
/// compile may use (see `runtime::compile`): room for the largest shipped
/// plugin (JavaScript) about three times over, and for a component at the
/// precheck bounds whose compile uses nearly the whole CPU limit
/// (BENCHMARKS.md, "What compiling may cost").
pub const DEFAULT_COMPILE_MEMORY_MIB: u64 = 1024;
/// Wall-clock seconds one upload's compile may take, waiting for a core
/// included (the worker runs at a lower priority than the service).
pub const DEFAULT_COMPILE_WALL_SECS: u64 = 180;
/// Uploads one tenant may make per minute; more answer 429.
pub const DEFAULT_UPLOADS_PER_MINUTE: u32 = 10;
/// How long shutdown waits for in-flight events to drain.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers before the
/// connection is closed (a slow-loris client holds nothing longer).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, body included, before it is answered 408
/// (a `?wait=true` webhook waits up to 10 s for its decision, within this).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Config {
    /// Refuses a `public_url` providers could not call back at, or whose
    /// signatures could not match: an `http(s)` URL with a host, without
    /// userinfo, query or fragment.
    pub fn check_public_url(&self) -> anyhow::Result<()> {
        let Some(text) = &self.public_url else {
            return Ok(());
        };
        let url = url::Url::parse(text)
            .map_err(|e| anyhow::anyhow!("public_url `{text}` is not a URL: {e}"))?;
        let fine = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        if !fine {
            anyhow::bail!(
                "public_url `{text}` must be http(s)://host[:port][/path], without \
                 userinfo, query or fragment"
            );
        }
        Ok(())
    }

    /// The root of the URLs SMS providers call: [`Config::public_url`]
    /// without a trailing slash, else `http://` and the listen address.
    pub fn public_root(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// Everything `smstrigger serve` needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://user@host:port/database`) that
    /// any number of hosts share; unset: the embedded SQLite file in
    /// `data_dir`, one host. The compile cache stays in `data_dir` either
    /// way. Its `Debug` hides the password.
    pub database_url: Option<DatabaseUrl>,
    /// Creates tenants and keys; sees no tenant's data. Unset: no operator.
    pub operator_key: Option<String>,
    /// The URL the SMS providers reach this host at (e.g.
    /// `https://sms.example.com`): the root of the status callbacks of SMS
    /// sent through a provider, and of the URLs their signatures cover.
    /// Unset: `http://` and the listen address.
    pub public_url: Option<String>,
    /// Seals secrets at rest (executor tokens): 32 bytes as hex or base64.
    /// Unset: a key generated into the data directory on first start
    /// (`secrets.key`, mode 0600). Its `Debug` never shows it.
    pub secrets_key: Option<SecretsKey>,
    /// Threads running plugins; 0 means two per core (see `PipelineConfig`).
    pub workers: usize,
    pub max_body_bytes: usize,
    pub max_pending: u64,
    pub shutdown_grace_secs: u64,
    pub limits: LimitsConfig,
    pub quotas: Quotas,
    pub compile: CompileConfig,
    pub remote: RemoteConfig,
    /// The window around the host's clock a webhook's timestamp must fall
    /// in, and how far tenants may widen it.
    pub accept_window: AcceptWindowConfig,
    /// Seconds a client may take to send a request's headers; then the
    /// connection is closed.
    pub header_timeout_secs: u64,
    /// Seconds one request may take, body included; then it is answered 408.
    pub request_timeout_secs: u64,
    /// The host's idea of now, for the acceptance window and the last check
    /// before an action executes: the system clock, unless a test or the
    /// demo pins it (never from the file or the environment).
    #[serde(skip)]
    pub clock: Clock,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("a valid default address"),
            data_dir: DEFAULT_DATA_DIR.into(),
            database_url: None,
            operator_key: None,
            public_url: None,
            secrets_key: None,
            workers: 0,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pending: DEFAULT_MAX_PENDING,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE.as_secs(),
            limits: LimitsConfig::default(),
            quotas: Quotas::default(),
            compile: CompileConfig::default(),
            remote: RemoteConfig::default(),
            accept_window: AcceptWindowConfig::default(),
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT.as_secs(),
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT.as_secs(),
            clock: Clock::default(),
        }
    }
}

/// A PostgreSQL connection URL. Its `Debug` leaves any password out, so a
/// logged configuration leaks nothing.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("redacted"));
                write!(f, "{:?}", url.as_str())
            }
            Ok(_) => write!(f, "{:?}", self.0),
            Err(_) => f.write_str("\"<a database URL that does not parse>\""),
        }
    }
}

/// The host's clock: the system's, or one pinned at a time (tests and the
/// demo, whose events carry fixed dates). Clones share the pinned time, so
/// whoever pinned it can move it and every holder sees the change.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// A clock that reads `at` until [`Self::set`] moves it.
    pub fn pinned(at: Timestamp) -> Self {
        Self(Some(Arc::new(AtomicI64::new(at))))
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            Some(pinned) => pinned.load(Ordering::Relaxed),
            None => chrono::Utc::now().timestamp(),
        }
    }

    /// Moves a pinned clock to `at`; the system clock ignores it.
    pub fn set(&self, at: Timestamp) {
        if let Some(pinned) = &self.0 {
            pinned.store(at, Ordering::Relaxed);
        }
    }
}

/// Seven days: how old a webhook's event may be by default. Providers
/// retry for hours, a backlog may take a day; a receipt older than a week
/// is a replay or a mistake, and a callback it sets would be stale.
pub const DEFAULT_ACCEPT_PAST_SECS: u64 = 7 * 86_400;
/// Five minutes: how far ahead of the host's clock a webhook's timestamp
/// may be by default (the sender's clock may run a little fast).
pub const DEFAULT_ACCEPT_FUTURE_SECS: u64 = 300;
/// The widest a tenant may set its window back by default: 30 days.
pub const DEFAULT_MAX_ACCEPT_PAST_SECS: u64 = 30 * 86_400;
/// The widest a tenant may set its window ahead by default: one day.
pub const DEFAULT_MAX_ACCEPT_FUTURE_SECS: u64 = 86_400;

/// The acceptance window of webhook timestamps: the defaults of tenants
/// that set none, and the operator's bounds on what a tenant may set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcceptWindowConfig {
    /// Seconds before the host's clock a webhook's timestamp may be.
    pub past_secs: u64,
    /// Seconds after the host's clock a webhook's timestamp may be.
    pub future_secs: u64,
    /// The largest `pastSecs` a tenant may set (`PUT /v1/tenant`).
    pub max_past_secs: u64,
    /// The largest `futureSecs` a tenant may set.
    pub max_future_secs: u64,
}

impl AcceptWindowConfig {
    /// The window of a tenant that set none.
    pub fn defaults(&self) -> crate::store::AcceptWindow {
        crate::store::AcceptWindow {
            past_secs: self.past_secs,
            future_secs: self.future_secs,
        }
    }
}

impl Default for AcceptWindowConfig {
    fn default() -> Self {
        Self {
            past_secs: DEFAULT_ACCEPT_PAST_SECS,
            future_secs: DEFAULT_ACCEPT_FUTURE_SECS,
            max_past_secs: DEFAULT_MAX_ACCEPT_PAST_SECS,
            max_future_secs: DEFAULT_MAX_ACCEPT_FUTURE_SECS,
        }
    }
}

/// The default limits of every plugin call (see `runtime::limits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub fuel: u64,
    pub memory_mib: usize,
    pub wall_deadline_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            fuel: limits.fuel,
            memory_mib: limits.memory_bytes >> 20,
            wall_deadline_ms: limits.wall_deadline.as_millis() as u64,
        }
    }
}

impl LimitsConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            memory_bytes: self.memory_mib << 20,
            wall_deadline: Duration::from_millis(self.wall_deadline_ms),
            ..Limits::default()
        }
    }
}

/// What one tenant may use; over a quota the API answers 429.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Webhook events per second (a token bucket with one second of burst).
    pub events_per_second: u32,
    /// Installed plugins (names) per tenant.
    pub max_plugins: usize,
    /// Bytes of one uploaded component.
    pub max_component_bytes: usize,
    /// Bytes of every component version a tenant stores together.
    pub max_stored_bytes: u64,
    /// Versions kept per plugin besides the active and the previous one:
    /// an upload deletes older ones.
    pub versions_kept: usize,
    /// Projects per tenant.
    pub max_projects: u64,
    /// Records per tenant, in all its projects.
    pub max_records: u64,
    /// Phones on a tenant's do-not-contact list.
    pub max_do_not_contact: u64,
    /// Dry runs and replays in flight at once per tenant.
    pub concurrent_dry_runs: usize,
    /// Settings changes per minute per tenant (and per host): activate,
    /// rollback, bindings, projects, dispositions, tenant settings, secret
    /// rotation. Every change makes every host forget its memo of every
    /// tenant's settings, so one tenant changing them in a loop would cost
    /// every tenant's next events a reload; a quarter of a minute's worth
    /// may come at once.
    pub settings_changes_per_minute: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            events_per_second: 1_000,
            max_plugins: 32,
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            max_stored_bytes: DEFAULT_MAX_STORED_BYTES,
            versions_kept: DEFAULT_VERSIONS_KEPT,
            max_projects: 1_000,
            max_records: 1_000_000,
            max_do_not_contact: 1_000_000,
            concurrent_dry_runs: 4,
            settings_changes_per_minute: 120,
        }
    }
}

/// How uploads are compiled, and how many and how often (see
/// `runtime::compile` and `registry::uploads`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompileConfig {
    /// CPU seconds one compile may use; over it the upload answers 422
    /// `compile_limit`.
    pub cpu_secs: u64,
    /// Wall-clock seconds one compile may take; over it the worker is
    /// killed and the upload answers 422 `compile_limit`.
    pub wall_secs: u64,
    /// MiB of data one compile may use; a compile that needs more answers
    /// 422 `compile_limit`.
    pub memory_mib: u64,
    /// Compiles in flight at once across all tenants (each tenant has one
    /// at most); 0 means half the cores, at least one. More answer 429.
    pub concurrent: usize,
    /// Uploads per tenant in any minute; more answer 429.
    pub uploads_per_minute: u32,
    /// The `smstrigger` executable whose hidden `compile-worker` runs each
    /// compile under the limits above. `smstrigger serve` sets its own;
    /// unset (tools, tests that do not set it), compiles run in the
    /// server's process without a CPU or memory limit.
    #[serde(skip)]
    pub worker: Option<PathBuf>,
}

impl Default for CompileConfig {
    fn default() -> Self {
        Self {
            cpu_secs: DEFAULT_COMPILE_CPU_SECS,
            wall_secs: DEFAULT_COMPILE_WALL_SECS,
            memory_mib: DEFAULT_COMPILE_MEMORY_MIB,
            concurrent: 0,
            uploads_per_minute: DEFAULT_UPLOADS_PER_MINUTE,
            worker: None,
        }
    }
}

/// What tenant-given remote URLs (the executor's `baseUrl`) may reach,
/// and whom the remote client trusts; see `actions::remote::policy`.
///
/// The default is the strict one: https only, every loopback, private,
/// link-local, unique-local and metadata address refused, the system's
/// certificate roots.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// Accept plain `http://` URLs too (tests, closed networks).
    pub allow_http: bool,
    /// Networks (CIDRs, e.g. `"127.0.0.0/8"`) tenants' URLs may reach even
    /// though they are in a refused range.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// A PEM file of CA certificates trusted besides the system's roots
    /// (a contact center's own CA); read at start-up.
    pub ca_file: Option<PathBuf>,
}

impl RemoteConfig {
    /// The URL rules this section sets.
    pub fn url_policy(&self) -> crate::actions::remote::UrlPolicy {
        crate::actions::remote::UrlPolicy {
            allow_http: self.allow_http,
            allow_networks: self.allow_networks.clone(),
        }
    }
}

impl CompileConfig {
    /// Compiles at once across tenants, with 0 resolved to half the cores.
    pub fn concurrent(&self) -> usize {
        if self.concurrent > 0 {
            return self.concurrent;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / 2).max(1)
    }

    /// The worker the compile cache runs compiles in, if one is set.
    pub fn worker(&self) -> Option<crate::runtime::CompileWorker> {
        Some(crate::runtime::CompileWorker {
            program: self.worker.clone()?,
            cpu_secs: self.cpu_secs,
            wall: Duration::from_secs(self.wall_secs),
            memory_bytes: self.memory_mib.saturating_mul(1 << 20),
        })
    }
}

impl Config {
    /// Reads `path` if given (a missing or malformed file is an error that
    /// names it), defaults otherwise.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    /// Applies the `SMSTRIGGER_*` environment variables over the file's
    /// values; a value that does not parse is an error naming the variable.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T> {
            value
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{name}=`{value}` is not valid"))
        }
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("SMSTRIGGER_LISTEN") {
            self.listen = parse("SMSTRIGGER_LISTEN", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("SMSTRIGGER_DATABASE_URL") {
            self.database_url = Some(DatabaseUrl(v.trim().to_string()));
        }
        if let Some(v) = env("SMSTRIGGER_OPERATOR_KEY") {
            self.operator_key = Some(v);
        }
        if let Some(v) = get("SMSTRIGGER_SECRETS_KEY") {
            // The message names the variable, never the value.
            self.secrets_key = Some(
                v.parse()
                    .map_err(|e| anyhow::anyhow!("SMSTRIGGER_SECRETS_KEY: {e}"))?,
            );
        }
        if let Some(v) = get("SMSTRIGGER_PUBLIC_URL") {
            self.public_url = Some(v.trim().to_string());
        }
        if let Some(v) = get("SMSTRIGGER_WORKERS") {
            self.workers = parse("SMSTRIGGER_WORKERS", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("SMSTRIGGER_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_MAX_PENDING") {
            self.max_pending = parse("SMSTRIGGER_MAX_PENDING", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_FUEL") {
            self.limits.fuel = parse("SMSTRIGGER_FUEL", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_MEMORY_MIB") {
            self.limits.memory_mib = parse("SMSTRIGGER_MEMORY_MIB", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_WALL_DEADLINE_MS") {
            self.limits.wall_deadline_ms = parse("SMSTRIGGER_WALL_DEADLINE_MS", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_EVENTS_PER_SECOND") {
            self.quotas.events_per_second = parse("SMSTRIGGER_EVENTS_PER_SECOND", &v)?;
        }
        // An empty key would let `Authorization: Bearer ` act as the
        // operator; no operator at all is spelled by leaving it unset.
        if self
            .operator_key
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
        {
            anyhow::bail!(
                "the operator key (SMSTRIGGER_OPERATOR_KEY or operator_key) is empty; set a secret or leave it unset"
            );
        }
        if let Some(v) = get("SMSTRIGGER_HEADER_TIMEOUT_SECS") {
            self.header_timeout_secs = parse("SMSTRIGGER_HEADER_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = get("SMSTRIGGER_REQUEST_TIMEOUT_SECS") {
            self.request_timeout_secs = parse("SMSTRIGGER_REQUEST_TIMEOUT_SECS", &v)?;
        }
        let window = &self.accept_window;
        if window.past_secs > window.max_past_secs || window.future_secs > window.max_future_secs {
            anyhow::bail!(
                "accept_window: the default window ({} s back, {} s ahead) is wider than the \
                 bounds tenants are held to ({} s, {} s)",
                window.past_secs,
                window.future_secs,
                window.max_past_secs,
                window.max_future_secs
            );
        }
        if self.limits.memory_mib << 20 > crate::runtime::MEMORY_CEILING_BYTES {
            anyhow::bail!(
                "limits.memory_mib {} is over the engine's ceiling of {} MiB",
                self.limits.memory_mib,
                crate::runtime::MEMORY_CEILING_BYTES >> 20
            );
        }
        Ok(())
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// How long a client may take to send a request's headers.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.max(1))
    }

    /// How long one request may take, body included.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let config: Config =
            toml::from_str("listen = \"127.0.0.1:9000\"\n[quotas]\nevents_per_second = 5\n")
                .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.quotas.events_per_second, 5);
        assert_eq!(config.quotas.max_plugins, Quotas::default().max_plugins);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    /// An empty operator key would make an empty bearer token the operator.
    #[test]
    fn an_empty_operator_key_is_refused_at_start() {
        for key in ["", "  "] {
            let mut config = Config::default();
            let err = config
                .apply_env(|name| (name == "SMSTRIGGER_OPERATOR_KEY").then(|| key.to_string()))
                .unwrap_err();
            assert!(err.to_string().contains("operator key"), "{err}");
            let mut from_file: Config =
                toml::from_str(&format!("operator_key = {key:?}\n")).unwrap();
            assert!(from_file.apply_env(|_| None).is_err(), "file key {key:?}");
        }
    }

    #[test]
    fn environment_variables_override_the_file_and_bad_ones_are_named() {
        let mut config = Config::default();
        let env = |name: &str| match name {
            "SMSTRIGGER_WORKERS" => Some("3".to_string()),
            "SMSTRIGGER_FUEL" => Some("1000".to_string()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!((config.workers, config.limits.fuel), (3, 1000));
        let err = config
            .apply_env(|name| (name == "SMSTRIGGER_MEMORY_MIB").then(|| "lots".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("SMSTRIGGER_MEMORY_MIB"), "{err}");
        let err = config
            .apply_env(|name| (name == "SMSTRIGGER_MEMORY_MIB").then(|| "100000".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("ceiling"), "{err}");
    }

    #[test]
    fn the_remote_section_reads_networks_and_refuses_a_bad_one() {
        let config: Config = toml::from_str(
            "[remote]\nallow_http = true\nallow_networks = [\"127.0.0.0/8\", \"::1/128\"]\n",
        )
        .unwrap();
        assert!(config.remote.allow_http);
        assert_eq!(config.remote.allow_networks.len(), 2);
        assert!(!Config::default().remote.allow_http);
        let err =
            toml::from_str::<Config>("[remote]\nallow_networks = [\"localhost\"]\n").unwrap_err();
        assert!(err.to_string().contains("allow_networks"), "{err}");
    }

    #[test]
    fn a_secrets_key_comes_from_the_file_or_the_environment_and_a_bad_one_is_named() {
        let hex_key = "0f".repeat(32);
        let config: Config = toml::from_str(&format!("secrets_key = \"{hex_key}\"")).unwrap();
        assert_eq!(config.secrets_key, Some(hex_key.parse().unwrap()));
        assert!(!format!("{config:?}").contains(&hex_key), "Debug hides it");
        let err = toml::from_str::<Config>("secrets_key = \"short\"").unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
        let mut config = Config::default();
        let err = config
            .apply_env(|name| (name == "SMSTRIGGER_SECRETS_KEY").then(|| "abcd".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("SMSTRIGGER_SECRETS_KEY"), "{err}");
        assert!(!err.to_string().contains("abcd"), "{err}");
        config
            .apply_env(|name| (name == "SMSTRIGGER_SECRETS_KEY").then(|| hex_key.clone()))
            .unwrap();
        assert!(config.secrets_key.is_some());
    }

    #[test]
    fn a_database_url_comes_from_the_file_or_the_environment_and_hides_its_password() {
        let config: Config =
            toml::from_str("database_url = \"postgres://app:hunter2@db:5432/sms\"").unwrap();
        let url = config.database_url.clone().unwrap();
        assert_eq!(url.as_str(), "postgres://app:hunter2@db:5432/sms");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db:5432/sms"), "{shown}");

        let mut config = Config::default();
        config
            .apply_env(|name| {
                (name == "SMSTRIGGER_DATABASE_URL").then(|| "postgres://root@127.0.0.1/test".into())
            })
            .unwrap();
        assert_eq!(
            config.database_url.unwrap().as_str(),
            "postgres://root@127.0.0.1/test"
        );
    }

    #[test]
    fn a_public_url_must_be_one_providers_can_call_and_sign() {
        let with = |url: &str| Config {
            public_url: Some(url.into()),
            ..Config::default()
        };
        for good in [
            "https://sms.example.com",
            "http://10.0.0.5:8080/smstrigger/",
        ] {
            assert!(with(good).check_public_url().is_ok(), "{good}");
        }
        assert_eq!(
            with("https://sms.example.com/").public_root(),
            "https://sms.example.com"
        );
        for bad in [
            "sms.example.com",
            "ftp://sms.example.com",
            "https://user:pw@sms.example.com",
            "https://sms.example.com/?a=1",
            "https://sms.example.com/#x",
        ] {
            assert!(with(bad).check_public_url().is_err(), "{bad}");
        }
        assert_eq!(Config::default().public_root(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_default_accept_window_wider_than_the_tenants_bounds_is_refused() {
        let mut config: Config =
            toml::from_str("[accept_window]\npast_secs = 864000\nmax_past_secs = 86400\n").unwrap();
        let err = config.apply_env(|_| None).unwrap_err();
        assert!(err.to_string().contains("accept_window"), "{err}");
        let mut config: Config = toml::from_str("[accept_window]\nfuture_secs = 60\n").unwrap();
        config.apply_env(|_| None).unwrap();
        assert_eq!(config.accept_window.defaults().future_secs, 60);
        assert_eq!(
            config.accept_window.defaults().past_secs,
            DEFAULT_ACCEPT_PAST_SECS
        );
    }

    #[test]
    fn a_pinned_clock_is_shared_by_its_clones_and_the_system_clock_moves() {
        let pinned = Clock::pinned(1_000);
        let holder = pinned.clone();
        pinned.set(2_000);
        assert_eq!(holder.now(), 2_000);
        let system = Clock::default();
        system.set(0);
        assert!(system.now() > 1_700_000_000);
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = toml::from_str::<Config>("listn = \"127.0.0.1:9000\"").unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
    }
}
