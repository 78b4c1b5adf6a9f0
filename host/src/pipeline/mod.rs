//! The durable pipeline: journal → dedupe → opt-out → records → plugins →
//! validation → execution → decision, exactly once per accepted event.
//!
//! [`Pipeline::accept`] journals an event and returns only once it is on
//! disk (webhooks arriving together share one commit, see [`group_commit`]);
//! a repeat of an accepted (message id, status) is acknowledged and not
//! processed again. Running, three kinds of threads share a [`Schedule`]:
//! a dispatcher claims pending events from the journal, workers run them
//! (fairly across tenants, one event of a subject at a time, no tenant on
//! every worker), and a committer hands what they finished to the
//! [`Executor`] in groups, each group one transaction holding every
//! event's decisions, record changes and done mark. Workers never wait for
//! a commit, and a commit never waits for a plugin; while webhooks wait for
//! the journal, workers defer events of tenants that are behind for a
//! moment (accept first). After a crash, the
//! events that were pending are simply claimed again: their earlier,
//! uncommitted work left no trace.

mod group_commit;
mod incoming;
mod process;
mod schedule;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use group_commit::MAX_GROUP;
pub use incoming::{AcceptError, Acceptance, Incoming, check_window};
pub use process::{OPT_IN_DECIDER, OPT_OUT_DECIDER, ProcessError};

use crate::actions::Executor;
use crate::metrics::Metrics;
use crate::model::TenantId;
use crate::priority::set_nice;
use crate::registry::{Registry, RegistryConfig};
use crate::runtime::Runtime;
use crate::store::{self, Journaled, PendingEvent, ProcessedEvent, Store};
use group_commit::GroupCommit;
use schedule::{Cost, Lane, RETRY_AFTER, Schedule};

/// Workers for heavy tenants (see [`schedule::HEAVY_FUEL`] and
/// [`schedule::HEAVY_CPU`]), beside the configured ones: at nice
/// [`HEAVY_NICE`] they get only the CPU the rest of the host leaves, so a
/// tenant burning its budget on every event slows itself, not its
/// neighbours (measured by `smstrigger-proof neighbour`).
///
/// Not the idle class, as the tool threads are: a heavy worker takes the
/// locks live events take (the schedule, the plugin cache, the store's
/// connections), and an idle-class holder preempted while the API's
/// threads keep the cores busy stalls every light worker behind it (tried:
/// the quiet tenant's p99 in the neighbour proof rose to seconds,
/// BENCHMARKS.md).
const HEAVY_WORKERS: usize = 1;
/// The lowest priority Linux has; lowering one's own priority needs no
/// privilege.
const HEAVY_NICE: i32 = 19;
/// The priority of the dispatcher, the committer and the light workers:
/// below the threads that answer webhooks, so a saturated machine makes
/// events durable (and answers 202) first and decides them as it can; the
/// journal absorbs the burst. Measured by `smstrigger-proof http`: at nice
/// 0 the peak accept rate was 16,000/s, at 10 about 20,000/s, with the
/// latency to decision at half the peak unchanged (BENCHMARKS.md).
const PIPELINE_NICE: i32 = 10;

/// The longest a worker defers an event of a tenant that is behind to
/// webhooks waiting for the journal (see [`defer_to_webhooks`]).
const DEFER_FOR: Duration = Duration::from_millis(5);
/// How often a deferring worker looks whether webhooks still wait.
const DEFER_SLICE: Duration = Duration::from_millis(1);

/// How the pipeline takes events in, schedules and batches them.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Threads running light tenants' plugins; defaults to twice the
    /// cores. One tenant holds at most `workers - 1` of them, so other
    /// tenants always find one free. Heavy tenants (events over
    /// [`schedule::HEAVY_FUEL`] of fuel or [`schedule::HEAVY_CPU`] each,
    /// like a plugin that burns its whole budget every time) run on
    /// [`HEAVY_WORKERS`] low-priority workers instead.
    pub workers: usize,
    /// The most events of one tenant claimed and not yet committed: the
    /// bound on how much of one tenant's backlog sits in memory (an event
    /// held is a few hundred bytes of journaled JSON). It also bounds a
    /// commit group while one tenant has the backlog: a group writes each
    /// page it changes once, so larger groups write fewer pages per event
    /// (records and their event lists are random pages). Measured on a
    /// backlog of 819,431 events of one tenant in a 1.9 GB store: 256
    /// drained about 20,000/s, 1,024 about 26,500/s (BENCHMARKS.md).
    pub per_tenant: usize,
    /// The most events per commit (and per [`Pipeline::process_batch`]).
    pub batch: usize,
    /// Which event timestamps [`Pipeline::prepare`] takes in; by default
    /// the documented acceptance window on the system clock.
    pub acceptance: Acceptance,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            workers: 2 * thread::available_parallelism().map_or(2, |n| n.get()),
            per_tenant: 1024,
            batch: 512,
            acceptance: Acceptance::default(),
        }
    }
}

