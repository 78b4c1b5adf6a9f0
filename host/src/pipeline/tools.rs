//! Where dry runs and replays run: threads of their own at the lowest
//! priority, so a tenant's tool runs get only the CPU the live pipeline
//! leaves.
//!
//! Tool runs are capped in number (`api::quotas`), but each may burn its
//! plugin's whole budget; on the API's blocking threads, at normal
//! priority, four of them took the CPU a quiet tenant's live events needed
//! (its p99 journal → decision rose 22.8× in the `isolation` proof, 1.85×
//! without them). Here they queue for one thread per core, in the
//! `SCHED_IDLE` class at nice [`TOOL_NICE`]: they run on what the live
//! pipeline leaves of the CPU.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use super::threads;

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
                    threads::set_nice(TOOL_NICE);
                    threads::idle_class();
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

#[cfg(test)]
mod tests {
    use super::*;

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
