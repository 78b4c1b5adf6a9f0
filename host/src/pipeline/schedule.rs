//! Which pending event runs next: fair across tenants, one event of a
//! subject at a time and in order, and never more of one tenant's events
//! at once than its share of the workers.
//!
//! The schedule is memory only. Everything in it is still `pending` in the
//! journal until its decision commits, so after a crash the journal alone
//! says what is left to do. Per tenant it remembers the last event it read,
//! so a claim reads only what is new: a tenant's backlog is read once, not
//! once per claim.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::model::{EventId, TenantId};
use crate::store::PendingEvent;

/// The events read from the journal and not yet committed.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    tenants: BTreeMap<TenantId, TenantQueue>,
    /// The tenant served last: the next worker serves the one after it.
    last_served: Option<TenantId>,
    /// Events held by a worker or being committed, with their subjects.
    in_flight: HashMap<EventId, String>,
    /// Tenants that may have pending events this schedule has not read.
    unread: BTreeSet<TenantId>,
    /// Events committed while a claim was reading the journal: the claim's
    /// snapshot may still show them pending.
    committed_during_claim: Option<HashSet<EventId>>,
    /// Per tenant: what its recent events cost (a moving average). A
    /// tenant whose events are heavy runs one event at a time.
    cost: HashMap<TenantId, Cost>,
    /// Tenants whose last event could not be decided for a reason of the
    /// host's, and when to read their events again: a retry that would
    /// fail the same way at once must not spin.
    retry_at: HashMap<TenantId, Instant>,
}

/// Held events past which a tenant is behind. A tenant the workers keep up
/// with holds only what is running and what awaits its commit; claims may
/// hold more than this (larger commit groups drain a backlog faster), so
/// it is not the claim's bound.
pub(crate) const BEHIND: usize = 256;

/// Events whose plugins burn more fuel than this on average make their
/// tenant heavy: it then runs one event at a time, on the heavy lane's
/// workers, so a plugin that burns its whole budget on every event takes
/// at most one core and only what the other tenants leave of it.
///
/// Fuel, not wall time: what a plugin itself consumed is the same in a
/// debug build and on a busy machine, where a light rule's wall time
/// passed a 1 ms threshold and put a quiet tenant behind a hostile one.
/// 25 M units is a tenth of the default budget (about 1 ms of guest code
/// in a release build); a Rust rule burns tens of thousands, the
/// JavaScript one about 3 M.
pub(crate) const HEAVY_FUEL: u64 = 25_000_000;

/// Events whose plugin calls hold their worker's thread on the CPU longer
/// than this on average make their tenant heavy too, whatever fuel they
/// burned.
///
/// Fuel counts only guest code: a plugin that spends its time in host
/// calls (a lookup, a log line, a poll in a loop) burns little of it
/// while holding a worker. Thread CPU time counts those calls, and, unlike
/// wall time, not the time the thread waited for a core on a busy
/// machine. A light rule costs about a millisecond even in a debug build.
pub(crate) const HEAVY_CPU: Duration = Duration::from_millis(25);

/// What one event cost its worker: the fuel its plugins burned and the
/// CPU time its thread spent on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    pub fuel: u64,
    pub cpu: Duration,
}

impl Cost {
    fn heavy(self) -> bool {
        self.fuel > HEAVY_FUEL || self.cpu > HEAVY_CPU
    }

    /// The moving average after one more event: 7/8 of the old, 1/8 of it.
    fn then(self, next: Cost) -> Cost {
        Cost {
            fuel: (self.fuel / 8)
                .saturating_mul(7)
                .saturating_add(next.fuel / 8),
            cpu: self.cpu * 7 / 8 + next.cpu / 8,
        }
    }
}

/// How long a tenant's events wait before they are read again after one
/// could not be decided for a reason of the host's.
pub(crate) const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Which workers an event may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Tenants whose events are light (or not yet measured).
    Light,
    /// Heavy tenants, one event each at a time, on low-priority workers.
    Heavy,
    /// Any tenant (the step-by-step `process_batch`).
    Any,
}

