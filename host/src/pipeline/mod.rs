//! The durable pipeline: journal → dedupe → opt-out → records → plugins →
//! validation → execution → decision, exactly once per accepted event.
//!
//! [`Pipeline::accept`] journals an event and returns only once it is on
//! disk; a repeat of an accepted (message id, status) is acknowledged and
//! not processed again. A dispatcher thread claims pending events fairly
//! across tenants (round-robin, never two of one subject at once), runs
//! them on a pool of workers sized to the cores, and hands the batch to the
//! [`Executor`], which commits every event's decisions, record changes and
//! done mark in one transaction. After a crash, the events that were
//! pending are simply claimed again: their earlier, uncommitted work left
//! no trace.

mod incoming;
mod plugins;
mod process;
mod replay;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub use incoming::{AcceptError, Incoming};
pub use plugins::PluginCache;
pub use process::{OPT_OUT_DECIDER, judge};
pub use replay::{MAX_REPLAY_EVENTS, ReplayError, ReplayReport};

use crate::actions::Executor;
use crate::metrics::Metrics;
use crate::model::TenantId;
use crate::runtime::{Limits, Runtime};
use crate::store::{self, Journaled, ProcessedEvent, Store};

/// How the dispatcher batches and schedules.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Threads running plugins; defaults to the number of cores.
    pub workers: usize,
    /// The most events of one tenant per batch: the bound on how long one
    /// tenant's burst can hold back another tenant's event.
    pub per_tenant: usize,
    /// The most events per batch (and per commit).
    pub batch: usize,
    /// The limits every plugin call runs with.
    pub limits: Limits,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            workers: thread::available_parallelism().map_or(2, |n| n.get()),
            per_tenant: 16,
            batch: 64,
            limits: Limits::default(),
        }
    }
}

pub struct Pipeline {
    store: Arc<dyn Store>,
    runtime: Arc<Runtime>,
    executor: Arc<dyn Executor>,
    plugins: PluginCache,
    config: PipelineConfig,
    /// Where plugin runs and processed events are counted.
    metrics: Arc<Metrics>,
    wake: (Mutex<bool>, Condvar),
}

/// How long an idle dispatcher sleeps before it looks again unprompted.
const IDLE_POLL: Duration = Duration::from_millis(200);

impl Pipeline {
    /// A pipeline counting into metrics of its own (see [`Self::metrics`]).
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Arc<Runtime>,
        executor: Arc<dyn Executor>,
        config: PipelineConfig,
    ) -> Arc<Self> {
        Self::with_metrics(store, runtime, executor, config, Arc::default())
    }

    /// A pipeline counting its plugin runs and processed events into
    /// `metrics`, which the server also renders at `GET /metrics`.
    pub fn with_metrics(
        store: Arc<dyn Store>,
        runtime: Arc<Runtime>,
        executor: Arc<dyn Executor>,
        config: PipelineConfig,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            runtime,
            executor,
            plugins: PluginCache::default(),
            config,
            metrics,
            wake: (Mutex::new(false), Condvar::new()),
        })
    }

    /// Journals `incoming` for `tenant`, durably, and wakes the dispatcher.
    pub fn accept(&self, tenant: TenantId, incoming: Incoming) -> Result<Journaled, AcceptError> {
        let now = chrono::Utc::now().timestamp();
        let entry = incoming::journal_entry(self.store.as_ref(), tenant, incoming, now)?;
        let journaled = self.store.journal(&entry).map_err(AcceptError::Store)?;
        if matches!(journaled, Journaled::Accepted(_)) {
            self.notify();
        }
        Ok(journaled)
    }

    /// Claims, processes and commits one batch; returns how many events it
    /// processed (0 when none were pending).
    pub fn process_batch(&self) -> Result<usize, store::Error> {
        let pending = self
            .store
            .claim_pending(self.config.per_tenant, self.config.batch)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let processed_at = chrono::Utc::now().timestamp();
        let next = AtomicUsize::new(0);
        let results: Vec<_> = thread::scope(|scope| {
            let workers: Vec<_> = (0..self.config.workers.clamp(1, pending.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(event) = pending.get(index) else {
                                break;
                            };
                            let result = process::process(
                                &self.store,
                                &self.runtime,
                                &self.plugins,
                                &self.metrics,
                                self.config.limits,
                                event,
                                processed_at,
                            );
                            done.push((index, result));
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
        let mut results = results;
        results.sort_by_key(|(index, _)| *index);
        let committed = results
            .into_iter()
            .map(|(_, result)| result)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|processed| self.executor.execute(&processed).map(|()| processed));
        let processed = match committed {
            Ok(processed) => processed,
            Err(error) => {
                self.metrics.events_processed("error", pending.len() as u64);
                return Err(error);
            }
        };
        for event in &processed {
            self.metrics.events_processed(outcome(event), 1);
        }
        Ok(processed.len())
    }

    /// Processes batches until nothing is pending.
    pub fn drain(&self) -> Result<(), store::Error> {
        while self.process_batch()? > 0 {}
        Ok(())
    }

    /// Runs the dispatcher on its own thread until `stop` is set; it then
    /// finishes the batch in hand and returns.
    pub fn start(self: &Arc<Self>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
        let pipeline = Arc::clone(self);
        thread::Builder::new()
            .name("smstrigger-dispatcher".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match pipeline.process_batch() {
                        Ok(0) => pipeline.wait_for_work(),
                        Ok(_) => {}
                        Err(error) => {
                            tracing::error!(%error, "processing a batch failed; retrying");
                            thread::sleep(IDLE_POLL);
                        }
                    }
                }
            })
            .expect("spawning the dispatcher")
    }

    /// Wakes the dispatcher (also used on shutdown).
    pub fn notify(&self) {
        let (flag, condvar) = &self.wake;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        condvar.notify_all();
    }

    fn wait_for_work(&self) {
        let (flag, condvar) = &self.wake;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = condvar
            .wait_timeout_while(guard, IDLE_POLL, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs `version` of `tenant`'s plugin `name` over its last `limit`
    /// recorded runs and reports what would differ; executes nothing.
    pub fn replay(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        limit: usize,
    ) -> Result<ReplayReport, ReplayError> {
        replay::replay(self, tenant, name, version, limit)
    }

    /// The loaded plugin versions, shared with dry runs and uploads.
    pub fn plugins(&self) -> &PluginCache {
        &self.plugins
    }

    /// The metrics this pipeline counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// The `outcome` label of a committed event: `opted_out` when the message
/// was an opt-out, `plugin_failed` when any plugin failed, else `ok`.
fn outcome(event: &ProcessedEvent) -> &'static str {
    if event.opted_out.is_some() {
        "opted_out"
    } else if event.decisions.iter().any(|d| d.outcome == "failed") {
        "plugin_failed"
    } else {
        "ok"
    }
}
