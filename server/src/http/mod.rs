//! The HTTP surface: one router factory, used by `serve` and by tests.
//!
//! Routes: `/` and `/symbol/{symbol}` (the Leptos app, server-rendered), `/api/*`
//! (the dashboard's server functions), `/api/v1/*` (the REST API, documented at
//! `/api/v1/openapi.json`), `/ws` (live feed), `/healthz`, `/readyz`, `/metrics`
//! (Prometheus), and static
//! files of the built site.

mod api;
mod error;
mod health;
mod market;
pub mod news;
mod signals;

use std::sync::Arc;

use app::api::ssr::SharedBackend;
use app::{App, shell};
use axum::Router;
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::dashboard::DashboardData;
use crate::state::AppState;
use crate::ws;

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(DashboardData::new(&state));
    let routes = generate_route_list(App);
    let options = state.leptos.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/ws", get(ws::handler))
        .nest("/api/v1", api::router())
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
