//! One suite of store tests, written once against the store traits and run
//! against every back end: SQLite in a temporary directory, PostgreSQL in
//! a fresh schema per test (dropped after).
//!
//! PostgreSQL is at `SMSTRIGGER_TEST_DATABASE_URL` (default
//! [`DEFAULT_DATABASE_URL`]). When it cannot be reached, its half of each
//! test passes without running and the run says so on stderr, once: a
//! machine without PostgreSQL still passes `cargo test`. With
//! `SMSTRIGGER_REQUIRE_POSTGRES=1` an unreachable server fails those tests
//! instead (CI sets it).
//!
//! Each test module lists its tests in [`conformance!`], which makes one
//! `sqlite::NAME` and one `postgres::NAME` test of each.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::*;
use crate::secrets::SecretsKey;

mod journal;
mod outbox;
mod pg_only;
mod plugins;
mod records;
mod settings;
mod tenants;

/// Where the PostgreSQL half looks when `SMSTRIGGER_TEST_DATABASE_URL` is
/// not set: the server CI starts.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What every back end under test implements: a whole [`Store`].
pub trait Backend: Store + 'static {}

impl<T: Store + 'static> Backend for T {}

/// A fresh, empty store, and the means to open another handle on the same
/// database (another host, as far as the store can tell).
pub struct Fixture<S> {
    pub store: Arc<S>,
    reopen: Box<dyn Fn() -> S>,
    /// The database's place (a directory, a schema), dropped after the
    /// store that uses it.
    _place: Box<dyn std::any::Any>,
}

impl<S> Fixture<S> {
    /// Another handle on the same database.
    pub fn another(&self) -> Arc<S> {
        Arc::new((self.reopen)())
    }

    /// Another handle on the same database with its settings memoized, as
    /// a host runs it.
    pub fn another_cached(&self) -> Cached<S>
    where
        S: Tenants + Send + Sync + 'static,
    {
        Cached::new((self.reopen)())
    }
}

/// A SQLite store in a temporary directory.
pub fn sqlite() -> Fixture<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    Fixture {
        store: Arc::new(SqliteStore::open(&path).unwrap()),
        reopen: Box::new(move || SqliteStore::open(&path).unwrap()),
        _place: Box::new(dir),
    }
}

/// A PostgreSQL store in a fresh schema; `None` when the server cannot be
/// reached and it is not required (said once on stderr).
pub fn postgres() -> Option<Fixture<PgStore>> {
    let schema = Schema::fresh()?;
    let (config, key) = (schema.config.clone(), SecretsKey::generate());
    let store = PgStore::open_config(config.clone(), key.clone()).unwrap();
    Some(Fixture {
        store: Arc::new(store),
        reopen: Box::new(move || PgStore::open_config(config.clone(), key.clone()).unwrap()),
        _place: Box::new(schema),
    })
}

/// A schema of its own on the test server, dropped with everything in it
/// when this is dropped.
pub struct Schema {
    /// Connects into the schema (`search_path` set).
    pub config: ::postgres::Config,
    admin: ::postgres::Config,
    pub name: String,
}

impl Schema {
    /// A new, empty schema; `None` when the server is unreachable and not
    /// required.
    pub fn fresh() -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let url = std::env::var("SMSTRIGGER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let mut admin: ::postgres::Config = match url.parse() {
            Ok(config) => config,
            Err(error) => return skipped(&format!("{url} does not parse: {error}")),
        };
        admin.connect_timeout(Duration::from_secs(3));
        let mut client = match admin.connect(::postgres::NoTls) {
            Ok(client) => client,
            Err(error) => return skipped(&format!("{url} is unreachable: {error}")),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let mut config = admin.clone();
        config.options(&format!("-c search_path={name}"));
        Some(Self {
            config,
            admin,
            name,
        })
    }

    /// A plain client in the schema, for looking under the store.
    pub fn client(&self) -> ::postgres::Client {
        self.config.connect(::postgres::NoTls).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(::postgres::NoTls)
            && let Err(error) = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
        {
            let _ = writeln!(std::io::stderr(), "dropping {}: {error}", self.name);
        }
    }
}

/// Fails when PostgreSQL is required; else says once, past the test
/// harness's capture, that the PostgreSQL tests were skipped.
fn skipped<T>(reason: &str) -> Option<T> {
    if std::env::var("SMSTRIGGER_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("PostgreSQL is required (SMSTRIGGER_REQUIRE_POSTGRES=1) but {reason}");
    }
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| {
        let _ = writeln!(
            std::io::stderr(),
            "PostgreSQL tests skipped: {reason}; set SMSTRIGGER_TEST_DATABASE_URL \
             (default {DEFAULT_DATABASE_URL}) to a reachable server to run them, and \
             SMSTRIGGER_REQUIRE_POSTGRES=1 to make them mandatory"
        );
    });
    None
}

/// Makes each listed generic test `NAME(&Fixture<S>)` one test per back
/// end: `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&crate::store::conformance::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(fixture) = crate::store::conformance::postgres() {
                        super::$name(&fixture);
                    }
                }
            )*
        }
    };
}
use conformance;

/// Project settings for tests: a name, Budapest, no calling hours.
pub fn settings(name: &str) -> ProjectSettings {
    serde_json::from_value(serde_json::json!({
        "name": name, "timeZone": "Europe/Budapest", "defaultCountry": "HU"
    }))
    .unwrap()
}

/// A new tenant with one project.
pub fn tenant_with_project<S: Backend>(store: &S, name: &str) -> (TenantId, Project) {
    let tenant = store.create_tenant(name, "secret").unwrap().id;
    let project = store.create_project(tenant, &settings("p")).unwrap();
    (tenant, project)
}

/// The error of `result`, which must be one.
pub fn failure<T: std::fmt::Debug>(result: Result<T>) -> Error {
    result.expect_err("expected an error")
}
