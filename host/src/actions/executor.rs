//! Carrying validated actions out: one [`Executor`] interface, with the
//! embedded store as its first back end.

use std::borrow::Cow;
use std::sync::Arc;

use super::execution_time::drop_past_writes;
use crate::config::Clock;
use crate::store::{self, ProcessedEvent, Store};

/// Executes what processing decided, and marks the events done.
///
/// An implementation must make each event's record changes, its decisions
/// and its "done" mark one atomic step, so that a crash at any point
/// neither loses an accepted event nor executes an action twice; and must
/// execute no action whose next call date has passed by then (see
/// [`super::execution_time`]).
pub trait Executor: Send + Sync {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error>;
}

/// Executes against the embedded store: the whole batch is one SQLite
/// transaction (decisions, dispositions, next call dates, event-list
/// entries, opt-outs and the events' done marks), less the actions whose
/// next call date is before its clock's now.
pub struct EmbeddedExecutor {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl EmbeddedExecutor {
    /// An executor on the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_clock(store, Clock::default())
    }

    /// An executor judging "already past" by `clock`.
    pub fn with_clock(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// `processed` without the writes whose next call date is before now
    /// (their verdicts say why); borrowed when there are none, the usual case.
    pub(crate) fn checked<'a>(&self, processed: &'a [ProcessedEvent]) -> Cow<'a, [ProcessedEvent]> {
        let now = self.clock.now();
        let past = |event: &ProcessedEvent| {
            event
                .writes
                .iter()
                .any(|write| write.next_calldate.is_some_and(|at| at < now))
        };
        if !processed.iter().any(past) {
            return Cow::Borrowed(processed);
        }
        let mut batch = processed.to_vec();
        for event in &mut batch {
            drop_past_writes(event, now);
        }
        Cow::Owned(batch)
    }

    /// Commits a batch [`Self::checked`] already went through.
    pub(crate) fn commit_checked(&self, checked: &[ProcessedEvent]) -> Result<(), store::Error> {
        self.store.commit(checked)
    }
}

impl Executor for EmbeddedExecutor {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error> {
        self.commit_checked(&self.checked(processed))
    }
}
