//! Connection and request timeouts, attacked with raw sockets on
//! 127.0.0.1: half-sent headers (slow loris), a body trickled byte by
//! byte, and shutdown with connections left open.
//!
//! Bounds are generous (the machine is shared): what is asserted is that
//! the server lets go within a small multiple of the configured timeout,
//! where without it the connection would stay open indefinitely.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

/// Longer than any timeout configured here, far shorter than "never".
const PATIENCE: Duration = Duration::from_secs(20);

fn connect(server: &Server) -> TcpStream {
    let address = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads until the server closes the connection (or `PATIENCE` runs out,
/// which fails the test); returns what it sent.
#[track_caller]
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn connections_holding_half_sent_headers_are_closed_at_the_header_timeout() {
    let server = Server::start_with(|config| config.header_timeout_secs = 1);
    let started = Instant::now();
    let mut held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut stream = connect(&server);
            stream
                .write_all(b"POST /v1/webhooks/sms/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            stream
        })
        .collect();
    for stream in &mut held {
        read_until_closed(stream);
    }
    assert!(
        started.elapsed() < PATIENCE,
        "50 half-sent requests were held {:?}",
        started.elapsed()
    );
    // The server still answers everyone else.
    let (status, _) = send(server.get("/healthz"));
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn an_idle_connection_that_sends_nothing_is_closed_too() {
    let server = Server::start_with(|config| config.header_timeout_secs = 1);
    let mut stream = connect(&server);
    assert_eq!(read_until_closed(&mut stream), "");
}

#[test]
fn a_body_trickled_slower_than_the_request_timeout_is_answered_408() {
    let server = Server::start_with(|config| config.request_timeout_secs = 1);
    let tenant = server.tenant("slow");
    let mut stream = connect(&server);
    let head = format!(
        "POST /v1/webhooks/sms/inbound?secret-key={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        tenant.webhook_secret
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A few bytes, then nothing more for longer than the timeout.
    stream.write_all(b"{\"direction\":").unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let mut buffer = [0u8; 4096];
    while !answer.contains("\r\n\r\n") {
        let n = stream.read(&mut buffer).expect("an answer before PATIENCE");
        assert!(n > 0, "closed without an answer: {answer}");
        answer.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn shutdown_finishes_with_idle_connections_left_open() {
    // A header timeout far longer than the test: only graceful shutdown
    // can end these connections in time.
    let server = Server::start_with(|config| config.header_timeout_secs = 600);
    let mut open: Vec<TcpStream> = (0..5).map(|_| connect(&server)).collect();
    // One of them has finished a request and sits idle in keep-alive.
    open[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 1024];
    let n = open[0].read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < PATIENCE,
        "shutdown waited {:?} for idle connections",
        started.elapsed()
    );
    for stream in &mut open {
        read_until_closed(stream);
    }
}
