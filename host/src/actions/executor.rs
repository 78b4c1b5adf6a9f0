//! Carrying validated actions out: one [`Executor`] interface, with the
//! embedded store as its first back end.

use std::sync::Arc;

use crate::store::{self, ProcessedEvent, Store};

/// Executes what processing decided, and marks the events done.
///
/// An implementation must make each event's record changes, its decisions
/// and its "done" mark one atomic step, so that a crash at any point
/// neither loses an accepted event nor executes an action twice.
pub trait Executor: Send + Sync {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error>;
}

/// Executes against the embedded store: the whole batch is one SQLite
/// transaction (decisions, dispositions, next call dates, event-list
/// entries, opt-outs and the events' done marks).
pub struct EmbeddedExecutor {
    store: Arc<dyn Store>,
}

impl EmbeddedExecutor {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl Executor for EmbeddedExecutor {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error> {
        self.store.commit(processed)
    }
}
