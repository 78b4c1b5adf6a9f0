//! The store on PostgreSQL, for many stateless hosts sharing one database.
//!
//! Owns the connection pool, the migrations at open, the check of the
//! secrets key, this host's identity and leases, and the back-end methods
//! of every store trait, [`RateLimits`] (buckets every host shares)
//! included: [`PgStore`] is a [`Store`].
//!
//! The client is the synchronous `postgres` crate with an `r2d2` pool
//! (`r2d2_postgres`). The store traits are synchronous and called from OS
//! threads (the pipeline's workers) and from axum handlers through
//! `spawn_blocking`, exactly what a blocking client fits: each call takes a
//! pooled connection, runs, and gives it back, with no async runtime to
//! bridge into (which `sqlx` or a `deadpool` facade would need, and whose
//! `block_on` inside a runtime thread panics). `postgres` is
//! `tokio-postgres` underneath, so a later move to async keeps the same
//! protocol code, types and errors. Only `with-serde_json-1` is enabled,
//! for `JSONB` columns.
//!
//! Like every back end this store keeps no memos of settings; [`Cached`]
//! does, above it. Every change to a memoized setting, by any host, moves
//! the database's settings generation and notifies `smstrigger_settings`
//! (triggers, see [`schema`]); [`Tenants::wait_for_settings_change`]
//! listens on a connection of its own ([`listen`]) so other hosts' memos
//! are forgotten within milliseconds, and their poll of the generation
//! within [`super::cached::WATCH_EVERY`] when a notification is lost.
//! Concurrency between hosts
//! is the database's: read-modify-write sequences lock the row they depend
//! on (`FOR UPDATE`) or are single statements, and a unique key another
//! transaction took is a `Conflict` ([`error`]).
//!
//! What it assumes of the hosts: each has its own id ([`PgStore::host`])
//! and decides only events it holds a lease on ([`journal`]); leases run
//! on the database's clock, so hosts' clocks may disagree. Times stored in
//! other columns are Unix seconds from the writing host's clock, as SQLite
//! keeps them.
//!
//! Connections are plain TCP or a Unix socket (no TLS yet): run it on a
//! network the operator trusts.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ::postgres::types::ToSql;
use r2d2_postgres::r2d2;

use super::*;
use crate::secrets::SecretsKey;

mod audit;
mod commit;
mod error;
mod journal;
mod listen;
mod outbox;
mod plugins;
mod pool;
mod rate_limits;
mod records;
mod schema;
mod shadows;
mod sms;
mod tenants;

#[cfg(test)]
pub(crate) use listen::APPLICATION_NAME;
#[cfg(test)]
pub(crate) use schema::MIGRATIONS;

/// Connections the pool keeps at most: the pipeline's workers, its
/// dispatcher and the HTTP handlers side by side, per host.
const POOL_SIZE: u32 = 8;

/// How long a call waits for a pooled connection (or a new one) before
/// the store answers `Unavailable`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a claim lasts unless renewed: the longest a dead host's events
/// (and its tenants' outboxes) wait for another host, which looks for
/// them at least once a second: taken over within 5 s of a death. The
/// pipeline renews every second, so a live host keeps its claims through
/// a stall of a few seconds (a slow plugin, a pause).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(4);

/// What `secrets_check` holds sealed: opening it proves the key.
const CHECK_VALUE: &[u8] = b"smstrigger secrets at rest";
const CHECK_CONTEXT: &str = "secrets check";

use pool::Manager;
type Conn = r2d2::PooledConnection<Manager>;

