//! Events/s end to end through the durable pipeline (journal → plugin →
//! validate → execute) on the embedded store, beside a floor of plain
//! journal inserts with the same durability, measured in one run.
//!
//! `cargo bench -p smstrigger-host --bench pipeline`
//!
//! Variants, each on a fresh data directory under `CARGO_TARGET_TMPDIR`
//! (the real disk: never tmpfs), with `SqliteStore`'s durability (WAL,
//! `synchronous = FULL`):
//! - `journal floor`: one tenant, project and record; `N` sequential
//!   `Pipeline::accept` calls with no dispatcher running. That is the
//!   journal alone plus the accept-side checks (project lookup, E.164
//!   normalization, dedupe key, JSON of the input), each event its own
//!   durable transaction: exactly the accept cost the pipeline variants pay
//!   too, so the ratio isolates what processing adds.
//! - `pipeline, 1 tenant`: one tenant, a project in Europe/Budapest with
//!   calling hours 08:00–20:00, 10,000 records with distinct phones (events
//!   cycle over them, so batches are not serialized on one subject),
//!   `reply-call-time` installed, activated and bound; the dispatcher runs
//!   while one thread accepts `N` inbound replies naming
//!   `2026-12-01 14:30`, sent 2026-11-28 09:00. Timed from the first accept
//!   until nothing is pending.
//! - `pipeline, 1,000 tenants`: the same with 1,000 tenants, each with its
//!   own project, record, plugin install (its own copy of the component)
//!   and binding; events round-robin over the tenants.
//!
//! Set-up is not timed. Each variant's data is set up once through the
//! `Store` API in a template directory, and every run starts from a fresh
//! data directory holding a copy of it, synced before the clock starts (the
//! 1,000 tenants' own copies of the 1 MiB component make a 1 GiB database:
//! thousands of fsyncs to build, one copy to reuse). Before the clock
//! starts every variant accepts `WARMUP` events (the pipeline variants also
//! process them), so the plugin is loaded from the compile cache and the
//! database is warm.
//! Variants run interleaved, `RUNS` rounds, with the floor before and
//! after every pipeline run (floor, 1 tenant, floor, 1,000 tenants, floor,
//! 1 tenant, …): the disk's fsync latency drifts on a shared machine, so
//! each pipeline run is divided by the mean of the two floors around it.
//! The table reports the median events/s and the median of those ratios.
//! Every pipeline run is checked afterwards: every event done with one
//! `ok` decision, and one record event (a callback at 14:30) per event.
//!
//! A second table splits where the pipeline variants' time went while the
//! dispatcher ran beside the accepts: the accept rate, how many events were
//! still pending at the last accept, and the batches and their commits.
//!
//! `SMSTRIGGER_BENCH_N` and `SMSTRIGGER_BENCH_RUNS` override `N` and `RUNS`.
//! `SMSTRIGGER_BENCH_PHASES=1` instead takes the phases apart: for each
//! pipeline variant, `N` accepts with nothing processing, then a drain on
//! the running pipeline, per event: commit, plugin (as the decisions record
//! it) and the rest (store reads, JSON, worker threads).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use smstrigger_host::actions::calling_hours::CallingHours;
use smstrigger_host::actions::{CallingHoursPolicy, EmbeddedExecutor, Executor};
use smstrigger_host::model::{EventId, ProjectId, RecordId, TenantId, Timestamp};
use smstrigger_host::pipeline::{Acceptance, Incoming, Pipeline, PipelineConfig};
use smstrigger_host::runtime::{CompileCache, Runtime, sha256_hex};
use smstrigger_host::store::{
    self, Binding, Cached, Journal, Journaled, NewRecord, Plugins, ProcessedEvent, ProjectSettings,
    Records, SqliteStore, Store, Tenants,
};

/// Events per timed run.
const N: usize = 2_000;
/// Interleaved rounds of every variant.
const RUNS: usize = 7;
/// Events accepted (and processed) before the clock starts.
const WARMUP: usize = 16;
/// Records, each with its own phone, in the one-tenant variant.
const PHONES: usize = 10_000;
/// Tenants in the many-tenant variant.
const TENANTS: usize = 1_000;

