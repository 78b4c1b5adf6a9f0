//! Upload admission: how often a tenant may upload, and how many compiles
//! run at once.
//!
//! Compiling is the costly step of an upload (see `runtime::compile` for
//! its CPU limit), so before one starts the tenant must be under its
//! upload rate ([`UPLOAD_WINDOW`]), have no other compile running, and
//! the service must be under its global cap of compiles. Each refusal is
//! an [`Error::Refused`] with a code naming it and when to retry (the API
//! answers 429 with `Retry-After`). Counts are in memory, per process.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Error;
use crate::config::CompileConfig;
use crate::model::TenantId;

/// The window the upload rate counts over.
pub const UPLOAD_WINDOW: Duration = Duration::from_secs(60);

/// When to retry after a refusal for a compile in flight: about as long as
/// a typical plugin takes to compile.
const BUSY_RETRY_SECS: u64 = 5;

/// Admits uploads to compile; one per process, shared by every handler.
pub struct Uploads {
    per_window: usize,
    concurrent: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When each tenant's admitted uploads started, within the window.
    recent: HashMap<TenantId, VecDeque<Instant>>,
    /// Tenants with a compile in flight.
    compiling: HashSet<TenantId>,
}

impl Uploads {
    /// Limits from the server's `[compile]` configuration.
    pub fn new(config: &CompileConfig) -> Self {
        Self {
            per_window: config.uploads_per_minute as usize,
            concurrent: config.concurrent(),
            state: Mutex::default(),
        }
    }

    /// Admits one upload of `tenant`; when it `compiles` (its component is
    /// not in the compile cache yet), holds its compile slot until the
    /// returned guard drops. An upload of a component the server has
    /// compiled before (another tenant's copy of a shipped rule) costs no
    /// compile, so it takes no slot.
    ///
    /// Over the rate: refused `upload_rate`; a compile of the tenant's
    /// already running, or the global cap reached: refused `compile_busy`. A refused
    /// upload does not count toward the rate.
    pub fn admit(
        self: &Arc<Self>,
        tenant: TenantId,
        compiles: bool,
    ) -> Result<Option<CompileSlot>, Error> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let recent = state.recent.entry(tenant).or_default();
        while recent
            .front()
            .is_some_and(|started| now.duration_since(*started) >= UPLOAD_WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= self.per_window {
            let oldest = recent.front().copied().unwrap_or(now);
            let wait = UPLOAD_WINDOW.saturating_sub(now.duration_since(oldest));
            return Err(refused(
                "upload_rate",
                format!(
                    "tenant {tenant} is over its limit of {} uploads per minute",
                    self.per_window
                ),
                wait.as_secs() + 1,
            ));
        }
        if !compiles {
            recent.push_back(now);
            return Ok(None);
        }
        if state.compiling.contains(&tenant) {
            return Err(refused(
                "compile_busy",
                format!("tenant {tenant} already has an upload compiling; one at a time"),
                BUSY_RETRY_SECS,
            ));
        }
        if state.compiling.len() >= self.concurrent {
            return Err(refused(
                "compile_busy",
                format!(
                    "{} uploads are compiling, the most the server runs at once",
                    self.concurrent
                ),
                BUSY_RETRY_SECS,
            ));
        }
        state.compiling.insert(tenant);
        state.recent.entry(tenant).or_default().push_back(now);
        Ok(Some(CompileSlot {
            uploads: Arc::clone(self),
            tenant,
        }))
    }
}

fn refused(code: &'static str, message: String, retry_after: u64) -> Error {
    Error::Refused {
        code,
        message,
        retry_after,
    }
}

/// A tenant's compile slot; released when dropped, however the compile
/// ended.
pub struct CompileSlot {
    uploads: Arc<Uploads>,
    tenant: TenantId,
}

impl Drop for CompileSlot {
    fn drop(&mut self) {
        let mut state = self.uploads.state.lock().unwrap_or_else(|p| p.into_inner());
        state.compiling.remove(&self.tenant);
        state.recent.retain(|_, started| !started.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code, message and retry delay of a refusal.
    fn refusal(error: Error) -> (&'static str, String, u64) {
        match error {
            Error::Refused {
                code,
                message,
                retry_after,
            } => (code, message, retry_after),
            other => panic!("not a refusal: {other:?}"),
        }
    }

    fn uploads(per_minute: u32, concurrent: usize) -> Arc<Uploads> {
        Arc::new(Uploads::new(&CompileConfig {
            uploads_per_minute: per_minute,
            concurrent,
            ..CompileConfig::default()
        }))
    }

    #[test]
    fn a_tenant_compiles_one_upload_at_a_time_and_others_are_not_held_up() {
        let uploads = uploads(10, 2);
        let first = uploads.admit(TenantId(1), true).unwrap();
        let (code, _, retry_after) = refusal(uploads.admit(TenantId(1), true).err().unwrap());
        assert_eq!(code, "compile_busy");
        assert!(retry_after > 0);
        let _other = uploads.admit(TenantId(2), true).unwrap();
        drop(first);
        uploads.admit(TenantId(1), true).unwrap();
    }

    /// The proofs' 1,001 tenants each upload the same shipped rule: only the
    /// first compiles.
    #[test]
    fn an_upload_already_compiled_takes_no_compile_slot_but_counts_toward_the_rate() {
        let uploads = uploads(2, 1);
        let _compiling = uploads.admit(TenantId(1), true).unwrap();
        assert!(uploads.admit(TenantId(2), false).unwrap().is_none());
        assert!(uploads.admit(TenantId(2), false).unwrap().is_none());
        let (code, _, _) = refusal(uploads.admit(TenantId(2), false).err().unwrap());
        assert_eq!(code, "upload_rate");
    }

    #[test]
    fn the_global_cap_of_compiles_refuses_a_third_tenant() {
        let uploads = uploads(10, 2);
        let _a = uploads.admit(TenantId(1), true).unwrap();
        let _b = uploads.admit(TenantId(2), true).unwrap();
        let (code, message, _) = refusal(uploads.admit(TenantId(3), true).err().unwrap());
        assert_eq!(code, "compile_busy");
        assert!(message.contains('2'), "{message}");
    }

    #[test]
    fn uploads_over_the_rate_are_refused_with_when_to_retry() {
        let uploads = uploads(3, 4);
        for _ in 0..3 {
            drop(uploads.admit(TenantId(1), true).unwrap());
        }
        let (code, message, retry) = refusal(uploads.admit(TenantId(1), true).err().unwrap());
        assert_eq!(code, "upload_rate");
        assert!((1..=61).contains(&retry), "{retry}");
        assert!(message.contains("3 uploads per minute"), "{message}");
        drop(uploads.admit(TenantId(2), true).unwrap());
    }
}
