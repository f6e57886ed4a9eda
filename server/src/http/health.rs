//! `/healthz` (the process serves requests), `/readyz` (the database answers;
//! what start-up work is still running) and `/metrics` (Prometheus; see [`crate::metrics`]).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process serves requests.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers within [`READY_TIMEOUT`]; 503 otherwise.
/// Start-up work still running in the background (see
/// [`crate::state::Recovery`]) is listed under `recovering`; it does not make
/// the server unready, since pages, the API and the feed already work.
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => {
            let recovering = state.recovery.pending();
            if recovering.is_empty() {
                (StatusCode::OK, Json(json!({ "status": "ready" })))
            } else {
                (StatusCode::OK, Json(json!({ "status": "ready", "recovering": recovering })))
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
        }
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": "database timed out" })))
        }
    }
}

/// Prometheus metrics; 503 when the job counts cannot be read.
pub(super) async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    match state.metrics.render().await {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "metrics unavailable" }))).into_response()
        }
    }
}
