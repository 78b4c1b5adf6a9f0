//! Attacks through the executor's `baseUrl` (SSRF): the URL rules when it
//! is set, the address checks before each call and at connect time, no
//! redirects, and nothing of the remote's text or the transport's errors
//! in what the tenant sees. Every socket is on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use smstrigger_host::actions::remote::{
    Delivery, MAX_REMOTE_CODE_CHARS, REMOTE_REFUSED_ADDRESS, REMOTE_REJECTED, REMOTE_UNAVAILABLE,
    RemoteClient, RemoteExecutor, RemoteTarget, RetryPolicy, UrlPolicy,
};

use super::super::{Server, assert_error, send};
use super::{local_event, loopback_remote, mirrored, pair_via, queued_item};

/// A loopback listener that counts connections and answers each one with
/// `answer` once it has read the request (empty: closes at once).
fn listener(answer: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            if answer.is_empty() {
                continue;
            }
            let mut buffer = [0u8; 8192];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (port, count)
}

/// An HTTP/1.1 answer with a JSON body.
fn http(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Delivers one queued write (an accepted action on a mirror of remote
/// record 1 in project 1) to `base_url` through `client`, with short
/// waits between attempts.
fn carry(client: RemoteClient, base_url: &str) -> Delivery {
    let local = local_event(1, 1);
    let policy = RetryPolicy {
        first_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let executor = RemoteExecutor::with_client(local.store.clone(), client, policy);
    let target = RemoteTarget {
        base_url: base_url.into(),
        account: "1".into(),
        token: "t".into(),
    };
    executor.deliver(&target, &queued_item(&local.event))
}

/// A failed attempt's (code, message) and the whole error the tenant sees.
fn failure(done: &Delivery) -> (String, String, Value) {
    let Delivery::Failed(error) = done else {
        panic!("expected a failed attempt, got {done:?}");
    };
    (
        error["errorcode"].as_str().unwrap_or_default().into(),
        error["errormessage"].as_str().unwrap_or_default().into(),
        error.clone(),
    )
}

fn loopback_client() -> RemoteClient {
    RemoteClient::new(loopback_remote().url_policy())
}

/// A client that allows plain http (so the address is the rule that
/// fires) but no refused range.
fn strict_http_client() -> RemoteClient {
    RemoteClient::new(UrlPolicy {
        allow_http: true,
        allow_networks: Vec::new(),
    })
}

/// Sets the executor URL; the answer.
fn set_url(server: &Server, api_key: &str, url: &str) -> (StatusCode, Value) {
    let (status, mut settings) = send(server.get("/v1/tenant").bearer_auth(api_key));
    assert_eq!(status, StatusCode::OK, "{settings}");
    settings["executor"] =
        json!({ "kind": "remote", "baseUrl": url, "account": "1", "token": "t" });
    send(
        server
            .put("/v1/tenant")
            .bearer_auth(api_key)
            .json(&settings),
    )
}

#[test]
fn remote_set_time_refuses_local_private_and_metadata_urls_and_keeps_the_settings() {
    let server = Server::start(); // the default: https only, nothing allowed
    let tenant = server.tenant("acme");
    let port = server.url.rsplit(':').next().unwrap().to_string();
    for (url, rule) in [
        // The issue's own attacks: any local path, the server's /metrics.
        (format!("http://127.0.0.1:{port}/anything#"), "https"),
        (format!("https://127.0.0.1:{port}/metrics#"), "fragment"),
        (format!("https://127.0.0.1:{port}"), "loopback"),
        ("https://localhost".into(), "localhost"),
        ("https://localhost.:8443/".into(), "localhost"),
        ("https://api.localhost".into(), "localhost"),
        ("https://[::1]:8443".into(), "loopback"),
        ("https://[::ffff:127.0.0.1]".into(), "loopback"),
        ("https://2130706433/".into(), "loopback"),
        (
            "https://169.254.169.254/latest/meta-data".into(),
            "metadata",
        ),
        ("https://[fd00:ec2::254]".into(), "metadata"),
        ("https://10.0.0.1".into(), "private"),
        ("https://192.168.1.1".into(), "private"),
        ("https://[fe80::1]".into(), "link-local"),
        ("https://[fd12::1]".into(), "unique-local"),
        ("https://user:pw@cc.example.com".into(), "user name"),
        ("https://cc.example.com/v?q=1".into(), "query"),
        ("https://cc.example.com/v#frag".into(), "fragment"),
        ("http://cc.example.com".into(), "https"),
        ("cc.example.com".into(), "not a URL"),
    ] {
        let answer = set_url(&server, &tenant.api_key, &url);
        let message = answer.1["error"]["message"].to_string();
        assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_url");
        assert!(message.contains(rule), "{url}: {message}");
        let (_, settings) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
        assert_eq!(settings["executor"], json!({ "kind": "embedded" }), "{url}");
    }
    // A public name is accepted (it is not resolved when set).
    let (status, body) = set_url(&server, &tenant.api_key, "https://cc.example.com/api");
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn remote_set_time_allow_list_admits_only_its_network_and_no_fragment() {
    let server = Server::start_with(|c| c.remote = loopback_remote());
    let tenant = server.tenant("acme");
    let (status, body) = set_url(&server, &tenant.api_key, &server.url);
    assert_eq!(status, StatusCode::OK, "{body}");
    for url in [
        format!("{}/metrics#", server.url),
        format!("{}/metrics?", server.url),
        "http://[::1]:8080".into(),
        "http://10.0.0.1".into(),
        "http://localhost:8080".into(),
    ] {
        assert_error(
            set_url(&server, &tenant.api_key, &url),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
        );
    }
    let (_, settings) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
    assert_eq!(settings["executor"]["baseUrl"], server.url.as_str());
}

#[test]
fn remote_an_ip_literal_url_is_checked_again_before_each_call() {
    // Stored while allowed (or before the rules), refused now: reqwest never
    // resolves an IP literal, so only the per-call check stands here.
    let (open, count) = listener(http("200 OK", r#"{"errors":[],"response":{}}"#));
    let done = carry(strict_http_client(), &format!("http://127.0.0.1:{open}"));
    let (code, message, remote) = failure(&done);
    assert_eq!(code, REMOTE_REFUSED_ADDRESS, "{message}");
    assert_eq!(remote["errorcode"], REMOTE_REFUSED_ADDRESS);
    assert!(message.contains("loopback"), "{message}");
    assert_eq!(count.load(Ordering::SeqCst), 0, "no connection was made");
}

#[test]
fn remote_a_name_resolving_to_loopback_is_refused_at_connect_time() {
    let (open, count) = listener(http("404 Not Found", "{}"));
    // The name passes the URL rules (it is not an address); this resolver
    // answers loopback addresses for it, as a rebinding DNS server would.
    let rebinding: smstrigger_host::actions::remote::client::Lookup = Arc::new(|host: &str| {
        assert_eq!(host, "cc.example.test");
        Ok(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ])
    });
    let url = format!("http://cc.example.test:{open}");
    let done = carry(
        strict_http_client().with_lookup(Arc::clone(&rebinding)),
        &url,
    );
    let (code, message, _) = failure(&done);
    assert_eq!(code, REMOTE_REFUSED_ADDRESS, "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert_eq!(count.load(Ordering::SeqCst), 0, "no connection was made");

    // The same name with loopback allowed reaches the listener: the refusal
    // above was the resolver's check, not a failed lookup.
    let done = carry(loopback_client().with_lookup(rebinding), &url);
    assert_eq!(failure(&done).0, REMOTE_REJECTED);
    assert!(count.load(Ordering::SeqCst) >= 1);
}

#[test]
fn remote_a_redirect_to_another_local_port_is_not_followed() {
    let (second, second_count) = listener(http("200 OK", r#"{"errors":[],"response":{}}"#));
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{second}/v2/projects/1/records/1\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (first, first_count) = listener(redirect);
    let p = pair_via(json!({}), mirrored, loopback_remote(), |_| {
        format!("http://127.0.0.1:{first}")
    });
    let event = p.settled(&p.not_traceable("m-1"), 1);
    assert_eq!(event["state"], "done", "{event}");
    assert_eq!(
        event["outbox"][0]["result"]["errorcode"], REMOTE_REJECTED,
        "{event}"
    );
    assert!(
        first_count.load(Ordering::SeqCst) >= 1,
        "the remote was asked"
    );
    assert_eq!(
        second_count.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
    assert_eq!(p.b_record()["events"], json!([]));
}

#[test]
fn remote_open_and_closed_ports_look_the_same_to_the_tenant() {
    let (silent, _) = listener(String::new()); // accepts, then closes
    let (chatty, _) = listener("SSH-2.0-OpenSSH_9.2\r\n".into()); // not HTTP
    let closed = closed_port();
    let seen: Vec<_> = [silent, chatty, closed]
        .iter()
        .map(|port| {
            let (code, message, remote) = failure(&carry(
                loopback_client(),
                &format!("http://127.0.0.1:{port}"),
            ));
            assert!(
                !message.contains(&port.to_string()) && !message.contains("refused"),
                "{message}"
            );
            (code, message, remote)
        })
        .collect();
    assert_eq!(seen[0].0, REMOTE_UNAVAILABLE, "{seen:?}");
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:#?}");

    // Where the address is refused, open and closed give the same refusal.
    let open = carry(strict_http_client(), &format!("http://127.0.0.1:{silent}"));
    let shut = carry(strict_http_client(), &format!("http://127.0.0.1:{closed}"));
    let (open, shut) = (failure(&open), failure(&shut));
    assert_eq!(
        (open.0.as_str(), &open.2),
        (REMOTE_REFUSED_ADDRESS, &shut.2)
    );
}

#[test]
fn remote_the_remotes_text_never_reaches_the_tenant() {
    // Another 4xx: its message stays in the server's log.
    let (port, _) = listener(http(
        "401 Unauthorized",
        r#"{"errors":[{"errorcode":"auth","errormessage":"SECRET-401 db=10.0.0.5"}]}"#,
    ));
    let done = carry(loopback_client(), &format!("http://127.0.0.1:{port}"));
    assert_eq!(failure(&done).0, REMOTE_REJECTED);
    assert!(!format!("{done:?}").contains("SECRET"));

    // A 417: its code (cut short, safe characters only) and property pass,
    // its message does not.
    let long_code = format!("{}<script>", "x".repeat(500));
    let body = json!({ "errors": [{ "errorcode": long_code, "errormessage": "SECRET-417",
        "property": "dispositionid" }] })
    .to_string();
    let (port, _) = listener(http("417 Expectation Failed", &body));
    let done = carry(loopback_client(), &format!("http://127.0.0.1:{port}"));
    let Delivery::Refused(remote) = &done else {
        panic!("a 417 is a refusal: {done:?}");
    };
    let code = remote["errorcode"].as_str().unwrap();
    assert_eq!(code, "x".repeat(MAX_REMOTE_CODE_CHARS), "{remote}");
    assert_eq!(remote["property"], "dispositionid");
    assert!(!format!("{done:?}").contains("SECRET"));

    // A success: only the `/v2` entry's own scalar fields are kept.
    let body = r#"{"errors":[],"response":{"timezone":"UTC","recordid":1,"eventid":5,
        "description":"ok","leak":"SECRET-200","fields":{"x":"SECRET-200"}}}"#;
    let (port, _) = listener(http("200 OK", body));
    let done = carry(loopback_client(), &format!("http://127.0.0.1:{port}"));
    assert_eq!(
        done,
        Delivery::Delivered(json!({ "recordid": 1, "eventid": 5, "description": "ok" }))
    );
}
