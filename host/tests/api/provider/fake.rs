//! A second real server acting as the SMS provider: the Twilio Messages
//! API's create call (`POST /2010-04-01/Accounts/{sid}/Messages.json`,
//! form fields, HTTP Basic), honouring `Idempotency-Key` the way a
//! provider that offers one does (a repeated key answers the first
//! message), and the provider's side of the callbacks: signed status
//! callbacks and inbound messages posted to the host, with an HMAC-SHA1
//! written here from the provider's documentation, not the host's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;

pub const ACCOUNT: &str = "AC0123456789abcdef";
pub const TOKEN: &str = "provider-auth-token";
pub const FROM: &str = "+3612345678";

/// A message the provider took.
#[derive(Debug, Clone)]
pub struct Taken {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub status_callback: String,
    pub key: Option<String>,
}

/// How the provider answers its next create calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// 201 with the message.
    Normal,
    /// Takes the message, then answers 500 (an unclear answer), once.
    TakeThenFail,
    /// 400 with the provider's error code 21211 (an invalid `To`).
    Refuse,
    /// Takes the message and holds the answer for a long time, once.
    TakeThenHang,
}

#[derive(Default)]
struct Books {
    mode: Option<Mode>,
    /// Every create call: its idempotency key.
    calls: Vec<Option<String>>,
    taken: Vec<Taken>,
    by_key: HashMap<String, usize>,
}

/// The provider, listening on 127.0.0.1 until dropped.
pub struct Provider {
    pub url: String,
    books: Arc<Mutex<Books>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Provider {
    pub fn start(mode: Mode) -> Self {
        let books = Arc::new(Mutex::new(Books {
            mode: Some(mode),
            ..Books::default()
        }));
        let shared = Arc::clone(&books);
        let (ready, address) = std::sync::mpsc::channel::<SocketAddr>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new()
                    .route(
                        "/2010-04-01/Accounts/{account}/Messages.json",
                        axum::routing::post(create),
                    )
                    .with_state(shared);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let address = address.recv().unwrap();
        Self {
            url: format!("http://{address}"),
            books,
            _thread: thread,
        }
    }

    /// The messages taken so far.
    pub fn taken(&self) -> Vec<Taken> {
        self.books.lock().unwrap().taken.clone()
    }

    /// The idempotency keys of every create call so far, in order.
    pub fn calls(&self) -> Vec<Option<String>> {
        self.books.lock().unwrap().calls.clone()
    }

    /// Waits until `n` create calls arrived.
    pub fn wait_for_calls(&self, n: usize, within: Duration) -> Vec<Option<String>> {
        let deadline = Instant::now() + within;
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "the provider got {} of {n} calls: {calls:?}",
                calls.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn create(
    State(books): State<Arc<Mutex<Books>>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"))
    );
    if account != ACCOUNT
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"code": 20003}))).into_response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (answer, hang) = {
        let mut books = books.lock().unwrap();
        books.calls.push(key.clone());
        let mode = books.mode.unwrap_or(Mode::Normal);
        if mode == Mode::Refuse {
            let refusal = json!({"code": 21211, "message": "The 'To' number is not valid: secret provider text"});
            return (StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
        }
        let known = key.as_ref().and_then(|k| books.by_key.get(k).copied());
        let index = match known {
            Some(index) => index,
            None => {
                let taken = Taken {
                    sid: format!("SM{:032}", books.taken.len() + 1),
                    to: form.get("To").cloned().unwrap_or_default(),
                    from: form.get("From").cloned().unwrap_or_default(),
                    body: form.get("Body").cloned().unwrap_or_default(),
                    status_callback: form.get("StatusCallback").cloned().unwrap_or_default(),
                    key: key.clone(),
                };
                books.taken.push(taken);
                let index = books.taken.len() - 1;
                if let Some(key) = &key {
                    books.by_key.insert(key.clone(), index);
                }
                index
            }
        };
        let taken = books.taken[index].clone();
        if matches!(mode, Mode::TakeThenFail | Mode::TakeThenHang) {
            books.mode = Some(Mode::Normal);
            let hang = mode == Mode::TakeThenHang;
            if !hang {
                return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
            }
        }
        (
            json!({"sid": taken.sid, "status": "queued", "to": taken.to, "from": taken.from, "body": taken.body}),
            mode == Mode::TakeThenHang,
        )
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

/// The provider's signature of a webhook to `url` with `fields`: Base64
/// HMAC-SHA1 under the auth token of the URL, then each field's name and
/// value, sorted by name.
pub fn sign(token: &str, url: &str, fields: &[(&str, &str)]) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts `fields` to `url` signed with `token`, as the provider does.
pub fn post_signed(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    fields: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().copied())
        .finish();
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sign(token, url, fields))
        .body(body)
        .send()
        .unwrap()
}
