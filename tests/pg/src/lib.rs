//! The PostgreSQL side of the tests (the store's conformance suite, the
//! pipeline's, the cluster's): a schema of its own per test on the test
//! server, dropped after.
//!
//! PostgreSQL is at `SMSTRIGGER_TEST_DATABASE_URL` (default
//! [`DEFAULT_DATABASE_URL`]). When it cannot be reached, the PostgreSQL
//! tests pass without running and the run says so on stderr, once: a
//! machine without PostgreSQL still passes `cargo test`. With
//! `SMSTRIGGER_REQUIRE_POSTGRES=1` an unreachable server fails them
//! instead (CI sets it).

use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where the tests look when `SMSTRIGGER_TEST_DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own on the test server, dropped with everything in it
/// when this is dropped.
pub struct Schema {
    /// Connects into the schema (`search_path` set).
    pub config: postgres::Config,
    admin: postgres::Config,
    url: String,
    pub name: String,
}

impl Schema {
    /// A new, empty schema; `None` when the server is unreachable and not
    /// required.
    pub fn fresh() -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let url = std::env::var("SMSTRIGGER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let mut admin: postgres::Config = match url.parse() {
            Ok(config) => config,
            Err(error) => return skipped(&format!("{url} does not parse: {error}")),
        };
        admin.connect_timeout(Duration::from_secs(3));
        let mut client = match admin.connect(postgres::NoTls) {
            Ok(client) => client,
            Err(error) => return skipped(&format!("{url} is unreachable: {error}")),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "test_{}_{}_{nanos}",
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
            url,
            name,
        })
    }

    /// The schema as a URL `smstrigger serve --database-url` takes.
    pub fn url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }

    /// A plain client in the schema, for looking under the store.
    pub fn client(&self) -> postgres::Client {
        self.config.connect(postgres::NoTls).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(postgres::NoTls)
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
