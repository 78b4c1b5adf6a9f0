//! Which pending event runs next: fair across tenants, one event of a
//! subject at a time, and never more of one tenant's events at once than
//! its share of the workers.
//!
//! The schedule is memory only. Everything in it is still `pending` in the
//! journal until its decision commits, so after a crash the journal alone
//! says what is left to do.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::model::{EventId, TenantId};
use crate::store::PendingEvent;

/// The events claimed from the journal and not yet committed.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    /// Claimed, waiting for a worker; one queue per tenant.
    queues: BTreeMap<TenantId, VecDeque<PendingEvent>>,
    /// The tenant served last: the next worker serves the one after it.
    last_served: Option<TenantId>,
    /// Per tenant: events held by a worker right now.
    running: HashMap<TenantId, usize>,
    /// Per tenant: events claimed and not yet committed (queued, running or
    /// being committed).
    claimed: HashMap<TenantId, usize>,
    in_flight: HashSet<EventId>,
    /// The subjects of in-flight events: a subject's next event waits.
    subjects: HashSet<(TenantId, String)>,
    /// Events committed while a claim was reading the journal: the claim's
    /// snapshot may still show them pending.
    committed_during_claim: Option<HashSet<EventId>>,
}

impl Schedule {
    /// Marks the start of a claim: the journal is about to be read.
    pub fn begin_claim(&mut self) {
        self.committed_during_claim = Some(HashSet::new());
    }

    /// Takes what the journal reports pending (each tenant's oldest events,
    /// oldest first) into the queues, skipping events already in flight,
    /// events whose subject has an earlier event in flight or skipped, and
    /// events beyond a tenant's `per_tenant` claimed ones. Returns how many
    /// were queued.
    pub fn claim(&mut self, pending: Vec<PendingEvent>, per_tenant: usize) -> usize {
        let committed = self.committed_during_claim.take().unwrap_or_default();
        let mut blocked: HashSet<(TenantId, String)> = HashSet::new();
        let mut queued = 0;
        for event in pending {
            let subject = (event.tenant_id, event.subject.clone());
            if committed.contains(&event.id) {
                continue;
            }
            if self.in_flight.contains(&event.id) {
                blocked.insert(subject);
                continue;
            }
            let claimed = self.claimed.entry(event.tenant_id).or_default();
            if *claimed >= per_tenant
                || blocked.contains(&subject)
                || self.subjects.contains(&subject)
            {
                blocked.insert(subject);
                continue;
            }
            *claimed += 1;
            self.in_flight.insert(event.id);
            self.subjects.insert(subject);
            self.queues
                .entry(event.tenant_id)
                .or_default()
                .push_back(event);
            queued += 1;
        }
        queued
    }

    /// The next event for a worker: the oldest queued event of the next
    /// tenant (round-robin) that has fewer than `per_tenant_running` events
    /// held by workers.
    pub fn next(&mut self, per_tenant_running: usize) -> Option<PendingEvent> {
        let after = self.last_served;
        let tenant = self
            .queues
            .range(after.map_or(TenantId(0), |t| TenantId(t.0 + 1))..)
            .chain(
                self.queues
                    .range(..after.map_or(TenantId(0), |t| TenantId(t.0 + 1))),
            )
            .map(|(tenant, _)| *tenant)
            .find(|tenant| self.running.get(tenant).copied().unwrap_or(0) < per_tenant_running)?;
        let queue = self.queues.get_mut(&tenant)?;
        let event = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&tenant);
        }
        *self.running.entry(tenant).or_default() += 1;
        self.last_served = Some(tenant);
        Some(event)
    }

    /// A worker is done with `event`; it is now waiting to be committed.
    pub fn ran(&mut self, event: &PendingEvent) {
        if let Some(running) = self.running.get_mut(&event.tenant_id) {
            *running -= 1;
            if *running == 0 {
                self.running.remove(&event.tenant_id);
            }
        }
    }

    /// `event` left the pipeline: committed, or given back to the journal
    /// after a failure (it is still pending there and is claimed again).
    pub fn release(&mut self, event: &PendingEvent, committed: bool) {
        if !self.in_flight.remove(&event.id) {
            return;
        }
        self.subjects
            .remove(&(event.tenant_id, event.subject.clone()));
        if let Some(claimed) = self.claimed.get_mut(&event.tenant_id) {
            *claimed -= 1;
            if *claimed == 0 {
                self.claimed.remove(&event.tenant_id);
            }
        }
        if committed && let Some(during) = &mut self.committed_during_claim {
            during.insert(event.id);
        }
    }

    /// Events waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProjectId;

    fn event(id: u64, tenant: u64, subject: &str) -> PendingEvent {
        PendingEvent {
            id: EventId(id),
            tenant_id: TenantId(tenant),
            project_id: ProjectId(1),
            subject: subject.into(),
            input: String::new(),
        }
    }

    fn ids(schedule: &mut Schedule, per_tenant_running: usize) -> Vec<u64> {
        std::iter::from_fn(|| schedule.next(per_tenant_running))
            .map(|e| e.id.0)
            .collect()
    }

    #[test]
    fn tenants_are_served_in_turn_whatever_their_backlog() {
        let mut schedule = Schedule::default();
        let mut pending: Vec<_> = (1..=6).map(|i| event(i, 1, &format!("a{i}"))).collect();
        pending.push(event(7, 2, "b"));
        pending.push(event(8, 3, "c"));
        schedule.claim(pending, 100);
        assert_eq!(ids(&mut schedule, 100), [1, 7, 8, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_subject_runs_one_event_at_a_time_in_order() {
        let mut schedule = Schedule::default();
        let pending = vec![event(1, 1, "s"), event(2, 1, "s"), event(3, 1, "t")];
        assert_eq!(schedule.claim(pending.clone(), 100), 2);
        let first = schedule.next(100).unwrap();
        assert_eq!(first.id, EventId(1));
        schedule.ran(&first);
        // Until the first commits, a new claim (which still sees all three
        // pending) queues nothing.
        schedule.begin_claim();
        assert_eq!(schedule.claim(pending.clone(), 100), 0);
        // The first commits while the next claim reads the journal: that
        // claim's snapshot still shows it pending, and must not take it.
        schedule.begin_claim();
        schedule.release(&first, true);
        assert_eq!(schedule.claim(pending, 100), 1);
        assert_eq!(ids(&mut schedule, 100), [3, 2]);
    }

    #[test]
    fn a_tenant_holds_at_most_its_share_of_workers() {
        let mut schedule = Schedule::default();
        let pending = (1..=5).map(|i| event(i, 1, &format!("a{i}"))).collect();
        schedule.claim(pending, 100);
        assert_eq!(ids(&mut schedule, 2), [1, 2]);
        schedule.claim(vec![event(9, 2, "b")], 100);
        assert_eq!(
            ids(&mut schedule, 2),
            [9],
            "the other tenant is not held up"
        );
    }

    #[test]
    fn claims_stop_at_the_per_tenant_bound_and_resume_after_release() {
        let mut schedule = Schedule::default();
        let pending: Vec<_> = (1..=5).map(|i| event(i, 1, &format!("a{i}"))).collect();
        assert_eq!(schedule.claim(pending.clone(), 2), 2);
        let first = schedule.next(10).unwrap();
        schedule.ran(&first);
        schedule.release(&first, false); // given back: claimed again later
        schedule.begin_claim();
        assert_eq!(schedule.claim(pending, 2), 1);
        assert_eq!(ids(&mut schedule, 10), [2, 1]);
    }
}
