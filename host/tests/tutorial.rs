//! The README's tutorial, step by step, with the real `smstrigger` binary:
//! a new plugin from the template, its unit tests, its component, a local
//! run, a server, install, dry run, a shadow, activate and roll back.
//!
//! End-to-end tests live in the host package because cargo hands the
//! binary's path (`CARGO_BIN_EXE_smstrigger`) only to its own package.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_smstrigger");
const OPERATOR_KEY: &str = "tutorial-operator";

fn smstrigger(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("SMSTRIGGER_URL")
        .env_remove("SMSTRIGGER_API_KEY");
    command
}

#[track_caller]
fn succeed(command: &mut Command) -> String {
    let output: Output = command.output().expect("the command runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `smstrigger serve` on a free port; killed on drop.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = smstrigger(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("SMSTRIGGER_OPERATOR_KEY", OPERATOR_KEY)
            .env("RUST_LOG", "smstrigger_host=info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let line = lines.next().expect("the server logs").unwrap();
            if line.contains("smstrigger listening") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Served {
    /// Sends SIGTERM and expects a clean exit within the grace period.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..150 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the server exited with {status}");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the server did not stop within 15 s of SIGTERM");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn call(method: &str, url: &str, key: &str, body: Value) -> Value {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(key);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert!(status.is_success(), "{method} {url}: {status} {body}");
    body
}

#[test]
fn the_tutorial_works_as_written() {
    let work = tempfile::tempdir().unwrap();
    let plugin_dir = work.path().join("later-rule");
    // Share one target directory across runs so the plugin's dependencies
    // build once.
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tutorial-target");

    // 1. A new plugin from the template; its unit tests pass natively.
    let created = succeed(smstrigger(&["plugin", "new", "later-rule", "--dir"]).arg(&plugin_dir));
    assert!(created.contains("created plugin `later-rule`"), "{created}");
    let tested = succeed(
        Command::new(env!("CARGO"))
            .args(["test", "--quiet"])
            .current_dir(&plugin_dir)
            .env("CARGO_TARGET_DIR", &target_dir),
    );
    assert!(tested.contains("3 passed"), "{tested}");

    // 2. Its component.
    let built = succeed(
        smstrigger(&["plugin", "build"])
            .arg(&plugin_dir)
            .env("CARGO_TARGET_DIR", &target_dir),
    );
    let component = target_dir.join("wasm32-wasip2/release/later_rule.wasm");
    assert!(
        built.contains("later_rule.wasm") && component.is_file(),
        "{built}"
    );

    // 3. A local run on an event, in the server's sandbox.
    let event = json!({
        "kind": "inbound", "messageId": "m-1", "projectId": 1,
        "sourcePhoneNumber": "+36301234567", "message": "Later!", "timestamp": 1_796_115_600,
        "matches": [{ "id": 1, "projectId": 1, "phone": "+36301234567", "timeZone": "Europe/Budapest" }],
    });
    let event_file = work.path().join("event.json");
    std::fs::write(&event_file, event.to_string()).unwrap();
    let project_file = work.path().join("project.json");
    std::fs::write(
        &project_file,
        json!({ "timeZone": "Europe/Budapest", "callingHours": { "start": "08:00", "end": "20:00" } })
            .to_string(),
    )
    .unwrap();
    let ran = succeed(
        smstrigger(&["plugin", "run"])
            .arg(&component)
            .arg("--event")
            .arg(&event_file)
            .arg("--project")
            .arg(&project_file)
            .args(["--config", "delay_hours=48"]),
    );
    assert!(
        ran.contains("accepted  record 1: Shared Callback at 2026-12-03 10:00 Europe/Budapest"),
        "{ran}"
    );

    // 4. A server, a tenant, a project and a customer.
    let served = Served::start(&work.path().join("data"));
    let url = served.url.as_str();
    let tenant = call(
        "POST",
        &format!("{url}/v1/tenants"),
        OPERATOR_KEY,
        json!({ "name": "acme" }),
    );
    let key = tenant["apiKey"].as_str().unwrap();
    let project = call(
        "POST",
        &format!("{url}/v1/projects"),
        key,
        json!({
            "name": "collections", "timeZone": "Europe/Budapest", "defaultCountry": "HU",
            "callingHours": { "start": "08:00", "end": "20:00" },
        }),
    );
    let project_id = project["id"].as_u64().unwrap();
    let record = call(
        "POST",
        &format!("{url}/v1/projects/{project_id}/records"),
        key,
        json!({ "phone": "06 30 123 4567" }),
    );
    let record_id = record["id"].as_u64().unwrap();
    let client = |args: &[&str]| {
        let mut command = smstrigger(&["plugin"]);
        command.args(args).args(["--url", url, "--key", key]);
        command
    };
    let component_path = component.to_str().unwrap();
    let event_path = event_file.to_str().unwrap();

    // 5. Install it, bind it, dry-run it.
    let installed = succeed(&mut client(&["install", "later-rule", component_path]));
    assert!(installed.contains("installed later-rule v1"), "{installed}");
    call(
        "PUT",
        &format!("{url}/v1/projects/{project_id}/bindings"),
        key,
        json!([{ "plugin": "later-rule", "priority": 10, "config": { "delay_hours": "2" } }]),
    );
    let mut dry_event = event.clone();
    dry_event["projectId"] = json!(project_id);
    dry_event["matches"][0]["id"] = json!(record_id);
    dry_event["matches"][0]["projectId"] = json!(project_id);
    std::fs::write(&event_file, dry_event.to_string()).unwrap();
    let dry = succeed(&mut client(&[
        "dry-run",
        "later-rule",
        "--event",
        event_path,
    ]));
    assert!(dry.contains("accepted"), "{dry}");

    // 6. A customer texts; the rule decides; the record shows it.
    let webhook = format!(
        "{url}/v1/webhooks/sms/inbound?secret-key={}&wait=true",
        tenant["webhookSecret"].as_str().unwrap()
    );
    // Now: the server's clock is the system's, and a webhook's time must
    // be inside the tenant's acceptance window (7 days back).
    let text = |message: &str| -> Value {
        reqwest::blocking::Client::new()
            .post(&webhook)
            .json(
                &json!({ "direction": "in", "message": message, "numberId": 1,
                           "projectId": project_id, "sourcePhoneNumber": "+36301234567",
                           "timestamp": chrono::Utc::now().to_rfc3339() }),
            )
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let decided = text("later");
    assert_eq!(decided["state"], "done", "{decided}");
    assert_eq!(
        decided["decisions"][0]["verdicts"][0]["accepted"], true,
        "{decided}"
    );
    assert_eq!(
        decided["decisions"][0]["verdicts"][0].get("executed"),
        None,
        "executed, not refused as past: {decided}"
    );

    // 7. A second version, not yet active; activate it; roll it back.
    let second = succeed(&mut client(&[
        "install",
        "later-rule",
        component_path,
        "--no-activate",
    ]));
    assert!(second.contains("v2"), "{second}");
    // A shadow of v2 on live traffic: the next message is decided by v1
    // and compared with what v2 would have done (the same component here).
    let shadow = succeed(&mut client(&["shadow", "later-rule", "2"]));
    assert!(shadow.contains("later-rule v2 shadow started"), "{shadow}");
    let again = text("later, please");
    assert_eq!(again["state"], "done", "{again}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let shown = succeed(&mut client(&["shadow", "later-rule"]));
        if shown.contains("1 same, 0 different, 0 failed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{shown}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stopped = succeed(&mut client(&["shadow", "later-rule", "2", "--stop"]));
    assert!(stopped.contains("shadow stopped"), "{stopped}");
    let activated = succeed(&mut client(&["activate", "later-rule", "2"]));
    assert!(activated.contains("v2 is now active"), "{activated}");
    let rolled = succeed(&mut client(&["rollback", "later-rule"]));
    assert!(rolled.contains("v1 is now active"), "{rolled}");
    let listed = succeed(&mut client(&["list"]));
    assert!(listed.contains("later-rule"), "{listed}");
    // Each change is in the audit trail, with the key that made it.
    let audit = succeed(
        smstrigger(&["audit", "--plugin", "later-rule"]).args(["--url", url, "--key", key]),
    );
    let kinds: Vec<&str> = audit
        .lines()
        .filter_map(|line| line.split("  ").find(|part| part.starts_with("plugin_")))
        .collect();
    assert_eq!(
        kinds,
        [
            "plugin_installed",
            "plugin_installed",
            "plugin_activated",
            "plugin_rolled_back"
        ],
        "{audit}"
    );
    assert!(audit.contains("v2 -> v1"), "{audit}");

    // 8. SIGTERM: the server stops accepting, drains and exits cleanly.
    served.terminate();
}

#[test]
fn watch_mode_installs_a_component_when_its_file_appears() {
    let work = tempfile::tempdir().unwrap();
    let watched = work.path().join("watched");
    std::fs::create_dir(&watched).unwrap();
    let served = Served::start_with(
        &work.path().join("data"),
        &["--watch", watched.to_str().unwrap(), "--watch-tenant", "1"],
    );
    let url = served.url.as_str();
    let tenant = call(
        "POST",
        &format!("{url}/v1/tenants"),
        OPERATOR_KEY,
        json!({ "name": "dev" }),
    );
    let key = tenant["apiKey"].as_str().unwrap();
    std::fs::copy(
        smstrigger_test_components::DELIVERED_FOLLOWUP,
        watched.join("my_rule.wasm"),
    )
    .unwrap();
    // Installing stores the version, then activates it: a listing between
    // the two shows it inactive, so wait for the active one. The server
    // compiles the component first: on a busy two-core machine, in a debug
    // build, that alone can take many seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut plugins = Value::Null;
    while std::time::Instant::now() < deadline {
        plugins = call("GET", &format!("{url}/v1/plugins"), key, Value::Null);
        if plugins[0]["activeVersion"] == 1 {
            assert_eq!(plugins[0]["name"], "my-rule", "{plugins}");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the watched component was never installed and activated: {plugins}");
}