const PLUGIN: &str = "reply-call-time";
const ZONE: &str = "Europe/Budapest";
const MESSAGE: &str = "Please call me 2026-12-01 14:30, thanks";
const SENT_AT: &str = "2026-11-28 09:00";
const CALL_AT: &str = "2026-12-01 14:30";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Floor,
    Pipeline { tenants: usize },
}

impl Variant {
    fn name(self) -> String {
        match self {
            Variant::Floor => "journal floor".into(),
            Variant::Pipeline { tenants: 1 } => "pipeline, 1 tenant".into(),
            Variant::Pipeline { tenants } => format!("pipeline, {} tenants", thousands(tenants)),
        }
    }
}

const VARIANTS: [Variant; 3] = [
    Variant::Floor,
    Variant::Pipeline { tenants: 1 },
    Variant::Pipeline { tenants: TENANTS },
];

/// One timed run of one variant.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// End to end: first accept → nothing pending.
    per_second: f64,
    /// Accepts alone (the dispatcher running beside them).
    accept_per_second: f64,
    /// From the last accept until nothing was pending.
    tail: Duration,
    /// Events still pending when the last accept returned.
    backlog: u64,
    batches: u64,
    /// Wall time inside `Executor::execute` (the batch's commit).
    commit: Duration,
    /// Copying the template and warming up, untimed, for the record.
    setup: Duration,
}

fn main() {
    let n = env_or("SMSTRIGGER_BENCH_N", N);
    let runs = env_or("SMSTRIGGER_BENCH_RUNS", RUNS);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-pipeline");
    std::fs::create_dir_all(&root).unwrap();
    let cache = CompileCache::open(root.join("compile-cache")).unwrap();
    let runtime = Arc::new(Runtime::new(Some(cache)).unwrap());
    let component = std::fs::read(smstrigger_test_components::REPLY_CALL_TIME).unwrap();
    runtime.load(&component).unwrap(); // fills the compile cache once
    let templates = VARIANTS
        .iter()
        .map(|&variant| Template::for_variant(variant, &root, &component))
        .collect();
    let bench = Bench {
        n,
        root,
        runtime,
        templates,
    };

    println!(
        "durability: SqliteStore (WAL, synchronous = FULL; journal_mode read back: {}); \
         data dirs under {} on {}",
        bench.journal_mode(),
        bench.root.display(),
        filesystem_of(&bench.root),
    );
    println!(
        "N = {n} events per run, {runs} interleaved rounds, {WARMUP} warm-up events, \
         {} pipeline workers, one accepting thread; templates set up in {:.1} s",
        PipelineConfig::default().workers,
        bench
            .templates
            .iter()
            .map(|t| t.setup.as_secs_f64())
            .sum::<f64>(),
    );
    println!();

    if std::env::var_os("SMSTRIGGER_BENCH_PHASES").is_some() {
        print_phases(&bench, runs);
        return;
    }

    // The floor runs before and after every pipeline run (F P1 F P1000 F
    // P1 F …), and each pipeline run is divided by the mean of the two
    // floors around it: the disk's fsync latency drifts on a shared machine.
    let measure = |round: usize, variant: Variant| {
        let measured = run(&bench, variant);
        eprintln!(
            "round {round}: {:<24} {:>8.0} events/s (accepts {:>6.0}/s, then {} pending \
             for {} ms; {} batches, commit {} ms; copy + warm-up {:.1} s)",
            variant.name(),
            measured.per_second,
            measured.accept_per_second,
            measured.backlog,
            measured.tail.as_millis(),
            measured.batches,
            measured.commit.as_millis(),
            measured.setup.as_secs_f64(),
        );
        measured
    };
    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); VARIANTS.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut drifts: Vec<f64> = Vec::new();
    results[0].push(measure(0, Variant::Floor));
    for round in 1..=runs {
        for (index, variant) in VARIANTS.into_iter().enumerate().skip(1) {
            let measured = measure(round, variant);
            let before = results[0].last().unwrap().per_second;
            let after = measure(round, Variant::Floor);
            ratios[index].push(measured.per_second / ((before + after.per_second) / 2.0));
            drifts.push(before.max(after.per_second) / before.min(after.per_second));
            results[index].push(measured);
            results[0].push(after);
        }
    }

    println!("| variant | events/s (median of runs) | runs | ÷ floor |");
    println!("| --- | ---: | --- | ---: |");
    for (index, (variant, measured)) in VARIANTS.into_iter().zip(&results).enumerate() {
        let each: Vec<String> = measured
            .iter()
            .map(|m| format!("{:.0}", m.per_second))
            .collect();
        let each_ratio: Vec<String> = ratios[index].iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "| {} | {:.0} | {} | {:.2}×{} |",
            variant.name(),
            median(&mut measured.iter().map(|m| m.per_second).collect::<Vec<_>>()),
            each.join(", "),
            if index == 0 {
                1.0
            } else {
                median(&mut ratios[index].clone())
            },
            if index == 0 {
                String::new()
            } else {
                format!(" ({})", each_ratio.join(", "))
            },
        );
    }
    println!();
    println!(
        "÷ floor: each pipeline run over the mean of the floor runs just before and after \
         it; those two floors differed by {:.2}× at the median, {:.2}× at worst.",
        median(&mut drifts.clone()),
        drifts.iter().copied().fold(1.0, f64::max),
    );
    println!();
    println!(
        "| variant | accepts/s while processing | pending at last accept | then drained in ms \
         | batches | events/batch | commit ms | copy + warm-up ms |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (variant, measured) in VARIANTS.into_iter().zip(&results) {
        let med = |f: fn(&Measured) -> f64| median(&mut measured.iter().map(f).collect::<Vec<_>>());
        let batches = med(|m| m.batches as f64);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} |",
            variant.name(),
            med(|m| m.accept_per_second),
            med(|m| m.backlog as f64),
            med(|m| m.tail.as_secs_f64() * 1e3),
            batches,
            if batches > 0.0 {
                format!("{:.1}", n as f64 / batches)
            } else {
                "–".into()
            },
            med(|m| m.commit.as_secs_f64() * 1e3),
            med(|m| m.setup.as_secs_f64() * 1e3),
        );
    }
}

