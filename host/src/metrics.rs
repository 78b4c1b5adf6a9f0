//! `Metrics`: the service's Prometheus counters, histograms and gauges, in
//! a registry of its own, rendered as text for `GET /metrics`.
//!
//! The pipeline records plugin runs and processed events, the API's
//! middleware records requests; neither knows how the other is served.
//! Every label is bounded: tenants and their plugins (bounded by tenants'
//! quotas), plugin versions (the [`VERSIONS_PER_PLUGIN`] highest seen per
//! plugin, the rest as `other`), routes as patterns (`/v1/plugins/{name}`,
//! never the raw path), methods, statuses, runtime error codes and event
//! outcomes. [`Metrics::render`] is the operator's whole view;
//! [`Metrics::render_tenant`] only the series labelled with one tenant.
//! This module does not serve HTTP and does not read the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::model::TenantId;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The route label of a request that matched no route (a 404 from the
/// fallback), so probing random paths cannot grow the label set.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Histogram buckets for one plugin run, in seconds: runs are fuel- and
/// deadline-bounded, typically well under a millisecond to tens of them.
const PLUGIN_RUN_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Histogram buckets for one HTTP request, in seconds, up to the 10 s a
/// webhook with `?wait=true` may wait for its decision.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How many versions of one plugin get a `version` label of their own:
/// the highest seen (the active one, the one it replaced, a canary). A
/// run of an older version counts under [`OTHER_VERSION`], and when a new
/// version takes a place, the series of the version it displaces are
/// removed, so a tenant uploading version after version cannot grow the
/// metrics without bound.
pub const VERSIONS_PER_PLUGIN: usize = 3;
/// The `version` label of runs of versions below the highest
/// [`VERSIONS_PER_PLUGIN`].
pub const OTHER_VERSION: &str = "other";

const PLUGIN_LABELS: &[&str] = &["tenant", "plugin", "version"];
const FAILURE_LABELS: &[&str] = &["tenant", "plugin", "version", "reason"];
const HTTP_LABELS: &[&str] = &["route", "method", "status"];

/// The service's metrics. One per process (shared through an `Arc` by the
/// pipeline and the API); each has its own registry, so tests running
/// several servers in one process see only their own numbers.
pub struct Metrics {
    registry: Registry,
    plugin_invocations: IntCounterVec,
    plugin_failures: IntCounterVec,
    plugin_run_seconds: HistogramVec,
    plugin_fuel_used: IntCounterVec,
    http_requests: IntCounterVec,
    http_request_seconds: HistogramVec,
    journal_depth: IntGauge,
    events_processed: IntCounterVec,
    shadow_comparisons: IntCounterVec,
    /// Per (tenant, plugin): the versions with a label of their own, and
    /// the failure reasons seen (to remove a displaced version's series).
    versions: Mutex<HashMap<(TenantId, String), Labelled>>,
}

#[derive(Default)]
struct Labelled {
    versions: BTreeSet<u32>,
    reasons: BTreeSet<String>,
}

