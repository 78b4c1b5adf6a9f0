//! One suite of store tests, written once against the store traits and run
//! against every back end: SQLite in a temporary directory, PostgreSQL in
//! a fresh schema per test (dropped after).
//!
//! PostgreSQL is at `SMSTRIGGER_TEST_DATABASE_URL` (default
//! [`smstrigger_test_pg::DEFAULT_DATABASE_URL`]). When it cannot be reached, its half of each
//! test passes without running and the run says so on stderr, once: a
//! machine without PostgreSQL still passes `cargo test`. With
//! `SMSTRIGGER_REQUIRE_POSTGRES=1` an unreachable server fails those tests
//! instead (CI sets it).
//!
//! Each test module lists its tests in [`conformance!`], which makes one
//! `sqlite::NAME` and one `postgres::NAME` test of each.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::secrets::SecretsKey;

mod audit;
mod journal;
mod outbox;
mod pg_only;
mod plugins;
mod records;
mod settings;
mod shadows;
mod tenants;

pub use smstrigger_test_pg::Schema;

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

/// A record of `tenant` in `project` with `phone` (E.164) and nothing else.
pub fn record_with_phone<S: Backend>(
    store: &S,
    tenant: TenantId,
    project: ProjectId,
    phone: &str,
) -> StoredRecord {
    let record = NewRecord {
        project_id: project,
        phone: phone.into(),
        time_zone: None,
        fields: vec![],
    };
    store.create_record(tenant, &record).unwrap()
}

/// The error of `result`, which must be one.
pub fn failure<T: std::fmt::Debug>(result: Result<T>) -> Error {
    result.expect_err("expected an error")
}