/// What one event costs in each phase, with the phases apart.
#[derive(Debug, Clone, Copy)]
struct Phases {
    /// `N` accepts with nothing processing, per event.
    accept: Duration,
    /// Then the running pipeline draining them, per event.
    drain: Duration,
    /// Of `drain`: the executor's commits (on the committer, beside the
    /// workers), per event.
    commit: Duration,
    /// Of `drain`'s worker time: the plugin calls as decisions record them.
    plugin: Duration,
    events_per_batch: f64,
}

/// The phase split of a pipeline variant: accept everything with no
/// dispatcher, then drain (for `SMSTRIGGER_BENCH_PHASES`).
fn phases(bench: &Bench, variant: Variant) -> Phases {
    let n = bench.n;
    let setup = bench.setup(variant);
    setup.warm_up(true);
    let per_event = |d: Duration| d / n as u32;
    let started = Instant::now();
    let accepted: Vec<_> = (0..n)
        .map(|i| setup.accept(i, &format!("bench-{i}")))
        .collect();
    let accept = started.elapsed();
    // Then the running pipeline (dispatcher, workers, committer) drains
    // the backlog, as a server does after a burst.
    setup.executor.reset();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let dispatcher = setup.pipeline.start(Arc::clone(&stop));
    while setup.store.pending_count().unwrap() > 0 {
        thread::sleep(Duration::from_millis(1));
    }
    let drain = started.elapsed();
    stop.store(true, Ordering::Release);
    setup.pipeline.notify();
    dispatcher.join().unwrap();
    let batches = setup.executor.batches.load(Ordering::Relaxed).max(1);
    let plugin = setup.check_processed(&accepted, WARMUP + n);
    Phases {
        accept: per_event(accept),
        drain: per_event(drain),
        commit: per_event(setup.executor.commit()),
        plugin,
        events_per_batch: n as f64 / batches as f64,
    }
}