impl PipelineConfig {
    /// How many workers one tenant may hold at once.
    fn per_tenant_running(&self) -> usize {
        self.workers.saturating_sub(1).max(1)
    }
}

pub struct Pipeline {
    store: Arc<dyn Store>,
    /// Loads and runs the bound plugins, under the limits it holds.
    registry: Arc<Registry>,
    executor: Arc<dyn Executor>,
    config: PipelineConfig,
    /// Where plugin runs and processed events are counted.
    metrics: Arc<Metrics>,
    journal: GroupCommit,
    schedule: Mutex<Schedule>,
    /// Workers wait here for queued events.
    work: Condvar,
    /// The dispatcher waits here for new events or finished commits.
    wake: (Mutex<bool>, Condvar),
    /// Set when a pipeline thread ended while the pipeline was not
    /// stopping: events would no longer be decided (see [`Self::is_healthy`]).
    died: AtomicBool,
}

/// How long an idle dispatcher sleeps before it looks again unprompted.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// How often the dispatcher, busy or not, renews this host's claims and
/// looks at every tenant with pending events: on a database shared by
/// many hosts, another host may journal events for tenants this one never
/// hears of, or finish a subject this one was waiting for. Well inside
/// the shortest lease a store hands out.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// An event a worker finished, on its way to the committer.
type Finished = (PendingEvent, Result<ProcessedEvent, ProcessError>);

