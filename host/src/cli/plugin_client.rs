//! `smstrigger plugin install|list|activate|rollback|dry-run`: the plugin
//! endpoints of a running server, answered in readable text.
//!
//! Exit codes: 0 on success; 1 when the server refused the request (its
//! `[code] message` is printed) or the dry run's plugin failed; 2 for usage
//! and connection errors, which are returned as errors for `main` to print.
//! With `--json` the server's JSON answer is printed verbatim instead of
//! text, with the same exit codes. Requests and answers are the API's own
//! types (`smstrigger_host::wire`), so client and server cannot drift.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::Url;
use reqwest::blocking::RequestBuilder;
use serde::de::DeserializeOwned;
use smstrigger_host::model::{DecisionOutcome, RecordId, SmsEvent};
use smstrigger_host::wire::ErrorBody;
use smstrigger_host::wire::plugins::{
    ActivateBody, Activated, DryRun, DryRunBody, PluginInfo, Uploaded,
};

use super::format::{describe, log_line, size, verdict_lines, zones};
use super::plugin_run::{parse_config, read_json};

/// How long a request may take in all (an upload is compiled before the answer).
const TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server is and who is asking; shared by the remote commands.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The server's base URL.
    #[arg(
        long,
        env = "SMSTRIGGER_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    url: String,
    /// The tenant's API key (required).
    #[arg(
        long,
        env = "SMSTRIGGER_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    key: Option<String>,
    /// Print the server's JSON answer verbatim instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The plugin's name: lower-case letters, digits and `-`.
    name: String,
    /// The plugin component (`.wasm`, built for wasm32-wasip2).
    file: PathBuf,
    /// Upload a new version without making it the active one.
    #[arg(long)]
    no_activate: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    /// The plugin's name.
    name: String,
    /// The version to make active.
    version: u32,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The plugin's name.
    name: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub struct DryRunArgs {
    /// The plugin's name.
    name: String,
    /// The event as JSON: `{"kind": "inbound", ...}` or `{"kind": "outbound", ...}`.
    #[arg(long, value_name = "EVENT.json")]
    event: PathBuf,
    /// The version to run; the active one when absent.
    #[arg(long)]
    version: Option<u32>,
    /// A configuration value for the plugin, as KEY=VALUE; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    #[command(flatten)]
    remote: Remote,
}

/// What became of a request the server answered.
pub(super) enum Reply<T> {
    /// A success status, with the body.
    Done(T),
    /// An error status; already reported on stdout.
    Refused,
}

/// A blocking HTTP client for one server and one API key.
pub(super) struct Client {
    base: Url,
    key: String,
    pub(super) json: bool,
    pub(super) http: reqwest::blocking::Client,
}

