//! Uploads that try to cost the server: compile bombs refused before any
//! compile, a compile over its CPU or memory limit stopped in its worker, one
//! compile per tenant, the upload rate, and another tenant's webhooks
//! answered while a hostile compile runs. Nothing of a refused upload is
//! kept: no version, no compiled file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_host::config::Config;
use smstrigger_host::runtime::precheck::{MAX_FUNCTION_BYTES, MAX_LOCALS};
use smstrigger_test_components as components;
use smstrigger_test_components::bombs::{admitted_locals_bomb, calls_bomb, locals_bomb};

use super::*;

const PHONE: &str = "+36301234567";

/// The real `smstrigger` binary, whose `compile-worker` runs compiles.
const WORKER: &str = env!("CARGO_BIN_EXE_smstrigger");

/// The costliest function the bounds admit: the most locals, in as many
/// rounds as fit in the function size bound.
fn largest_admitted_bomb() -> Vec<u8> {
    admitted_locals_bomb(MAX_LOCALS as usize, MAX_FUNCTION_BYTES)
}

fn upload(server: &Server, tenant: &TenantKeys, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    send(
        server
            .put(&format!("/v1/plugins/{name}"))
            .bearer_auth(&tenant.api_key)
            .body(bytes),
    )
}

/// A server whose compiles run in the real binary's worker with a CPU
/// limit of `cpu_secs`.
fn with_worker(cpu_secs: u64) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.compile.worker = Some(PathBuf::from(WORKER));
        config.compile.cpu_secs = cpu_secs;
        config.compile.wall_secs = 120;
    }
}

/// Asserts an upload was refused with 422 `compile_limit`, its message
/// naming the limit (`limit`).
#[track_caller]
fn assert_compile_limit(status: StatusCode, body: &Value, limit: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_limit", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(limit), "{limit}: {body}");
}

/// Asserts the tenant has no plugin and the compile cache no file.
#[track_caller]
fn nothing_kept(server: &Server, tenant: &TenantKeys) {
    let (status, plugins) = send(server.get("/v1/plugins").bearer_auth(&tenant.api_key));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plugins, json!([]), "no version is stored");
    let compiled = server.data_dir().join("compiled");
    let left: Vec<_> = std::fs::read_dir(&compiled)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "files left in {}: {left:?}",
        compiled.display()
    );
}

#[test]
fn a_compile_bomb_over_the_function_bound_is_refused_before_compiling() {
    let server = Server::start_with(with_worker(60));
    let tenant = server.tenant("mallory");
    // The size: 452 KB in one function.
    let bomb = locals_bomb(MAX_LOCALS as usize, 50);
    assert!(bomb.len() > 450_000);
    let started = Instant::now();
    let (status, body) = upload(&server, &tenant, "bomb", bomb);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "function_too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&MAX_FUNCTION_BYTES.to_string()),
        "{message}"
    );
    // Refused by reading it, not by compiling it (a generous bound).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    nothing_kept(&server, &tenant);
}

#[test]
fn a_compile_over_its_cpu_limit_is_stopped_and_answered_422_compile_limit() {
    let server = Server::start_with(with_worker(1));
    let tenant = server.tenant("mallory");
    let (status, body) = upload(&server, &tenant, "bomb", largest_admitted_bomb());
    assert_compile_limit(status, &body, "CPU limit of 1 s");
    nothing_kept(&server, &tenant);
}

/// An upload's compile is bounded by the compile's own limits, not by the
/// request timeout: the worst component the bounds admit takes seconds to
/// compile, longer than a 1 s request timeout, and is answered by its
/// compile (refused here, since it is no plugin), not with a 408.
#[test]
fn an_upload_compiling_past_the_request_timeout_gets_its_compiles_answer_not_408() {
    let server = Server::start_with(|config| {
        with_worker(60)(config);
        config.request_timeout_secs = 1;
    });
    let tenant = server.tenant("patient");
    let started = Instant::now();
    // The low-priority compile may wait long for a core on a busy machine:
    // the client waits as long as the compile's own wall-clock limit.
    let (status, body) = send(
        server
            .put("/v1/plugins/bomb")
            .bearer_auth(&tenant.api_key)
            .timeout(Duration::from_secs(150))
            .body(largest_admitted_bomb()),
    );
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the compile took longer than the request timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "contract_mismatch", "{body}");
    nothing_kept(&server, &tenant);
}

