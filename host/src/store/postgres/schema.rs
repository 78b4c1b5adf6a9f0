//! The PostgreSQL schema as numbered migrations, applied in order at open.
//!
//! The same concept as SQLite's (`store/schema.rs`): migration `i` brings
//! the schema from version `i` to `i + 1`, is never edited once released,
//! only followed by a new one. Where SQLite counts in `PRAGMA
//! user_version`, PostgreSQL keeps a row per applied migration in
//! `schema_migrations`, written in the migration's own transaction.
//!
//! The first migration is the SQLite schema as its migrations leave it
//! today, in PostgreSQL's types: `BIGINT` identities, `BYTEA`, `JSONB`,
//! `BOOLEAN`, times as `BIGINT` Unix seconds (as SQLite keeps them).
//! Phones and plugin names sort byte-wise (`COLLATE "C"`), as SQLite sorts
//! them, so cursors over them page the same on both back ends.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                    TEXT NOT NULL,
    webhook_secret          TEXT NOT NULL,
    webhook_auth            TEXT NOT NULL DEFAULT 'both',     -- 'url', 'signature' or 'both'
    opt_out_keywords        JSONB NOT NULL,                   -- array of upper-case keywords; null: never set
    created_at              BIGINT NOT NULL,
    executor                JSONB NOT NULL DEFAULT '{"kind":"embedded"}',  -- never holds the token
    executor_token          BYTEA,                            -- sealed (secrets.rs); NULL: none
    limits                  JSONB NOT NULL DEFAULT '{}',
    previous_webhook_secret TEXT,
    previous_secret_until   BIGINT,                           -- Unix seconds
    accept_window           JSONB                             -- {"pastSecs", "futureSecs"}; NULL: defaults
);

CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash     TEXT NOT NULL UNIQUE,                        -- SHA-256 hex; the key itself is never stored
    tenant_id    BIGINT NOT NULL REFERENCES tenants(id),
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT                                       -- to the minute; NULL: never
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE secrets_check (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    sealed  BYTEA NOT NULL                                    -- a known value sealed under the store's key
);

CREATE TABLE projects (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    default_country TEXT NOT NULL,
    hours_start     TEXT,                                     -- 'HH:MM', NULL: any time
    hours_end       TEXT,
    hours_policy    TEXT NOT NULL DEFAULT 'shift',            -- 'shift' or 'reject'
    horizon_days    BIGINT NOT NULL DEFAULT 90,
    max_actions     BIGINT NOT NULL DEFAULT 16
);
CREATE INDEX projects_tenant ON projects(tenant_id);

CREATE TABLE dispositions (
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    id          BIGINT NOT NULL,
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    system      BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE records (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id),
    project_id      BIGINT NOT NULL REFERENCES projects(id),
    phone           TEXT COLLATE "C" NOT NULL,                -- E.164
    time_zone       TEXT,                                     -- NULL: the project's
    fields          JSONB NOT NULL DEFAULT '[]',              -- [[name, value], ...]
    disposition_id  BIGINT,
    next_calldate   BIGINT
);
CREATE INDEX records_phone ON records(tenant_id, project_id, phone);
CREATE INDEX records_project ON records(tenant_id, project_id, id);

CREATE TABLE events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT NOT NULL REFERENCES tenants(id),
    project_id   BIGINT NOT NULL REFERENCES projects(id),
    dedupe_key   TEXT NOT NULL,                               -- kind, message id, status
    message_id   TEXT NOT NULL,
    subject      TEXT NOT NULL,                               -- the record or phone it concerns
    input        JSONB NOT NULL,                              -- the journaled input
    received_at  BIGINT NOT NULL,
    state        TEXT NOT NULL,                               -- 'pending', 'done', 'failed', 'superseded'
    resolved     JSONB,                                       -- the event as plugins saw it
    processed_at BIGINT,
    accepted_us  BIGINT,                                      -- Unix µs when journaled
    decided_us   BIGINT,                                      -- Unix µs when its decision committed
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX events_pending ON events(tenant_id, id) WHERE state = 'pending';

