//! Group commit for the journal: webhooks that arrive together are made
//! durable together, in one transaction and one fsync, and each is answered
//! only after that commit.
//!
//! One thread owns the journal's writes. It blocks for the first entry,
//! takes whatever else is already waiting (up to [`MAX_GROUP`]), journals
//! them all in one transaction and answers each. A lone webhook pays one
//! fsync, as before; a thousand concurrent ones share a handful.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Entries submitted and not yet answered.
    waiting: Arc<AtomicUsize>,
}

impl GroupCommit {
    /// Starts the writer; after each commit it calls `journaled` once with
    /// the tenants that got new pending events (so the pipeline is woken
    /// once per group, not once per webhook).
    pub fn start(store: Arc<dyn Store>, journaled: impl Fn(&[TenantId]) + Send + 'static) -> Self {
        let (entries, queued) = mpsc::channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let answered = Arc::clone(&waiting);
        thread::Builder::new()
            .name("smstrigger-journal".into())
            .spawn(move || write(store.as_ref(), queued, &answered, journaled))
            .expect("spawning the journal writer");
        Self { entries, waiting }
    }

    /// How many webhooks are waiting for the journal right now: the accept
    /// path is busy when this is above zero.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Queues `entry` to be journaled with whatever else is waiting; the
    /// answer arrives once it is durable.
    pub fn submit(&self, entry: JournalEntry) -> Result<Answer, store::Error> {
        let (reply, answer) = oneshot::channel();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if self.entries.send((entry, reply)).is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(gone());
        }
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
    queued: Receiver<(JournalEntry, Reply)>,
    waiting: &AtomicUsize,
    on_journaled: impl Fn(&[TenantId]),
) {
    while let Ok(first) = queued.recv() {
        let mut group = vec![first];
        group.extend(queued.try_iter().take(MAX_GROUP - 1));
        let (entries, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let outcome = store.journal_batch(&entries);
        // Answered either way: no longer waiting.
        waiting.fetch_sub(entries.len(), Ordering::Relaxed);
        match outcome {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProjectId;
    use crate::store::{SqliteStore, Tenants};

    fn entry(tenant: TenantId, project: ProjectId, i: usize) -> JournalEntry {
        JournalEntry {
            tenant_id: tenant,
            project_id: project,
            dedupe_key: format!("inbound:m-{i}"),
            message_id: format!("m-{i}"),
            subject: format!("+3630{i:07}"),
            superseded_by: Vec::new(),
            input: "{}".into(),
            received_at: 0,
        }
    }

    /// Workers defer to webhooks while any wait: a count that never came
    /// back to zero, after a commit or after a failure, would slow every
    /// backlog for good.
    #[test]
    fn an_answered_entry_no_longer_counts_as_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let tenant = store.create_tenant("acme", "secret").unwrap().id;
        let settings = serde_json::from_value(serde_json::json!(
            { "name": "p", "timeZone": "Europe/Budapest", "defaultCountry": "HU" }
        ))
        .unwrap();
        let project = store.create_project(tenant, &settings).unwrap().id;
        let journal = GroupCommit::start(store, |_| {});
        assert_eq!(journal.waiting(), 0);
        let answers: Vec<_> = (0..50)
            .map(|i| journal.submit(entry(tenant, project, i)).unwrap())
            .collect();
        assert!(journal.waiting() <= 50, "never more than were submitted");
        for answer in answers {
            assert!(matches!(answer.wait().unwrap(), Journaled::Accepted(_)));
        }
        assert_eq!(journal.waiting(), 0);

        // A project that does not exist fails the insert: answered too.
        let failed = journal.submit(entry(tenant, ProjectId(999), 50)).unwrap();
        assert!(failed.wait().is_err());
        assert_eq!(journal.waiting(), 0);
    }
}
