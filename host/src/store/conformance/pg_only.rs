//! What only the PostgreSQL back end has: migrations recorded in
//! `schema_migrations`, several hosts opening one database at once, the
//! secrets key checked against the database, an unreachable server, the
//! token buckets every host shares ([`RateLimits`]), claims as leases
//! between hosts (events and outboxes), and hearing of other hosts'
//! settings changes.

use std::collections::HashSet;
use std::sync::Barrier;
use std::time::Instant;

use super::journal::{accepted, entry, ids, processed, write};
use super::*;
use crate::store::postgres::{APPLICATION_NAME, DEFAULT_LEASE, MIGRATIONS};

/// A lease short enough for a test to outlive, long enough for the
/// statements in between on a loaded machine.
const SHORT_LEASE: Duration = Duration::from_millis(600);

/// Two hosts on a fresh database, the first with claims lasting `lease`
/// (the second with the default), and a tenant with a project.
fn two_hosts(lease: Duration) -> Option<(Schema, PgStore, PgStore, TenantId, ProjectId)> {
    let schema = Schema::fresh()?;
    let key = SecretsKey::generate();
    let a = PgStore::open_config(schema.config.clone(), key.clone())
        .unwrap()
        .with_lease(lease);
    let b = PgStore::open_config(schema.config.clone(), key).unwrap();
    assert_ne!(a.host(), b.host());
    let (tenant, project) = tenant_with_project(&a, "t");
    Some((schema, a, b, tenant, project.id))
}

/// Hosts claiming one tenant's backlog at once each get their own events:
/// together all of them, none twice.
#[test]
fn two_hosts_never_claim_the_same_event() {
    let Some((_schema, a, b, tenant, project)) = two_hosts(DEFAULT_LEASE) else {
        return;
    };
    let entries: Vec<_> = (0..60)
        .map(|i| entry(tenant, project, &format!("e{i}"), &format!("r{}", i % 20)))
        .collect();
    let journaled: HashSet<EventId> = accepted(&a, &entries).into_iter().collect();
    let start = Barrier::new(2);
    let claim_all = |store: &PgStore| {
        start.wait();
        let mut mine = Vec::new();
        let mut after = EventId(0);
        loop {
            let events = store.claim(tenant, after, 4).unwrap();
            let Some(last) = events.last() else {
                break;
            };
            after = after.max(last.id);
            mine.extend(ids(&events));
        }
        mine
    };
    let (mine_a, mine_b) = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| claim_all(&a));
        let on_b = scope.spawn(|| claim_all(&b));
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    let (set_a, set_b): (HashSet<_>, HashSet<_>) = (
        mine_a.iter().copied().collect(),
        mine_b.iter().copied().collect(),
    );
    assert_eq!(set_a.len(), mine_a.len(), "A got nothing twice");
    assert!(set_a.is_disjoint(&set_b), "no event on both hosts");
    // What one host left (a subject the other held) it gets after the
    // other is done; here the other simply releases.
    a.release_claims().unwrap();
    b.release_claims().unwrap();
    let all: HashSet<EventId> = ids(&a.claim(tenant, EventId(0), 100).unwrap())
        .into_iter()
        .collect();
    assert_eq!(all, journaled);
}

/// While host A holds a subject's first event, B gets none of that
/// subject's later events (one event per customer at a time), but others.
#[test]
fn a_subjects_later_event_waits_while_another_host_holds_its_first() {
    let Some((_schema, a, b, tenant, project)) = two_hosts(DEFAULT_LEASE) else {
        return;
    };
    let events = accepted(
        &a,
        &[
            entry(tenant, project, "1", "alice"),
            entry(tenant, project, "2", "alice"),
            entry(tenant, project, "3", "bob"),
        ],
    );
    let first = a.claim(tenant, EventId(0), 1).unwrap();
    assert_eq!(ids(&first), [events[0]]);
    let bobs = b.claim(tenant, EventId(0), 10).unwrap();
    assert_eq!(ids(&bobs), [events[2]], "alice's second waits for A");
    let second = a.claim(tenant, events[0], 10).unwrap();
    assert_eq!(
        ids(&second),
        [events[1]],
        "A, which holds alice's first, gets her second"
    );
    a.commit(&[processed(&first[0], "a"), processed(&second[0], "a")])
        .unwrap();
    b.commit(&[processed(&bobs[0], "b")]).unwrap();
    assert_eq!(a.pending_count().unwrap(), 0);
}