/// Prints the phase split of both pipeline variants, median of `runs`.
fn print_phases(bench: &Bench, runs: usize) {
    let variants = &VARIANTS[1..];
    let mut results: Vec<Vec<Phases>> = vec![Vec::new(); variants.len()];
    for _ in 0..runs {
        for (index, &variant) in variants.iter().enumerate() {
            results[index].push(phases(bench, variant));
        }
    }
    println!(
        "Phases apart (µs per event, median of {runs}): accept N with nothing processing, \
         then the running pipeline drains them ({} workers, one committer)",
        PipelineConfig::default().workers
    );
    println!();
    println!(
        "| variant | accept | drain | events/s drained | commit (on the committer) | \
         plugin (decisions, on the workers) | events/commit |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (variant, phases) in variants.iter().zip(&results) {
        let us = |f: fn(&Phases) -> Duration| {
            median(
                &mut phases
                    .iter()
                    .map(|p| f(p).as_secs_f64() * 1e6)
                    .collect::<Vec<_>>(),
            )
        };
        println!(
            "| {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} |",
            variant.name(),
            us(|p| p.accept),
            us(|p| p.drain),
            1e6 / us(|p| p.drain),
            us(|p| p.commit),
            us(|p| p.plugin),
            median(
                &mut phases
                    .iter()
                    .map(|p| p.events_per_batch)
                    .collect::<Vec<_>>()
            ),
        );
    }
}

/// The templates and what every run shares.
struct Bench {
    n: usize,
    root: PathBuf,
    runtime: Arc<Runtime>,
    /// One per variant, in `VARIANTS` order.
    templates: Vec<Template>,
}

impl Bench {
    /// A fresh data directory with `variant`'s data, and a pipeline over it.
    fn setup(&self, variant: Variant) -> Setup {
        let index = VARIANTS.iter().position(|&v| v == variant).unwrap();
        Setup::new(&self.templates[index], &self.root, &self.runtime)
    }

    /// The journal mode a store's file really has (WAL persists in the
    /// file; `synchronous` is per connection, set by `SqliteStore::open`).
    fn journal_mode(&self) -> String {
        let setup = self.setup(Variant::Floor);
        let conn = rusqlite::Connection::open(setup.dir.path().join("smstrigger.db")).unwrap();
        conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap()
    }
}

/// Sets up, warms and times one run of `variant`, then checks it.
fn run(bench: &Bench, variant: Variant) -> Measured {
    let n = bench.n;
    let started = Instant::now();
    let setup = bench.setup(variant);
    let processing = variant != Variant::Floor;
    setup.warm_up(processing);
    let setup_time = started.elapsed();

    let stop = Arc::new(AtomicBool::new(false));
    let dispatcher = processing.then(|| setup.pipeline.start(Arc::clone(&stop)));
    let mut accepted = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        accepted.push(setup.accept(i, &format!("bench-{i}")));
    }
    let accepts = started.elapsed();
    let backlog =
        setup.store.pending_count().unwrap() - u64::from(!processing) * (WARMUP + n) as u64;
    if processing {
        while setup.store.pending_count().unwrap() > 0 {
            thread::sleep(Duration::from_micros(500));
        }
    }
    let total = started.elapsed();
    stop.store(true, Ordering::Release);
    setup.pipeline.notify();
    if let Some(dispatcher) = dispatcher {
        dispatcher.join().unwrap();
    }

    if processing {
        setup.check_processed(&accepted, WARMUP + n);
    } else {
        assert_eq!(setup.store.pending_count().unwrap() as usize, WARMUP + n);
    }
    Measured {
        per_second: n as f64 / total.as_secs_f64(),
        accept_per_second: n as f64 / accepts.as_secs_f64(),
        tail: total - accepts,
        backlog,
        batches: setup.executor.batches.load(Ordering::Relaxed),
        commit: setup.executor.commit(),
        setup: setup_time,
    }
}

/// Where events go: a tenant's project and one of its records' phones.
#[derive(Debug, Clone)]
struct Target {
    tenant: TenantId,
    project: ProjectId,
    record: RecordId,
    phone: String,
}

/// A variant's data, set up once through the `Store` API in a template
/// directory and copied into a fresh data directory for every run.
struct Template {
    dir: tempfile::TempDir,
    targets: Vec<Target>,
    setup: Duration,
}

