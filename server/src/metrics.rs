//! Prometheus metrics at `GET /metrics` (OpenMetrics text format).
//!
//! Each server owns its registry (no process-global recorder), so tests can run
//! many servers in one process. Most figures already live elsewhere (cache
//! counters, provider health, the job table); they are read at scrape time
//! rather than mirrored on every event:
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `finstage_cache_hits_total`, `finstage_cache_misses_total` | counter | `cache` = `quotes` / `series` |
//! | `finstage_cache_entries` | gauge | `cache` |
//! | `finstage_provider_circuit_state` | gauge: 0 closed, 1 half-open, 2 open | `provider` |
//! | `finstage_provider_rate_per_second` | gauge: the limiter's current rate | `provider` |
//! | `finstage_provider_requests_total` | counter | `provider`, `outcome` = `success` / `failure` / `retry` / `rejected` |
//! | `finstage_jobs` | gauge: jobs per state | `status` |
//! | `finstage_live_subscribers` | gauge: WebSocket sessions on the bus | |
//! | `finstage_build_info` | gauge, always 1 | `version` |
//! | `finstage_http_requests_total` | counter | `route` (the pattern), `method`, `status` = `2xx` ... |
//! | `finstage_http_request_duration_seconds` | histogram, 250 µs to 10 s | `route` |
//! | `finstage_http_connections_open` | gauge | |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds` | counter, gauges | |
//!
//! The request figures are updated on the request path ([`requests`]); the
//! process figures are read from `/proc` at scrape time (`process`).

mod process;
pub(crate) mod requests;

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::bus::Bus;
use crate::cache::MarketCache;
use crate::providers::remote::Remote;
use crate::providers::resilience::CircuitState;
use crate::storage::{Db, StorageError, jobs};

/// The content type of the OpenMetrics text format.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads the in-memory figures on each scrape.
#[derive(Debug)]
struct Live {
    cache: MarketCache,
    remote: Remote,
    bus: Bus,
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let caches = [("quotes", self.cache.quote_stats()), ("series", self.cache.series_stats())];
        let mut family = encoder.encode_descriptor(
            "finstage_cache_hits",
            "Lookups answered from a cache",
            None,
            MetricType::Counter,
        )?;
        for (name, stats) in caches {
            ConstCounter::new(stats.hits).encode(family.encode_family(&[("cache", name)])?)?;
        }
        let mut family =
            encoder.encode_descriptor("finstage_cache_misses", "Lookups that computed", None, MetricType::Counter)?;
        for (name, stats) in caches {
            ConstCounter::new(stats.misses).encode(family.encode_family(&[("cache", name)])?)?;
        }
        let mut family =
            encoder.encode_descriptor("finstage_cache_entries", "Entries held by a cache", None, MetricType::Gauge)?;
        for (name, stats) in caches {
            ConstGauge::new(i64::try_from(stats.entries).unwrap_or(i64::MAX))
                .encode(family.encode_family(&[("cache", name)])?)?;
        }

        let health = self.remote.health();
        let mut family = encoder.encode_descriptor(
            "finstage_provider_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            None,
            MetricType::Gauge,
        )?;
        for (name, h) in &health {
            let state = match h.state {
                CircuitState::Closed => 0,
                CircuitState::HalfOpen => 1,
                CircuitState::Open => 2,
            };
            ConstGauge::new(state).encode(family.encode_family(&[("provider", *name)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "finstage_provider_rate_per_second",
            "The rate limiter's current rate",
            None,
            MetricType::Gauge,
        )?;
        for (name, h) in &health {
            ConstGauge::new(h.current_rate).encode(family.encode_family(&[("provider", *name)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "finstage_provider_requests",
            "Provider attempts by outcome",
            None,
            MetricType::Counter,
        )?;
        for (name, h) in &health {
            for (outcome, n) in
                [("success", h.successes), ("failure", h.failures), ("retry", h.retries), ("rejected", h.rejections)]
            {
                ConstCounter::new(n).encode(family.encode_family(&[("provider", *name), ("outcome", outcome)])?)?;
            }
        }

        let subscribers = i64::try_from(self.bus.subscribers()).unwrap_or(i64::MAX);
        let family = encoder.encode_descriptor(
            "finstage_live_subscribers",
            "WebSocket sessions listening to the bus",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(subscribers).encode(family)?;
        let mut family =
            encoder.encode_descriptor("finstage_build_info", "The running version", None, MetricType::Gauge)?;
        ConstGauge::new(1_i64).encode(family.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;
        Ok(())
    }
}

/// The server's metrics; clone freely.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    db: Db,
    requests: requests::RequestMetrics,
}

impl Metrics {
    /// Metrics over these parts of a running server.
    #[must_use]
    pub fn new(db: Db, cache: MarketCache, remote: Remote, bus: Bus) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Live { cache, remote, bus }));
        registry.register_collector(Box::new(process::Process));
        let requests = requests::RequestMetrics::register(&mut registry);
        Self { registry: std::sync::Arc::new(registry), db, requests }
    }

    /// The request path's metrics (updated by the HTTP edge and listener).
    #[must_use]
    pub fn requests(&self) -> &requests::RequestMetrics {
        &self.requests
    }

    /// The exposition text for one scrape.
    ///
    /// # Errors
    /// [`StorageError`] when the job counts cannot be read.
    pub async fn render(&self) -> Result<String, StorageError> {
        let counts = jobs::counts(&self.db).await?;
        let mut out = String::with_capacity(4_096);
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .map_err(|e| StorageError::Corrupt(format!("encoding metrics: {e}")))?;
        // Job counts come from an async query, which a collector cannot run.
        out.push_str("# HELP finstage_jobs Jobs in the durable queue by state.\n# TYPE finstage_jobs gauge\n");
        for status in ["queued", "running", "done", "dead"] {
            let n = counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "finstage_jobs{{status=\"{status}\"}} {n}");
        }
        prometheus_client::encoding::text::encode_eof(&mut out)
            .map_err(|e| StorageError::Corrupt(format!("encoding metrics: {e}")))?;
        Ok(out)
    }
}