/// One tenant's part of the schedule.
#[derive(Debug, Default)]
struct TenantQueue {
    /// The last event read from the journal; the next read starts after it.
    cursor: EventId,
    /// Runnable now, oldest first.
    ready: VecDeque<PendingEvent>,
    /// Events behind an earlier event of their subject, per subject.
    waiting: HashMap<String, VecDeque<PendingEvent>>,
    /// Subjects with an event ready, running or being committed.
    busy: HashSet<String>,
    /// Events read and not yet committed.
    held: usize,
    /// Events held by a worker.
    running: usize,
    /// The last read stopped at its limit: there may be more.
    more: bool,
}

/// What a claim should read for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Read {
    pub tenant: TenantId,
    pub after: EventId,
    pub limit: usize,
}

impl Schedule {
    /// `tenant` has new pending events.
    pub fn touch(&mut self, tenant: TenantId) {
        self.unread.insert(tenant);
    }

    /// Starts a claim: what to read, per tenant with unread events and room
    /// for them (at most `per_tenant` held each). A tenant that still holds
    /// events is read again only once `refill_at` of its places are free.
    pub fn begin_claim(&mut self, per_tenant: usize, refill_at: usize) -> Vec<Read> {
        self.committed_during_claim = Some(HashSet::new());
        let mut reads = Vec::new();
        let now = Instant::now();
        self.retry_at.retain(|_, at| *at > now);
        let cooling = &self.retry_at;
        self.unread.retain(|&tenant| {
            if cooling.contains_key(&tenant) {
                return true; // read it once its retry is due
            }
            let queue = self.tenants.get(&tenant);
            let held = queue.map_or(0, |q| q.held);
            if held >= per_tenant || (held > 0 && per_tenant - held < refill_at) {
                return true; // read it once there is room for a good read
            }
            reads.push(Read {
                tenant,
                after: queue.map_or(EventId(0), |q| q.cursor),
                limit: per_tenant - held,
            });
            false
        });
        reads
    }

    /// Takes what a [`Read`] found (oldest first). Returns how many events
    /// became runnable.
    pub fn claim(&mut self, read: Read, events: Vec<PendingEvent>) -> usize {
        let found = events.len();
        let committed = self.committed_during_claim.as_ref();
        let queue = self.tenants.entry(read.tenant).or_default();
        let mut runnable = 0;
        for event in events {
            queue.cursor = queue.cursor.max(event.id);
            if self.in_flight.contains_key(&event.id)
                || committed.is_some_and(|c| c.contains(&event.id))
            {
                continue;
            }
            queue.held += 1;
            if queue.busy.contains(&event.subject) {
                queue
                    .waiting
                    .entry(event.subject.clone())
                    .or_default()
                    .push_back(event);
            } else {
                queue.busy.insert(event.subject.clone());
                queue.ready.push_back(event);
                runnable += 1;
            }
        }
        queue.more = found >= read.limit;
        if queue.more {
            self.unread.insert(read.tenant);
        }
        self.forget_if_idle(read.tenant);
        runnable
    }

    /// Ends a claim.
    pub fn end_claim(&mut self) {
        self.committed_during_claim = None;
    }

    /// The next event for a worker of `lane`: the oldest runnable event of
    /// the next tenant (round-robin) of that lane with fewer than
    /// `per_tenant_running` events held by workers (one, if heavy).
    pub fn next(&mut self, lane: Lane, per_tenant_running: usize) -> Option<PendingEvent> {
        let start = self.last_served.map_or(TenantId(0), |t| TenantId(t.0 + 1));
        let tenant = self
            .tenants
            .range(start..)
            .chain(self.tenants.range(..start))
            .find(|(tenant, q)| {
                let heavy = self.cost.get(tenant).is_some_and(|c| c.heavy());
                let (served, cap) = match lane {
                    Lane::Light => (!heavy, per_tenant_running),
                    Lane::Heavy => (heavy, 1),
                    Lane::Any => (true, per_tenant_running),
                };
                served && !q.ready.is_empty() && q.running < cap
            })
            .map(|(tenant, _)| *tenant)?;
        let queue = self.tenants.get_mut(&tenant)?;
        let event = queue.ready.pop_front()?;
        queue.running += 1;
        self.in_flight.insert(event.id, event.subject.clone());
        self.last_served = Some(tenant);
        Some(event)
    }

    /// Whether `tenant` is behind: more than [`BEHIND`] of its events are
    /// held, or more are pending in the journal than the schedule holds
    /// (its last read stopped at its limit).
    pub fn behind(&self, tenant: TenantId) -> bool {
        self.tenants
            .get(&tenant)
            .is_some_and(|q| q.more || q.held > BEHIND)
    }

