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

use super::*;

const PHONE: &str = "+36301234567";

/// The real `smstrigger` binary, whose `compile-worker` runs compiles.
const WORKER: &str = env!("CARGO_BIN_EXE_smstrigger");

/// A component whose one core function declares `locals` `i64` locals and
/// loops over `rounds` rounds of multiplying each by another, so every
/// local is live across the loop: the register allocator's worst case
/// (the 452 KB bomb took 51 s of CPU; BENCHMARKS.md has what this
/// shape costs at the bounds). It exports `on-event` with the wrong type,
/// which only a finished compile would find.
pub fn locals_bomb(locals: usize, rounds: usize) -> Vec<u8> {
    let mut body = vec![1];
    body.extend(leb(locals));
    body.push(0x7e); // i64
    body.extend([0x03, 0x40]); // loop
    for round in 0..rounds {
        for i in 0..locals {
            let j = (i * 7 + round + 1) % locals;
            body.push(0x20); // local.get i
            body.extend(leb(i));
            body.push(0x20); // local.get j
            body.extend(leb(j));
            body.push(0x7e); // i64.mul
            body.push(0x21); // local.set i
            body.extend(leb(i));
        }
    }
    // i32.load (i32.const 0); br_if 0; end (loop); end (function)
    body.extend([0x41, 0x00, 0x28, 0x02, 0x00, 0x0d, 0x00, 0x0b, 0x0b]);
    component_of(&[body])
}

/// A component whose one core module has `functions` functions, each a
/// run of `call 0` making `code_bytes` of code in all: cheap to compile
/// per byte, but each call is machine code and a relocation, so the
/// compile's memory grows with the code (BENCHMARKS.md has what it costs).
pub fn calls_bomb(code_bytes: usize, functions: usize) -> Vec<u8> {
    let calls = code_bytes / functions / 2;
    let mut body = vec![0]; // no locals
    body.extend([0x10, 0x00].repeat(calls)); // call 0
    body.push(0x0b);
    component_of(&vec![body; functions])
}

/// A component of one core module whose `() -> ()` functions have the
/// given bodies (locals declarations included), with one page of memory
/// and function 0 exported as `on-event` with the wrong type.
fn component_of(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut code = leb(bodies.len());
    let mut functions = leb(bodies.len());
    for body in bodies {
        code.extend(leb(body.len()));
        code.extend(body);
        functions.push(0); // of type 0
    }
    let mut module = b"\0asm\x01\x00\x00\x00".to_vec();
    module.extend(section(1, &[1, 0x60, 0, 0])); // type 0: () -> ()
    module.extend(section(3, &functions));
    module.extend(section(5, &[1, 0, 1])); // one page of memory
    module.extend(section(7, &[1, 1, b'f', 0, 0])); // export "f" = func 0
    module.extend(section(10, &code));
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    component.extend(section(1, &module));
    // core instance 0 = instantiate module 0
    component.extend(section(2, &[1, 0x00, 0x00, 0x00]));
    // alias core func 0 = export "f" of core instance 0
    component.extend(section(6, &[1, 0x00, 0x00, 0x01, 0x00, 1, b'f']));
    // type 0 = func() -> ()
    component.extend(section(7, &[1, 0x40, 0x00, 0x01, 0x00]));
    // func 0 = canon lift (core func 0), type 0
    component.extend(section(8, &[1, 0x00, 0x00, 0x00, 0x00, 0x00]));
    // export "on-event" = func 0
    let mut export = vec![1, 0x00, 8];
    export.extend(b"on-event");
    export.extend([0x01, 0x00, 0x00]);
    component.extend(section(11, &export));
    component
}

/// The costliest function the bounds admit: the most locals, in as many
/// rounds as fit in the function size bound.
fn largest_admitted_bomb() -> Vec<u8> {
    let locals = MAX_LOCALS as usize;
    let round = locals_bomb(locals, 2).len() - locals_bomb(locals, 1).len();
    let rounds = (MAX_FUNCTION_BYTES - 64) / round;
    locals_bomb(locals, rounds)
}

fn section(id: u8, contents: &[u8]) -> Vec<u8> {
    let mut bytes = vec![id];
    bytes.extend(leb(contents.len()));
    bytes.extend(contents);
    bytes
}

fn leb(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
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
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_limit", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CPU limit of 1 s"),
        "{body}"
    );
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
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_limit", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memory limit of 8 MiB"),
        "{body}"
    );
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
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_limit", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wall-clock limit of 1 s"),
        "{body}"
    );
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
    let response = server
        .put("/v1/plugins/junk")
        .bearer_auth(&tenant.api_key)
        .body(b"junk".to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "upload_rate", "{body}");
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