impl Pipeline {
    /// A pipeline over a registry of its own with the default limits,
    /// counting into metrics of its own (see [`Self::metrics`]); for tests
    /// and tools. The server builds one with [`Self::with_registry`].
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Arc<Runtime>,
        executor: Arc<dyn Executor>,
        config: PipelineConfig,
    ) -> Arc<Self> {
        let registry = Registry::new(store, runtime, RegistryConfig::default());
        Self::with_registry(registry, executor, config, Arc::default())
    }

    /// A pipeline journaling into `registry`'s store and running plugins
    /// through it (so uploads, dry runs and live events share one cache of
    /// loaded plugins and one set of limits), counting its plugin runs and
    /// processed events into `metrics`, which the server also renders at
    /// `GET /metrics`.
    pub fn with_registry(
        registry: Arc<Registry>,
        executor: Arc<dyn Executor>,
        config: PipelineConfig,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let store = Arc::clone(registry.store());
        Arc::new_cyclic(|pipeline: &std::sync::Weak<Self>| Self {
            journal: GroupCommit::start(Arc::clone(&store), {
                let pipeline = pipeline.clone();
                move |tenants| {
                    if let Some(pipeline) = pipeline.upgrade() {
                        pipeline.journaled(tenants);
                    }
                }
            }),
            store,
            registry,
            executor,
            config,
            metrics,
            schedule: Mutex::default(),
            work: Condvar::new(),
            wake: (Mutex::new(false), Condvar::new()),
            died: AtomicBool::new(false),
        })
    }

    /// Journals `incoming` for `tenant`, durably (the dispatcher is woken
    /// once the group commits). Blocks; async callers call
    /// [`Self::prepare`] and await [`Self::journal`].
    pub fn accept(&self, tenant: TenantId, incoming: Incoming) -> Result<Journaled, AcceptError> {
        let entry = self.prepare(tenant, incoming)?;
        let journaled = self.journal.submit(entry).and_then(|answer| answer.wait());
        journaled.map_err(AcceptError::Store)
    }

    /// Checks `incoming` against the tenant's acceptance window
    /// ([`PipelineConfig::acceptance`]) and data (its project, its record)
    /// and builds its journal entry: the one way in for every source of
    /// events, so none takes an event another refuses. The tenant and the
    /// project come from the store's memo; a receipt's record is a SQLite
    /// read, so async callers prepare receipts on the blocking pool.
    pub fn prepare(
        &self,
        tenant: TenantId,
        incoming: Incoming,
    ) -> Result<store::JournalEntry, AcceptError> {
        self.config
            .acceptance
            .check(self.store.as_ref(), tenant, &incoming)?;
        let now = chrono::Utc::now().timestamp();
        incoming::journal_entry(self.store.as_ref(), tenant, incoming, now)
    }

    /// Journals a prepared entry together with whatever else is arriving;
    /// resolves once it is durable.
    pub async fn journal(&self, entry: store::JournalEntry) -> Result<Journaled, AcceptError> {
        let journaled = match self.journal.submit(entry) {
            Ok(answer) => answer.received().await,
            Err(error) => Err(error),
        };
        journaled.map_err(AcceptError::Store)
    }

    /// New pending events of `tenants` are durable: wake the dispatcher
    /// (once per journal group).
    fn journaled(&self, tenants: &[TenantId]) {
        let mut schedule = self.schedule();
        for &tenant in tenants {
            schedule.touch(tenant);
        }
        drop(schedule);
        self.notify();
    }

    /// Claims, processes and commits up to one batch on the calling thread
    /// (and scoped workers); returns how many events it processed (0 when
    /// none were pending). For tests and tools that drive the pipeline step
    /// by step; a running server uses [`Self::start`].
    pub fn process_batch(&self) -> Result<usize, ProcessError> {
        self.claim(true)?;
        let taken: Vec<PendingEvent> = {
            let mut schedule = self.schedule();
            std::iter::from_fn(|| schedule.next(Lane::Any, usize::MAX))
                .take(self.config.batch)
                .collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut finished: Vec<(usize, Finished, Cost)> = thread::scope(|scope| {
            let workers: Vec<_> = (0..self.config.workers.clamp(1, taken.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        while let Some(event) = taken.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let result = self.process(event);
                            let spent = cost(&result);
                            done.push((event.id.0 as usize, (event.clone(), result), spent));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("a pipeline worker panicked"))
                .collect()
        });
        finished.sort_by_key(|(id, _, _)| *id);
        let finished: Vec<Finished> = {
            let mut schedule = self.schedule();
            finished
                .into_iter()
                .map(|(_, (event, result), spent)| {
                    schedule.ran(&event, spent);
                    (event, result)
                })
                .collect()
        };
        let count = finished.len();
        match self.commit(finished)? {
            Some(undecided) => Err(undecided),
            None => Ok(count),
        }
    }

    /// Processes batches until nothing is pending.
    pub fn drain(&self) -> Result<(), ProcessError> {
        while self.process_batch()? > 0 {}
        Ok(())
    }

    /// Starts the dispatcher, the workers and the committer; they run until
    /// `stop` is set. Join the returned handle to wait for them: workers
    /// finish the event in hand and the committer commits what they
    /// finished (anything still queued stays pending in the journal).
    pub fn start(self: &Arc<Self>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
        let pipeline = Arc::clone(self);
        thread::Builder::new()
            .name("smstrigger-dispatcher".into())
            .spawn(move || pipeline.run(&stop))
            .expect("spawning the dispatcher")
    }

    fn run(self: Arc<Self>, stop: &Arc<AtomicBool>) {
        let _alive = Alive::new(&self, stop);
        set_nice(PIPELINE_NICE);
        let (finished, committing) = mpsc::channel();
        let committer = {
            let (pipeline, stop) = (Arc::clone(&self), Arc::clone(stop));
            thread::Builder::new()
                .name("smstrigger-committer".into())
                .spawn(move || {
                    let _alive = Alive::new(&pipeline, &stop);
                    set_nice(PIPELINE_NICE);
                    pipeline.commit_loop(committing)
                })
                .expect("spawning the committer")
        };
        let lanes = std::iter::repeat_n(Lane::Light, self.config.workers.max(1))
            .chain(std::iter::repeat_n(Lane::Heavy, HEAVY_WORKERS));
        let workers: Vec<_> = lanes
            .enumerate()
            .map(|(i, lane)| {
                let (pipeline, stop, finished) =
                    (Arc::clone(&self), Arc::clone(stop), finished.clone());
                thread::Builder::new()
                    .name(format!("smstrigger-worker-{i}"))
                    .spawn(move || {
                        let _alive = Alive::new(&pipeline, &stop);
                        set_nice(match lane {
                            Lane::Heavy => HEAVY_NICE,
                            _ => PIPELINE_NICE,
                        });
                        pipeline.work(lane, &stop, finished)
                    })
                    .expect("spawning a worker")
            })
            .collect();
        drop(finished);
        // The first claim, any after an idle spell, and one at least every
        // [`SWEEP_EVERY`] look at every tenant: what a crash left pending,
        // or an event nobody announced (another host's).
        let mut look_everywhere = true;
        let mut swept = Instant::now();
        while !stop.load(Ordering::Acquire) {
            if swept.elapsed() >= SWEEP_EVERY {
                swept = Instant::now();
                look_everywhere = true;
                if let Err(error) = self.store.renew_claims() {
                    tracing::error!(%error, "renewing this host's claims failed; retrying");
                }
            }
            if self.schedule().queued() < self.config.batch {
                if let Err(error) = self.claim(look_everywhere) {
                    tracing::error!(%error, "claiming pending events failed; retrying");
                    thread::sleep(IDLE_POLL);
                }
                look_everywhere = false;
            }
            look_everywhere |= !self.wait_for_work();
        }
        self.work.notify_all();
        for worker in workers {
            worker.join().ok();
        }
        committer.join().ok();
        // Nothing is running or committing now: what this host still
        // holds goes back to the other hosts at once.
        if let Err(error) = self.store.release_claims() {
            tracing::error!(%error, "releasing this host's claims failed; they expire");
        }
    }

    /// The free places at which a tenant that still holds events is read
    /// again. On a shared database each read walks the tenant's pending
    /// events from the oldest, so reading after every commit a few events
    /// at a time cost more than the events did (the cluster proof: 40
    /// events a claim at 8 ms each): a quarter of its room. One host's
    /// SQLite reads cheaply, and waiting for a quarter starved its workers
    /// (the `http` proof's peak: 0.44× the floor, 0.69× without it).
    fn refill_at(&self, per_tenant: usize) -> usize {
        if self.store.shared_by_hosts() {
            per_tenant.div_ceil(4)
        } else {
            1
        }
    }

    /// Reads what is new in the journal into the schedule: for the tenants
    /// announced since the last claim, or for every tenant with pending
    /// events when `everywhere`.
    fn claim(&self, everywhere: bool) -> Result<(), store::Error> {
        if everywhere {
            let tenants = self.store.pending_tenants()?;
            let mut schedule = self.schedule();
            for tenant in tenants {
                schedule.touch(tenant);
            }
        }
        let per_tenant = self.config.per_tenant;
        let reads = self
            .schedule()
            .begin_claim(per_tenant, self.refill_at(per_tenant));
        let mut runnable = 0;
        let mut failure = None;
        for read in reads {
            if failure.is_some() {
                self.schedule().touch(read.tenant); // read it next time
                continue;
            }
            match self.store.claim(read.tenant, read.after, read.limit) {
                Ok(events) => runnable += self.schedule().claim(read, events),
                Err(error) => {
                    self.schedule().touch(read.tenant);
                    failure = Some(error);
                }
            }
        }
        self.schedule().end_claim();
        if runnable > 0 {
            self.work.notify_all();
        }
        failure.map_or(Ok(()), Err)
    }

    /// A worker: takes the next event the schedule allows, runs it, hands
    /// it to the committer.
    fn work(&self, lane: Lane, stop: &AtomicBool, finished: Sender<Finished>) {
        let cap = self.config.per_tenant_running();
        let mut next = None;
        loop {
            let (event, behind) = match next.take() {
                Some(next) => next,
                None => {
                    let mut schedule = self.schedule();
                    loop {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        if let Some(next) = next_for(&mut schedule, lane, cap) {
                            break next;
                        }
                        schedule = self
                            .work
                            .wait_timeout(schedule, IDLE_POLL)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
            };
            if behind {
                defer_to_webhooks(|| self.journal.waiting());
            }
            let result = catch_unwind(AssertUnwindSafe(|| self.process(&event)))
                .unwrap_or_else(|panic| Err(ProcessError::panicked(panic)));
            let spent = cost(&result);
            {
                // The slot this event held goes to this worker's next event
                // when there is one; other workers are woken only when the
                // tenant changed lanes (their lane may now have work).
                let mut schedule = self.schedule();
                let moved = schedule.ran(&event, spent);
                next = (!stop.load(Ordering::Acquire))
                    .then(|| next_for(&mut schedule, lane, cap))
                    .flatten();
                if moved {
                    self.work.notify_all();
                }
            }
            if finished.send((event, result)).is_err() {
                return;
            }
        }
    }

    /// The committer: commits finished events in groups until every worker
    /// has stopped.
    fn commit_loop(&self, finished: Receiver<Finished>) {
        while let Ok(first) = finished.recv() {
            let mut group = vec![first];
            group.extend(finished.try_iter().take(self.config.batch - 1));
            if let Err(error) = self.commit(group) {
                tracing::error!(%error, "committing processed events failed; they stay pending");
                thread::sleep(IDLE_POLL);
            }
        }
    }

    /// Commits the events that processed, gives back the ones that could
    /// not be decided (they stay pending, and their tenant is read again
    /// after [`RETRY_AFTER`]), and wakes the dispatcher. Returns the first
    /// of those failures; an error is the commit's own.
    fn commit(&self, finished: Vec<Finished>) -> Result<Option<ProcessError>, ProcessError> {
        let mut events = Vec::with_capacity(finished.len());
        let mut processed = Vec::with_capacity(finished.len());
        let mut undecided = None;
        let mut failure = None;
        for (event, result) in finished {
            match result {
                Ok(done) => {
                    events.push(event);
                    processed.push(done);
                }
                Err(error) => {
                    tracing::warn!(%error, event = %event.id, "an event could not be decided now; it stays pending and is retried");
                    self.metrics.events_processed("retry", 1);
                    let mut schedule = self.schedule();
                    schedule.retry_later(event.tenant_id, RETRY_AFTER);
                    schedule.release(&event, false);
                    undecided.get_or_insert(error);
                }
            }
        }
        let committed = processed.is_empty() || {
            // A panic in an executor (a remote call, say) fails this group,
            // which stays pending, not the committer thread.
            let executed =
                match catch_unwind(AssertUnwindSafe(|| self.executor.execute(&processed))) {
                    Ok(result) => result.map_err(ProcessError::from),
                    Err(panic) => Err(ProcessError::panicked(panic)),
                };
            match executed {
                Ok(()) => true,
                Err(error) => {
                    self.metrics
                        .events_processed("error", processed.len() as u64);
                    failure = Some(error);
                    false
                }
            }
        };
        if committed {
            for event in &processed {
                self.metrics.events_processed(outcome(event), 1);
            }
        }
        {
            let mut schedule = self.schedule();
            for event in &events {
                schedule.release(event, committed);
            }
        }
        // A commit frees subjects (their next events become runnable) and
        // room to read more.
        self.work.notify_all();
        self.notify();
        failure.map_or(Ok(undecided), Err)
    }

    fn process(&self, event: &PendingEvent) -> Result<ProcessedEvent, ProcessError> {
        process::process(
            &self.store,
            &self.registry,
            &self.metrics,
            event,
            chrono::Utc::now().timestamp(),
        )
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False once a pipeline thread (the dispatcher, a worker, the
    /// committer) has ended without being asked to stop: accepted events
    /// would wait forever, so `/healthz` fails and the server exits. Panics
    /// in processing and execution are caught per event and never get
    /// that far; this is the backstop.
    pub fn is_healthy(&self) -> bool {
        !self.died.load(Ordering::Acquire)
    }

    /// Wakes the dispatcher (also used on shutdown).
    pub fn notify(&self) {
        let (flag, condvar) = &self.wake;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        condvar.notify_all();
    }

    /// Waits for a wake-up or [`IDLE_POLL`]; true when woken.
    fn wait_for_work(&self) -> bool {
        let (flag, condvar) = &self.wake;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = condvar
            .wait_timeout_while(guard, IDLE_POLL, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *guard)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The registry this pipeline runs plugins through.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The metrics this pipeline counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// Marks a pipeline thread alive; if it ends (returns or unwinds) while the
/// pipeline is not stopping, the pipeline is no longer healthy.
struct Alive<'a> {
    pipeline: &'a Pipeline,
    stop: &'a AtomicBool,
}

impl<'a> Alive<'a> {
    fn new(pipeline: &'a Pipeline, stop: &'a AtomicBool) -> Self {
        Self { pipeline, stop }
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        if !self.stop.load(Ordering::Acquire) {
            tracing::error!(
                thread = thread::current().name().unwrap_or("?"),
                "a pipeline thread ended while the pipeline runs; events are no longer decided"
            );
            self.pipeline.died.store(true, Ordering::Release);
        }
    }
}

/// Accept first: before an event of a tenant that is behind, a worker
/// sleeps while webhooks wait for the journal, for at most [`DEFER_FOR`],
/// looking again every [`DEFER_SLICE`]. A burst beyond what the machine can
/// both accept and decide is then acknowledged at the accept path's speed
/// and decided as the CPU allows, its backlog bounded by `max_pending`.
/// Yielding the CPU instead, as this did first, gave it back only to
/// threads already runnable: the accept path mostly waits on its fsync,
/// so the workers ran on. The cap keeps a worker from being parked for
/// the length of a burst: other tenants' events queued behind it wait at
/// most that long. Tenants that keep up, and a backlog with no webhooks
/// arriving, never wait.
fn defer_to_webhooks(waiting: impl Fn() -> usize) {
    let deadline = Instant::now() + DEFER_FOR;
    while waiting() > 0 && Instant::now() < deadline {
        thread::sleep(DEFER_SLICE);
    }
}

/// The next event for a worker of `lane`, and whether its tenant is
/// behind (see [`Schedule::behind`]).
fn next_for(schedule: &mut Schedule, lane: Lane, cap: usize) -> Option<(PendingEvent, bool)> {
    let event = schedule.next(lane, cap)?;
    let behind = schedule.behind(event.tenant_id);
    Some((event, behind))
}

/// What an event's plugins cost its worker, which says how heavy its
/// tenant is: the fuel they burned and the CPU time of their calls. Only
/// the calls: loading a plugin (a cache miss, a first compile) is the
/// host's cost, and counting it once made a quiet tenant heavy. An event
/// that could not be decided cost nothing that counts.
fn cost(result: &Result<ProcessedEvent, ProcessError>) -> Cost {
    result.as_ref().map_or(Cost::default(), |event| Cost {
        fuel: event.decisions.iter().map(|d| d.fuel_used).sum(),
        cpu: event.plugin_cpu,
    })
}

/// The `outcome` label of a committed event: `opted_out` or `opted_in`
/// when the message was one, `plugin_failed` when any plugin failed, else
/// `ok`.
fn outcome(event: &ProcessedEvent) -> &'static str {
    if event.opted_out.is_some() {
        "opted_out"
    } else if event.opted_in.is_some() {
        "opted_in"
    } else if event.state() == crate::model::EventState::Failed {
        "plugin_failed"
    } else {
        "ok"
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// With no webhook waiting a worker goes straight on: a backlog drains
    /// at full speed.
    #[test]
    fn a_worker_defers_nothing_while_no_webhook_waits() {
        let looks = Cell::new(0);
        defer_to_webhooks(|| {
            looks.set(looks.get() + 1);
            0
        });
        assert_eq!(looks.get(), 1, "one look, no sleep");
    }

    /// Webhooks that never stop coming park a worker for [`DEFER_FOR`] at
    /// most, not for the length of the burst.
    #[test]
    fn a_worker_defers_at_most_its_limit_while_webhooks_keep_waiting() {
        let looks = Cell::new(0);
        let started = Instant::now();
        defer_to_webhooks(|| {
            looks.set(looks.get() + 1);
            1
        });
        assert!(started.elapsed() >= DEFER_FOR, "it waited its limit");
        assert!(
            looks.get() <= (DEFER_FOR.as_micros() / DEFER_SLICE.as_micros()) as usize + 1,
            "then it stopped looking: {} looks",
            looks.get()
        );
    }
}
