//! What only the PostgreSQL back end has: migrations recorded in
//! `schema_migrations`, several hosts opening one database at once, the
//! secrets key checked against the database, an unreachable server, the
//! token buckets every host shares ([`RateLimits`]), and hearing of other
//! hosts' settings changes.

use std::time::Instant;

use super::*;
use crate::store::postgres::{APPLICATION_NAME, MIGRATIONS};

fn applied(schema: &Schema) -> Vec<i64> {
    schema
        .client()
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Hosts starting together on a new database each apply nothing twice,
/// and all of them open it.
#[test]
fn migrations_apply_once_when_hosts_open_a_new_database_together() {
    let Some(schema) = Schema::fresh() else {
        return;
    };
    let key = SecretsKey::generate();
    let opens: Vec<_> = (0..3)
        .map(|_| {
            let (config, key) = (schema.config.clone(), key.clone());
            std::thread::spawn(move || PgStore::open_config(config, key).map(drop))
        })
        .collect();
    for open in opens {
        open.join().unwrap().unwrap();
    }
    let all: Vec<i64> = (1..=MIGRATIONS.len() as i64).collect();
    assert_eq!(applied(&schema), all);
    let store = PgStore::open_config(schema.config.clone(), key).unwrap();
    assert_eq!(applied(&schema), all, "a reopen applies nothing");
    store.create_tenant("t", "s").unwrap();
}

#[test]
fn a_wrong_secrets_key_fails_at_open() {
    let Some(schema) = Schema::fresh() else {
        return;
    };
    PgStore::open_config(schema.config.clone(), SecretsKey::generate()).unwrap();
    let error = PgStore::open_config(schema.config.clone(), SecretsKey::generate())
        .err()
        .expect("another key opens nothing");
    assert!(matches!(error, Error::Secrets(_)), "{error:?}");
}

/// The executor token is sealed in its own column, bound to its tenant:
/// neither the executor JSON nor the sealed bytes hold it in plain text.
#[test]
fn executor_tokens_are_sealed_at_rest() {
    let Some(fixture) = postgres() else {
        return;
    };
    let Some(schema) = fixture._place.downcast_ref::<Schema>() else {
        panic!("a PostgreSQL fixture lives in a schema");
    };
    let store = &fixture.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let mut settings = store.tenant(tenant).unwrap();
    settings.executor = ExecutorSettings::Remote {
        base_url: "https://cc.example/v2".into(),
        account: "7".into(),
        token: "plain-token-bytes".into(),
    };
    store.update_tenant(tenant, &settings).unwrap();
    let row = schema
        .client()
        .query_one(
            "SELECT executor::text, executor_token FROM tenants WHERE id = $1",
            &[&(tenant.0 as i64)],
        )
        .unwrap();
    let (executor, sealed): (String, Vec<u8>) = (row.get(0), row.get(1));
    assert!(!executor.contains("plain-token"), "{executor}");
    assert!(!sealed.windows(5).any(|w| w == b"plain"), "sealed");
    assert_eq!(store.tenant(tenant).unwrap(), settings);
}

/// A server that does not answer is a transient failure, named, whatever
/// the test server's state.
#[test]
fn an_unreachable_server_is_unavailable() {
    let error = PgStore::open(
        "postgres://postgres@127.0.0.1:1/test",
        SecretsKey::generate(),
    )
    .err()
    .expect("nothing listens on port 1");
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
}

#[test]
fn a_database_url_that_does_not_parse_is_named() {
    let error = PgStore::open("postgres://[::1", SecretsKey::generate())
        .err()
        .expect("not a URL");
    assert!(error.to_string().contains("database URL"), "{error}");
}

/// A tenant's first take finds its bucket full (one second of burst), and
/// takes get whole tokens, no more than are left.
#[test]
fn a_new_bucket_is_full_and_grants_whole_tokens() {
    let Some(fixture) = postgres() else {
        return;
    };
    let store = &fixture.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    assert_eq!(store.take_tokens(tenant, 5, 3).unwrap(), 3);
    assert_eq!(store.take_tokens(tenant, 5, 3).unwrap(), 2, "2 left");
    assert_eq!(store.take_tokens(tenant, 5, 3).unwrap(), 0, "empty");
    std::thread::sleep(Duration::from_millis(450));
    let refilled = store.take_tokens(tenant, 5, 5).unwrap();
    assert!((2..=3).contains(&refilled), "0.45 s at 5/s: {refilled}");
}

/// Three hosts taking one tenant's tokens as fast as they can get, between
/// them, its rate for the time they took plus one burst, within 10%; and
/// another tenant's bucket is untouched by it.
#[test]
fn hosts_taking_one_tenants_tokens_together_get_its_rate_between_them() {
    const RATE: u32 = 200;
    let Some(fixture) = postgres() else {
        return;
    };
    let busy = fixture.store.create_tenant("busy", "s").unwrap().id;
    let other = fixture.store.create_tenant("other", "s").unwrap().id;
    let hosts: Vec<_> = (0..3).map(|_| fixture.another()).collect();
    let run = Duration::from_millis(2500);
    let start = Instant::now();
    let takers: Vec<_> = hosts
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                let mut got = 0;
                while start.elapsed() < run {
                    got += store.take_tokens(busy, RATE, RATE / 20).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
                got
            })
        })
        .collect();
    let got: Vec<u32> = takers.into_iter().map(|t| t.join().unwrap()).collect();
    let total = f64::from(got.iter().sum::<u32>());
    let expected = f64::from(RATE) * (start.elapsed().as_secs_f64() + 1.0);
    assert!(
        (total - expected).abs() <= expected * 0.1,
        "the hosts got {got:?} ({total}), the rate allows {expected:.0}"
    );
    assert_eq!(
        fixture.store.take_tokens(other, RATE, RATE).unwrap(),
        RATE,
        "another tenant's bucket is still full"
    );
}

/// Another host's settings change wakes a store waiting for one at once,
/// and after its listening connection is lost the store listens again.
/// (Other tests' changes on the same server may wake it too: harmless.)
#[test]
fn a_settings_change_wakes_a_waiting_store_also_after_its_listener_was_lost() {
    let Some(schema) = Schema::fresh() else {
        return;
    };
    let key = SecretsKey::generate();
    let store = PgStore::open_config(schema.config.clone(), key.clone()).unwrap();
    let other = PgStore::open_config(schema.config.clone(), key).unwrap();
    let short = Duration::from_millis(1);
    store.wait_for_settings_change(short).unwrap(); // connects, listens
    for round in ["listening", "listening again"] {
        other.create_tenant("t", "s").unwrap();
        let started = Instant::now();
        store
            .wait_for_settings_change(Duration::from_secs(30))
            .unwrap();
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(5),
            "{round}: woken after {waited:?}"
        );

        let terminated = schema
            .client()
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&APPLICATION_NAME],
            )
            .unwrap();
        assert!(!terminated.is_empty(), "the listener is named");
        // A wait notices the loss; a later one connects and listens again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.wait_for_settings_change(short).is_ok() {
            assert!(Instant::now() < deadline, "the loss goes unnoticed");
        }
        while store.wait_for_settings_change(short).is_err() {
            assert!(Instant::now() < deadline, "no new listener");
        }
    }
}