    /// A worker is done with `event`, which cost it `spent`; it now waits
    /// to be committed. True when that moved its tenant to the other lane
    /// with events ready, which the other lane's workers must hear of.
    pub fn ran(&mut self, event: &PendingEvent, spent: Cost) -> bool {
        // A tenant starts light: one costly event (a cold cache, a
        // debug build's first call) moves the average an eighth of the way.
        let cost = self.cost.entry(event.tenant_id).or_default();
        let was_heavy = cost.heavy();
        *cost = cost.then(spent);
        let moved = was_heavy != cost.heavy();
        self.tenants.get_mut(&event.tenant_id).is_some_and(|queue| {
            queue.running = queue.running.saturating_sub(1);
            moved && !queue.ready.is_empty()
        })
    }

    /// `event` left the pipeline: committed, or (after a failure) given
    /// back. A failure drops everything of the tenant not yet running and
    /// reads it again from the journal, where all of it is still pending.
    pub fn release(&mut self, event: &PendingEvent, committed: bool) {
        let Some(subject) = self.in_flight.remove(&event.id) else {
            return;
        };
        let tenant = event.tenant_id;
        let Some(queue) = self.tenants.get_mut(&tenant) else {
            return;
        };
        queue.held -= 1;
        if committed {
            if let Some(during) = &mut self.committed_during_claim {
                during.insert(event.id);
            }
            match queue
                .waiting
                .get_mut(&subject)
                .and_then(VecDeque::pop_front)
            {
                Some(next) => {
                    if queue.waiting.get(&subject).is_some_and(VecDeque::is_empty) {
                        queue.waiting.remove(&subject);
                    }
                    queue.ready.push_back(next);
                }
                None => {
                    queue.busy.remove(&subject);
                }
            }
            if queue.more {
                self.unread.insert(tenant);
            }
        } else {
            let dropped =
                queue.ready.len() + queue.waiting.values().map(VecDeque::len).sum::<usize>();
            queue.held -= dropped;
            queue.ready.clear();
            queue.waiting.clear();
            queue.cursor = EventId(0);
            queue.busy = self
                .in_flight
                .iter()
                .filter(|(id, _)| id.0 != event.id.0)
                .map(|(_, subject)| subject.clone())
                .collect();
            self.unread.insert(tenant);
        }
        self.forget_if_idle(tenant);
    }

    /// `tenant`'s events are read again no sooner than `after` from now
    /// (see [`RETRY_AFTER`]); what it holds is given back with
    /// [`Self::release`] as usual.
    pub fn retry_later(&mut self, tenant: TenantId, after: Duration) {
        self.retry_at.insert(tenant, Instant::now() + after);
    }

    /// Events the workers can start now: every ready event of a light
    /// tenant, at most one of a heavy tenant (it runs one at a time).
    ///
    /// The dispatcher reads more of the journal only while this is low, so
    /// a heavy tenant's backlog must not count in full: it stays ready for
    /// as long as the one heavy worker takes to drain it, and counted in
    /// full it kept every other tenant's new events unread (a quiet
    /// tenant's events waited seconds in the debug build's neighbour
    /// proof).
    pub fn queued(&self) -> usize {
        self.tenants
            .iter()
            .map(|(tenant, q)| {
                let heavy = self.cost.get(tenant).is_some_and(|c| c.heavy());
                if heavy {
                    q.ready.len().min(1)
                } else {
                    q.ready.len()
                }
            })
            .sum()
    }

