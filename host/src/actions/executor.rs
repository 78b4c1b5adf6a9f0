//! Carrying validated actions out: one [`Executor`] interface, with the
//! embedded store as its first back end.

use std::borrow::Cow;
use std::sync::Arc;

use super::execution_time::{check_event, is_past, rules_of};
use crate::config::Clock;
use crate::store::{self, ProcessedEvent, Store};

/// Executes what processing decided, and marks the events done.
///
/// An implementation must make each event's record changes, its decisions
/// and its "done" mark one atomic step, so that a crash at any point
/// neither loses an accepted event nor executes an action twice; and must
/// execute no action whose next call date has passed by then: it is
/// rejected or moved to now, as its project says (see
/// [`super::execution_time`]).
pub trait Executor: Send + Sync {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error>;
}

/// Executes against the embedded store: the whole batch is one SQLite
/// transaction (decisions, dispositions, next call dates, event-list
/// entries, opt-outs and the events' done marks), after the actions whose
/// next call date is before its clock's now were moved or dropped.
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

    /// `processed` as it may execute: writes (and queued remote writes)
    /// whose next call date is before now moved or removed, as their
    /// projects say, their verdicts saying which (see
    /// [`super::execution_time`]); borrowed when there are none, the usual
    /// case. Fails only when the store cannot say what a project's rules are.
    pub(crate) fn checked<'a>(
        &self,
        processed: &'a [ProcessedEvent],
    ) -> Result<Cow<'a, [ProcessedEvent]>, store::Error> {
        let now = self.clock.now();
        let past = |event: &ProcessedEvent| {
            event
                .writes
                .iter()
                .chain(&event.outbox)
                .any(|write| is_past(write, now))
        };
        if !processed.iter().any(past) {
            return Ok(Cow::Borrowed(processed));
        }
        let mut batch = processed.to_vec();
        for event in &mut batch {
            let tenant = event.tenant_id;
            check_event(event, now, |record| {
                rules_of(self.store.as_ref(), tenant, record)
            })?;
        }
        Ok(Cow::Owned(batch))
    }

    /// Commits a batch [`Self::checked`] already went through.
    pub(crate) fn commit_checked(&self, checked: &[ProcessedEvent]) -> Result<(), store::Error> {
        self.store.commit(checked)
    }
}

impl Executor for EmbeddedExecutor {
    fn execute(&self, processed: &[ProcessedEvent]) -> Result<(), store::Error> {
        self.commit_checked(&self.checked(processed)?)
    }
}
