//! The sandbox's promises beyond limits: a fresh instance per event, a
//! deterministic clock and randomness, the compile cache.

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::runtime::{CompileCache, Runtime};
use smstrigger_test_components as components;

use super::*;

fn note(outcome: &Outcome) -> String {
    let actions = outcome.result.as_ref().expect("the plugin answers");
    actions[0]
        .set_disposition()
        .unwrap()
        .note
        .clone()
        .expect("a note")
}

fn receipt(message_id: &str, at: Timestamp) -> SmsEvent {
    let mut event = outbound(&record(1, "+36301234567"), DeliveryStatus::Delivered, at);
    if let SmsEvent::Outbound(status) = &mut event {
        status.message_id = message_id.into();
    }
    event
}

#[test]
fn every_event_gets_a_fresh_instance() {
    let plugin = load(components::HOSTILE_PLUGIN);
    for _ in 0..3 {
        let outcome = invoke(&plugin, &receipt("m-1", 0), &[("attack", "state")]);
        assert_eq!(note(&outcome), "counter=1");
    }
}

#[test]
fn the_clock_reads_the_event_time_and_randomness_is_seeded_by_the_event() {
    let plugin = load(components::HOSTILE_PLUGIN);
    let config = [("attack", "clock-and-random")];
    let first = note(&invoke(&plugin, &receipt("m-1", 1_800_000_000), &config));
    let again = note(&invoke(&plugin, &receipt("m-1", 1_800_000_000), &config));
    let other = note(&invoke(&plugin, &receipt("m-2", 1_800_000_000), &config));
    assert!(first.starts_with("now=1800000000 "), "{first}");
    assert_eq!(first, again, "the same event must see the same randomness");
    assert_ne!(first, other, "another event must see other randomness");
}

#[test]
fn a_plugin_is_deterministic_down_to_the_fuel_it_uses() {
    let plugin = load(components::REPLY_CALL_TIME);
    let customer = record(3, "+36301234567");
    let sms = inbound(
        &[&customer],
        "+36301234567",
        "2026-12-01 14:30",
        local("2026-11-28 09:00"),
    );
    let first = invoke(&plugin, &sms, &[]);
    let second = invoke(&plugin, &sms, &[]);
    assert_eq!(first.result, second.result);
    assert_eq!(first.logs, second.logs);
    assert_eq!(first.fuel_used, second.fuel_used);
}

#[test]
fn a_restarted_runtime_loads_the_compiled_component_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(components::NOT_TRACEABLE_CALLBACK).unwrap();
    let first = Runtime::new(Some(CompileCache::open(dir.path()).unwrap())).unwrap();
    let plugin = first.load(&bytes).unwrap();
    let cached = dir.path().join(format!("{}.cwasm", plugin.sha256()));
    assert!(
        cached.exists(),
        "the artifact is cached under the component's SHA-256"
    );
    drop(first);

    let modified = std::fs::metadata(&cached).unwrap().modified().unwrap();
    let second = Runtime::new(Some(CompileCache::open(dir.path()).unwrap())).unwrap();
    let plugin = second.load(&bytes).unwrap();
    assert_eq!(
        std::fs::metadata(&cached).unwrap().modified().unwrap(),
        modified,
        "a cached artifact is loaded, not rewritten"
    );
    let event = outbound(&record(1, "+36301234567"), DeliveryStatus::NotTraceable, 0);
    let outcome = second.invoke(
        &plugin,
        Call {
            event: &event,
            config: Default::default(),
            lookup: Arc::new(StaticRecords::default()),
            limits: Limits::default(),
        },
    );
    assert_eq!(outcome.result.unwrap().len(), 1);
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(components::NOT_TRACEABLE_CALLBACK).unwrap();
    let runtime = Runtime::new(Some(CompileCache::open(dir.path()).unwrap())).unwrap();
    let sha = runtime.load(&bytes).unwrap().sha256().to_string();
    std::fs::write(dir.path().join(format!("{sha}.cwasm")), b"garbage").unwrap();
    assert_eq!(runtime.load(&bytes).unwrap().sha256(), sha);
}