impl Template {
    fn for_variant(variant: Variant, root: &Path, component: &[u8]) -> Self {
        match variant {
            Variant::Floor => Self::new(root, None, 1, 1),
            Variant::Pipeline { tenants: 1 } => Self::new(root, Some(component), 1, PHONES),
            Variant::Pipeline { tenants } => Self::new(root, Some(component), tenants, 1),
        }
    }

    /// `tenants` tenants, each with one project and `phones` records; with
    /// `component`, each installs, activates and binds its own copy of it.
    fn new(root: &Path, component: Option<&[u8]>, tenants: usize, phones: usize) -> Self {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("template-")
            .tempdir_in(root)
            .unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let sha256 = component.map(sha256_hex);
        let mut targets = Vec::with_capacity(tenants * phones);
        for t in 0..tenants {
            let tenant = store
                .create_tenant(&format!("tenant-{t}"), "secret")
                .unwrap()
                .id;
            let project = store.create_project(tenant, &settings()).unwrap().id;
            if let (Some(component), Some(sha256)) = (component, &sha256) {
                let version = store
                    .add_plugin_version(tenant, PLUGIN, sha256, component)
                    .unwrap();
                store.activate_plugin(tenant, PLUGIN, version).unwrap();
                let binding = Binding {
                    plugin: PLUGIN.into(),
                    priority: 10,
                    config: Default::default(),
                };
                store.set_bindings(tenant, project, &[binding]).unwrap();
            }
            for p in 0..phones {
                let raw = format!("+3630{:07}", t * phones + p);
                let phone = smstrigger_host::phone::to_e164(&raw, "HU").unwrap();
                let record = NewRecord {
                    project_id: project,
                    phone: phone.clone(),
                    time_zone: None,
                    fields: vec![],
                };
                let record = store.create_record(tenant, &record).unwrap().id;
                targets.push(Target {
                    tenant,
                    project,
                    record,
                    phone,
                });
            }
        }
        drop(store); // the last connection: checkpoints the WAL into the file
        Self {
            dir,
            targets,
            setup: started.elapsed(),
        }
    }
}

/// A fresh data directory with a variant's data, and a pipeline over it.
struct Setup {
    dir: tempfile::TempDir,
    store: Arc<Cached<SqliteStore>>,
    pipeline: Arc<Pipeline>,
    executor: Arc<TimedExecutor>,
    targets: Vec<Target>,
}

impl Setup {
    /// Copies `template` into a fresh data directory, durably (so no
    /// write-back of the copy runs into the timed fsyncs), and opens it.
    fn new(template: &Template, root: &Path, runtime: &Arc<Runtime>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("data-")
            .tempdir_in(root)
            .unwrap();
        for file in std::fs::read_dir(template.dir.path()).unwrap() {
            let from = file.unwrap().path();
            let to = dir.path().join(from.file_name().unwrap());
            std::fs::copy(&from, &to).unwrap();
            std::fs::File::open(&to).unwrap().sync_all().unwrap();
        }
        std::fs::File::open(dir.path()).unwrap().sync_all().unwrap();
        // The store as the server composes it: settings memoized.
        let store = Arc::new(Cached::new(SqliteStore::open(dir.path()).unwrap()));
        let executor = Arc::new(TimedExecutor::new(store.clone()));
        let store_dyn: Arc<dyn Store> = store.clone();
        let pipeline = Pipeline::new(
            store_dyn,
            Arc::clone(runtime),
            executor.clone(),
            // The events carry fixed dates: no acceptance window.
            PipelineConfig {
                acceptance: Acceptance::Any,
                ..PipelineConfig::default()
            },
        );
        Self {
            dir,
            store,
            pipeline,
            executor,
            targets: template.targets.clone(),
        }
    }

    /// Accepts `WARMUP` events and, when `processing`, processes them.
    fn warm_up(&self, processing: bool) {
        for i in 0..WARMUP {
            self.accept(i, &format!("warm-up-{i}"));
        }
        if processing {
            self.pipeline.drain().unwrap();
            assert_eq!(self.store.pending_count().unwrap(), 0);
        }
        self.executor.reset();
    }

