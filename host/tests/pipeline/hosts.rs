//! Many hosts on one PostgreSQL database: each runs its own pipeline over
//! its own store handle, and together they decide every event exactly
//! once, a record's events one at a time and in order. (A decided event
//! keeps the name of the host whose lease it was decided under.)
//!
//! On a schema of its own ([`super::pg`], whose rule says when it is
//! skipped).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::secrets::SecretsKey;
use smstrigger_host::store::PgStore;
use smstrigger_test_components as components;

use super::*;

const RECORDS: usize = 8;
const STATUSES_PER_RECORD: usize = 5;

/// Two hosts, each with its own pipeline running, take webhooks for one
/// tenant's records; each event is decided once, by one host, and each
/// record's event list holds its events in the order they were journaled.
#[test]
fn two_hosts_on_one_database_decide_every_event_once_in_order() {
    let Some(database) = pg::Schema::fresh() else {
        return;
    };
    let key = SecretsKey::generate();
    let stores: Vec<Arc<PgStore>> = (0..2)
        .map(|_| Arc::new(PgStore::open_config(database.config.clone(), key.clone()).unwrap()))
        .collect();
    let store = &stores[0];
    let tenant = store.create_tenant("acme", "secret").unwrap().id;
    let project = store
        .create_project(tenant, &settings(CallingHoursPolicy::Shift))
        .unwrap();
    install(
        store.as_ref(),
        tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    store
        .set_bindings(
            tenant,
            project.id,
            &[Binding {
                plugin: "delivered-followup".into(),
                priority: 10,
                config: Default::default(),
            }],
        )
        .unwrap();
    let records: Vec<StoredRecord> = (0..RECORDS)
        .map(|i| {
            create_record(
                store.as_ref(),
                tenant,
                project.id,
                &format!("+3630123450{i}"),
            )
        })
        .collect();
    let pipelines: Vec<Arc<Pipeline>> = stores
        .iter()
        .map(|store| {
            let store: Arc<dyn Store> = store.clone();
            let executor = Arc::new(EmbeddedExecutor::with_clock(
                Arc::clone(&store),
                Clock::pinned(EXECUTION_CLOCK),
            ));
            // Few events held per host, so neither takes the whole backlog.
            let config = PipelineConfig {
                per_tenant: 4,
                ..fixed_dates()
            };
            Pipeline::new(store, runtime(), executor, config)
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let running: Vec<_> = pipelines
        .iter()
        .map(|pipeline| pipeline.start(Arc::clone(&stop)))
        .collect();

    // Statuses arrive at either host, a record's at both.
    let mut journaled = Vec::new();
    for n in 0..STATUSES_PER_RECORD {
        for (i, record) in records.iter().enumerate() {
            let at = local("2026-12-01 10:00") + (n * 60) as Timestamp;
            let incoming = Incoming::Status {
                message_id: format!("m-{i}-{n}"),
                project_id: project.id,
                record_id: record.id,
                status: DeliveryStatus::Delivered,
                template_id: None,
                timestamp: at,
            };
            let host = &pipelines[(i + n) % 2];
            journaled.push(accepted(host.accept(tenant, incoming).unwrap()));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while store.pending_count().unwrap() > 0 {
        assert!(Instant::now() < deadline, "the hosts did not drain");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    for pipeline in &pipelines {
        pipeline.notify();
    }
    for handle in running {
        handle.join().unwrap();
    }

    let deciders: Vec<String> = database
        .client()
        .query("SELECT DISTINCT lease_owner FROM events ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut hosts: Vec<String> = stores.iter().map(|s| s.host().to_owned()).collect();
    hosts.sort();
    assert_eq!(deciders, hosts, "both hosts decided events");
    for id in &journaled {
        let view = store.event(tenant, *id).unwrap();
        assert_eq!(view.decisions.len(), 1, "event {id} decided once");
    }
    for record in &records {
        let entries = store.record_events(tenant, record.id).unwrap();
        let events: Vec<EventId> = entries.iter().filter_map(|e| e.event_id).collect();
        assert_eq!(events.len(), STATUSES_PER_RECORD, "one entry per event");
        assert!(
            events.windows(2).all(|w| w[0] < w[1]),
            "a record's events in journal order: {events:?}"
        );
        let last = store.record(tenant, record.id).unwrap();
        let latest = local("2026-12-01 10:00") + ((STATUSES_PER_RECORD - 1) * 60) as Timestamp;
        assert_eq!(last.next_calldate, Some(latest + 48 * 3600));
    }
}
