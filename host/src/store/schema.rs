//! The SQLite schema as numbered migrations, applied in order at start-up.
//!
//! `PRAGMA user_version` records how many have run; a migration is never
//! edited once released, only followed by a new one.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    webhook_secret  TEXT NOT NULL,
    webhook_auth    TEXT NOT NULL DEFAULT 'both',   -- 'url', 'signature' or 'both'
    opt_out_keywords TEXT NOT NULL,                 -- JSON array of upper-case keywords
    created_at      INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,                   -- SHA-256 hex of the key; the key itself is never stored
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE projects (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    default_country TEXT NOT NULL,
    hours_start     TEXT,                           -- 'HH:MM', NULL: any time
    hours_end       TEXT,
    hours_policy    TEXT NOT NULL DEFAULT 'shift',  -- 'shift' or 'reject'
    horizon_days    INTEGER NOT NULL DEFAULT 90,
    max_actions     INTEGER NOT NULL DEFAULT 16
);
CREATE INDEX projects_tenant ON projects(tenant_id);

CREATE TABLE dispositions (
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    id          INTEGER NOT NULL,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL,
    system      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE records (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    phone           TEXT NOT NULL,                  -- E.164
    time_zone       TEXT,                           -- NULL: the project's
    fields          TEXT NOT NULL DEFAULT '[]',     -- JSON [[name, value], ...]
    disposition_id  INTEGER,
    next_calldate   INTEGER
);
CREATE INDEX records_phone ON records(tenant_id, project_id, phone);

CREATE TABLE record_events (
    id              INTEGER PRIMARY KEY,
    record_id       INTEGER NOT NULL REFERENCES records(id),
    event_id        INTEGER REFERENCES events(id),
    event_type      TEXT NOT NULL,                  -- 'SMS'
    user            TEXT NOT NULL,                  -- 'System' for plugin actions
    created_at      INTEGER NOT NULL,               -- when the disposition was set
    disposition_id  INTEGER NOT NULL,
    next_calldate   INTEGER,
    plugin          TEXT,
    plugin_version  INTEGER,
    note            TEXT
);
CREATE INDEX record_events_record ON record_events(record_id);
CREATE UNIQUE INDEX record_events_once ON record_events(event_id, record_id, plugin)
    WHERE event_id IS NOT NULL;

CREATE TABLE do_not_contact (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    phone       TEXT NOT NULL,                      -- E.164
    source      TEXT NOT NULL,                      -- 'opt-out' or 'api'
    event_id    INTEGER,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);

CREATE TABLE plugin_versions (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    component   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

CREATE TABLE plugins (
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    active_version  INTEGER,
    previous_version INTEGER,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE bindings (
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    plugin      TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    config      TEXT NOT NULL DEFAULT '{}',         -- JSON object of strings
    PRIMARY KEY (project_id, plugin)
);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    dedupe_key  TEXT NOT NULL,                      -- kind, message id, status
    message_id  TEXT NOT NULL,
    subject     TEXT NOT NULL,                      -- the record or phone it concerns: one at a time each
    input       TEXT NOT NULL,                      -- JSON of the journaled input
    received_at INTEGER NOT NULL,
    state       TEXT NOT NULL,                      -- 'pending', 'done', 'failed', 'superseded'
    resolved    TEXT,                               -- JSON of the event as plugins saw it
    processed_at INTEGER,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX events_pending ON events(state, tenant_id, id);
CREATE INDEX events_message ON events(tenant_id, message_id);

CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events(id),
    plugin      TEXT NOT NULL,
    version     INTEGER,
    priority    INTEGER NOT NULL,
    outcome     TEXT NOT NULL,                      -- 'ok', 'failed', 'opted_out'
    error_code  TEXT,
    error       TEXT,
    fuel_used   INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    logs        TEXT NOT NULL,                      -- JSON
    verdicts    TEXT NOT NULL                       -- JSON: each action, its verdict, whether it executed
);
CREATE INDEX decisions_event ON decisions(event_id);
"#,
    r#"
ALTER TABLE tenants ADD COLUMN executor TEXT NOT NULL DEFAULT '{"kind":"embedded"}';

CREATE TABLE manual_dispositions (
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    idempotency_key TEXT NOT NULL,
    record_event_id INTEGER NOT NULL REFERENCES record_events(id),
    PRIMARY KEY (tenant_id, idempotency_key)
);
"#,
    r#"
ALTER TABLE decisions ADD COLUMN actions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE decisions ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
ALTER TABLE decisions ADD COLUMN lookups TEXT NOT NULL DEFAULT '[]';
CREATE INDEX decisions_plugin ON decisions(plugin, event_id);
"#,
    r#"
ALTER TABLE tenants ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
"#,
    r#"
ALTER TABLE events ADD COLUMN accepted_us INTEGER;  -- Unix µs when journaled
ALTER TABLE events ADD COLUMN decided_us INTEGER;   -- Unix µs when its decision committed
"#,
    // The pending index holds pending events only: a decided event leaves
    // it (one delete) instead of moving within it, and claims and counts
    // read nothing but what is pending. Nothing looks events up by message
    // id (dedupe goes through the unique key), so that index goes.
    r#"
DROP INDEX events_pending;
DROP INDEX events_message;
CREATE INDEX events_pending ON events(tenant_id, id) WHERE state = 'pending';
"#,
    // Secrets: API keys get an id to list and revoke them by, and when
    // they were last used; a rotated-out webhook secret stays accepted
    // until its time; the executor token moves out of the executor JSON
    // into a sealed column (the store seals existing tokens at open, it
    // needs the key); `secrets_check` tells a wrong key at open.
    r#"
CREATE TABLE api_keys_new (
    id           INTEGER PRIMARY KEY,
    key_hash     TEXT NOT NULL UNIQUE,              -- SHA-256 hex of the key; the key itself is never stored
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER                            -- to the minute; NULL: never
);
INSERT INTO api_keys_new (key_hash, tenant_id, created_at)
    SELECT key_hash, tenant_id, created_at FROM api_keys ORDER BY created_at, rowid;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

ALTER TABLE tenants ADD COLUMN previous_webhook_secret TEXT;
ALTER TABLE tenants ADD COLUMN previous_secret_until INTEGER;   -- Unix seconds
ALTER TABLE tenants ADD COLUMN executor_token BLOB;             -- sealed (secrets.rs); NULL: none

CREATE TABLE secrets_check (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    sealed  BLOB NOT NULL                           -- a known value sealed under the store's key
);
"#,
    // The remote tenants' outbox: each accepted action of a remote tenant,
    // queued by the decision's own commit and delivered after it.
    r#"
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    event_id        INTEGER NOT NULL REFERENCES events(id),
    record_id       INTEGER NOT NULL,
    disposition_id  INTEGER NOT NULL,
    next_calldate   INTEGER,
    plugin          TEXT NOT NULL,
    plugin_version  INTEGER,
    note            TEXT,
    state           TEXT NOT NULL DEFAULT 'pending',  -- pending, delivered, refused, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    queued_at       INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    result          TEXT NOT NULL DEFAULT 'null'      -- JSON: the remote's entry or the error
);
CREATE INDEX outbox_pending ON outbox(tenant_id, id) WHERE state = 'pending';
CREATE INDEX outbox_event ON outbox(event_id);
"#,
    // A tenant's acceptance window of webhook timestamps, JSON
    // `{"pastSecs", "futureSecs"}`; NULL keeps the server's defaults.
    r#"
ALTER TABLE tenants ADD COLUMN accept_window TEXT;
"#,
    // A binding's config, stored once: decisions name it by the SHA-256 of
    // its JSON instead of each holding a copy (an empty config stays
    // inline); `config` keeps older decisions' copies.
    r#"
CREATE TABLE binding_configs (
    sha256 TEXT PRIMARY KEY,
    config TEXT NOT NULL
) WITHOUT ROWID;
ALTER TABLE decisions ADD COLUMN config_sha TEXT;
"#,
    // What happens to a callback already past when it executes: 'reject'
    // (as every project did before) or 'now'.
    r#"
ALTER TABLE projects ADD COLUMN past_callback_policy TEXT NOT NULL DEFAULT 'reject';
"#,
    // The settings generation: every change to a setting a host memoizes
    // (store/cached.rs) bumps it, whoever makes it, so each host polling
    // it knows when to forget its memos. Only the tenants' settings
    // columns count (not `created_at`; a later settings column must be
    // added to the trigger); API keys (their notes of use), events,
    // decisions and records leave it alone. Plugin versions count for the
    // active version's SHA-256 an active binding reads.
    r#"
CREATE TABLE settings_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO settings_generation (id, generation) VALUES (1, 0);
CREATE TRIGGER settings_tenants_insert AFTER INSERT ON tenants
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_tenants_update AFTER UPDATE OF name, webhook_secret, webhook_auth,
        opt_out_keywords, executor, executor_token, limits, previous_webhook_secret,
        previous_secret_until, accept_window ON tenants
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_tenants_delete AFTER DELETE ON tenants
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_projects_insert AFTER INSERT ON projects
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_projects_update AFTER UPDATE ON projects
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_projects_delete AFTER DELETE ON projects
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_dispositions_insert AFTER INSERT ON dispositions
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_dispositions_update AFTER UPDATE ON dispositions
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_dispositions_delete AFTER DELETE ON dispositions
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_plugins_insert AFTER INSERT ON plugins
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_plugins_update AFTER UPDATE ON plugins
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_plugins_delete AFTER DELETE ON plugins
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_plugin_versions_insert AFTER INSERT ON plugin_versions
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_plugin_versions_update AFTER UPDATE ON plugin_versions
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_plugin_versions_delete AFTER DELETE ON plugin_versions
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_bindings_insert AFTER INSERT ON bindings
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_bindings_update AFTER UPDATE ON bindings
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
CREATE TRIGGER settings_bindings_delete AFTER DELETE ON bindings
    BEGIN UPDATE settings_generation SET generation = generation + 1; END;
"#,
    // SMS the host sent (the embedded sender's record), each committed
    // with the decision that sent it: once per event, record and plugin.
    r#"
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    record_id       INTEGER NOT NULL REFERENCES records(id),
    event_id        INTEGER NOT NULL REFERENCES events(id),
    message_id      TEXT NOT NULL,
    phone           TEXT NOT NULL,                  -- E.164
    text            TEXT NOT NULL,
    sender_id       TEXT,
    template_id     TEXT,
    plugin          TEXT NOT NULL,
    plugin_version  INTEGER,
    status          TEXT NOT NULL,                  -- 'sent'
    created_at      INTEGER NOT NULL,
    UNIQUE (event_id, record_id, plugin)
);
CREATE INDEX messages_project ON messages(tenant_id, project_id, id);
CREATE INDEX messages_phone ON messages(tenant_id, project_id, phone, id);
CREATE INDEX messages_record ON messages(tenant_id, record_id, id);
"#,
    // SMS sent through a provider: queued by the decision's commit, sent
    // by the SMS outbox (attempts, the next one's time, a claim's lease,
    // the provider's message id, the last error), their statuses advanced by the
    // provider's callbacks; the tenant's sender, its token sealed apart.
    r#"
ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at INTEGER;   -- Unix seconds; NULL: not queued
ALTER TABLE messages ADD COLUMN leased_until INTEGER;     -- a claim's lease (Unix seconds); NULL: none
ALTER TABLE messages ADD COLUMN provider_sid TEXT;
ALTER TABLE messages ADD COLUMN error TEXT;
CREATE INDEX messages_queued ON messages(next_attempt_at, tenant_id) WHERE status = 'queued';
CREATE UNIQUE INDEX messages_message_id ON messages(tenant_id, message_id);
ALTER TABLE tenants ADD COLUMN sms_sender TEXT NOT NULL DEFAULT '{"kind":"embedded"}';
ALTER TABLE tenants ADD COLUMN sms_sender_token BLOB;      -- sealed (secrets.rs); NULL: none
"#,
    // A project's rules for SMS (sending hours, policy, per-day cap,
    // segments), as JSON; '{}' is every default.
    r#"
