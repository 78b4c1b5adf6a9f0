//! Group commit for the journal: webhooks that arrive together are made
//! durable together, in one transaction and one fsync, and each is answered
//! only after that commit.
//!
//! One thread owns the journal's writes. It blocks for the first entry,
//! takes whatever else is already waiting (up to [`MAX_GROUP`]), journals
//! them all in one transaction and answers each. A lone webhook pays one
//! fsync, as before; a thousand concurrent ones share a handful.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use tokio::sync::oneshot;

use crate::model::TenantId;
use crate::store::{self, JournalEntry, Journaled, Store};

/// The most entries in one journal transaction: bounds how long the
/// writer connection is held, and so how long a decision commit waits.
pub const MAX_GROUP: usize = 1024;

type Reply = oneshot::Sender<Result<Journaled, store::Error>>;

/// The journal's writer thread; it ends when this handle is dropped.
pub(crate) struct GroupCommit {
    entries: Sender<(JournalEntry, Reply)>,
}

impl GroupCommit {
    /// Starts the writer; after each commit it calls `journaled` once with
    /// the tenants that got new pending events (so the pipeline is woken
    /// once per group, not once per webhook).
    pub fn start(store: Arc<dyn Store>, journaled: impl Fn(&[TenantId]) + Send + 'static) -> Self {
        let (entries, waiting) = mpsc::channel();
        thread::Builder::new()
            .name("smstrigger-journal".into())
            .spawn(move || write(store.as_ref(), waiting, journaled))
            .expect("spawning the journal writer");
        Self { entries }
    }

    /// Queues `entry` to be journaled with whatever else is waiting; the
    /// answer arrives once it is durable.
    pub fn submit(&self, entry: JournalEntry) -> Result<Answer, store::Error> {
        let (reply, answer) = oneshot::channel();
        self.entries.send((entry, reply)).map_err(|_| gone())?;
        Ok(Answer(answer))
    }
}

/// The outcome of a submitted entry, awaited or waited for.
pub(crate) struct Answer(oneshot::Receiver<Result<Journaled, store::Error>>);

impl Answer {
    pub async fn received(self) -> Result<Journaled, store::Error> {
        self.0.await.map_err(|_| gone())?
    }

    /// Blocks the calling thread (never call it on an async runtime).
    pub fn wait(self) -> Result<Journaled, store::Error> {
        self.0.blocking_recv().map_err(|_| gone())?
    }
}

fn write(
    store: &dyn Store,
    waiting: Receiver<(JournalEntry, Reply)>,
    on_journaled: impl Fn(&[TenantId]),
) {
    while let Ok(first) = waiting.recv() {
        let mut group = vec![first];
        group.extend(waiting.try_iter().take(MAX_GROUP - 1));
        let (entries, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        match store.journal_batch(&entries) {
            Ok(journaled) => {
                let mut tenants: Vec<TenantId> = entries
                    .iter()
                    .zip(&journaled)
                    .filter(|(_, j)| matches!(j, Journaled::Accepted(_)))
                    .map(|(entry, _)| entry.tenant_id)
                    .collect();
                tenants.sort_unstable();
                tenants.dedup();
                // Answer first: waking the pipeline takes its schedule's
                // lock, which a low-priority worker may be holding.
                for (reply, journaled) in replies.into_iter().zip(journaled) {
                    reply.send(Ok(journaled)).ok();
                }
                if !tenants.is_empty() {
                    on_journaled(&tenants);
                }
            }
            Err(error) => {
                tracing::error!(%error, entries = entries.len(), "journaling failed");
                for reply in replies {
                    reply
                        .send(Err(store::Error::Journal(error.to_string())))
                        .ok();
                }
            }
        }
    }
}

fn gone() -> store::Error {
    store::Error::Journal("the journal writer has stopped".into())
}