    /// Drops a tenant holding nothing, so idle tenants cost no memory; its
    /// next read starts from its oldest pending event.
    fn forget_if_idle(&mut self, tenant: TenantId) {
        if self.tenants.get(&tenant).is_some_and(|q| q.held == 0) {
            self.tenants.remove(&tenant);
        }
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

    /// Claims `events` as one tenant's read (whatever the tenant asked for).
    fn claim(schedule: &mut Schedule, events: Vec<PendingEvent>, per_tenant: usize) -> usize {
        let tenant = events[0].tenant_id;
        schedule.touch(tenant);
        let reads = schedule.begin_claim(per_tenant, 1);
        let read = reads.into_iter().find(|r| r.tenant == tenant).unwrap();
        let events = events
            .into_iter()
            .filter(|e| e.id > read.after)
            .take(read.limit)
            .collect();
        let runnable = schedule.claim(read, events);
        schedule.end_claim();
        runnable
    }

    fn ids(schedule: &mut Schedule, per_tenant_running: usize) -> Vec<u64> {
        std::iter::from_fn(|| schedule.next(Lane::Light, per_tenant_running))
            .map(|e| e.id.0)
            .collect()
    }

    fn commit(schedule: &mut Schedule, event: &PendingEvent) {
        commit_after(schedule, event, 0);
    }

    fn commit_after(schedule: &mut Schedule, event: &PendingEvent, fuel: u64) {
        commit_costing(
            schedule,
            event,
            Cost {
                fuel,
                ..Cost::default()
            },
        );
    }

    fn commit_costing(schedule: &mut Schedule, event: &PendingEvent, cost: Cost) {
        schedule.ran(event, cost);
        schedule.release(event, true);
    }

    #[test]
    fn tenants_are_served_in_turn_whatever_their_backlog() {
        let mut schedule = Schedule::default();
        claim(
            &mut schedule,
            (1..=6).map(|i| event(i, 1, &format!("a{i}"))).collect(),
            100,
        );
        claim(&mut schedule, vec![event(7, 2, "b")], 100);
        claim(&mut schedule, vec![event(8, 3, "c")], 100);
        assert_eq!(ids(&mut schedule, 100), [1, 7, 8, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_tenant_is_behind_while_its_reads_stop_at_their_limit() {
        let mut schedule = Schedule::default();
        let backlog: Vec<_> = (1..=4).map(|i| event(i, 1, &format!("s{i}"))).collect();
        claim(&mut schedule, backlog.clone(), 2);
        assert!(schedule.behind(TenantId(1)), "2 read of 4 pending");
        assert!(!schedule.behind(TenantId(2)), "a tenant with nothing read");
        for event in [1, 2] {
            let next = schedule.next(Lane::Light, 100).unwrap();
            assert_eq!(next.id, EventId(event));
            commit(&mut schedule, &next);
        }
        claim(&mut schedule, backlog[2..].to_vec(), 2);
        assert!(schedule.behind(TenantId(1)), "the read took its limit");
        for event in [3, 4] {
            let next = schedule.next(Lane::Light, 100).unwrap();
            assert_eq!(next.id, EventId(event));
            commit(&mut schedule, &next);
        }
        claim(&mut schedule, vec![event(5, 1, "s5")], 2);
        assert!(
            !schedule.behind(TenantId(1)),
            "caught up: 1 read, room for 2"
        );
    }

    /// Claims may hold far more than [`BEHIND`]: holding that many is
    /// behind even when the journal had nothing more.
    #[test]
    fn a_tenant_holding_more_than_its_workers_keep_up_with_is_behind() {
        let mut schedule = Schedule::default();
        let held = |n: u64| (1..=n).map(|i| event(i, 1, &format!("s{i}"))).collect();
        claim(&mut schedule, held(BEHIND as u64), 4 * BEHIND);
        assert!(!schedule.behind(TenantId(1)), "{BEHIND} held, all read");
        claim(
            &mut schedule,
            vec![event(BEHIND as u64 + 1, 1, "one more")],
            4 * BEHIND,
        );
        assert!(schedule.behind(TenantId(1)), "one more than {BEHIND} held");
    }

    #[test]
    fn a_subject_runs_one_event_at_a_time_in_order() {
        let mut schedule = Schedule::default();
        let pending = vec![event(1, 1, "s"), event(2, 1, "s"), event(3, 1, "t")];
        assert_eq!(claim(&mut schedule, pending, 100), 2);
        let first = schedule.next(Lane::Light, 100).unwrap();
        assert_eq!(first.id, EventId(1));
        assert_eq!(ids(&mut schedule, 100), [3], "2 waits for 1");
        commit(&mut schedule, &first);
        assert_eq!(ids(&mut schedule, 100), [2]);
    }

    #[test]
    fn a_read_starts_after_what_was_read_before() {
        let mut schedule = Schedule::default();
        claim(&mut schedule, vec![event(1, 1, "s"), event(2, 1, "t")], 100);
        schedule.touch(TenantId(1));
        let reads = schedule.begin_claim(100, 1);
        assert_eq!(
            reads,
            [Read {
                tenant: TenantId(1),
                after: EventId(2),
                limit: 98
            }]
        );
    }

    #[test]
    fn a_claim_never_takes_an_event_committed_while_it_read() {
        let mut schedule = Schedule::default();
        claim(&mut schedule, vec![event(1, 1, "s")], 100);
        let first = schedule.next(Lane::Light, 100).unwrap();
        // A failure elsewhere makes the tenant read from the start again;
        // meanwhile the first commits, but the read's snapshot predates it.
        schedule.touch(TenantId(1));
        let read = Read {
            tenant: TenantId(1),
            after: EventId(0),
            limit: 100,
        };
        schedule.begin_claim(100, 1);
        commit(&mut schedule, &first);
        assert_eq!(schedule.claim(read, vec![event(1, 1, "s")]), 0);
        schedule.end_claim();
        assert_eq!(ids(&mut schedule, 100), Vec::<u64>::new());
    }

    #[test]
    fn a_tenant_holds_at_most_its_share_of_workers() {
        let mut schedule = Schedule::default();
        claim(
            &mut schedule,
            (1..=5).map(|i| event(i, 1, &format!("a{i}"))).collect(),
            100,
        );
        assert_eq!(ids(&mut schedule, 2), [1, 2]);
        claim(&mut schedule, vec![event(9, 2, "b")], 100);
        assert_eq!(
            ids(&mut schedule, 2),
            [9],
            "the other tenant is not held up"
        );
    }

    #[test]
    fn a_heavy_tenant_runs_one_event_at_a_time() {
        let mut schedule = Schedule::default();
        claim(
            &mut schedule,
            (1..=4).map(|i| event(i, 1, &format!("a{i}"))).collect(),
            100,
        );
        let first = schedule.next(Lane::Light, 3).unwrap();
        commit_after(&mut schedule, &first, 250_000_000);
        assert_eq!(
            ids(&mut schedule, 3),
            Vec::<u64>::new(),
            "not on the light lane"
        );
        let heavy: Vec<u64> = std::iter::from_fn(|| schedule.next(Lane::Heavy, 3))
            .map(|e| e.id.0)
            .collect();
        assert_eq!(heavy, [2], "one at a time, on the heavy lane");
    }

    #[test]
    fn reads_stop_at_the_per_tenant_bound_and_resume_after_commits() {
        let mut schedule = Schedule::default();
        let pending: Vec<_> = (1..=5).map(|i| event(i, 1, &format!("a{i}"))).collect();
        assert_eq!(claim(&mut schedule, pending.clone(), 2), 2);
        schedule.touch(TenantId(1));
        assert_eq!(schedule.begin_claim(2, 1), [], "no room");
        schedule.end_claim();
        let first = schedule.next(Lane::Light, 10).unwrap();
        commit(&mut schedule, &first);
        assert_eq!(claim(&mut schedule, pending, 2), 1);
        assert_eq!(ids(&mut schedule, 10), [2, 3]);
    }

    #[test]
    fn a_tenant_holding_events_is_read_again_only_once_refill_at_places_are_free() {
        let mut schedule = Schedule::default();
        let pending: Vec<_> = (1..=8).map(|i| event(i, 1, &format!("a{i}"))).collect();
        assert_eq!(claim(&mut schedule, pending, 4), 4);
        let first = schedule.next(Lane::Light, 10).unwrap();
        commit(&mut schedule, &first);
        schedule.touch(TenantId(1));
        assert_eq!(
            schedule.begin_claim(4, 2),
            [],
            "one place free of the two asked"
        );
        schedule.end_claim();
        let second = schedule.next(Lane::Light, 10).unwrap();
        commit(&mut schedule, &second);
        schedule.touch(TenantId(1));
        let reads = schedule.begin_claim(4, 2);
        assert_eq!(reads.len(), 1, "two places free");
        assert_eq!(reads[0].limit, 2);
        schedule.end_claim();
    }

    #[test]
    fn a_failure_gives_back_what_was_not_running_and_reads_it_again() {
        let mut schedule = Schedule::default();
        let pending: Vec<_> = (1..=3).map(|i| event(i, 1, &format!("a{i}"))).collect();
        claim(&mut schedule, pending.clone(), 100);
        let first = schedule.next(Lane::Light, 100).unwrap();
        let second = schedule.next(Lane::Light, 100).unwrap();
        schedule.ran(&first, Cost::default());
        schedule.release(&first, false);
        // 2 is still running; 1 and 3 are read again.
        assert_eq!(claim(&mut schedule, pending, 100), 2);
        assert_eq!(ids(&mut schedule, 100), [1, 3]);
        commit(&mut schedule, &second);
    }

    /// An event the host could not decide (no instance free, a store
    /// outage) is not retried in a tight loop: its tenant is read again
    /// only after [`RETRY_AFTER`], and other tenants are read meanwhile.
    #[test]
    fn a_tenant_to_retry_is_not_read_again_until_its_retry_is_due() {
        let mut schedule = Schedule::default();
        claim(&mut schedule, vec![event(1, 1, "a")], 100);
        let first = schedule.next(Lane::Light, 100).unwrap();
        schedule.ran(&first, Cost::default());
        schedule.retry_later(TenantId(1), Duration::from_millis(50));
        schedule.release(&first, false);
        schedule.touch(TenantId(2));
        let tenants: Vec<_> = schedule
            .begin_claim(100, 1)
            .iter()
            .map(|r| r.tenant)
            .collect();
        schedule.end_claim();
        assert_eq!(tenants, [TenantId(2)], "tenant 1 waits for its retry");
        std::thread::sleep(Duration::from_millis(60));
        let tenants: Vec<_> = schedule
            .begin_claim(100, 1)
            .iter()
            .map(|r| r.tenant)
            .collect();
        schedule.end_claim();
        assert!(tenants.contains(&TenantId(1)), "then it is read again");
    }

    /// Heaviness is what the plugins burned, not wall time: a light rule
    /// whose events took long (a debug build, a busy machine) stays light.
    #[test]
    fn a_tenant_is_heavy_by_the_fuel_it_burns_not_by_wall_time() {
        let mut schedule = Schedule::default();
        claim(
            &mut schedule,
            (1..=3).map(|i| event(i, 1, &format!("a{i}"))).collect(),
            100,
        );
        let first = schedule.next(Lane::Light, 3).unwrap();
        commit_after(&mut schedule, &first, 40_000);
        assert_eq!(ids(&mut schedule, 3), [2, 3], "still on the light lane");
    }

    /// A plugin that holds its worker in host calls (lookups, logs, polls
    /// in a loop) burns little fuel; the CPU time its thread spent makes
    /// its tenant heavy all the same, and a light event's does not.
    #[test]
    fn a_tenant_is_heavy_by_the_cpu_its_events_hold_fuel_or_not() {
        let mut schedule = Schedule::default();
        claim(
            &mut schedule,
            (1..=4).map(|i| event(i, 1, &format!("a{i}"))).collect(),
            100,
        );
        let light = Cost {
            fuel: 40_000,
            cpu: Duration::from_millis(2),
        };
        let first = schedule.next(Lane::Light, 3).unwrap();
        commit_costing(&mut schedule, &first, light);
        let second = schedule.next(Lane::Light, 1).unwrap();
        assert_eq!(second.id.0, 2, "two milliseconds of CPU is light");
        let in_host_calls = Cost {
            fuel: 40_000,
            cpu: Duration::from_secs(1),
        };
        commit_costing(&mut schedule, &second, in_host_calls);
        assert_eq!(ids(&mut schedule, 3), Vec::<u64>::new(), "now heavy");
        assert_eq!(schedule.next(Lane::Heavy, 3).unwrap().id.0, 3);
    }

    /// A heavy tenant's backlog is not work the light workers can start:
    /// it counts as one event, so the dispatcher goes on reading the
    /// other tenants' new events.
    #[test]
    fn a_heavy_tenants_backlog_counts_as_one_queued_event() {
        let mut schedule = Schedule::default();
        claim(
            &mut schedule,
            (1..=50).map(|i| event(i, 1, &format!("a{i}"))).collect(),
            100,
        );
        assert_eq!(schedule.queued(), 50, "light: all of it is work");
        let first = schedule.next(Lane::Light, 3).unwrap();
        commit_after(&mut schedule, &first, 250_000_000);
        assert_eq!(schedule.queued(), 1, "heavy: one at a time");
        claim(&mut schedule, vec![event(100, 2, "b")], 100);
        assert_eq!(schedule.queued(), 2);
    }
}