ALTER TABLE projects ADD COLUMN sms_rules TEXT NOT NULL DEFAULT '{}';
"#,
    // Contact attempts per record in a rolling window: the project's rule,
    // as JSON ('{}' is every default), and each attempt counted (a call
    // disposition received, a callback the host scheduled), written with
    // the decision that saw it.
    r#"
ALTER TABLE projects ADD COLUMN contact_rules TEXT NOT NULL DEFAULT '{}';
CREATE TABLE contact_attempts (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    record_id   INTEGER NOT NULL REFERENCES records(id),
    event_id    INTEGER NOT NULL REFERENCES events(id),
    kind        TEXT NOT NULL,                      -- 'call' or 'callback'
    at          INTEGER NOT NULL                      -- Unix seconds
);
CREATE INDEX contact_attempts_record ON contact_attempts(tenant_id, record_id, at);
"#,
    // A message may go to a phone with no record (the host's answer to a
    // stranger's HELP or opt-out): record_id may be NULL. SQLite cannot
    // drop a NOT NULL, so the table is rebuilt with its indexes.
    r#"
CREATE TABLE messages_new (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    record_id       INTEGER REFERENCES records(id),  -- NULL: a phone with no record
    event_id        INTEGER NOT NULL REFERENCES events(id),
    message_id      TEXT NOT NULL,
    phone           TEXT NOT NULL,                  -- E.164
    text            TEXT NOT NULL,
    sender_id       TEXT,
    template_id     TEXT,
    plugin          TEXT NOT NULL,
    plugin_version  INTEGER,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    leased_until    INTEGER,
    provider_sid    TEXT,
    error           TEXT,
    UNIQUE (event_id, record_id, plugin)
);
INSERT INTO messages_new (id, tenant_id, project_id, record_id, event_id, message_id, phone,
        text, sender_id, template_id, plugin, plugin_version, status, created_at, attempts,
        next_attempt_at, leased_until, provider_sid, error)
    SELECT id, tenant_id, project_id, record_id, event_id, message_id, phone, text, sender_id,
        template_id, plugin, plugin_version, status, created_at, attempts, next_attempt_at,
        leased_until, provider_sid, error
    FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_project ON messages(tenant_id, project_id, id);