/// A compile that needs more memory than its worker may use is stopped
/// (an allocation fails) and answered 422 naming the limit, never a 5xx.
/// The limit here is tiny so that a real plugin's compile runs out of it;
/// the default one compiles every shipped plugin (see
/// `a_plugin_compiled_in_the_worker_is_kept_once_and_runs` and
/// BENCHMARKS.md).
#[test]
fn a_compile_over_its_memory_limit_is_stopped_and_answered_422_compile_limit() {
    let server = Server::start_with(|config| {
        with_worker(60)(config);
        config.compile.memory_mib = 8;
    });
    let tenant = server.tenant("mallory");
    let plugin = std::fs::read(components::REPLY_CALL_TIME).unwrap();
    let (status, body) = upload(&server, &tenant, "hungry", plugin);
    assert_compile_limit(status, &body, "memory limit of 8 MiB");
    nothing_kept(&server, &tenant);
}

#[test]
fn a_plugin_compiled_in_the_worker_is_kept_once_and_runs() {
    let server = Server::start_with(with_worker(60));
    let tenant = server.tenant("acme");
    let project = server.project(&tenant);
    let record = server.record(&tenant, project, PHONE);
    let (status, body) = upload(
        &server,
        &tenant,
        "reply",
        std::fs::read(components::REPLY_CALL_TIME).unwrap(),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let compiled = server.data_dir().join("compiled");
    let files: Vec<_> = std::fs::read_dir(&compiled).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let event = json!({
        "kind": "inbound", "messageId": "m-1", "projectId": project,
        "sourcePhoneNumber": PHONE, "message": "call me 2026-12-01 14:30",
        "timestamp": 1_795_852_800,
        "matches": [{ "id": record, "projectId": project, "phone": PHONE, "timeZone": "Europe/Budapest" }],
    });
    let (status, body) = send(
        server
            .post("/v1/plugins/reply/dry-run")
            .bearer_auth(&tenant.api_key)
            .json(&json!({ "event": event })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "ok", "{body}");
    assert_eq!(body["actions"].as_array().unwrap().len(), 1, "{body}");
}

#[test]
fn a_compile_over_its_wall_clock_limit_is_killed_and_answered_422_compile_limit() {
    let server = Server::start_with(|config| {
        with_worker(600)(config);
        config.compile.wall_secs = 1;
    });
    let tenant = server.tenant("mallory");
    let started = Instant::now();
    let (status, body) = upload(&server, &tenant, "bomb", largest_admitted_bomb());
    assert_compile_limit(status, &body, "wall-clock limit of 1 s");
    // Killed at the limit, not left to finish (a generous bound).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    nothing_kept(&server, &tenant);
}

#[test]
fn while_a_hostile_compile_runs_its_tenant_waits_and_another_tenants_webhooks_are_answered() {
    let server = Server::start_with(with_worker(4));
    let mallory = server.tenant("mallory");
    let acme = server.tenant("acme");
    let project = server.project(&acme);
    let record = server.record(&acme, project, PHONE);

    std::thread::scope(|scope| {
        let hostile = scope.spawn(|| upload(&server, &mallory, "bomb", largest_admitted_bomb()));
        // Mallory's second upload waits for the first: one compile each.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = upload(&server, &mallory, "second", b"junk".to_vec());
            if answer.0 == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(answer.1["error"]["code"], "compile_busy", "{}", answer.1);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the bomb's compile never showed as running"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Meanwhile acme's webhooks are journaled and answered, each well
        // within a generous bound.
        for i in 0..20 {
            let started = Instant::now();
            let (status, body) = send(
                server
                    .post(&format!(
                        "/v1/webhooks/sms/status?secret-key={}",
                        acme.webhook_secret
                    ))
                    .json(&json!({
                        "messageId": format!("m{i}"),
                        "projectId": project,
                        "recordId": record,
                        "status": "delivered",
                        "timestamp": "2026-12-01T09:00:00Z",
                    })),
            );
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
        }
        let (status, body) = hostile.join().unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "compile_limit", "{body}");
    });
    nothing_kept(&server, &mallory);
}

#[test]
fn uploads_over_the_rate_answer_429_with_retry_after() {
    let server = Server::start_with(|config| config.compile.uploads_per_minute = 2);
    let tenant = server.tenant("mallory");
    for _ in 0..2 {
        let (status, body) = upload(&server, &tenant, "junk", b"junk".to_vec());
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let retry = retry_after_429(
        server
            .put("/v1/plugins/junk")
            .bearer_auth(&tenant.api_key)
            .body(b"junk".to_vec()),
        "upload_rate",
    );
    assert!((1..=61).contains(&retry), "{retry}");
    // Another tenant is not held to this one's rate.
    let other = server.tenant("acme");
    let (status, _) = upload(&server, &other, "junk", b"junk".to_vec());
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The figures in BENCHMARKS.md ("What compiling may cost"): the CPU time
/// and peak resident memory of the worst function the bounds admit (and
/// of the same shape with twice the locals, which the bounds refuse), of
/// a component of calls that needs much memory for its CPU, and of the
/// shipped plugins, each compiled by the real worker on one thread as the
/// server runs it (without its limits).
#[test]
#[ignore = "a measurement: cargo test -p smstrigger-host --test api uploads::compile_cost -- --ignored --nocapture"]
fn compile_cost() {
    let cases = [
        (
            "locals bomb at the bounds (1,024 locals, 256 KiB)",
            largest_admitted_bomb(),
        ),
        ("locals bomb with 2,048 locals (refused by the bounds)", {
            let round = locals_bomb(2048, 2).len() - locals_bomb(2048, 1).len();
            locals_bomb(2048, (MAX_FUNCTION_BYTES - 64) / round)
        }),
        (
            "8 MiB of calls in 20,000 functions",
            calls_bomb(8 << 20, 20_000),
        ),
        (
            "keyword-disposition (JavaScript)",
            std::fs::read(components::KEYWORD_DISPOSITION_JS).unwrap(),
        ),
        (
            "reply-call-time (Rust)",
            std::fs::read(components::REPLY_CALL_TIME).unwrap(),
        ),
    ];
    for (name, bytes) in cases {
        let before = children_cpu();
        let started = Instant::now();
        // Reaped by `wait_with_peak` (wait4), which also reads its rusage.
        #[allow(clippy::zombie_processes)]
        let mut child = std::process::Command::new(WORKER)
            .arg("compile-worker")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let (status, peak_kib) = wait_with_peak(&child);
        println!(
            "{name}: {} bytes, CPU {:.1} s, wall {:.1} s, peak RSS {} MiB, {status}",
            bytes.len(),
            children_cpu() - before,
            started.elapsed().as_secs_f64(),
            peak_kib >> 10
        );
    }
}

/// Waits for `child`; its exit status and peak resident set, in KiB.
fn wait_with_peak(child: &std::process::Child) -> (std::process::ExitStatus, i64) {
    use std::os::unix::process::ExitStatusExt;
    // SAFETY: wait4 writes only the status and the struct it is given, for
    // a child of ours that nothing else waits for.
    unsafe {
        let mut status = 0;
        let mut usage = std::mem::zeroed::<libc::rusage>();
        let pid = libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        assert_eq!(pid, child.id() as i32, "wait4");
        (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
    }
}

/// CPU seconds (user and system) of every child waited for so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
