//! Per-event cost of the runtime beside a raw wasmtime floor and a native
//! call of the same rule, measured in one run on one thread.
//!
//! `cargo bench -p smstrigger-host --bench runtime`
//!
//! Variants, all on `reply-call-time` deciding one inbound reply:
//! - `native`: the rule compiled natively, called through the SDK's test host;
//! - `floor`: the component instantiated from an `InstancePre` with the
//!   pooling allocator and called: no fuel, no epoch, no limiter, default
//!   WASI, host imports that do nothing;
//! - `floor+fuel`, `floor+epoch`: the floor with one interruption mechanism,
//!   to show what each costs on its own;
//! - `runtime`: `Runtime::invoke` with every limit on (fuel, epoch deadline,
//!   memory and table limiter, answer caps, locked-down deterministic WASI,
//!   log capture).
//!
//! Variants run interleaved in rounds so machine noise spreads over all of
//! them; the table reports median and p99 per event and events/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smstrigger_host::model::{ContactRecord, InboundSms, ProjectId, RecordId, SmsEvent};
use smstrigger_host::runtime::{self, Call, Limits, Runtime, StaticRecords};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod floor_bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "trigger" });
}
use floor_bindings::smstrigger::plugin::{host as floor_host, types as floor_types};

const ROUNDS: usize = 20;
const PER_ROUND: usize = 1_000;
const WARMUP: usize = 500;

fn main() {
    let bytes = std::fs::read(smstrigger_test_components::REPLY_CALL_TIME).unwrap();
    let event = event();

    let runtime = Runtime::new(None).unwrap();
    let plugin = runtime.load(&bytes).unwrap();
    let lookup: Arc<dyn runtime::RecordLookup> = Arc::new(StaticRecords::default());
    let config = Arc::new(Default::default());
    let run_runtime = || {
        let outcome = runtime.invoke(
            &plugin,
            Call {
                event: &event,
                config: Arc::clone(&config),
                lookup: Arc::clone(&lookup),
                limits: Limits::default(),
            },
        );
        assert_eq!(outcome.result.unwrap().len(), 1);
    };

    let mut floor = Floor::new(&bytes, false, false);
    let mut floor_fuel = Floor::new(&bytes, true, false);
    let mut floor_epoch = Floor::new(&bytes, false, true);
    let wit_event = floor_event();
    let run_floor = |floor: &mut Floor| floor.call(&wit_event);

    let native_event = native_event();
    let host = smstrigger_sdk::testing::TestHost::new();
    let run_native = || {
        let run = host.run::<reply_call_time::ReplyCallTime>(native_event.clone());
        assert_eq!(run.actions().len(), 1);
    };

    let mut samples: Vec<(&str, Vec<Duration>)> =
        ["native", "floor", "floor+fuel", "floor+epoch", "runtime"]
            .into_iter()
            .map(|name| (name, Vec::with_capacity(ROUNDS * PER_ROUND)))
            .collect();

    for round in 0..=ROUNDS {
        let iterations = if round == 0 { WARMUP } else { PER_ROUND };
        for (name, times) in samples.iter_mut() {
            for _ in 0..iterations {
                let started = Instant::now();
                match *name {
                    "native" => run_native(),
                    "floor" => run_floor(&mut floor),
                    "floor+fuel" => run_floor(&mut floor_fuel),
                    "floor+epoch" => run_floor(&mut floor_epoch),
                    _ => run_runtime(),
                }
                if round > 0 {
                    times.push(started.elapsed());
                }
            }
        }
    }

    let floor_median = median(&mut samples[1].1.clone());
    println!("| variant | median µs | p99 µs | events/s (1 core) | median ÷ floor |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, times) in samples.iter_mut() {
        let total: Duration = times.iter().sum();
        let per_second = times.len() as f64 / total.as_secs_f64();
        let median = median(times);
        let p99 = percentile(times, 0.99);
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} | {:.2}× |",
            micros(median),
            micros(p99),
            per_second,
            micros(median) / micros(floor_median)
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(times: &mut [Duration]) -> Duration {
    percentile(times, 0.5)
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort_unstable();
    times[((times.len() - 1) as f64 * p).round() as usize]
}

/// The raw floor: a pooling engine, an `InstancePre`, a fresh store and
/// instance per call, and nothing else.
struct Floor {
    engine: Engine,
    pre: floor_bindings::TriggerPre<FloorState>,
    fuel: bool,
    epoch: bool,
}

struct FloorState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for FloorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl floor_types::Host for FloorState {}

impl floor_host::Host for FloorState {
    fn log(&mut self, _: floor_host::Level, _: String) {}
    fn config(&mut self, _: String) -> Option<String> {
        None
    }
    fn find_records(&mut self, _: String) -> Vec<floor_types::ContactRecord> {
        Vec::new()
    }
}

impl Floor {
    fn new(bytes: &[u8], fuel: bool, epoch: bool) -> Self {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(16)
            .max_memory_size(runtime::MEMORY_CEILING_BYTES)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .consume_fuel(fuel)
            .epoch_interruption(epoch)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        let component = wasmtime::component::Component::new(&engine, bytes).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        floor_bindings::Trigger::add_to_linker::<_, HasSelf<FloorState>>(&mut linker, |s| s)
            .unwrap();
        let pre =
            floor_bindings::TriggerPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Self {
            engine,
            pre,
            fuel,
            epoch,
        }
    }

    fn call(&mut self, event: &floor_types::Event) {
        let state = FloorState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&self.engine, state);
        if self.fuel {
            store.set_fuel(u64::MAX / 2).unwrap();
        }
        if self.epoch {
            store.set_epoch_deadline(u64::MAX / 2);
        }
        let trigger = self.pre.instantiate(&mut store).unwrap();
        let actions = trigger.call_on_event(&mut store, event).unwrap().unwrap();
        assert_eq!(actions.len(), 1);
    }
}

const PHONE: &str = "+36301234567";
const ZONE: &str = "Europe/Budapest";
const MESSAGE: &str = "Please call me 2026-12-01 14:30, thanks";
const AT: i64 = 1_795_852_800; // 2026-11-28 09:00 Budapest

fn event() -> SmsEvent {
    SmsEvent::Inbound(InboundSms {
        message_id: "bench-1".into(),
        project_id: ProjectId(1),
        source_phone_number: PHONE.into(),
        message: MESSAGE.into(),
        timestamp: AT,
        last_outbound: None,
        matches: vec![ContactRecord {
            id: RecordId(1),
            project_id: ProjectId(1),
            phone: PHONE.into(),
            time_zone: ZONE.into(),
            fields: vec![],
            last_disposition: None,
        }],
    })
}

fn floor_event() -> floor_types::Event {
    floor_types::Event::Inbound(floor_types::InboundSms {
        message_id: "bench-1".into(),
        project_id: 1,
        source_phone_number: PHONE.into(),
        message: MESSAGE.into(),
        timestamp: AT,
        last_outbound: None,
        matches: vec![floor_types::ContactRecord {
            id: 1,
            project_id: 1,
            phone: PHONE.into(),
            time_zone: ZONE.into(),
            fields: vec![],
            last_disposition: None,
        }],
    })
}

fn native_event() -> smstrigger_sdk::Event {
    let record = smstrigger_sdk::testing::record(1, PHONE);
    smstrigger_sdk::testing::inbound(&record, MESSAGE, AT)
}
