//! Secrets: API keys listed and revoked (never shown again), the webhook
//! secret rotated with an overlap, the executor token write-only and
//! sealed at rest. Each test attacks one of these as a tenant, a holder of
//! a leaked key, or someone reading the database file would.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use smstrigger_host::api::{SIGNATURE_HEADER, sign};
use smstrigger_host::secrets::SecretsKey;
use smstrigger_host::store::{ExecutorSettings, SqliteStore, Tenants};

use super::*;

const PHONE: &str = "+36301234567";

/// A server whose data directory the test can read afterwards.
fn server_in(dir: &Path) -> Server {
    let dir = dir.to_path_buf();
    Server::start_with(move |config| config.data_dir = dir)
}

/// Adds a key to `tenant` with the operator key: (key, its id).
fn add_key(server: &Server, tenant: &TenantKeys) -> (String, u64) {
    let (status, body) = send(
        server
            .post(&format!("/v1/tenants/{}/keys", tenant.id))
            .bearer_auth(OPERATOR_KEY),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["apiKey"].as_str().unwrap().into(),
        body["keyId"].as_u64().unwrap(),
    )
}

fn keys(server: &Server, key: &str) -> (StatusCode, Value) {
    send(server.get("/v1/keys").bearer_auth(key))
}

fn key_ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_u64().unwrap())
        .collect()
}

fn whoami(server: &Server, key: &str) -> StatusCode {
    send(server.get("/v1/tenant").bearer_auth(key)).0
}

#[test]
fn keys_are_listed_by_id_and_fingerprint_never_by_the_key() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let (second, second_id) = add_key(&server, &tenant);
    let (status, list) = keys(&server, &tenant.api_key);
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(key_ids(&list)[1], second_id);
    for (entry, key) in list
        .as_array()
        .unwrap()
        .iter()
        .zip([&tenant.api_key, &second])
    {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        assert_eq!(entry["fingerprint"], hash[..12], "{entry}");
        assert!(entry["createdAt"].as_i64().is_some(), "{entry}");
    }
    // The key that asked was used just now; the other never.
    assert!(list[0]["lastUsedAt"].as_i64().is_some(), "{list}");
    assert_eq!(list[1]["lastUsedAt"], Value::Null, "{list}");
    let text = list.to_string();
    assert!(
        !text.contains(&tenant.api_key) && !text.contains(&second),
        "{text}"
    );
}

#[test]
fn a_revoked_key_answers_401_at_once_and_the_others_keep_working() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let (second, _) = add_key(&server, &tenant);
    let first_id = key_ids(&keys(&server, &tenant.api_key).1)[0];
    assert_eq!(whoami(&server, &tenant.api_key), StatusCode::OK);
    let (status, body) = send(
        server
            .delete(&format!("/v1/keys/{first_id}"))
            .bearer_auth(&second),
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_error(
        send(server.get("/v1/tenant").bearer_auth(&tenant.api_key)),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    // Nor does it reach the /v2 record API (Basic auth, same keys).
    let (status, _) = send(
        server
            .get("/v2/projects/1/records?phone1=%2B36301234567")
            .basic_auth(tenant.id, Some(&tenant.api_key)),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&server, &second), StatusCode::OK);
    assert_eq!(key_ids(&keys(&server, &second).1).len(), 1);
}

#[test]
fn a_tenant_cannot_revoke_its_last_key() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let only = key_ids(&keys(&server, &tenant.api_key).1)[0];
    assert_error(
        send(
            server
                .delete(&format!("/v1/keys/{only}"))
                .bearer_auth(&tenant.api_key),
        ),
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_eq!(whoami(&server, &tenant.api_key), StatusCode::OK);
}

