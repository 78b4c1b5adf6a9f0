//! The WASI context a plugin gets: deterministic and without authority.
//!
//! Rust's standard library imports WASI, so the host must satisfy it, but
//! nothing in it may leak the host or vary between runs: no preopened
//! files, no sockets or name lookups, no environment, no arguments, closed
//! stdin, stdout discarded, stderr captured (a panic message lands there).
//! The wall clock reads the event's timestamp, the monotonic clock stands
//! still, and all randomness comes from a seed derived from the event. A
//! plugin is therefore a function of (event, config, lookups) alone.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::limits::MAX_STDERR_BYTES;
use crate::model::SmsEvent;

/// Builds the context for one call on `event`; returns it with the pipe that
/// collects the plugin's stderr.
pub(crate) fn context(event: &SmsEvent) -> (WasiCtx, MemoryOutputPipe) {
    let seed = seed(event);
    let stderr = MemoryOutputPipe::new(MAX_STDERR_BYTES);
    let ctx = WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .wall_clock(EventClock(event.timestamp()))
        .monotonic_clock(StillClock)
        .secure_random(StdRng::seed_from_u64(seed))
        .insecure_random(StdRng::seed_from_u64(seed.rotate_left(32)))
        .insecure_random_seed(u128::from(seed))
        .max_random_size(MAX_RANDOM_BYTES)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    (ctx, stderr)
}

/// The most random bytes one `get-random-bytes` call may ask for; more traps.
const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// A stable 64-bit seed from the event's identity (FNV-1a over the message
/// id and timestamp), the same in every run and every build of the host.
pub(crate) fn seed(event: &SmsEvent) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let timestamp = event.timestamp().to_le_bytes();
    for byte in event.message_id().bytes().chain(timestamp) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A wall clock that reads the event's timestamp.
struct EventClock(i64);

impl HostWallClock for EventClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(self.0.max(0).unsigned_abs())
    }
}

/// A monotonic clock that never advances: elapsed time inside a plugin is
/// always zero, so no decision can depend on how fast it ran.
struct StillClock;

impl HostMonotonicClock for StillClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}
