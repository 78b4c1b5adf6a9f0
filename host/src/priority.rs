//! Thread priorities: the nice value of the calling thread and the idle
//! scheduling class, so background work (pipeline workers, heavy tenants,
//! tool runs, compiles) yields the CPU to the threads that answer requests;
//! and the thread CPU clock that says what an event cost its worker.
//!
//! Best effort and Linux only: a refusal is logged and the thread runs on
//! at its old priority; elsewhere both are no-ops, and fairness rests on
//! the pipeline's schedule alone. Owns no threads.

use std::time::Duration;

/// Sets the calling thread's nice value (Linux: `PRIO_PROCESS` with
/// `who = 0` names the calling thread). Best effort: a refusal is logged.
#[cfg(target_os = "linux")]
pub(crate) fn set_nice(nice: i32) {
    // SAFETY: setpriority only reads its plain integer arguments.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
        tracing::warn!(nice, error = %std::io::Error::last_os_error(), "could not lower a thread's priority");
    }
}

/// Elsewhere `who = 0` names the whole process, not the thread, so
/// priorities are left alone.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_nice(_nice: i32) {}

/// Moves the calling thread to `SCHED_IDLE` (Linux): it runs only on CPU
/// no other thread wants, and any other thread that wakes takes its core
/// at once. A nice value alone is not enough for that: a nice-19 thread
/// still gets its share of a busy core, and a waking thread may wait for
/// its slice to end. Only for threads that hold locks a live event waits
/// for briefly or not at all, since a preempted holder stalls its waiters.
/// The class cannot be left without privilege, so a thread goes there for
/// good. Best effort: a refusal is logged and the thread keeps its nice
/// value.
#[cfg(target_os = "linux")]
pub(crate) fn idle_class() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param` for the duration of the call;
    // pid 0 names the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "the thread stays out of the idle class");
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn idle_class() {}

/// The CPU time the calling thread has consumed: what its work cost,
/// without the time it waited for a core.
#[cfg(unix)]
pub(crate) fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the valid pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Without a thread CPU clock nothing is heavy by CPU time; fuel still
/// counts.
#[cfg(not(unix))]
pub(crate) fn thread_cpu_time() -> Duration {
    Duration::ZERO
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The clock counts work and not waiting: a thread that sleeps 50 ms
    /// consumed almost nothing, one that spins 50 ms consumed most of it.
    #[cfg(unix)]
    #[test]
    fn the_thread_clock_counts_work_not_waiting() {
        std::thread::spawn(|| {
            let before = thread_cpu_time();
            std::thread::sleep(Duration::from_millis(50));
            let slept = thread_cpu_time() - before;
            assert!(slept < Duration::from_millis(10), "sleeping cost {slept:?}");
            let (before, started) = (thread_cpu_time(), Instant::now());
            let mut spins = 0u64;
            while started.elapsed() < Duration::from_millis(50) {
                spins = std::hint::black_box(spins + 1);
            }
            let spun = thread_cpu_time() - before;
            assert!(spun > Duration::from_millis(5), "spinning cost {spun:?}");
        })
        .join()
        .unwrap();
    }

    /// A thread put in the idle class is there, at the nice value it had.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_in_the_idle_class_keeps_its_nice_value() {
        std::thread::spawn(|| {
            set_nice(19);
            idle_class();
            // SAFETY: getpriority and sched_getscheduler only read their
            // plain integer arguments.
            let (nice, policy) = unsafe {
                (
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                    libc::sched_getscheduler(0),
                )
            };
            assert_eq!((nice, policy), (19, libc::SCHED_IDLE));
        })
        .join()
        .unwrap();
    }
}