CREATE INDEX messages_phone ON messages(tenant_id, project_id, phone, id);
CREATE INDEX messages_record ON messages(tenant_id, record_id, id);
CREATE INDEX messages_queued ON messages(next_attempt_at, tenant_id) WHERE status = 'queued';
CREATE UNIQUE INDEX messages_message_id ON messages(tenant_id, message_id);
"#,
    // The audit trail: every change to a tenant's rules and settings, who
    // made it (a key by its id, never the key), from what to what, why;
    // kind and plugin apart for filtering, the rest as the change's JSON.
    r#"
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    at          INTEGER NOT NULL,                     -- Unix seconds, the store's clock
    kind        TEXT NOT NULL,
    plugin      TEXT,
    change      TEXT NOT NULL
);
CREATE INDEX audit_tenant ON audit(tenant_id, id);
CREATE INDEX audit_plugin ON audit(tenant_id, plugin, id);
"#,
    // Shadows: a candidate version of a plugin run on the events its
    // active version decided (after the shadow started, up to its cursor),
    // off the live path, each comparison recorded once.
    r#"
CREATE TABLE shadows (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    plugin      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    after_event INTEGER NOT NULL,                     -- runs on events after this one are compared
    cursor      INTEGER NOT NULL,                     -- the last event compared (or skipped)
    PRIMARY KEY (tenant_id, plugin)
);
CREATE TABLE shadow_runs (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    plugin      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    event_id    INTEGER NOT NULL REFERENCES events(id),
    outcome     TEXT NOT NULL,                      -- 'same', 'different', 'failed'
    active      TEXT NOT NULL,                      -- what the active version decided
    candidate   TEXT NOT NULL,                      -- what the shadow would have, with verdicts
    UNIQUE (tenant_id, plugin, version, event_id)
);
"#,
];

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, params};

    use super::MIGRATIONS;
    use crate::model::{PastCallbackPolicy, ProjectId, TenantId};
    use crate::store::{ExecutorSettings, SqliteStore, Tenants};

    /// A database as the release before secrets (six migrations) left it:
    /// a tenant with a key and a remote executor whose token is in the JSON.
    fn before_secrets(dir: &std::path::Path, token: &str) {
        let conn = Connection::open(dir.join(crate::store::sqlite::DATABASE_FILE)).unwrap();
        for migration in &MIGRATIONS[..6] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        let executor = serde_json::json!({ "kind": "remote", "baseUrl": "http://127.0.0.1:9",
                                           "account": "7", "token": token });
        conn.execute(
            "INSERT INTO tenants (id, name, webhook_secret, opt_out_keywords, created_at, executor)
             VALUES (1, 'acme', 's', '[]', 0, ?1)",
            [executor.to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO api_keys (key_hash, tenant_id, created_at) VALUES (?1, 1, 5)",
            params!["ab".repeat(32)],
        )
        .unwrap();
    }

    /// A project stored before projects had a past-callback policy keeps
    /// the behaviour it had: a callback already past is not executed.
    #[test]
    fn a_project_from_before_the_past_callback_policy_rejects_past_callbacks() {
        let dir = tempfile::tempdir().unwrap();
        let before = 10; // the migrations before the policy's
        {
            let conn =
                Connection::open(dir.path().join(crate::store::sqlite::DATABASE_FILE)).unwrap();
            for migration in &MIGRATIONS[..before] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", before).unwrap();
            conn.execute_batch(
                "INSERT INTO tenants (id, name, webhook_secret, opt_out_keywords, created_at)
                     VALUES (1, 'acme', 's', '[]', 0);
                 INSERT INTO projects (id, tenant_id, name, time_zone, default_country)
                     VALUES (1, 1, 'p', 'Europe/Budapest', 'HU');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let project = store.project(TenantId(1), ProjectId(1)).unwrap();
        assert_eq!(
            project.settings.past_callback_policy,
            PastCallbackPolicy::Reject
        );
        assert_eq!(project.rules().past_callback, PastCallbackPolicy::Reject);
    }

    /// The messages table rebuilt so a message may have no record keeps
    /// every message it had, with its record, and takes one without.
    #[test]
    fn messages_from_before_the_rebuild_keep_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE messages_new"))
            .unwrap();
        {
            let conn =
                Connection::open(dir.path().join(crate::store::sqlite::DATABASE_FILE)).unwrap();
            for migration in &MIGRATIONS[..before] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", before).unwrap();
            conn.execute_batch(
                "INSERT INTO tenants (id, name, webhook_secret, opt_out_keywords, created_at)
                     VALUES (1, 'acme', 's', '[]', 0);
                 INSERT INTO projects (id, tenant_id, name, time_zone, default_country)
                     VALUES (1, 1, 'p', 'Europe/Budapest', 'HU');
                 INSERT INTO records (id, tenant_id, project_id, phone) VALUES (5, 1, 1, '+36301234567');
                 INSERT INTO events (id, tenant_id, project_id, dedupe_key, message_id, subject,
                         input, received_at, state)
                     VALUES (9, 1, 1, 'k', 'm', 's', '{}', 0, 'done');
                 INSERT INTO messages (tenant_id, project_id, record_id, event_id, message_id,
                         phone, text, plugin, status, created_at, attempts)
                     VALUES (1, 1, 5, 9, 'sms-9-5-p', '+36301234567', 'hi', 'p', 'queued', 7, 2);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let conn = store.read();
        let kept: (Option<u64>, String, i64) = conn
            .query_row(
                "SELECT record_id, status, attempts FROM messages WHERE message_id = 'sms-9-5-p'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, (Some(5), "queued".into(), 2));
        conn.execute(
            "INSERT INTO messages (tenant_id, project_id, record_id, event_id, message_id,
                 phone, text, plugin, status, created_at)
             VALUES (1, 1, NULL, 9, 'sms-9-host:help', '+36309999999', 'help', 'host:help',
                 'sent', 8)",
            [],
        )
        .unwrap();
    }

    #[test]
    fn keys_and_tokens_from_before_secrets_keep_working_after_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        before_secrets(dir.path(), "plain-old-token");
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.tenant_by_key(&"ab".repeat(32)).unwrap(),
            Some(TenantId(1))
        );
        let keys = store.api_keys(TenantId(1)).unwrap();
        assert_eq!((keys.len(), keys[0].created_at), (1, 5), "{keys:?}");
        assert_eq!(keys[0].fingerprint, "ab".repeat(6));
        let ExecutorSettings::Remote { token, .. } = store.tenant(TenantId(1)).unwrap().executor
        else {
            panic!("not remote");
        };
        assert_eq!(token, "plain-old-token");
        let stored: String = store
            .read()
            .query_row("SELECT executor FROM tenants WHERE id = 1", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert!(!stored.contains("plain-old-token"), "{stored}");
    }
}