#[test]
fn a_tenant_cannot_list_or_revoke_another_tenants_keys() {
    let server = Server::start();
    let a = server.tenant("a");
    let b = server.tenant("b");
    add_key(&server, &b); // so B's first key is not its last
    let b_ids = key_ids(&keys(&server, &b.api_key).1);
    let a_ids = key_ids(&keys(&server, &a.api_key).1);
    assert!(
        a_ids.iter().all(|id| !b_ids.contains(id)),
        "{a_ids:?} {b_ids:?}"
    );
    for id in &b_ids {
        assert_error(
            send(
                server
                    .delete(&format!("/v1/keys/{id}"))
                    .bearer_auth(&a.api_key),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(whoami(&server, &b.api_key), StatusCode::OK);
    // Ids no key has, and ids no key can have, are 404 too, never 5xx.
    for id in ["999999", "18446744073709551615", "x"] {
        let (status, body) = send(
            server
                .delete(&format!("/v1/keys/{id}"))
                .bearer_auth(&a.api_key),
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
    }
    // The operator's view of keys takes the operator key, not a tenant's.
    for request in [
        server.get(&format!("/v1/tenants/{}/keys", b.id)),
        server.delete(&format!("/v1/tenants/{}/keys/{}", b.id, b_ids[0])),
    ] {
        assert_error(
            send(request.bearer_auth(&a.api_key)),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    assert_eq!(key_ids(&keys(&server, &b.api_key).1), b_ids);
}

#[test]
fn the_operator_lists_and_revokes_a_tenants_keys_even_its_last_but_only_that_tenants() {
    let server = Server::start();
    let a = server.tenant("a");
    let b = server.tenant("b");
    let (status, list) = send(
        server
            .get(&format!("/v1/tenants/{}/keys", b.id))
            .bearer_auth(OPERATOR_KEY),
    );
    assert_eq!(status, StatusCode::OK, "{list}");
    let b_only = key_ids(&list)[0];
    let a_only = key_ids(&keys(&server, &a.api_key).1)[0];
    // A's key id under B's path is not B's key.
    assert_error(
        send(
            server
                .delete(&format!("/v1/tenants/{}/keys/{a_only}", b.id))
                .bearer_auth(OPERATOR_KEY),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(whoami(&server, &a.api_key), StatusCode::OK);
    let (status, body) = send(
        server
            .delete(&format!("/v1/tenants/{}/keys/{b_only}", b.id))
            .bearer_auth(OPERATOR_KEY),
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(whoami(&server, &b.api_key), StatusCode::UNAUTHORIZED);
    assert_error(
        send(
            server
                .get("/v1/tenants/999999/keys")
                .bearer_auth(OPERATOR_KEY),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// A tenant with a project and a record that status webhooks can name.
struct Hooks {
    server: Server,
    tenant: TenantKeys,
    project: u64,
    record: u64,
    sent: std::cell::Cell<u32>,
}

impl Hooks {
    fn new() -> Self {
        let server = Server::start();
        let tenant = server.tenant("acme");
        let project = server.project(&tenant);
        let record = server.record(&tenant, project, PHONE);
        Self {
            server,
            tenant,
            project,
            record,
            sent: Default::default(),
        }
    }

    fn body(&self) -> Vec<u8> {
        self.sent.set(self.sent.get() + 1);
        serde_json::to_vec(&json!({
            "messageId": format!("m-{}", self.sent.get()),
            "projectId": self.project,
            "recordId": self.record,
            "status": "delivered",
            "timestamp": self.server.clock.now(),
        }))
        .unwrap()
    }

    /// A status webhook with `secret` in the URL: its status.
    fn by_url(&self, secret: &str) -> StatusCode {
        send(
            self.server
                .post(&format!("/v1/webhooks/sms/status?secret-key={secret}"))
                .header("content-type", "application/json")
                .body(self.body()),
        )
        .0
    }

    /// A status webhook signed with `secret`: its status.
    fn signed(&self, secret: &str) -> StatusCode {
        let body = self.body();
        send(
            self.server
                .post("/v1/webhooks/sms/status")
                .header(SIGNATURE_HEADER, sign(secret, &body))
                .header("content-type", "application/json")
                .body(body),
        )
        .0
    }

    fn rotate(&self, body: Option<Value>) -> (StatusCode, Value) {
        let request = self
            .server
            .post("/v1/tenant/webhook-secret/rotate")
            .bearer_auth(&self.tenant.api_key);
        send(match body {
            Some(body) => request.json(&body),
            None => request,
        })
    }
}

#[test]
fn a_rotated_webhook_secret_and_the_old_one_both_work_during_the_overlap() {
    let h = Hooks::new();
    let old = h.tenant.webhook_secret.clone();
    let (status, rotated) = h.rotate(None);
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["webhookSecret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let until = rotated["previousValidUntil"].as_i64().unwrap();
    let day = chrono::Utc::now().timestamp() + 24 * 3600;
    assert!((day - 60..=day + 60).contains(&until), "{rotated}");
    for secret in [&old, &new] {
        assert_eq!(h.by_url(secret), StatusCode::ACCEPTED);
        assert_eq!(h.signed(secret), StatusCode::ACCEPTED);
    }
    assert_eq!(h.by_url("not-a-secret"), StatusCode::UNAUTHORIZED);
    // The settings never show either secret.
    let (_, settings) = send(h.server.get("/v1/tenant").bearer_auth(&h.tenant.api_key));
    let text = settings.to_string();
    assert!(!text.contains(&old) && !text.contains(&new), "{text}");
}

#[test]
fn after_the_overlap_the_old_webhook_secret_answers_401() {
    let h = Hooks::new();
    let old = h.tenant.webhook_secret.clone();
    let (status, rotated) = h.rotate(Some(json!({ "overlapSecs": 0 })));
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["webhookSecret"].as_str().unwrap().to_string();
    assert_eq!(h.by_url(&old), StatusCode::UNAUTHORIZED);
    assert_eq!(h.signed(&old), StatusCode::UNAUTHORIZED);
    assert_eq!(h.by_url(&new), StatusCode::ACCEPTED);
    assert_eq!(h.signed(&new), StatusCode::ACCEPTED);
}

#[test]
fn rotating_twice_ends_the_oldest_secret_at_once() {
    let h = Hooks::new();
    let first = h.tenant.webhook_secret.clone();
    let second = h.rotate(None).1["webhookSecret"]
        .as_str()
        .unwrap()
        .to_string();
    let third = h.rotate(None).1["webhookSecret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(h.by_url(&first), StatusCode::UNAUTHORIZED);
    assert_eq!(h.signed(&first), StatusCode::UNAUTHORIZED);
    assert_eq!(h.by_url(&second), StatusCode::ACCEPTED);
    assert_eq!(h.by_url(&third), StatusCode::ACCEPTED);
}

#[test]
fn a_rotation_beyond_the_overlap_cap_or_of_another_shape_changes_nothing() {
    let h = Hooks::new();
    for (body, status, code) in [
        (
            json!({ "overlapSecs": 7 * 24 * 3600 + 1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({ "overlapSecs": -1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({ "overlap": 5 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ] {
        assert_error(h.rotate(Some(body)), status, code);
    }
    assert_error(
        send(
            h.server
                .post("/v1/tenant/webhook-secret/rotate")
                .bearer_auth(&h.tenant.api_key)
                .body("{"),
        ),
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        send(h.server.post("/v1/tenant/webhook-secret/rotate")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    // The secret is the one the tenant was created with, and the only one:
    // an immediate rotation leaves no overlap a refused one could have set.
    assert_eq!(h.by_url(&h.tenant.webhook_secret), StatusCode::ACCEPTED);
    h.rotate(Some(json!({ "overlapSecs": 0 })));
    assert_eq!(h.by_url(&h.tenant.webhook_secret), StatusCode::UNAUTHORIZED);
}

/// A token no other bytes in the database could match by chance.
fn distinctive_token() -> String {
    format!(
        "executor-token-{}",
        hex::encode(SecretsKey::generate().seal("t", b"x"))
    )
}

fn set_executor(server: &Server, tenant: &TenantKeys, executor: Value) -> (StatusCode, Value) {
    let (status, mut settings) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
    assert_eq!(status, StatusCode::OK, "{settings}");
    settings["executor"] = executor;
    send(
        server
            .put("/v1/tenant")
            .bearer_auth(&tenant.api_key)
            .json(&settings),
    )
}

/// Every byte of the files in `dir` (the database, its log, the key file).
fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_executor_token_is_never_answered_nor_written_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let token = distinctive_token();
    {
        let server = server_in(dir.path());
        let tenant = server.tenant("acme");
        let (status, answer) = set_executor(
            &server,
            &tenant,
            json!({ "kind": "remote", "baseUrl": "https://cc.example.com",
                    "account": "7", "token": token }),
        );
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(!answer.to_string().contains(&token), "{answer}");
        let (_, shown) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
        assert!(!shown.to_string().contains(&token), "{shown}");
        assert_eq!(shown["executor"]["tokenSet"], true, "{shown}");
        assert_eq!(shown["executor"]["baseUrl"], "https://cc.example.com");
        for (path, bytes) in files_in(dir.path()) {
            assert!(
                !contains(&bytes, token.as_bytes()),
                "{} holds the token",
                path.display()
            );
        }
    }
    // After a restart the token opens again: the store has it in memory.
    let store = SqliteStore::open(dir.path()).unwrap();
    let settings = store.tenant(smstrigger_host::model::TenantId(1)).unwrap();
    // Nor does a logged setting show it.
    assert!(!format!("{settings:?}").contains(&token), "{settings:?}");
    let ExecutorSettings::Remote { token: read, .. } = settings.executor else {
        panic!("{settings:?}");
    };
    assert_eq!(read, token);
}

#[test]
fn a_kept_token_cannot_be_pointed_at_another_remote() {
    let server = Server::start();
    let tenant = server.tenant("acme");
    let remote = json!({ "kind": "remote", "baseUrl": "https://cc.example.com",
                         "account": "7", "token": distinctive_token() });
    assert_eq!(set_executor(&server, &tenant, remote).0, StatusCode::OK);
    // Saving the settings as shown (no token) keeps the stored one.
    let (status, shown) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
    assert_eq!(status, StatusCode::OK);
    let (status, body) = set_executor(&server, &tenant, shown["executor"].clone());
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["executor"]["tokenSet"], true, "{body}");
    // Without the token, neither another address nor another account.
    for executor in [
        json!({ "kind": "remote", "baseUrl": "https://cc2.example.com", "account": "7" }),
        json!({ "kind": "remote", "baseUrl": "https://cc.example.com", "account": "8" }),
        json!({ "kind": "remote", "baseUrl": "https://cc.example.com", "account": "7", "token": "" }),
    ] {
        assert_error(
            set_executor(&server, &tenant, executor),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        );
    }
    let (_, now) = send(server.get("/v1/tenant").bearer_auth(&tenant.api_key));
    assert_eq!(now["executor"], shown["executor"], "nothing changed");
    // Embedded first, then remote again: the old token is gone for good.
    let (status, _) = set_executor(&server, &tenant, json!({ "kind": "embedded" }));
    assert_eq!(status, StatusCode::OK);
    assert_error(
        set_executor(&server, &tenant, shown["executor"].clone()),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
}

#[test]
fn a_store_opened_with_another_secrets_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretsKey::generate();
    drop(SqliteStore::open_with_key(dir.path(), Some(key.clone())).unwrap());
    let err = SqliteStore::open_with_key(dir.path(), Some(SecretsKey::generate()))
        .err()
        .expect("another key is refused");
    assert!(err.to_string().contains("does not open"), "{err}");
    // Nor does the generated key file stand in for the configured key.
    assert!(SqliteStore::open(dir.path()).is_err());
    SqliteStore::open_with_key(dir.path(), Some(key)).unwrap();
}

#[test]
fn a_token_stored_in_plain_text_before_encryption_is_sealed_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let token = distinctive_token();
    let tenant = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store.create_tenant("acme", "secret").unwrap().id
    };
    // As a release before sealing stored it: the token in the JSON.
    let legacy = json!({ "kind": "remote", "baseUrl": "http://127.0.0.1:9",
                         "account": "7", "token": token });
    {
        let db = rusqlite::Connection::open(dir.path().join("smstrigger.db")).unwrap();
        db.execute(
            "UPDATE tenants SET executor = ?1, executor_token = NULL WHERE id = ?2",
            rusqlite::params![legacy.to_string(), tenant.0],
        )
        .unwrap();
    }
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let ExecutorSettings::Remote { token: read, .. } = store.tenant(tenant).unwrap().executor
        else {
            panic!("not remote");
        };
        assert_eq!(read, token);
    }
    let db = rusqlite::Connection::open(dir.path().join("smstrigger.db")).unwrap();
    let executor: String = db
        .query_row(
            "SELECT executor FROM tenants WHERE id = ?1",
            [tenant.0],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!executor.contains(&token), "{executor}");
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(db);
    for (path, bytes) in files_in(dir.path()) {
        assert!(
            !contains(&bytes, token.as_bytes()),
            "{} holds the token",
            path.display()
        );
    }
}
