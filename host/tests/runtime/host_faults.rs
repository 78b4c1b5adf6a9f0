//! Failures that are the host's, not the plugin's: they are named as such
//! (`Error::is_host_fault`) so the pipeline retries the event instead of
//! deciding it, and the wall-clock limit counts time spent in the host.

use std::thread;
use std::time::{Duration, Instant};

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::runtime::{Error, LookupFailed, RecordLookup, pooled_engine};
use smstrigger_test_components as components;

use super::*;

fn receipt() -> SmsEvent {
    outbound(&record(1, "+36301234567"), DeliveryStatus::Delivered, 0)
}

fn call<'a>(
    event: &'a SmsEvent,
    attack: &str,
    lookup: Arc<dyn RecordLookup>,
    limits: Limits,
) -> Call<'a> {
    Call {
        event,
        config: Arc::new([("attack".to_string(), attack.to_string())].into()),
        lookup,
        limits,
    }
}

/// Answers every lookup, slowly: a store under load.
struct SlowStore(Duration);

impl RecordLookup for SlowStore {
    fn find_records(&self, _: &str) -> Result<Vec<ContactRecord>, LookupFailed> {
        thread::sleep(self.0);
        Ok(Vec::new())
    }
}

/// Fails every lookup: a store that is down.
struct StoreDown;

impl RecordLookup for StoreDown {
    fn find_records(&self, _: &str) -> Result<Vec<ContactRecord>, LookupFailed> {
        Err(LookupFailed("database is locked".into()))
    }
}

#[test]
fn time_spent_in_the_host_counts_against_the_deadline() {
    let limits = Limits {
        wall_deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let event = receipt();
    let started = Instant::now();
    let outcome = runtime().invoke(
        &load(components::HOSTILE_PLUGIN),
        call(
            &event,
            "lookup-flood",
            Arc::new(SlowStore(Duration::from_millis(100))),
            limits,
        ),
    );
    assert_eq!(outcome.result, Err(Error::Deadline { millis: 300 }));
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "stopped within twice the deadline, not after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_lookup_the_host_cannot_answer_fails_the_call_as_the_hosts_fault() {
    let event = receipt();
    let outcome = runtime().invoke(
        &load(components::HOSTILE_PLUGIN),
        call(
            &event,
            "lookup-flood",
            Arc::new(StoreDown),
            Limits::default(),
        ),
    );
    let error = outcome.result.unwrap_err();
    assert_eq!(
        error,
        Error::LookupFailed {
            reason: "database is locked".into()
        }
    );
    assert!(
        error.is_host_fault(),
        "an outage is never the plugin's decision"
    );
    assert_eq!(outcome.lookups, vec![], "no answer was given to the plugin");
}

#[test]
fn a_call_that_finds_no_instance_free_is_the_hosts_fault_and_runs_once_one_is() {
    let runtime = Arc::new(Runtime::with_engine(pooled_engine(1).unwrap(), None).unwrap());
    let hostile = runtime
        .load(&std::fs::read(components::HOSTILE_PLUGIN).unwrap())
        .unwrap();
    let holder = {
        let (runtime, hostile) = (Arc::clone(&runtime), hostile.clone());
        thread::spawn(move || {
            let event = receipt();
            let limits = Limits {
                fuel: u64::MAX / 2,
                wall_deadline: Duration::from_secs(2),
                ..Limits::default()
            };
            runtime.invoke(
                &hostile,
                call(&event, "loop", Arc::new(StaticRecords::default()), limits),
            )
        })
    };
    wait_until_the_pool_is_full(&runtime); // the loop holds the only instance
    let event = receipt();
    let lookup = || -> Arc<dyn RecordLookup> { Arc::new(StaticRecords::default()) };
    let busy = runtime.invoke(&hostile, call(&event, "ok", lookup(), Limits::default()));
    let error = busy.result.unwrap_err();
    assert_eq!(error.code(), "host_busy", "{error}");
    assert!(error.is_host_fault());

    assert_eq!(
        holder.join().unwrap().result.unwrap_err().code(),
        "deadline_exceeded"
    );
    let again = runtime.invoke(&hostile, call(&event, "ok", lookup(), Limits::default()));
    assert_eq!(again.result, Ok(vec![]));
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