impl Client {
    pub(super) fn new(remote: Remote) -> anyhow::Result<Self> {
        let key = remote
            .key
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "no API key: pass the tenant's key with --key KEY or set SMSTRIGGER_API_KEY"
                )
            })?;
        let text = remote.url.trim();
        let base = Url::parse(text).map_err(|error| {
            anyhow!("--url `{text}` is not a URL ({error}); expected e.g. http://127.0.0.1:8080")
        })?;
        match base.scheme() {
            "http" => {}
            "https" => bail!(
                "--url `{text}`: this build speaks plain HTTP only; use an http:// URL \
                 (behind a TLS-terminating proxy if need be)"
            ),
            other => bail!("--url `{text}`: scheme `{other}` is not http"),
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            bail!("--url `{text}` has no host; expected e.g. http://127.0.0.1:8080");
        }
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("smstrigger-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Self {
            base,
            key: key.trim().to_string(),
            json: remote.json,
            http,
        })
    }

    /// The base URL followed by `segments`, each percent-encoded.
    pub(super) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .expect("checked in new: the URL can be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// The server as the user named it, for messages.
    fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Sends a request with the key. A connection failure is an error; an
    /// error status is reported (the server's code and message, or its JSON
    /// with `--json`) and answered [`Reply::Refused`]; a success body is
    /// printed verbatim with `--json` and parsed as `T`.
    pub(super) fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> anyhow::Result<Reply<T>> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response
            .text()
            .map_err(|error| anyhow!("reading the answer of {}: {error}", self.server()))?;
        if self.json {
            println!("{}", text.trim_end());
        }
        if status.is_success() {
            let value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} answered {status} with a body that is not what smstrigger sends: {}",
                    self.server(),
                    snippet(&text)
                )
            })?;
            return Ok(Reply::Done(value));
        }
        if !self.json {
            let what = if status.is_server_error() {
                "server error"
            } else {
                "refused"
            };
            let retry = retry_after
                .map(|s| format!(" (retry after {s} s)"))
                .unwrap_or_default();
            match serde_json::from_str::<ErrorBody>(&text) {
                Ok(ErrorBody { error }) => {
                    println!(
                        "{what} [{}] {}{retry}",
                        error.code,
                        one_line(&error.message)
                    )
                }
                Err(_) => println!(
                    "{what}: {} answered {status}{retry}: {}",
                    self.server(),
                    snippet(&text)
                ),
            }
        }
        Ok(Reply::Refused)
    }

    /// Names the server and says whether anything is running there.
    fn unreachable(&self, error: &reqwest::Error) -> anyhow::Error {
        let server = self.server();
        let cause = root_cause(error);
        let refused = io_kind(error) == Some(std::io::ErrorKind::ConnectionRefused);
        if refused {
            anyhow!(
                "cannot connect to {server} ({cause}): the smstrigger server is not running \
                 there; start it with `smstrigger serve`, or pass its address with --url or \
                 SMSTRIGGER_URL"
            )
        } else if error.is_connect() {
            anyhow!(
                "cannot connect to {server} ({cause}): no server could be reached there; check \
                 --url (or SMSTRIGGER_URL) and that `smstrigger serve` is running"
            )
        } else if error.is_timeout() {
            anyhow!(
                "{server} did not answer within {} s; the server may be stuck or overloaded",
                TIMEOUT.as_secs()
            )
        } else {
            anyhow!("the request to {server} failed: {cause}")
        }
    }
}

/// The innermost error's text: `Connection refused (os error 111)`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = error.source();
    }
    None
}

