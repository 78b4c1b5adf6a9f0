//! A swap made through one host is used by every other host's next
//! events within a second: each host's settings cache hears the change.

use super::*;

/// How long after an activation other hosts may still decide with the
/// version before it.
const PROPAGATION: Duration = Duration::from_secs(1);
/// Events each other host is sent from [`PROPAGATION`] on (on a busy
/// machine one event with `?wait=true` can take a second: the watch
/// runs until enough were sent late enough, not for a fixed time).
const LATE_EVENTS: usize = 3;
/// The most the watch runs, whatever the machine's load.
const WATCH_AT_MOST: Duration = Duration::from_secs(60);

/// Sends event `i` to `host` and waits for its decision; the version
/// that decided it.
fn decided_version(tenant: &Tenant, host: &Host, c: &Client, i: usize) -> u64 {
    let (status, event) = send(tenant.receipt(host, c, i, "?wait=true"));
    assert_eq!(
        status,
        StatusCode::OK,
        "event {i} not decided in time: {event}"
    );
    assert_eq!(event["state"], "done", "{event}");
    event["decisions"][0]["version"].as_u64().unwrap()
}

#[test]
fn a_swap_through_one_host_decides_the_other_hosts_events_within_a_second() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let hosts: Vec<Host> = (0..3).map(|n| db.host(n, &[])).collect();
    let tenant = Tenant::set_up(&hosts[0], 4);
    let v2 = tenant.upload(&hosts[0], PLUGIN, &plugin_bytes(1), false);
    let c = client();
    // Every host decides with version 1 first, so each has read (and
    // cached) what is active before the swap.
    let mut i = 0;
    for host in &hosts {
        assert_eq!(decided_version(&tenant, host, &c, i), 1);
        i += 1;
    }

    let (status, body) = send(
        hosts[0]
            .post(&c, &format!("/v1/plugins/{PLUGIN}/activate"))
            .bearer_auth(&tenant.api_key)
            .json(&json!({ "version": v2 })),
    );
    let activated = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");

    // (host, sent this long after the activation, the deciding version)
    let mut seen: Vec<(usize, Duration, u64)> = Vec::new();
    let late_enough = |seen: &[(usize, Duration, u64)]| {
        (1..hosts.len()).all(|n| {
            seen.iter()
                .filter(|(host, sent, _)| *host == n && *sent >= PROPAGATION)
                .count()
                >= LATE_EVENTS
        })
    };
    while !late_enough(&seen) && activated.elapsed() < WATCH_AT_MOST {
        for (n, host) in hosts.iter().enumerate().skip(1) {
            let sent = activated.elapsed();
            seen.push((n, sent, decided_version(&tenant, host, &c, i)));
            i += 1;
        }
    }
    for n in 1..hosts.len() {
        let late: Vec<_> = seen
            .iter()
            .filter(|(host, sent, _)| *host == n && *sent >= PROPAGATION)
            .collect();
        assert!(
            !late.is_empty(),
            "host {n} got no event after {PROPAGATION:?}"
        );
        let first_v2 = seen
            .iter()
            .find(|(host, _, version)| *host == n && *version == v2)
            .map(|(_, sent, _)| *sent);
        assert!(
            late.iter().all(|(_, _, version)| *version == v2),
            "host {n} decided with the old version {PROPAGATION:?} after the swap \
             (first with v{v2} at {first_v2:?}): {seen:?}"
        );
    }
}
