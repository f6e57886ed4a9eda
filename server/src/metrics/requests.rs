//! Request metrics: counts per route and status class, a latency histogram
//! per route, and the open connection count, all updated on the request path.
//!
//! The route label is the route's pattern (`/symbol/{symbol}`), never the
//! request's path, so the number of series stays bounded whatever clients
//! send; static files share `static` and unrouted paths share `unmatched`.
//! Recording costs one read-locked look-up by the route's text and two
//! atomic adds per request; label sets are built once per route and status.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds: 250 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] =
    [0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    method: String,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Debug)]
struct Inner {
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    connections: Gauge,
    /// Each route's series, found by the route's text without allocating.
    routes: RwLock<HashMap<String, Arc<RouteSeries>>>,
}

/// Status classes, in the order of [`RouteSeries::counts`]' columns.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Methods with series of their own, in the order of its rows; others count as `other`.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "HEAD", "other"];

/// One route's counters (made on first use, so unused combinations do not
/// appear as zero series) and latency histogram.
#[derive(Debug)]
struct RouteSeries {
    counts: [[OnceLock<Counter>; CLASSES.len()]; METHODS.len()],
    latency: Histogram,
}

/// The request path's metrics; clone freely.
#[derive(Debug, Clone)]
pub struct RequestMetrics(Arc<Inner>);

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl RequestMetrics {
    /// New metrics, registered in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let inner = Inner {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            connections: Gauge::default(),
            routes: RwLock::default(),
        };
        registry.register(
            "finstage_http_requests",
            "HTTP requests answered, by route, method and status class",
            inner.requests.clone(),
        );
        registry.register(
            "finstage_http_request_duration_seconds",
            "Time from a request's headers to its answer's headers, by route",
            inner.latency.clone(),
        );
        registry.register(
            "finstage_http_connections_open",
            "HTTP connections open (a WebSocket leaves this count when upgraded)",
            inner.connections.clone(),
        );
        Self(Arc::new(inner))
    }

    /// Counts a connection until the returned guard is dropped.
    #[must_use]
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.0.connections.inc();
        ConnectionGuard(self.0.connections.clone())
    }

    fn series(&self, route: &str) -> Arc<RouteSeries> {
        if let Some(series) = self.0.routes.read().unwrap_or_else(PoisonError::into_inner).get(route) {
            return series.clone();
        }
        let latency = self.0.latency.get_or_create(&Route { route: route.to_owned() }).clone();
        let fresh = Arc::new(RouteSeries { counts: Default::default(), latency });
        let mut routes = self.0.routes.write().unwrap_or_else(PoisonError::into_inner);
        routes.entry(route.to_owned()).or_insert(fresh).clone()
    }

    fn observe(&self, route: &str, method: &axum::http::Method, status: u16, seconds: f64) {
        let series = self.series(route);
        series.latency.observe(seconds);
        let class = usize::from(status.clamp(100, 599) / 100 - 1);
        let row = match *method {
            axum::http::Method::GET => 0,
            axum::http::Method::POST => 1,
            axum::http::Method::PUT => 2,
            axum::http::Method::DELETE => 3,
            axum::http::Method::HEAD => 4,
            _ => 5,
        };
        series.counts[row][class]
            .get_or_init(|| {
                let labels =
                    RouteStatus { route: route.to_owned(), method: METHODS[row].to_owned(), status: CLASSES[class] };
                self.0.requests.get_or_create(&labels).clone()
            })
            .inc();
    }
}

/// Decrements the open connection count when dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware (after routing, so the route's pattern is known): counts the
/// request and times it to its answer's headers.
pub(crate) async fn record(State(metrics): State<RequestMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The matched path is shared text (an `Arc`), so keeping it is free.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let unrouted = if request.uri().path().starts_with("/pkg/") { "static" } else { "unmatched" };
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = matched.as_ref().map_or(unrouted, MatchedPath::as_str);
    metrics.observe(route, &method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status_class_and_connections_by_guard() {
        let mut registry = Registry::default();
        let metrics = RequestMetrics::register(&mut registry);
        metrics.observe("/api/v1/quotes", &axum::http::Method::GET, 200, 0.000_3);
        metrics.observe("/api/v1/quotes", &axum::http::Method::GET, 204, 0.002);
        metrics.observe("/api/v1/quotes", &axum::http::Method::GET, 404, 0.002);
        let guard = metrics.connection_opened();
        let _second = metrics.connection_opened();
        drop(guard);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_default();
        assert!(
            text.contains(r#"finstage_http_requests_total{route="/api/v1/quotes",method="GET",status="2xx"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"status="4xx"} 1"#), "{text}");
        assert!(text.contains(r#"finstage_http_request_duration_seconds_count{route="/api/v1/quotes"} 3"#), "{text}");
        assert!(
            text.contains(r#"finstage_http_request_duration_seconds_bucket{le="0.0005",route="/api/v1/quotes"} 1"#)
                || text
                    .contains(r#"finstage_http_request_duration_seconds_bucket{route="/api/v1/quotes",le="0.0005"} 1"#),
            "{text}"
        );
        assert!(text.contains("finstage_http_connections_open 1"), "{text}");
    }
}