CREATE TABLE record_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id       BIGINT NOT NULL REFERENCES records(id),
    event_id        BIGINT REFERENCES events(id),
    event_type      TEXT NOT NULL,                            -- 'SMS', 'API'
    user_name       TEXT NOT NULL,                            -- 'System' for plugin actions
    created_at      BIGINT NOT NULL,                          -- when the disposition was set
    disposition_id  BIGINT NOT NULL,
    next_calldate   BIGINT,
    plugin          TEXT,
    plugin_version  BIGINT,
    note            TEXT
);
CREATE INDEX record_events_record ON record_events(record_id);
CREATE UNIQUE INDEX record_events_once ON record_events(event_id, record_id, plugin)
    WHERE event_id IS NOT NULL;

CREATE TABLE manual_dispositions (
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id),
    idempotency_key TEXT NOT NULL,
    record_event_id BIGINT NOT NULL REFERENCES record_events(id),
    PRIMARY KEY (tenant_id, idempotency_key)
);

CREATE TABLE do_not_contact (
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    phone       TEXT COLLATE "C" NOT NULL,                    -- E.164
    source      TEXT NOT NULL,                                -- 'opt-out' or 'api'
    event_id    BIGINT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);

CREATE TABLE plugin_versions (
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    name        TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    component   BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);
CREATE INDEX plugin_versions_sha256 ON plugin_versions(sha256);

CREATE TABLE plugins (
    tenant_id        BIGINT NOT NULL REFERENCES tenants(id),
    name             TEXT COLLATE "C" NOT NULL,
    active_version   BIGINT,
    previous_version BIGINT,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE bindings (
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    plugin      TEXT COLLATE "C" NOT NULL,
    priority    INTEGER NOT NULL,
    config      JSONB NOT NULL DEFAULT '{}',                  -- object of strings
    PRIMARY KEY (project_id, plugin)
);

CREATE TABLE binding_configs (
    sha256 TEXT PRIMARY KEY,
    config JSONB NOT NULL
);

CREATE TABLE decisions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    BIGINT NOT NULL REFERENCES events(id),
    plugin      TEXT NOT NULL,
    version     BIGINT,
    priority    INTEGER NOT NULL,
    outcome     TEXT NOT NULL,                                -- 'ok', 'failed', 'opted_out'
    error_code  TEXT,
    error       TEXT,
    fuel_used   BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    logs        JSONB NOT NULL,
    verdicts    JSONB NOT NULL,                               -- each action, its verdict, whether it executed
    actions     JSONB NOT NULL DEFAULT '[]',
    config      JSONB NOT NULL DEFAULT '{}',
    config_sha  TEXT,                                         -- binding_configs.sha256; NULL: `config` inline
    lookups     JSONB NOT NULL DEFAULT '[]'
);
CREATE INDEX decisions_event ON decisions(event_id);
CREATE INDEX decisions_plugin ON decisions(plugin, event_id);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id),
    event_id        BIGINT NOT NULL REFERENCES events(id),
    record_id       BIGINT NOT NULL,
    disposition_id  BIGINT NOT NULL,
    next_calldate   BIGINT,
    plugin          TEXT NOT NULL,
    plugin_version  BIGINT,
    note            TEXT,
    state           TEXT NOT NULL DEFAULT 'pending',          -- pending, delivered, refused, failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    queued_at       BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    result          JSONB NOT NULL DEFAULT 'null'             -- the remote's entry or the error
);
CREATE INDEX outbox_pending ON outbox(tenant_id, id) WHERE state = 'pending';
CREATE INDEX outbox_event ON outbox(event_id);
"#,
    // What happens to a callback already past when it executes: 'reject'
    // (as every project did before) or 'now'; SQLite's migration 11.
    r#"
ALTER TABLE projects ADD COLUMN past_callback_policy TEXT NOT NULL DEFAULT 'reject';
"#,
    // A tenant's webhook events per second, one token bucket for every
    // host (store::RateLimits); PostgreSQL only: one SQLite host keeps its
    // buckets in memory.
    r#"