    /// Accepts the `i`th event (to target `i` mod targets); it must be new.
    fn accept(&self, i: usize, message_id: &str) -> (TenantId, EventId) {
        let target = &self.targets[i % self.targets.len()];
        let incoming = Incoming::Inbound {
            message_id: Some(message_id.into()),
            project_id: target.project,
            source_phone_number: target.phone.clone(),
            message: MESSAGE.into(),
            timestamp: local(SENT_AT),
        };
        match self.pipeline.accept(target.tenant, incoming).unwrap() {
            Journaled::Accepted(id) => (target.tenant, id),
            other => panic!("{message_id} was not accepted: {other:?}"),
        }
    }

    /// Every timed event done with one `ok` decision, and `expected`
    /// callbacks at `CALL_AT` across the records; returns the mean plugin
    /// call time the decisions recorded.
    fn check_processed(&self, accepted: &[(TenantId, EventId)], expected: usize) -> Duration {
        assert_eq!(self.store.pending_count().unwrap(), 0);
        let mut plugin_us = 0;
        for &(tenant, id) in accepted {
            let event = self.store.event(tenant, id).unwrap();
            assert_eq!(
                event.state,
                smstrigger_host::model::EventState::Done,
                "event {id}: {event:?}"
            );
            assert_eq!(event.decisions.len(), 1, "event {id}: {event:?}");
            assert_eq!(
                event.decisions[0].outcome,
                smstrigger_host::model::DecisionOutcome::Ok,
                "event {id}: {event:?}"
            );
            plugin_us += event.decisions[0].duration_us;
        }
        let call_at = local(CALL_AT);
        let mut callbacks = 0;
        for target in &self.targets {
            let events = self
                .store
                .record_events(target.tenant, target.record)
                .unwrap();
            for event in &events {
                assert_eq!(event.next_calldate, Some(call_at), "{event:?}");
                assert_eq!(event.plugin.as_deref(), Some(PLUGIN), "{event:?}");
            }
            callbacks += events.len();
        }
        assert_eq!(callbacks, expected, "record events across all records");
        Duration::from_micros(plugin_us) / accepted.len() as u32
    }
}

/// The embedded executor, counting batches and the time their commits take.
struct TimedExecutor {
    inner: EmbeddedExecutor,
    batches: AtomicU64,
    nanos: AtomicU64,
}

impl TimedExecutor {
    fn new(store: Arc<Cached<SqliteStore>>) -> Self {
        Self {
            // The clock of the events' day, so the callbacks execute
            // whatever day the benchmark runs.
            inner: EmbeddedExecutor::with_clock(
                store,
                smstrigger_host::config::Clock::pinned(local(SENT_AT)),
            ),
            batches: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    fn commit(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    fn reset(&self) {
        self.batches.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
    }
}

impl Executor for TimedExecutor {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error> {
        let started = Instant::now();
        let result = self.inner.execute(processed);
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        result
    }
}

fn settings() -> ProjectSettings {
    ProjectSettings {
        name: "collections".into(),
        time_zone: ZONE.into(),
        default_country: "HU".into(),
        calling_hours: Some(CallingHours::parse("08:00", "20:00").unwrap()),
        calling_hours_policy: CallingHoursPolicy::Shift,
        horizon_days: 90,
        max_actions_per_event: 16,
        past_callback_policy: Default::default(),
        sms_rules: Default::default(),
        // Each record gets far more receipts than a week's seven calls,
        // and every one must execute.
        contact_rules: None,
    }
}

/// The instant of `YYYY-MM-DD hh:mm` in Budapest.
fn local(datetime: &str) -> Timestamp {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(datetime, "%Y-%m-%d %H:%M").unwrap();
    let zone: chrono_tz::Tz = ZONE.parse().unwrap();
    zone.from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .timestamp()
}

/// The mount (device, type) holding `path`, from /proc/mounts.
fn filesystem_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.into());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(PathBuf::from(point)).then(|| {
                (
                    point.len(),
                    format!("{device} ({kind}, mounted at {point})"),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "an unknown filesystem".into(), |(_, what)| what)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
