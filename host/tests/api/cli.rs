//! `smstrigger plugin install|list|activate|rollback|dry-run` and
//! `smstrigger demo`: the real binary against a real server (the demo's
//! its own), judged by its output and exit codes.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use smstrigger_host::runtime::sha256_hex;
use smstrigger_test_components as components;

use super::*;

/// 2026-12-01 10:00 in Budapest (09:00 UTC).
const DEC_1_10_00_BUDAPEST: i64 = 1_796_115_600;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `smstrigger ARGS` with no `SMSTRIGGER_*` variables from outside.
fn smstrigger(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_smstrigger"))
        .args(args)
        .env_remove("SMSTRIGGER_URL")
        .env_remove("SMSTRIGGER_API_KEY")
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    Run {
        code: output.status.code().expect("the binary exits"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `smstrigger plugin ARGS --url <server> --key <tenant's key>`.
fn plugin(server: &Server, tenant: &TenantKeys, args: &[&str]) -> Run {
    let mut all = vec!["plugin"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--url", &server.url, "--key", &tenant.api_key]);
    smstrigger(&all)
}

fn short_sha(path: &str) -> String {
    sha256_hex(&std::fs::read(path).unwrap())[..12].to_string()
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

fn not_traceable(project: u64, record: u64) -> Value {
    json!({
        "kind": "outbound",
        "messageId": "m-cli-1",
        "projectId": project,
        "contact": {
            "id": record,
            "projectId": project,
            "phone": "+36301234567",
            "timeZone": "Europe/Budapest",
        },
        "status": "not_traceable",
        "timestamp": DEC_1_10_00_BUDAPEST,
    })
}

#[test]
fn install_list_activate_rollback_and_dry_run_a_plugin() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, "+36301234567");
    let dir = tempfile::tempdir().unwrap();

    let run = plugin(
        &server,
        &tenant,
        &["install", "acme-rule", components::NOT_TRACEABLE_CALLBACK],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("uploading ") && run.stdout.contains(" KiB) to http://"));
    let sha1 = short_sha(components::NOT_TRACEABLE_CALLBACK);
    assert!(
        run.stdout.contains(&format!(
            "installed acme-rule v1 (sha256 {sha1}, world 0.2.0), active\n"
        )),
        "{run}"
    );

    let run = plugin(&server, &tenant, &["list"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout,
        "NAME       ACTIVE  PREVIOUS  VERSIONS\n\
         acme-rule  1       -         1\n",
        "{run}"
    );

    let run = plugin(
        &server,
        &tenant,
        &["install", "acme-rule", components::DELIVERED_FOLLOWUP],
    );
    assert_eq!(run.code, 0, "{run}");
    let sha2 = short_sha(components::DELIVERED_FOLLOWUP);
    assert!(
        run.stdout.contains(&format!(
            "installed acme-rule v2 (sha256 {sha2}, world 0.2.0), active\n"
        )),
        "{run}"
    );

    let run = plugin(
        &server,
        &tenant,
        &[
            "install",
            "acme-rule",
            components::DELIVERED_FOLLOWUP,
            "--no-activate",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains(&format!(
            "installed acme-rule v3 (sha256 {sha2}, world 0.2.0), not active \
             (activate it with `smstrigger plugin activate acme-rule 3`)"
        )),
        "{run}"
    );

    let run = plugin(&server, &tenant, &["activate", "acme-rule", "1"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout, "acme-rule: v1 is now active\n", "{run}");
    let run = plugin(&server, &tenant, &["list"]);
    assert!(
        run.stdout.contains("acme-rule  1       2         1,2,3\n"),
        "{run}"
    );

    let run = plugin(&server, &tenant, &["rollback", "acme-rule"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout, "acme-rule: rolled back, v2 is now active\n",
        "{run}"
    );
    let run = plugin(&server, &tenant, &["list"]);
    assert!(
        run.stdout.contains("acme-rule  2       1         1,2,3\n"),
        "{run}"
    );

    // `--json`: the server's answer verbatim.
    let run = plugin(&server, &tenant, &["list", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let listed: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(listed[0]["name"], "acme-rule");
    assert_eq!(listed[0]["activeVersion"], 2);

    // v1 (not traceable → Shared Callback an hour later), judged by the host.
    let event = write(
        dir.path(),
        "event.json",
        not_traceable(project, record).to_string().as_bytes(),
    );
    let run = plugin(
        &server,
        &tenant,
        &["dry-run", "acme-rule", "--event", &event, "--version", "1"],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with("plugin   acme-rule v1 (dry run"),
        "{run}"
    );
    assert!(run.stdout.contains(" fuel, "), "{run}");
    assert!(run.stdout.contains("result   1 action(s)\n"), "{run}");
    assert!(
        run.stdout.contains(&format!(
            "  accepted  record {record}: Shared Callback at 2026-12-01 11:00 Europe/Budapest  \
             (not traceable: call back in 60 min)\n"
        )),
        "{run}"
    );
    assert!(!run.stdout.contains('{'), "no raw JSON: {run}");

    let run = plugin(
        &server,
        &tenant,
        &[
            "dry-run",
            "acme-rule",
            "--event",
            &event,
            "--version",
            "1",
            "--config",
            "delay_minutes=15",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains(&format!(
            "  accepted  record {record}: Shared Callback at 2026-12-01 10:15 Europe/Budapest"
        )),
        "{run}"
    );

    // The active v2 (delivered follow-up) does nothing on not traceable.
    let run = plugin(
        &server,
        &tenant,
        &["dry-run", "acme-rule", "--event", &event],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("plugin   acme-rule v2 "), "{run}");
    assert!(run.stdout.contains("result   no actions\n"), "{run}");

    // The plugin fails on a bad config value: exit 1, its error printed.
    let run = plugin(
        &server,
        &tenant,
        &[
            "dry-run",
            "acme-rule",
            "--event",
            &event,
            "--version",
            "1",
            "--config",
            "delay_minutes=soon",
        ],
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("failed   [plugin_error] "), "{run}");
}

#[test]
fn refusals_exit_1_with_the_servers_reason() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let dir = tempfile::tempdir().unwrap();

    let junk = write(dir.path(), "junk.wasm", b"this is not a component");
    let run = plugin(&server, &tenant, &["install", "acme-rule", &junk]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("refused [compile_failed] "), "{run}");

    let run = plugin(&server, &tenant, &["install", "Bad_Name", &junk]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains("refused [invalid] plugin name `Bad_Name`"),
        "{run}"
    );

    let run = plugin(&server, &tenant, &["activate", "missing", "1"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("refused [not_found] "), "{run}");

    let run = plugin(&server, &tenant, &["list", "--json"]);
    assert_eq!((run.code, run.stdout.trim()), (0, "[]"), "{run}");
    let run = plugin(&server, &tenant, &["list"]);
    assert_eq!(run.stdout, "no plugins installed\n", "{run}");

    // A wrong key is the server's refusal too.
    let run = smstrigger(&["plugin", "list", "--url", &server.url, "--key", "wrong"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("refused [unauthorized] "), "{run}");
    let run = smstrigger(&[
        "plugin",
        "list",
        "--url",
        &server.url,
        "--key",
        "wrong",
        "--json",
    ]);
    assert_eq!(run.code, 1, "{run}");
    let answer: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(answer["error"]["code"], "unauthorized");
}

#[test]
fn usage_and_connection_errors_exit_2() {
    let server = Server::start();
    let tenant = server.tenant("acme");

    let run = smstrigger(&["plugin", "list", "--url", &server.url]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("--key") && run.stderr.contains("SMSTRIGGER_API_KEY"),
        "{run}"
    );
    assert_eq!(run.stdout, "", "{run}");

    // Port 1 on loopback: nothing listens there.
    let run = smstrigger(&[
        "plugin",
        "list",
        "--url",
        "http://127.0.0.1:1",
        "--key",
        &tenant.api_key,
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("http://127.0.0.1:1"), "{run}");
    assert!(run.stderr.contains("not running"), "{run}");

    let run = smstrigger(&[
        "plugin",
        "list",
        "--url",
        "not a url",
        "--key",
        &tenant.api_key,
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--url `not a url`"), "{run}");

    let run = plugin(
        &server,
        &tenant,
        &["install", "acme-rule", "/nonexistent.wasm"],
    );
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("reading /nonexistent.wasm"), "{run}");

    let run = plugin(&server, &tenant, &["activate", "acme-rule", "first"]);
    assert_eq!(run.code, 2, "{run}");
}

/// `smstrigger demo`, the README's first command, runs the seed's loop end
/// to end: an unanswered call asks for a time by SMS, the provider's
/// delivered status and the reply each set a callback, the day's second
/// SMS and an attempt over the week's cap are refused, and the event
/// list shows the SMS among the dispositions.
#[test]
fn the_demo_runs_the_seeds_loop_and_refuses_what_the_rules_forbid() {
    let run = smstrigger(&["demo"]);
    assert_eq!(run.code, 0, "{run}");
    for line in [
        "host: opted out; the sender is on the do-not-contact list now",
        "promise-to-pay v1: Shared Callback at 2026-12-01 10:31 Europe/Budapest on record 6 -> REJECTED: do_not_contact",
        "call-attempt-sms v1: SMS \"We tried to call you.",
        "delivered-followup v1: Shared Callback at 2026-12-03 11:41 Europe/Budapest on record 7 -> executed",
        "reply-call-time v1: Shared Callback at 2026-12-02 16:00 Europe/Budapest on record 7 -> executed",
        "reply-call-time v1: Shared Callback at 2026-12-03 09:00 Europe/Budapest on record 7 -> REJECTED: contact_limit",
        "Outbound SMS System We tried to call you.",
        "Outbound SMS System You will get no more messages from Demo Collections.",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?}\n{run}");
    }
    let refused = run.stdout.matches("-> REJECTED: contact_limit").count();
    assert_eq!(
        refused, 2,
        "the day's second SMS and the sixth attempt\n{run}"
    );
}

/// `smstrigger audit` shows the trail one change a line, who made it and
/// what moved, filtered by plugin or kind; an unknown kind is the
/// server's 422, exit 1.
#[test]
fn audit_shows_each_change_who_made_it_and_what_moved() {
    let c = super::audit::changed();
    let remote = [
        "--url",
        c.server.url.as_str(),
        "--key",
        c.tenant.api_key.as_str(),
    ];
    let audit = |extra: &[&str]| {
        let mut args = vec!["audit"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&remote);
        smstrigger(&args)
    };
    let run = audit(&[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout.lines().count(), 9, "{run}");
    assert!(
        run.stdout
            .lines()
            .next()
            .unwrap()
            .contains("operator  key_added"),
        "{run}"
    );
    assert!(
        run.stdout.contains("plugin_rolled_back  rule  v1 -> v2"),
        "{run}"
    );
    assert!(
        run.stdout.contains("plugin_activated  rule  v2 -> v1"),
        "{run}"
    );
    assert!(!run.stdout.contains(&c.tenant.api_key), "{run}");

    let rule = audit(&["--plugin", "rule", "--limit", "2"]);
    assert_eq!(rule.code, 0, "{rule}");
    let lines: Vec<&str> = rule.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{rule}");
    assert!(lines[0].contains("plugin_installed  rule  v1"), "{rule}");
    assert!(lines[2].starts_with("(more: --after "), "{rule}");

    let bad = audit(&["--kind", "plugin_deleted"]);
    assert_eq!(bad.code, 1, "{bad}");
    assert!(bad.stdout.contains("refused [invalid]"), "{bad}");
}

/// `smstrigger plugin shadow`: start a candidate's shadow, watch it
/// compare live events, stop it; a version the plugin lacks exits 1 with
/// the server's reason.
#[test]
fn plugin_shadow_starts_shows_and_stops_a_shadow() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, "+36301234567");
    server.install(&tenant, "rule", components::DELIVERED_FOLLOWUP);
    let staged = plugin(
        &server,
        &tenant,
        &[
            "install",
            "rule",
            components::NOT_TRACEABLE_CALLBACK,
            "--no-activate",
        ],
    );
    assert_eq!(staged.code, 0, "{staged}");
    server.bind(
        &tenant,
        project,
        json!([{ "plugin": "rule", "priority": 1 }]),
    );

    let started = plugin(&server, &tenant, &["shadow", "rule", "2"]);
    assert_eq!(started.code, 0, "{started}");
    assert!(
        started.stdout.starts_with("rule v2 shadow started"),
        "{started}"
    );
    let (status, _) = send(
        server
            .post(&format!(
                "/v1/webhooks/sms/status?secret-key={}&wait=true",
                tenant.webhook_secret
            ))
            .json(&json!({
                "messageId": "m1", "projectId": project, "recordId": record,
                "status": "delivered", "timestamp": "2026-12-01T09:00:00Z",
            })),
    );
    assert_eq!(status, reqwest::StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let shown = loop {
        let shown = plugin(&server, &tenant, &["shadow", "rule"]);
        assert_eq!(shown.code, 0, "{shown}");
        if shown.stdout.contains("1 different") {
            break shown;
        }
        assert!(std::time::Instant::now() < deadline, "{shown}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        shown.stdout.contains(&format!(
            "(different), records [{record}]: active v1 1 action(s) -> candidate 0 action(s)"
        )),
        "{shown}"
    );
    let stopped = plugin(&server, &tenant, &["shadow", "rule", "2", "--stop"]);
    assert_eq!(stopped.code, 0, "{stopped}");
    assert!(
        stopped.stdout.starts_with("rule v2 shadow stopped"),
        "{stopped}"
    );

    let missing = plugin(&server, &tenant, &["shadow", "rule", "7"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stdout.contains("refused [not_found]"), "{missing}");
}