/// A host that stops renewing (a dead one) loses its events when their
/// leases run out: another claims them, and the first host's late commit
/// writes nothing of those, while its other events, which nobody took,
/// still commit with it. The new holder's commit works.
#[test]
fn a_dead_hosts_events_go_to_another_host_and_its_late_commit_writes_nothing() {
    let Some((_schema, a, b, tenant, project)) = two_hosts(SHORT_LEASE) else {
        return;
    };
    let record = a
        .create_record(
            tenant,
            &NewRecord {
                project_id: project,
                phone: "+36301234567".into(),
                time_zone: None,
                fields: vec![],
            },
        )
        .unwrap();
    let events = accepted(
        &a,
        &[
            entry(tenant, project, "1", "alice"),
            entry(tenant, project, "2", "bob"),
        ],
    );
    let held = a.claim(tenant, EventId(0), 10).unwrap();
    assert_eq!(ids(&held), events);
    assert!(
        b.claim(tenant, EventId(0), 10).unwrap().is_empty(),
        "A holds both"
    );
    std::thread::sleep(SHORT_LEASE + Duration::from_millis(200));
    let taken = b.claim(tenant, EventId(0), 1).unwrap();
    assert_eq!(ids(&taken), [events[0]], "B takes over A's first");

    let mut late = processed(&held[0], "a");
    late.writes = vec![write(record.id, 2, "a")];
    let mut other = processed(&held[1], "a");
    other.writes = vec![write(record.id, 5, "a")];
    a.commit(&[late, other]).unwrap();
    let view = b.event(tenant, events[0]).unwrap();
    assert_eq!(
        view.state,
        EventState::Pending,
        "A's late commit wrote nothing"
    );
    assert!(view.decisions.is_empty());
    let view = b.event(tenant, events[1]).unwrap();
    assert_eq!(view.state, EventState::Done, "nobody took A's second");
    assert_eq!(view.decisions[0].plugin, "a");
    let entries = a.record_events(tenant, record.id).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [Some(events[1])]
    );

    let mut decided = processed(&taken[0], "b");
    decided.writes = vec![write(record.id, 7, "b")];
    b.commit(&[decided]).unwrap();
    let view = b.event(tenant, events[0]).unwrap();
    assert_eq!(view.state, EventState::Done);
    assert_eq!(
        view.decisions
            .iter()
            .map(|d| d.plugin.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!(a.record(tenant, record.id).unwrap().disposition_id, Some(7));
    assert_eq!(a.pending_count().unwrap(), 0);
}

/// Renewing keeps a claim past its lease; once renewals stop, it runs out.
#[test]
fn renewed_claims_outlive_their_lease() {
    let Some((_schema, a, b, tenant, project)) = two_hosts(SHORT_LEASE) else {
        return;
    };
    let events = accepted(&a, &[entry(tenant, project, "1", "alice")]);
    assert_eq!(ids(&a.claim(tenant, EventId(0), 10).unwrap()), events);
    let until = std::time::Instant::now() + 3 * SHORT_LEASE;
    while std::time::Instant::now() < until {
        a.renew_claims().unwrap();
        assert!(b.claim(tenant, EventId(0), 10).unwrap().is_empty());
        std::thread::sleep(SHORT_LEASE / 6);
    }
    std::thread::sleep(SHORT_LEASE + Duration::from_millis(200));
    assert_eq!(ids(&b.claim(tenant, EventId(0), 10).unwrap()), events);
}

/// Released claims (a graceful shutdown) are free at once, long before
/// their leases would run out.
#[test]
fn released_claims_are_free_at_once() {
    let Some((_schema, a, b, tenant, project)) = two_hosts(DEFAULT_LEASE) else {
        return;
    };
    let events = accepted(
        &a,
        &[
            entry(tenant, project, "1", "alice"),
            entry(tenant, project, "2", "alice"),
        ],
    );
    assert_eq!(ids(&a.claim(tenant, EventId(0), 10).unwrap()), events);
    assert!(b.claim(tenant, EventId(0), 10).unwrap().is_empty());
    a.release_claims().unwrap();
    assert_eq!(ids(&b.claim(tenant, EventId(0), 10).unwrap()), events);
    assert!(a.claim(tenant, EventId(0), 10).unwrap().is_empty());
}

/// One host at a time delivers a tenant's outbox: the other gets none of
/// its items and cannot settle one, until the holder releases its lease.
#[test]
fn one_host_at_a_time_delivers_a_tenants_outbox() {
    let Some((_schema, a, b, tenant, project)) = two_hosts(DEFAULT_LEASE) else {
        return;
    };
    accepted(&a, &[entry(tenant, project, "1", "alice")]);
    let claimed = a.claim(tenant, EventId(0), 10).unwrap();
    let mut decided = processed(&claimed[0], "p");
    decided.outbox = vec![write(RecordId(1), 2, "p"), write(RecordId(2), 2, "p")];
    a.commit(std::slice::from_ref(&decided)).unwrap();
    let now = decided.processed_at;

    // Racing for it, exactly one host gets the items.
    let start = Barrier::new(2);
    let take = |store: &PgStore| {
        start.wait();
        store.outbox_pending(tenant, 10).unwrap()
    };
    let (got_a, got_b) = std::thread::scope(|scope| {
        let from_a = scope.spawn(|| take(&a));
        let from_b = scope.spawn(|| take(&b));
        (from_a.join().unwrap(), from_b.join().unwrap())
    });
    assert!(
        got_a.is_empty() != got_b.is_empty(),
        "one host: {} and {} items",
        got_a.len(),
        got_b.len()
    );
    let (holder, other, items) = if got_a.is_empty() {
        (&b, &a, got_b)
    } else {
        (&a, &b, got_a)
    };
    assert_eq!(items.len(), 2);
    assert!(other.outbox_pending(tenant, 10).unwrap().is_empty());
    assert!(other.outbox_due_tenants(now).unwrap().is_empty());
    assert_eq!(holder.outbox_due_tenants(now).unwrap(), [tenant]);

    let settlement = Settlement {
        state: DeliveryState::Delivered,
        attempts: 1,
        next_attempt_at: now,
        result: serde_json::json!({ "entry": 1 }),
        verdicts: serde_json::json!([]),
    };
    let error = failure(other.settle(&items[0], &settlement));
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    holder.settle(&items[0], &settlement).unwrap();

    holder.release_claims().unwrap();
    let rest = other.outbox_pending(tenant, 10).unwrap();
    assert_eq!(rest, &items[1..]);
    let error = failure(holder.settle(&items[1], &settlement));
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    other.settle(&items[1], &settlement).unwrap();
    assert_eq!(a.outbox_pending_count().unwrap(), 0);
}

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
