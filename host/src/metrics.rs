//! Prometheus metrics of the token lifecycle, the plugins and the outbound proxy, in the
//! OpenMetrics text format (`/metrics` of the service, or [`Metrics::encode`]).
//!
//! The hot path (a cached token read) costs one relaxed atomic increment.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    grant: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// The metrics of one host (shared by its brokers and the service).
pub struct Metrics {
    registry: Registry,
    cached: Counter,
    stored: Counter,
    upstream: Counter,
    exchanges: Family<OutcomeLabels, Counter>,
    failures: Family<KindLabels, Counter>,
    plugin_calls: Family<PluginLabels, Histogram>,
    proxied: Family<StatusLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("grantbox");
        let reads = Family::<SourceLabels, Counter>::default();
        let cached = reads
            .get_or_create(&SourceLabels { source: "cache" })
            .clone();
        let stored = reads
            .get_or_create(&SourceLabels { source: "store" })
            .clone();
        let upstream = reads
            .get_or_create(&SourceLabels { source: "upstream" })
            .clone();
        registry.register(
            "token_reads",
            "Access tokens served, by where they came from (cache, store, upstream exchange)",
            reads,
        );
        let exchanges = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_exchanges",
            "Upstream token exchanges (fetches, refreshes, connects) by grant and outcome",
            exchanges.clone(),
        );
        let failures = Family::<KindLabels, Counter>::default();
        registry.register(
            "token_failures",
            "Failed token exchanges by kind",
            failures.clone(),
        );
        let plugin_calls = Family::<PluginLabels, Histogram>::new_with_constructor(
            plugin_histogram as fn() -> Histogram,
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Duration of plugin calls (instantiation, guest code and its HTTP requests)",
            plugin_calls.clone(),
        );
        let proxied = Family::<StatusLabels, Counter>::default();
        registry.register(
            "proxy_requests",
            "Requests forwarded by the outbound proxy, by response status class",
            proxied.clone(),
        );
        Self {
            registry,
            cached,
            stored,
            upstream,
            exchanges,
            failures,
            plugin_calls,
            proxied,
        }
    }

    pub(crate) fn token_read(&self, source: TokenSource) {
        match source {
            TokenSource::Cache => self.cached.inc(),
            TokenSource::Store => self.stored.inc(),
            TokenSource::Upstream => self.upstream.inc(),
        };
    }

    pub(crate) fn exchange(&self, grant: &str, outcome: &'static str) {
        self.exchanges
            .get_or_create(&OutcomeLabels {
                grant: grant.to_owned(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn failure(&self, kind: &str) {
        self.failures
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub(crate) fn plugin_call(&self, plugin: &str, operation: &'static str, took: Duration) {
        self.plugin_calls
            .get_or_create(&PluginLabels {
                plugin: plugin.to_owned(),
                operation,
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn proxied(&self, status: Option<u16>) {
        let class = match status {
            Some(s) => format!("{}xx", s / 100),
            None => "error".to_owned(),
        };
        self.proxied
            .get_or_create(&StatusLabels { status: class })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn plugin_histogram() -> Histogram {
    // 100 µs … ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Where a served token came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenSource {
    Cache,
    Store,
    Upstream,
}