/// `text` with each run of white space (line breaks too) as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The start of a body, on one line, for messages.
fn snippet(text: &str) -> String {
    let line = one_line(text);
    if line.is_empty() {
        return "(empty body)".into();
    }
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

fn short_sha(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

pub fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if !client.json {
        println!(
            "uploading {} ({}) to {}",
            args.file.display(),
            size(bytes.len() as u64),
            client.server()
        );
    }
    let mut url = client.endpoint(&["v1", "plugins", &args.name]);
    if args.no_activate {
        url.query_pairs_mut().append_pair("activate", "false");
    }
    let Reply::Done(uploaded) = client.send::<Uploaded>(client.http.put(url).body(bytes))? else {
        return Ok(ExitCode::FAILURE);
    };
    if !client.json {
        let state = if uploaded.active {
            "active".to_string()
        } else {
            format!(
                "not active (activate it with `smstrigger plugin activate {} {}`)",
                uploaded.name, uploaded.version
            )
        };
        println!(
            "installed {} v{} (sha256 {}, world {}), {state}",
            uploaded.name,
            uploaded.version,
            short_sha(&uploaded.sha256),
            uploaded.world
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let url = client.endpoint(&["v1", "plugins"]);
    let Reply::Done(plugins) = client.send::<Vec<PluginInfo>>(client.http.get(url))? else {
        return Ok(ExitCode::FAILURE);
    };
    if !client.json {
        print!("{}", plugin_table(&plugins));
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME  ACTIVE  PREVIOUS  VERSIONS`, one plugin a line; `-` for none.
fn plugin_table(plugins: &[PluginInfo]) -> String {
    if plugins.is_empty() {
        return "no plugins installed\n".into();
    }
    let version = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let rows: Vec<[String; 4]> = plugins
        .iter()
        .map(|p| {
            let versions = p
                .versions
                .iter()
                .map(|v| v.version.to_string())
                .collect::<Vec<_>>()
                .join(",");
            [
                p.name.clone(),
                version(p.active_version),
                version(p.previous_version),
                versions,
            ]
        })
        .collect();
    let header = ["NAME", "ACTIVE", "PREVIOUS", "VERSIONS"].map(String::from);
    let mut widths = [0; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for [name, active, previous, versions] in std::iter::once(&header).chain(&rows) {
        let [w0, w1, w2] = widths;
        out.push_str(&format!(
            "{name:<w0$}  {active:<w1$}  {previous:<w2$}  {versions}\n"
        ));
    }
    out
}

pub fn activate(args: ActivateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let url = client.endpoint(&["v1", "plugins", &args.name, "activate"]);
    let request = client.http.post(url).json(&ActivateBody {
        version: args.version,
    });
    let Reply::Done(activated) = client.send::<Activated>(request)? else {
        return Ok(ExitCode::FAILURE);
    };
    if !client.json {
        println!(
            "{}: v{} is now active",
            activated.name, activated.active_version
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let url = client.endpoint(&["v1", "plugins", &args.name, "rollback"]);
    let Reply::Done(activated) = client.send::<Activated>(client.http.post(url))? else {
        return Ok(ExitCode::FAILURE);
    };
    if !client.json {
        println!(
            "{}: rolled back, v{} is now active",
            activated.name, activated.active_version
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn dry_run(args: DryRunArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let event: SmsEvent = read_json(&args.event)?;
    let config: BTreeMap<String, String> = parse_config(&args.config)?;
    let body = DryRunBody {
        event: event.clone(),
        version: args.version,
        config,
    };
    let url = client.endpoint(&["v1", "plugins", &args.name, "dry-run"]);
    let Reply::Done(run) = client.send::<DryRun>(client.http.post(url).json(&body))? else {
        return Ok(ExitCode::FAILURE);
    };
    let failed = run.outcome != DecisionOutcome::Ok;
    if !client.json {
        print!("{}", dry_run_report(&run, &event));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The dry run as text: the version, the cost, the logs, then each action
/// with the host's verdict, or the plugin's failure.
fn dry_run_report(run: &DryRun, event: &SmsEvent) -> String {
    let zones: BTreeMap<RecordId, String> = zones(event, &[]);
    let mut out = Vec::new();
    out.push(format!(
        "plugin   {} v{} (dry run: nothing is executed)",
        run.plugin, run.version
    ));
    out.push(format!(
        "used     {} fuel, {:.2} ms",
        run.fuel_used,
        run.duration_us as f64 / 1e3
    ));
    out.extend(run.logs.iter().map(log_line));
    if run.outcome != DecisionOutcome::Ok {
        match &run.error {
            Some(error) => out.push(format!("failed   [{}] {}", error.code, error.message)),
            None => out.push("failed   (no reason given)".into()),
        }
    } else if run.actions.is_empty() {
        out.push("result   no actions".into());
    } else {
        out.push(format!("result   {} action(s)", run.actions.len()));
        match &run.verdicts {
            Some(verdicts) => {
                for (i, action) in run.actions.iter().enumerate() {
                    match verdicts.get(i) {
                        Some(verdict) => out.extend(verdict_lines(verdict, &zones)),
                        None => out.push(format!("  proposed  {}", describe(action, &zones))),
                    }
                }
            }
            None => {
                for action in &run.actions {
                    out.push(format!("  proposed  {}", describe(action, &zones)));
                }
                out.push(format!(
                    "note     project {} is not one of this tenant's projects: no verdicts",
                    event.project_id()
                ));
            }
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// `  accepted  record 7: …` or `  rejected  record 7: …` and, when the
/// host adjusted or rejected the action, `[reason] detail` beneath.
#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_host::wire::plugins::PluginVersionInfo;

    fn info(name: &str, active: Option<u32>, previous: Option<u32>, n: u32) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            active_version: active,
            previous_version: previous,
            versions: (1..=n)
                .map(|version| PluginVersionInfo {
                    version,
                    sha256: "ab".repeat(32),
                    size: 100,
                    created_at: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn the_table_aligns_columns_and_shows_dashes_for_none() {
        let table = plugin_table(&[
            info("acme-rule", Some(3), Some(2), 3),
            info("x", None, None, 1),
        ]);
        assert_eq!(
            table,
            "NAME       ACTIVE  PREVIOUS  VERSIONS\n\
             acme-rule  3       2         1,2,3\n\
             x          -       -         1\n"
        );
        assert_eq!(plugin_table(&[]), "no plugins installed\n");
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("a\n  b"), "a b");
        assert_eq!(snippet(""), "(empty body)");
        assert_eq!(snippet(&"é".repeat(300)).chars().count(), 201);
    }
}