impl Metrics {
    /// Creates and registers every metric, all at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        Self {
            plugin_invocations: counter(
                &registry,
                "smstrigger_plugin_invocations_total",
                "Plugin runs, one per bound plugin per event, failed ones included.",
                PLUGIN_LABELS,
            ),
            plugin_failures: counter(
                &registry,
                "smstrigger_plugin_failures_total",
                "Plugin runs that yielded no actions, by the runtime's error code.",
                FAILURE_LABELS,
            ),
            plugin_run_seconds: histogram(
                &registry,
                "smstrigger_plugin_run_seconds",
                "Wall time of one plugin run.",
                PLUGIN_LABELS,
                PLUGIN_RUN_BUCKETS,
            ),
            plugin_fuel_used: counter(
                &registry,
                "smstrigger_plugin_fuel_used_total",
                "Fuel (wasm instructions, roughly) plugins consumed.",
                PLUGIN_LABELS,
            ),
            shadow_comparisons: counter(
                &registry,
                "smstrigger_shadow_comparisons_total",
                "Events a shadow's candidate decided, compared with the active version: same, different or failed.",
                &["tenant", "plugin", "outcome"],
            ),
            http_requests: counter(
                &registry,
                "smstrigger_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
                HTTP_LABELS,
            ),
            http_request_seconds: histogram(
                &registry,
                "smstrigger_http_request_seconds",
                "Time to answer an HTTP request (up to the response's headers).",
                HTTP_LABELS,
                HTTP_BUCKETS,
            ),
            journal_depth: {
                let gauge = IntGauge::new(
                    "smstrigger_journal_depth",
                    "Events journaled and not yet processed.",
                )
                .expect("a valid metric");
                registry
                    .register(Box::new(gauge.clone()))
                    .expect("a metric registered once");
                gauge
            },
            events_processed: counter(
                &registry,
                "smstrigger_events_processed_total",
                "Events processed, by outcome: ok, plugin_failed, opted_out, opted_in, or error (the batch \
                 failed and its events will be claimed again).",
                &["outcome"],
            ),
            versions: Mutex::default(),
            registry,
        }
    }

    /// Records one plugin run: its wall time, the fuel it used and, when
    /// it failed, the runtime's error code (`out_of_fuel`, `trap`, ...).
    pub fn plugin_ran(
        &self,
        tenant: TenantId,
        plugin: &str,
        version: u32,
        elapsed: Duration,
        fuel_used: u64,
        error_code: Option<&str>,
    ) {
        let version = self.version_label(tenant, plugin, version, error_code);
        let tenant = tenant.to_string();
        let labels = [tenant.as_str(), plugin, version.as_str()];
        self.plugin_invocations.with_label_values(&labels).inc();
        self.plugin_run_seconds
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
        self.plugin_fuel_used
            .with_label_values(&labels)
            .inc_by(fuel_used);
        if let Some(reason) = error_code {
            self.plugin_failures
                .with_label_values(&[labels[0], labels[1], labels[2], reason])
                .inc();
        }
    }

    /// Counts `count` comparisons of `tenant`'s shadow of `plugin` that
    /// came out as `outcome`.
    pub fn shadow_compared(&self, tenant: TenantId, plugin: &str, outcome: &str, count: u64) {
        self.shadow_comparisons
            .with_label_values(&[tenant.to_string().as_str(), plugin, outcome])
            .inc_by(count);
    }

    /// Records a plugin version that could not even be loaded (its
    /// component is missing or no longer compiles): a failed invocation
    /// that used no time or fuel worth measuring.
    pub fn plugin_not_loaded(&self, tenant: TenantId, plugin: &str, version: u32, reason: &str) {
        let version = self.version_label(tenant, plugin, version, Some(reason));
        let tenant = tenant.to_string();
        self.plugin_invocations
            .with_label_values(&[tenant.as_str(), plugin, version.as_str()])
            .inc();
        self.plugin_failures
            .with_label_values(&[tenant.as_str(), plugin, version.as_str(), reason])
            .inc();
    }

    /// The `version` label of a run of `version`: its number while it is
    /// among the [`VERSIONS_PER_PLUGIN`] highest seen of the plugin, else
    /// [`OTHER_VERSION`]. A version entering the set displaces the lowest,
    /// whose series are removed.
    fn version_label(
        &self,
        tenant: TenantId,
        plugin: &str,
        version: u32,
        reason: Option<&str>,
    ) -> String {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let labelled = versions.entry((tenant, plugin.to_string())).or_default();
        if let Some(reason) = reason
            && !labelled.reasons.contains(reason)
        {
            labelled.reasons.insert(reason.to_string());
        }
        if labelled.versions.contains(&version) {
            return version.to_string();
        }
        if labelled.versions.len() < VERSIONS_PER_PLUGIN {
            labelled.versions.insert(version);
            return version.to_string();
        }
        let lowest = *labelled.versions.first().expect("the set is full");
        if version < lowest {
            return OTHER_VERSION.to_string();
        }
        labelled.versions.remove(&lowest);
        labelled.versions.insert(version);
        let (tenant, lowest) = (tenant.to_string(), lowest.to_string());
        let labels = [tenant.as_str(), plugin, lowest.as_str()];
        // A series never observed is simply absent: nothing to remove.
        self.plugin_invocations.remove_label_values(&labels).ok();
        self.plugin_run_seconds.remove_label_values(&labels).ok();
        self.plugin_fuel_used.remove_label_values(&labels).ok();
        for reason in &labelled.reasons {
            self.plugin_failures
                .remove_label_values(&[labels[0], plugin, labels[2], reason])
                .ok();
        }
        version.to_string()
    }

    /// Counts `count` events that ended with `outcome`.
    pub fn events_processed(&self, outcome: &str, count: u64) {
        self.events_processed
            .with_label_values(&[outcome])
            .inc_by(count);
    }

    /// Records one answered HTTP request; `route` is the matched pattern
    /// or [`UNMATCHED_ROUTE`].
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_request_seconds
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the number of pending events (refreshed by the server).
    pub fn set_journal_depth(&self, depth: u64) {
        self.journal_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Every metric in the Prometheus text exposition format: the
    /// operator's view.
    pub fn render(&self) -> String {
        encode(&self.registry.gather())
    }

    /// Only the series labelled `tenant="{tenant}"`, in the same format:
    /// a tenant's own plugin runs, failures, run time and fuel. Metrics of
    /// the whole service (requests, journal depth, events) carry no tenant
    /// label and are left out, as is every other tenant's series.
    pub fn render_tenant(&self, tenant: TenantId) -> String {
        let tenant = tenant.to_string();
        let families: Vec<_> = self
            .registry
            .gather()
            .into_iter()
            .filter_map(|mut family| {
                let mine: Vec<_> = family
                    .take_metric()
                    .into_iter()
                    .filter(|metric| {
                        metric
                            .get_label()
                            .iter()
                            .any(|label| label.name() == "tenant" && label.value() == tenant)
                    })
                    .collect();
                (!mine.is_empty()).then(|| {
                    family.set_metric(mine);
                    family
                })
            })
            .collect();
        encode(&families)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut text = String::new();
    TextEncoder::new()
        .encode_utf8(families, &mut text)
        .expect("text encoding of valid metrics");
    text
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("a metric registered once");
    counter
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let histogram = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("a valid metric");
    registry
        .register(Box::new(histogram.clone()))
        .expect("a metric registered once");
    histogram
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_run_shows_up_with_its_labels() {
        let metrics = Metrics::new();
        metrics.plugin_ran(
            TenantId(7),
            "reply",
            3,
            Duration::from_millis(2),
            1_000,
            None,
        );
        metrics.plugin_ran(
            TenantId(7),
            "reply",
            3,
            Duration::from_millis(1),
            500,
            Some("out_of_fuel"),
        );
        let text = metrics.render();
        let labels = r#"plugin="reply",tenant="7",version="3""#;
        assert!(
            text.contains(&format!(
                "smstrigger_plugin_invocations_total{{{labels}}} 2"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "smstrigger_plugin_fuel_used_total{{{labels}}} 1500"
            )),
            "{text}"
        );
        assert!(
            text.contains(
                r#"smstrigger_plugin_failures_total{plugin="reply",reason="out_of_fuel",tenant="7",version="3"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "smstrigger_plugin_run_seconds_count{{{labels}}} 2"
            )),
            "{text}"
        );
    }

    #[test]
    fn the_journal_depth_and_event_outcomes_are_exported() {
        let metrics = Metrics::new();
        metrics.set_journal_depth(5);
        metrics.events_processed("ok", 3);
        let text = metrics.render();
        assert!(text.contains("smstrigger_journal_depth 5"), "{text}");
        assert!(
            text.contains(r#"smstrigger_events_processed_total{outcome="ok"} 3"#),
            "{text}"
        );
    }

    #[test]
    fn a_tenant_sees_only_its_own_series() {
        let metrics = Metrics::new();
        metrics.plugin_ran(TenantId(7), "mine", 1, Duration::ZERO, 10, None);
        metrics.plugin_ran(TenantId(8), "theirs", 1, Duration::ZERO, 10, Some("trap"));
        metrics.http_request("/healthz", "GET", 200, Duration::ZERO);
        let text = metrics.render_tenant(TenantId(7));
        assert!(text.contains(r#"plugin="mine""#), "{text}");
        for hidden in [
            "theirs",
            r#"tenant="8""#,
            "smstrigger_http",
            "journal_depth",
        ] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
        assert!(metrics.render().contains("theirs"));
    }

    #[test]
    fn version_labels_stay_bounded_however_many_versions_run() {
        let metrics = Metrics::new();
        for version in 1..=50 {
            metrics.plugin_ran(TenantId(1), "p", version, Duration::ZERO, 1, Some("trap"));
            metrics.plugin_not_loaded(TenantId(1), "p", version, "not_loaded");
        }
        // An old version run again counts under `other`.
        metrics.plugin_ran(TenantId(1), "p", 2, Duration::ZERO, 1, None);
        let text = metrics.render();
        let versions: BTreeSet<&str> = text
            .lines()
            .filter(|line| line.starts_with("smstrigger_plugin"))
            .filter_map(|line| line.split("version=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(
            versions,
            BTreeSet::from(["48", "49", "50", "other"]),
            "{text}"
        );
    }

    #[test]
    fn two_instances_do_not_share_numbers() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.http_request("/healthz", "GET", 200, Duration::from_millis(1));
        assert!(a.render().contains("smstrigger_http_requests_total"));
        assert!(!b.render().contains("smstrigger_http_requests_total{"));
    }
}
