//! An event that could not be decided for a reason of the host's (no
//! instance free, a store outage) stays pending and is decided later; it
//! is never recorded as failed and its actions are never lost.

use std::thread;
use std::time::Duration;

use smstrigger_host::model::{DeliveryStatus, SmsEvent};
use smstrigger_host::pipeline::ProcessError;
use smstrigger_host::runtime::{Call, Limits, StaticRecords, pooled_engine};
use smstrigger_test_components as components;

use super::*;

on_both!(
    an_event_that_finds_no_instance_free_is_retried_not_failed,
    a_panic_in_the_committer_fails_one_group_not_the_pipeline,
);

fn an_event_that_finds_no_instance_free_is_retried_not_failed(place: Place) {
    let runtime = Arc::new(Runtime::with_engine(pooled_engine(1).unwrap(), None).unwrap());
    let f = Fixture::with_runtime(place, Arc::clone(&runtime));
    f.install(
        f.tenant,
        "not-traceable",
        components::NOT_TRACEABLE_CALLBACK,
    );
    f.bind(&[("not-traceable", 10, &[])]);
    let record = f.record("+36301234567");

    // Another caller (a neighbour's replay, say) holds the only instance.
    let hostile = runtime
        .load(&std::fs::read(components::HOSTILE_PLUGIN).unwrap())
        .unwrap();
    let holder = {
        let runtime = Arc::clone(&runtime);
        thread::spawn(move || {
            let event = SmsEvent::Outbound(smstrigger_host::model::OutboundStatus {
                message_id: "held".into(),
                project_id: ProjectId(1),
                contact: smstrigger_host::model::ContactRecord {
                    id: RecordId(1),
                    project_id: ProjectId(1),
                    phone: "+36301234567".into(),
                    time_zone: BUDAPEST.into(),
                    fields: vec![],
                    last_disposition: None,
                },
                status: DeliveryStatus::Delivered,
                template_id: None,
                timestamp: 0,
            });
            let limits = Limits {
                fuel: u64::MAX / 2,
                wall_deadline: Duration::from_secs(2),
                ..Limits::default()
            };
            let config = [("attack".to_string(), "loop".to_string())].into();
            runtime.invoke(
                &hostile,
                Call {
                    event: &event,
                    config: Arc::new(config),
                    lookup: Arc::new(StaticRecords::default()),
                    limits,
                },
            )
        })
    };
    wait_until_the_pool_is_full(&runtime);

    let at = local("2026-12-01 10:00");
    let id = accepted(f.status(record.id, "m-1", DeliveryStatus::NotTraceable, at));
    match f.pipeline.process_batch() {
        Err(ProcessError::Host { error, .. }) => assert_eq!(error.code(), "host_busy"),
        other => panic!("expected the host to be busy, got {other:?}"),
    }
    let event = f.event(id);
    assert_eq!(
        event.state,
        smstrigger_host::model::EventState::Pending,
        "not decided on the host's failure"
    );
    assert!(
        event.decisions.is_empty(),
        "no failed decision was recorded"
    );

    holder.join().unwrap();
    thread::sleep(Duration::from_millis(300)); // the tenant's retry is due
    f.drain();
    let event = f.event(id);
    assert_eq!(event.state, smstrigger_host::model::EventState::Done);
    assert_eq!(
        event.decisions[0].outcome,
        smstrigger_host::model::DecisionOutcome::Ok
    );
    assert_eq!(
        f.events_of(record.id).len(),
        1,
        "its callback was set, once"
    );
}

/// Executes through the embedded store, but panics the first time: a bug
/// in an executor (a remote call, say) as the committer meets it.
struct PanicsOnce {
    inner: EmbeddedExecutor,
    panicked: std::sync::atomic::AtomicBool,
}

impl Executor for PanicsOnce {
    fn execute(
        &self,
        processed: &[smstrigger_host::store::ProcessedEvent],
    ) -> Result<(), smstrigger_host::store::Error> {
        if !self
            .panicked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("a bug in an executor");
        }
        self.inner.execute(processed)
    }
}

fn a_panic_in_the_committer_fails_one_group_not_the_pipeline(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "not-traceable",
        components::NOT_TRACEABLE_CALLBACK,
    );
    f.bind(&[("not-traceable", 10, &[])]);
    let record = f.record("+36301234567");
    let store: Arc<dyn Store> = f.store.clone();
    let executor = Arc::new(PanicsOnce {
        inner: EmbeddedExecutor::with_clock(Arc::clone(&store), Clock::pinned(EXECUTION_CLOCK)),
        panicked: Default::default(),
    });
    let pipeline = Pipeline::new(store, runtime(), executor, fixed_dates());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dispatcher = pipeline.start(Arc::clone(&stop));

    let at = local("2026-12-01 10:00");
    let journaled = pipeline
        .accept(
            f.tenant,
            smstrigger_host::pipeline::Incoming::Status {
                message_id: "m-1".into(),
                project_id: f.project.id,
                record_id: record.id,
                status: DeliveryStatus::NotTraceable,
                template_id: None,
                timestamp: at,
            },
        )
        .unwrap();
    let id = accepted(journaled);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while f.event(id).state == smstrigger_host::model::EventState::Pending {
        assert!(
            std::time::Instant::now() < deadline,
            "the event was never decided"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(pipeline.is_healthy(), "the committer survived the panic");
    assert_eq!(f.event(id).state, smstrigger_host::model::EventState::Done);
    assert_eq!(
        f.events_of(record.id).len(),
        1,
        "executed once, after the panic"
    );

    stop.store(true, std::sync::atomic::Ordering::Release);
    pipeline.notify();
    dispatcher.join().unwrap();
    assert!(pipeline.is_healthy(), "a requested stop is not a death");
}

/// Waits until the holder's call has the pool's one instance (a loaded
/// machine may start its thread late).
fn wait_until_the_pool_is_full(runtime: &Runtime) {
    let metrics = runtime.engine().pooling_allocator_metrics().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metrics.component_instances() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never started"
        );
        thread::sleep(Duration::from_millis(5));
    }
}
