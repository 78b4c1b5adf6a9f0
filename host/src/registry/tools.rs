//! Where and how many dry runs and replays run: threads of their own at
//! the lowest priority, so a tenant's tool runs get only the CPU the live
//! pipeline leaves, and a cap on how many are in flight.
//!
//! Tool runs share the engine's instance pool with the live pipeline. The
//! global cap, [`MAX_TOOL_RUNS`], keeps most of the pool for live events
//! whatever tenants ask of the API: with it, 260 replays at once no longer
//! take every instance and fail another tenant's next event; each tenant
//! also has its own cap (`quotas.concurrent_dry_runs`). Counts are in
//! memory, per process.
//!
//! Tool runs are capped in number, but each may burn its
//! plugin's whole budget; on the API's blocking threads, at normal
//! priority, four of them took the CPU a quiet tenant's live events needed
//! (its p99 journal → decision rose 22.8× in the `isolation` proof, 1.85×
//! without them). Here they queue for one thread per core, in the
//! `SCHED_IDLE` class at nice [`TOOL_NICE`]: they run on what the live
//! pipeline leaves of the CPU.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use super::Error;
use crate::model::TenantId;
use crate::priority::{idle_class, set_nice};

/// Tool runs (dry runs and replays) in flight at once across all tenants:
/// an eighth of the instance pool, so the live pipeline (a few workers per
/// core) always finds instances free.
pub const MAX_TOOL_RUNS: usize = crate::runtime::MAX_CONCURRENT_CALLS as usize / 8;

/// Threads running tool runs: one per core, so a burst of them queues
/// instead of multiplying threads.
fn tool_threads() -> usize {
    thread::available_parallelism().map_or(1, usize::from)
}

/// The nice value of the tool threads: the lowest priority Linux has.
pub const TOOL_NICE: i32 = 19;

type Job = Box<dyn FnOnce() + Send>;

/// The tool threads; they end when the pool is dropped.
pub struct ToolPool {
    jobs: Mutex<Sender<Job>>,
}

/// The pool stopped before the job ran (the server is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the tool pool has stopped")]
pub struct ToolPoolStopped;

impl ToolPool {
    /// Starts one thread per core at [`TOOL_NICE`].
    pub fn start() -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..tool_threads() {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("smstrigger-tools-{i}"))
                .spawn(move || {
                    set_nice(TOOL_NICE);
                    // Tool threads hold no lock a live event waits for.
                    idle_class();
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .expect("spawning a tool thread");
        }
        Self {
            jobs: Mutex::new(jobs),
        }
    }

    /// Runs `job` on a tool thread and resolves to its result.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ToolPoolStopped> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            answer.send(job()).ok();
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| ToolPoolStopped)?;
        answered.await.map_err(|_| ToolPoolStopped)
    }
}

/// Tool runs in flight, per tenant and in all; one per process.
#[derive(Debug)]
pub struct ToolRuns {
    per_tenant_cap: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_tenant: HashMap<TenantId, usize>,
}

impl ToolRuns {
    /// At most `per_tenant_cap` runs of one tenant, [`MAX_TOOL_RUNS`] in all.
    pub fn new(per_tenant_cap: usize) -> Self {
        Self {
            per_tenant_cap,
            counts: Mutex::default(),
        }
    }

    /// Holds one of `tenant`'s tool-run slots (a dry run or a replay)
    /// until the guard drops; refused (`quota_exceeded`, retry in a
    /// second) when the tenant has its cap in flight, or all tenants
    /// together have [`MAX_TOOL_RUNS`].
    pub fn slot(&self, tenant: TenantId) -> Result<ToolRunSlot<'_>, Error> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = counts.per_tenant.get(&tenant).copied().unwrap_or(0);
        if mine >= self.per_tenant_cap {
            return Err(Error::quota(
                format!(
                    "tenant {tenant} already has {} dry runs and replays in flight",
                    self.per_tenant_cap
                ),
                1,
            ));
        }
        if counts.total >= MAX_TOOL_RUNS {
            return Err(Error::quota(
                format!(
                    "the server has its limit of {MAX_TOOL_RUNS} dry runs and replays in flight"
                ),
                1,
            ));
        }
        counts.total += 1;
        *counts.per_tenant.entry(tenant).or_default() += 1;
        Ok(ToolRunSlot { runs: self, tenant })
    }
}

/// One tool run in flight; its slot is given back on drop.
#[derive(Debug)]
pub struct ToolRunSlot<'a> {
    runs: &'a ToolRuns,
    tenant: TenantId,
}

impl Drop for ToolRunSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self.runs.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.per_tenant.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.per_tenant.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_run_slots_are_returned_when_dropped() {
        let runs = ToolRuns::new(1);
        let slot = runs.slot(TenantId(1)).unwrap();
        assert!(runs.slot(TenantId(1)).is_err());
        drop(slot);
        assert!(runs.slot(TenantId(1)).is_ok());
    }

    /// Many tenants each within their own quota still cannot take more
    /// than [`MAX_TOOL_RUNS`] of the instance pool together.
    #[test]
    fn tool_runs_of_all_tenants_together_stop_at_the_global_cap() {
        let per_tenant = crate::config::Quotas::default().concurrent_dry_runs;
        let runs = ToolRuns::new(per_tenant);
        let held: Vec<_> = (0..)
            .map(TenantId)
            .flat_map(|tenant| (0..per_tenant).map(move |_| tenant))
            .map_while(|tenant| runs.slot(tenant).ok())
            .collect();
        assert_eq!(held.len(), MAX_TOOL_RUNS);
        let refused = runs.slot(TenantId(10_000)).unwrap_err();
        let Error::Refused { code, message, .. } = &refused else {
            panic!("{refused:?}");
        };
        assert_eq!(*code, "quota_exceeded");
        assert!(message.contains("dry runs and replays"), "{message}");
        drop(held);
        assert!(runs.slot(TenantId(10_000)).is_ok());
    }

    /// A tool run takes only the CPU the pipeline leaves: it runs at the
    /// lowest priority, off the API's threads.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_tool_run_runs_at_the_lowest_priority_on_a_tool_thread() {
        let pool = ToolPool::start();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (nice, policy, name) = runtime
            .block_on(pool.run(|| {
                // SAFETY: getpriority and sched_getscheduler only read their
                // plain integer arguments.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                let policy = unsafe { libc::sched_getscheduler(0) };
                (nice, policy, thread::current().name().map(String::from))
            }))
            .unwrap();
        assert_eq!(nice, TOOL_NICE);
        assert_eq!(policy, libc::SCHED_IDLE);
        assert!(name.unwrap().starts_with("smstrigger-tools-"));
    }
}
