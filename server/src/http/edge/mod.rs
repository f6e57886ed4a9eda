//! The edge: what every request passes before it reaches a route.
//!
//! Outermost first, as [`wrap`] stacks them:
//!
//! 1. request metrics ([`crate::metrics::requests`]), so refusals are counted too
//!    (`http.request_metrics = false` leaves them out);
//! 2. security headers on every answer, refusals included ([`headers`]);
//! 3. a per-request timeout (408), a body read timeout and a body size limit
//!    (413); the header read timeout is the listener's ([`super::listen`]);
//! 4. the `Host` allow-list ([`host`]): 421 for names this server is not,
//!    which is what a DNS rebinding attack sends;
//! 5. the `Origin` check ([`origin`]) on every state-changing request and on
//!    the `/ws` upgrade: 403 for another site's page;
//! 6. compression of dynamic answers large enough to gain from it (static
//!    files come precompressed from [`super::assets`]);
//! 7. the router.
//!
//! Every refusal is a JSON error shaped like the REST API's, with a message
//! that quotes at most a short prefix of what the client sent
//! ([`app::api::excerpt`]).

pub(crate) mod cors;
pub(crate) mod headers;
pub(crate) mod host;
pub(crate) mod origin;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::config::HttpConfig;
use crate::metrics::requests::RequestMetrics;

/// Answers smaller than this go out uncompressed: below about a kilobyte the
/// saved bytes do not pay for the CPU and the extra headers.
const COMPRESS_ABOVE: u16 = 1_024;

/// Wraps the router in the edge's layers (see the module docs for the order).
pub(crate) fn wrap(router: Router, config: &HttpConfig, metrics: RequestMetrics) -> Router {
    let hosts = Arc::new(host::Allowed::new(&config.public_names).with_cors(&config.cors_origins));
    let cors = Arc::new(cors::Origins::new(&config.cors_origins));
    let compress = SizeAbove::new(COMPRESS_ABOVE)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("application/wasm"));
    // `Router::layer` wraps routes and the fallback alike, after routing: the
    // last layer added runs first.
    let router = router
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest).compress_when(compress))
        .layer(axum::middleware::from_fn_with_state(hosts.clone(), origin::check))
        .layer(axum::middleware::from_fn_with_state(cors, cors::layer))
        .layer(axum::middleware::from_fn_with_state(hosts, host::check))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(config.read_timeout_secs)))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        // Outside every refusal, so 408, 413, 421 and 403 carry them too.
        .layer(axum::middleware::from_fn(headers::secure));
    if config.request_metrics {
        router.layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::requests::record))
    } else {
        router
    }
}

/// A refusal at the edge, shaped like the REST API's errors.
pub(crate) fn refuse(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": { "status": status.as_u16(), "message": message } }))).into_response()
}
