//! One tenant's events-per-second quota holds for the cluster: three
//! hosts flooded at once admit about what one host alone would.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// The tenant's quota, events per second.
const RATE: u32 = 50;
const FLOOD: Duration = Duration::from_secs(3);
/// Flooding threads per host.
const THREADS_PER_HOST: usize = 2;

#[test]
fn one_tenants_quota_holds_across_three_hosts() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let env = [("SMSTRIGGER_EVENTS_PER_SECOND", RATE.to_string())];
    let hosts: Vec<Host> = (0..3).map(|n| db.host(n, &env)).collect();
    let tenant = Tenant::set_up(&hosts[0], 4);

    let next = AtomicUsize::new(0);
    let started = Instant::now();
    // (accepted, refused with 429) per host.
    let counts: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..hosts.len() * THREADS_PER_HOST)
            .map(|t| {
                let (host, tenant, next) = (&hosts[t % hosts.len()], &tenant, &next);
                scope.spawn(move || {
                    let c = client();
                    let (mut accepted, mut refused) = (0, 0);
                    while started.elapsed() < FLOOD {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let (status, body) = send(tenant.receipt(host, &c, i, ""));
                        match status {
                            StatusCode::ACCEPTED => accepted += 1,
                            StatusCode::TOO_MANY_REQUESTS => refused += 1,
                            _ => panic!("event {i}: {status} {body}"),
                        }
                    }
                    (accepted, refused)
                })
            })
            .collect();
        let per_thread: Vec<(u64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (0..hosts.len())
            .map(|n| {
                per_thread
                    .iter()
                    .skip(n)
                    .step_by(hosts.len())
                    .fold((0, 0), |(a, r), (ta, tr)| (a + ta, r + tr))
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();

    let accepted: u64 = counts.iter().map(|(a, _)| a).sum();
    let refused: u64 = counts.iter().map(|(_, r)| r).sum();
    // The quota over the flood, plus one second's burst; 10% either way.
    let quota = f64::from(RATE) * seconds;
    let (low, high) = (quota * 0.9, (quota + f64::from(RATE)) * 1.1);
    let detail = format!(
        "{accepted} accepted, {refused} refused in {seconds:.2} s at {RATE}/s \
         (allowed {low:.0}..={high:.0}); per host {counts:?}"
    );
    assert!(
        (low..=high).contains(&(accepted as f64)),
        "the cluster admitted outside the quota: {detail}"
    );
    assert!(refused > 0, "the flood was never refused: {detail}");
    assert!(
        counts.iter().all(|(a, _)| *a > 0),
        "every host admitted some: {detail}"
    );
    let journaled: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM events WHERE tenant_id = $1",
            &[&(tenant.id as i64)],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        journaled as u64, accepted,
        "a refused event journaled: {detail}"
    );
}