/// The store on one PostgreSQL database (the schema `search_path` names).
///
/// Cheap to share: calls take a pooled connection each, so any number of
/// threads (and hosts) may call at once.
pub struct PgStore {
    pool: r2d2::Pool<Manager>,
    /// Seals and opens the secrets kept at rest (executor tokens); every
    /// host on one database must have the same key.
    secrets: SecretsKey,
    /// This handle's name in leases: unique per process and open.
    host: String,
    /// How long a claim lasts unless renewed.
    lease: Duration,
    /// The events this host claimed and has neither committed nor
    /// released: what [`Journal::renew_claims`] extends.
    claimed: Mutex<HashSet<i64>>,
    /// Hears of settings changes (any host's) for [`Cached`]'s watch.
    listener: listen::Listener,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`), runs
    /// any migrations the database has not had, and checks `key` against
    /// the one its secrets were sealed under (recording it on a new
    /// database). A wrong key fails here, not at the first use.
    pub fn open(url: &str, key: SecretsKey) -> Result<Self> {
        let config: ::postgres::Config = url.parse().map_err(|error| Error::Backend {
            what: format!("the database URL does not parse: {error}"),
        })?;
        Self::open_config(config, key)
    }

    /// Like [`Self::open`], from a parsed configuration (tests set the
    /// `search_path` through its options).
    pub fn open_config(config: ::postgres::Config, key: SecretsKey) -> Result<Self> {
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            // A broken connection fails its call (the caller retries) and
            // is dropped on return; testing each one on the way out cost a
            // round trip per store call, most of a read's cost.
            .test_on_check_out(false)
            .connection_timeout(CONNECT_TIMEOUT)
            .build(Manager::new(config.clone()))?;
        let store = Self {
            pool,
            secrets: key,
            host: host_id(),
            lease: DEFAULT_LEASE,
            claimed: Mutex::default(),
            listener: listen::Listener::new(config),
        };
        let mut conn = store.conn()?;
        migrate(&mut conn)?;
        check_key(&mut conn, &store.secrets)?;
        drop(conn);
        tracing::info!(host = %store.host, "opened the PostgreSQL store");
        Ok(store)
    }

    /// The same store with claims lasting `lease` ([`DEFAULT_LEASE`]
    /// unless set): shorter finds a dead host sooner, and needs renewals
    /// (every second) to reach the database well within it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// This host's name in leases (`hostname-pid-random`), as logs show it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A pooled connection; `Unavailable` when none frees up in time.
    fn conn(&self) -> Result<Conn> {
        Ok(self.pool.get()?)
    }

    /// The lease duration in milliseconds, as the SQL takes it.
    fn lease_ms(&self) -> f64 {
        self.lease.as_secs_f64() * 1000.0
    }

    fn claimed(&self) -> MutexGuard<'_, HashSet<i64>> {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A name for this process's store handle, unique among the hosts on one
/// database: the machine's name, the process id and random bits (two
/// handles in one process, as tests open, are two hosts).
fn host_id() -> String {
    use rand::TryRng;
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut random = [0u8; 4];
    rand::rngs::SysRng
        .try_fill_bytes(&mut random)
        .expect("the OS random source");
    format!("{machine}-{}-{}", std::process::id(), hex::encode(random))
}

/// The advisory lock that serializes migrating one schema: hosts starting
/// together apply each migration once, the others wait and skip it.
const MIGRATION_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('smstrigger migrations ' || current_schema()))";

/// Applies the migrations not yet recorded in `schema_migrations`, each in
/// its own transaction together with its row.
fn migrate(conn: &mut ::postgres::Client) -> Result<()> {
    let mut tx = conn.transaction()?;
    tx.batch_execute(MIGRATION_LOCK)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )?;
    tx.commit()?;
    for (index, migration) in schema::MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        let mut tx = conn.transaction()?;
        tx.batch_execute(MIGRATION_LOCK)?;
        let applied = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )?
            .is_some();
        if applied {
            continue;
        }
        tx.batch_execute(migration)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&version, &now()],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied a PostgreSQL schema migration");
    }
    Ok(())
}

/// Records `key` on a new database, or fails when it is not the key the
/// database's secrets were sealed under.
fn check_key(conn: &mut ::postgres::Client, key: &SecretsKey) -> Result<()> {
    conn.execute(
        "INSERT INTO secrets_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        &[&key.seal(CHECK_CONTEXT, CHECK_VALUE)],
    )?;
    let sealed: Vec<u8> = conn
        .query_one("SELECT sealed FROM secrets_check WHERE id = 1", &[])?
        .try_get(0)?;
    key.open(CHECK_CONTEXT, &sealed)?;
    Ok(())
}

pub(crate) fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound { what: what.into() }
}

/// A caller's unsigned number as the `BIGINT` it is stored as;
/// `OutOfRange` past `i64::MAX` (nothing is looked up or stored).
fn big(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange {
        what: format!(
            "a number in the request is out of range (at most {}): {value}",
            i64::MAX
        ),
    })
}

/// A stored `BIGINT` as the unsigned type the store hands out; a negative
/// or oversized one is stored data the back end cannot explain.
fn unsigned<T: TryFrom<i64>>(value: i64) -> Result<T> {
    T::try_from(value).map_err(|_| Error::Backend {
        what: format!(
            "stored number {value} is out of range for {}",
            std::any::type_name::<T>()
        ),
    })
}

/// Column `index` of `row`, a `BIGINT` read as an unsigned type.
fn get_unsigned<T: TryFrom<i64>>(row: &::postgres::Row, index: usize) -> Result<T> {
    unsigned(row.try_get::<_, i64>(index)?)
}

/// Column `index` of `row`, a nullable `BIGINT` read as an unsigned type.
fn get_opt_unsigned<T: TryFrom<i64>>(row: &::postgres::Row, index: usize) -> Result<Option<T>> {
    row.try_get::<_, Option<i64>>(index)?
        .map(unsigned)
        .transpose()
}

/// Fails unless `project` belongs to `tenant`; with `lock`, holds the
/// project's row until the transaction ends (changes to its bindings or
/// dispositions then run one at a time).
fn owned_project(
    conn: &mut impl ::postgres::GenericClient,
    tenant: TenantId,
    project: ProjectId,
    lock: bool,
) -> Result<()> {
    let sql = if lock {
        "SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2 FOR UPDATE"
    } else {
        "SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2"
    };
    let (project_id, tenant_id) = (big(project.0)?, big(tenant.0)?);
    let params: [&(dyn ToSql + Sync); 2] = [&project_id, &tenant_id];
    conn.query_opt(sql, &params)?
        .map(|_| ())
        .ok_or_else(|| not_found(format!("project {project}")))
}