CREATE TABLE rate_buckets (
    tenant_id   BIGINT PRIMARY KEY REFERENCES tenants(id),
    tokens      DOUBLE PRECISION NOT NULL,                    -- left after the last take
    refilled_at TIMESTAMPTZ NOT NULL,                         -- the database's clock at the last take
    granted     DOUBLE PRECISION NOT NULL                     -- what the last take got, for its RETURNING
);
"#,
    // Claims as leases, for many hosts on one database: a pending event's
    // claim names its host and runs out on the database's clock; the index
    // answers "is an earlier event of this subject still pending"; a
    // tenant's outbox is delivered by the one host holding its lease.
    r#"
ALTER TABLE events ADD COLUMN lease_owner TEXT;                -- the host that claimed it
ALTER TABLE events ADD COLUMN lease_until TIMESTAMPTZ;         -- the claim's end, the database's clock
CREATE INDEX events_pending_subject ON events(tenant_id, subject, id) WHERE state = 'pending';

CREATE TABLE outbox_leases (
    tenant_id BIGINT PRIMARY KEY,
    host      TEXT NOT NULL,                                    -- the host delivering the tenant's outbox
    until     TIMESTAMPTZ NOT NULL                              -- the database's clock
);
"#,
    // The settings generation, as in SQLite's schema: every change to a
    // setting a host memoizes (store/cached.rs) bumps it, whoever makes it,
    // and says so on the `smstrigger_settings` channel, so hosts forget
    // their memos at once (the notification) or at their next poll (the
    // number: a listener that was disconnected hears nothing). Only the
    // tenants' settings columns count (a later one must be added to the
    // trigger); API keys, events, decisions and
    // records leave it alone. The triggers are deferred to the commit, so
    // the one row is locked only while a transaction commits: settings
    // changes on many hosts never wait on it for long, and never deadlock
    // over it (nothing is locked after it).
    r#"
CREATE TABLE settings_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO settings_generation (id, generation) VALUES (1, 0);
CREATE FUNCTION settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE settings_generation SET generation = generation + 1 WHERE id = 1;
    PERFORM pg_notify('smstrigger_settings', '');
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER settings_tenants
    AFTER INSERT OR DELETE OR UPDATE OF name, webhook_secret, webhook_auth, opt_out_keywords,
        executor, executor_token, limits, previous_webhook_secret, previous_secret_until,
        accept_window ON tenants
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settings_changed();
CREATE CONSTRAINT TRIGGER settings_projects AFTER INSERT OR UPDATE OR DELETE ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settings_changed();
CREATE CONSTRAINT TRIGGER settings_dispositions AFTER INSERT OR UPDATE OR DELETE ON dispositions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settings_changed();
CREATE CONSTRAINT TRIGGER settings_plugins AFTER INSERT OR UPDATE OR DELETE ON plugins
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settings_changed();
CREATE CONSTRAINT TRIGGER settings_plugin_versions
    AFTER INSERT OR UPDATE OR DELETE ON plugin_versions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settings_changed();
CREATE CONSTRAINT TRIGGER settings_bindings AFTER INSERT OR UPDATE OR DELETE ON bindings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settings_changed();
"#,
    // The records' indexes, so the look-up by phone (one per decided
    // inbound event) takes its own index whatever the statistics say.
    // Without statistics (records imported since the last ANALYZE) the
    // planner saw two indexes leading with (tenant, project) as equally
    // good and walked the project's records by id for every look-up
    // (3.3 ms each over 10,000 records, the cluster proof's bottleneck).
    // The project's index now leads with the project (ids page within it;
    // a project belongs to one tenant), so only the phone index has all
    // three columns the look-up binds.
    //
    // And room in the events' pages: a claim and each renewal of it
    // rewrite an event's row, and a row rewritten on a full page gets new
    // entries in every index (the pending ones included), which each claim
    // then walks past until a vacuum; with free space on the page the
    // rewrite stays on it (a HOT update) and the indexes are untouched.
    r#"
DROP INDEX records_project;
CREATE INDEX records_project ON records(project_id, id);
ALTER TABLE events SET (fillfactor = 70);
"#,
    // SMS the host sent (the embedded sender's record), each committed
    // with the decision that sent it: once per event, record and plugin.
    r#"
