//! The HTTP surface: one router factory, used by `serve` and by tests.
//!
//! Routes: `/` and `/symbol/{symbol}` (the Leptos app, server-rendered), `/api/*`
//! (server functions), `/ws` (live feed), `/healthz` (the process is up),
//! `/readyz` (the database answers), and static files of the built site.

use std::sync::Arc;
use std::time::Duration;

use app::api::ssr::SharedBackend;
use app::{App, shell};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::dashboard::DashboardData;
use crate::state::AppState;
use crate::ws;

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(DashboardData::new(&state));
    let routes = generate_route_list(App);
    let options = state.leptos.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/ws", get(ws::handler))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Liveness: the process serves requests.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers within [`READY_TIMEOUT`]; 503 otherwise.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
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
