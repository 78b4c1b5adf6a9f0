//! Thread priorities: the nice value of the calling thread and the idle
//! scheduling class, so background work (pipeline workers, heavy tenants,
//! tool runs, compiles) yields the CPU to the threads that answer requests.
//!
//! Best effort and Linux only: a refusal is logged and the thread runs on
//! at its old priority; elsewhere both are no-ops, and fairness rests on
//! the pipeline's schedule alone. Owns no threads.

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

/// Moves the calling thread to `SCHED_IDLE` (Linux): it runs only when no
/// other thread wants the CPU. Only for threads that hold no lock a live
/// event waits for, since being preempted must cost nobody else. Best
/// effort: a refusal is logged and the thread keeps its nice value.
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