CREATE TABLE messages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id),
    project_id      BIGINT NOT NULL REFERENCES projects(id),
    record_id       BIGINT NOT NULL REFERENCES records(id),
    event_id        BIGINT NOT NULL REFERENCES events(id),
    message_id      TEXT NOT NULL,
    phone           TEXT COLLATE "C" NOT NULL,                -- E.164
    text            TEXT NOT NULL,
    sender_id       TEXT,
    template_id     TEXT,
    plugin          TEXT COLLATE "C" NOT NULL,
    plugin_version  BIGINT,
    status          TEXT NOT NULL,                            -- 'sent'
    created_at      BIGINT NOT NULL,
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
ALTER TABLE messages ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at BIGINT;   -- Unix seconds; NULL: not queued
ALTER TABLE messages ADD COLUMN leased_until BIGINT;     -- a claim's lease (Unix seconds); NULL: none
ALTER TABLE messages ADD COLUMN provider_sid TEXT;
ALTER TABLE messages ADD COLUMN error TEXT;
CREATE INDEX messages_queued ON messages(next_attempt_at, tenant_id) WHERE status = 'queued';
CREATE UNIQUE INDEX messages_message_id ON messages(tenant_id, message_id);
ALTER TABLE tenants ADD COLUMN sms_sender JSONB NOT NULL DEFAULT '{"kind":"embedded"}';
ALTER TABLE tenants ADD COLUMN sms_sender_token BYTEA;      -- sealed (secrets.rs); NULL: none
"#,
    // A project's rules for SMS (sending hours, policy, per-day cap,
    // segments), as JSON; '{}' is every default.
    r#"
ALTER TABLE projects ADD COLUMN sms_rules JSONB NOT NULL DEFAULT '{}';
"#,
    // Contact attempts per record in a rolling window: the project's rule,
    // as JSON ('{}' is every default), and each attempt counted (a call
    // disposition received, a callback the host scheduled), written with
    // the decision that saw it.
    r#"
ALTER TABLE projects ADD COLUMN contact_rules JSONB NOT NULL DEFAULT '{}';
CREATE TABLE contact_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    record_id   BIGINT NOT NULL REFERENCES records(id),
    event_id    BIGINT NOT NULL REFERENCES events(id),
    kind        TEXT NOT NULL,                      -- 'call' or 'callback'
    at          BIGINT NOT NULL                     -- Unix seconds
);
CREATE INDEX contact_attempts_record ON contact_attempts(tenant_id, record_id, at);
"#,
    // A message may go to a phone with no record (the host's answer to a
    // stranger's HELP or opt-out).
    r#"
ALTER TABLE messages ALTER COLUMN record_id DROP NOT NULL;
"#,
    // The audit trail: every change to a tenant's rules and settings, who
    // made it (a key by its id, never the key), from what to what, why;
    // kind and plugin apart for filtering, the rest as the change's JSON.
    r#"
CREATE TABLE audit (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    at          BIGINT NOT NULL,                     -- Unix seconds, the store's clock
    kind        TEXT NOT NULL,
    plugin      TEXT,
    change      JSONB NOT NULL
);
CREATE INDEX audit_tenant ON audit(tenant_id, id);
CREATE INDEX audit_plugin ON audit(tenant_id, plugin, id);
"#,
    // Shadows: a candidate version of a plugin run on the events its
    // active version decided (after the shadow started, up to its cursor),
    // off the live path, each comparison recorded once.
    r#"
CREATE TABLE shadows (
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    plugin      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    after_event BIGINT NOT NULL,                     -- runs on events after this one are compared
    cursor      BIGINT NOT NULL,                     -- the last event compared (or skipped)
    PRIMARY KEY (tenant_id, plugin)
);
CREATE TABLE shadow_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    plugin      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    event_id    BIGINT NOT NULL REFERENCES events(id),
    outcome     TEXT NOT NULL,                      -- 'same', 'different', 'failed'
    active      JSONB NOT NULL,                      -- what the active version decided
    candidate   JSONB NOT NULL,                      -- what the shadow would have, with verdicts
    UNIQUE (tenant_id, plugin, version, event_id)
);
"#,
];
