//! The processes under test: finding the `smstrigger` binary next to this
//! one, a free loopback port, spawning `smstrigger serve` (or this
//! harness's own `floor` server) with a guard that kills it on drop,
//! waiting until it answers `GET /healthz`, and stopping it with SIGTERM.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// The operator key every spawned server is given.
pub const OPERATOR_KEY: &str = "proof-operator-key";

/// How long a server may take to answer `/healthz` after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// `name` in the directory of this executable: a release build of the
/// harness uses the release server, a dev build the dev server.
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", exe.display()))?;
    let path = dir.join(name);
    if !path.is_file() {
        let release = if dir.ends_with("release") {
            " --release"
        } else {
            ""
        };
        bail!(
            "{} is missing: build it beside this harness with \
             `cargo build{release} -p smstrigger-host -p smstrigger-proof`",
            path.display()
        );
    }
    Ok(path)
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A spawned server; killed (SIGKILL) on drop unless stopped first.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The file its stdout and stderr go to.
    pub log: PathBuf,
    /// How long from spawn until `/healthz` answered 200.
    pub ready_after: Duration,
}

/// What to spawn.
/// The per-tenant backlog quota every proof's server runs with: a burst
/// beyond what the machine can decide as it arrives is journaled and
/// decided after (the server's default, 100,000, would answer 503 a few
/// seconds into the peak run; 20 s at 60,000/s is 1.2 million events).
pub const MAX_PENDING: u64 = 10_000_000;

pub struct Spawn<'a> {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(&'a str, String)>,
    pub port: u16,
    /// Output is appended here (a restart keeps the earlier lines).
    pub log: PathBuf,
}

impl Spawn<'_> {
    /// `smstrigger serve` on `port` with `data_dir`, the operator key set,
    /// the per-tenant event quota lifted to `events_per_second` and the
    /// per-tenant backlog quota to [`MAX_PENDING`].
    pub fn smstrigger(
        data_dir: &Path,
        port: u16,
        log: PathBuf,
        events_per_second: u32,
    ) -> Result<Self> {
        Ok(Self {
            program: sibling_binary("smstrigger")?,
            args: vec![
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--data-dir".into(),
                data_dir.display().to_string(),
            ],
            env: vec![
                ("SMSTRIGGER_OPERATOR_KEY", OPERATOR_KEY.to_string()),
                (
                    "SMSTRIGGER_EVENTS_PER_SECOND",
                    events_per_second.to_string(),
                ),
                ("SMSTRIGGER_MAX_PENDING", MAX_PENDING.to_string()),
            ],
            port,
            log,
        })
    }

    /// The same process on the shared PostgreSQL database at `url`,
    /// with the secrets key every host on it must share.
    pub fn on_database(mut self, url: &str, secrets_key: &str) -> Self {
        self.args.extend(["--database-url".into(), url.into()]);
        self.env
            .push(("SMSTRIGGER_SECRETS_KEY", secrets_key.to_string()));
        self
    }

    /// This harness's own `floor` server.
    pub fn floor(data_dir: &Path, port: u16, log: PathBuf) -> Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            args: vec![
                "floor".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--data-dir".into(),
                data_dir.display().to_string(),
            ],
            env: Vec::new(),
            port,
            log,
        })
    }
}

impl Server {
    /// `smstrigger serve` over `data_dir` on a free port (see
    /// [`Spawn::smstrigger`]), started.
    pub fn smstrigger(data_dir: &Path, log: PathBuf, events_per_second: u32) -> Result<Self> {
        Self::start(Spawn::smstrigger(
            data_dir,
            free_port()?,
            log,
            events_per_second,
        )?)
    }

    /// Spawns the process and waits until `GET /healthz` answers 200.
    pub fn start(spawn: Spawn<'_>) -> Result<Self> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spawn.log)
            .with_context(|| format!("opening {}", spawn.log.display()))?;
        let started = Instant::now();
        let mut command = Command::new(&spawn.program);
        command
            .args(&spawn.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env_remove("SMSTRIGGER_CONFIG")
            .env_remove("SMSTRIGGER_LISTEN")
            .env_remove("SMSTRIGGER_DATA_DIR");
        for (name, value) in &spawn.env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("spawning {}", spawn.program.display()))?;
        let mut server = Self {
            child: Some(child),
            url: format!("http://127.0.0.1:{}", spawn.port),
            log: spawn.log.clone(),
            ready_after: Duration::ZERO,
        };
        server.wait_ready(started)?;
        server.ready_after = started.elapsed();
        Ok(server)
    }

    fn wait_ready(&mut self, started: Instant) -> Result<()> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(1))
            .build()?;
        let health = format!("{}/healthz", self.url);
        loop {
            if let Some(status) = self.child_mut()?.try_wait()? {
                bail!(
                    "the server exited with {status} before it was ready\n{}",
                    self.log_tail()
                );
            }
            if let Ok(response) = client.get(&health).send()
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "the server did not answer {health} within {READY_TIMEOUT:?}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn child_mut(&mut self) -> Result<&mut Child> {
        self.child
            .as_mut()
            .ok_or_else(|| anyhow!("the server was stopped"))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the process to exit.
    pub fn terminate(mut self, timeout: Duration) -> Result<ExitStatus> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child_mut()?.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "the server (pid {pid}) did not exit within {timeout:?} of SIGTERM\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of the server's output, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 30)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// The last `lines` lines of `path`, headed with its name.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = File::open(path)
        .and_then(|mut file| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut file, &mut text)?;
            Ok(text)
        })
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    format!("--- last lines of {} ---\n{tail}", path.display())
}
