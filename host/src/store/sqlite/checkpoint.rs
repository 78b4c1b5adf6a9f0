//! Checkpoints off the write path.
//!
//! A background thread, on a connection of its own, copies the write-ahead
//! log back into the database file every [`EVERY`]. A commit that crosses
//! SQLite's automatic threshold would otherwise do all of that copying
//! itself while holding the writer: a webhook would wait for it, or the
//! committer would. Copying a second's worth at a time also writes a page
//! that changed many times once. Checkpoints here are `PASSIVE`: they never
//! wait for a reader or the writer, and copy what they can.
//!
//! A passive checkpoint alone never lets the log start over while writes
//! keep coming (measured: a 4.5 GB log after the load proofs, and a restart
//! that took 1.3 s to read it). So the writer keeps an automatic
//! checkpoint, at [`WRITER_BACKSTOP_PAGES`]: it then copies only what this
//! thread has not, holding the writer so that the copy completes and the
//! log starts over.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{Result, connect};

/// How often the log is copied back: often enough that it stays tens of
/// megabytes at full load, seldom enough that hot pages are copied once.
pub(super) const EVERY: Duration = Duration::from_secs(1);

/// The writer's own automatic checkpoint, in pages of the log: ten times
/// SQLite's default, so that this thread does nearly all the copying.
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// The checkpointing thread; it stops when this is dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` every `every`.
    pub fn start(path: &Path, every: Duration) -> Result<Self> {
        let conn = connect(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("smstrigger-checkpoint".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    thread::park_timeout(every);
                    if let Err(error) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(%error, "checkpointing failed; retrying");
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            thread.join().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::store::Tenants;
    use crate::store::sqlite::{DATABASE_FILE, SqliteStore};

    /// Below the writer's backstop, nothing but the checkpointer copies the
    /// log into the database file.
    #[test]
    fn the_log_is_copied_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let file = dir.path().join(DATABASE_FILE);
        let before = std::fs::metadata(&file).unwrap().len();
        for i in 0..200 {
            store.create_tenant(&format!("t{i}"), "secret").unwrap();
        }
        let deadline = Instant::now() + EVERY * 10;
        while std::fs::metadata(&file).unwrap().len() <= before {
            assert!(
                Instant::now() < deadline,
                "no checkpoint within {:?}",
                EVERY * 10
            );
            thread::sleep(EVERY / 10);
        }
    }

    /// A passive checkpoint alone never lets the log start over under
    /// steady writes (a 4.5 GB log once): the writer must keep its own.
    #[test]
    fn the_writer_keeps_its_own_checkpoint_as_a_backstop() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let pages: u32 = store
            .conn()
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
            .unwrap();
        assert_eq!(pages, WRITER_BACKSTOP_PAGES);
    }

    /// Dropping it stops its thread at once, not after a period.
    #[test]
    fn dropping_it_stops_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let checkpointer =
            Checkpointer::start(&dir.path().join("x.db"), Duration::from_secs(3600)).unwrap();
        let started = Instant::now();
        drop(checkpointer);
        assert!(started.elapsed() < Duration::from_secs(60), "joined");
    }
}
