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
    // A tenant's acceptance window of webhook timestamps, JSON
    // `{"pastSecs", "futureSecs"}`; NULL keeps the server's defaults.
    r#"
ALTER TABLE tenants ADD COLUMN accept_window TEXT;
"#,
];
