//! The HTTP surface: one router factory, used by `serve` and by tests, and
//! the listener that serves it.
//!
//! Routes: `/` and `/symbol/{symbol}` (the Leptos app, server-rendered), `/api/*`
//! (the dashboard's server functions), `/api/v1/*` (the REST API, documented at
//! `/api/v1/openapi.json`), `/ws` (live feed), `/healthz`, `/readyz`, `/metrics`
//! (Prometheus), and the built site's static files ([`assets`]). Every route
//! sits behind the [`edge`]'s layers.

mod api;
mod assets;
pub mod auth;
pub(crate) mod edge;
mod error;
mod health;
mod lab;
pub mod listen;
mod market;
pub mod news;
mod page_cache;
mod routes;
mod schema;
mod server_fns;
mod signals;

use std::sync::Arc;

use app::api::ssr::SharedBackend;
use app::lab_api::ssr::SharedLabBackend;
use app::{App, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::get;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{LeptosRoutes, ResponseOptions, generate_route_list};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::dashboard::DashboardData;
use crate::state::AppState;
use crate::ws;

/// The whole application router, behind the edge.
pub fn router(state: AppState) -> Router {
    let data = Arc::new(DashboardData::new(&state));
    let backend: SharedBackend = data.clone();
    let lab_backend: SharedLabBackend = data;
    let routes = route_list();
    let options = (*state.leptos).clone();
    let assets = Arc::new(load_assets(&state));
    let context = move || {
        provide_context(backend.clone());
        provide_context(lab_backend.clone());
        page_security_policy();
    };
    let pages = leptos_axum::file_and_error_handler_with_context::<AppState, _>(context.clone(), shell);
    let fallback = move |State(state): State<AppState>, request: Request| {
        let assets = assets.clone();
        let pages = pages.clone();
        async move {
            let path = request.uri().path();
            if let Some(response) = assets.respond(request.method(), path, request.headers()) {
                return response;
            }
            // Built files are all in memory: anything else under /pkg/, and any
            // path trying to climb out, is simply not here.
            if path.starts_with("/pkg/") || path.contains("..") || path.contains('%') || path.contains('\\') {
                return edge::refuse(StatusCode::NOT_FOUND, "no such file".into());
            }
            let uri = request.uri().clone();
            pages(uri, State(state), request).await
        }
    };
    let pages_cache = page_cache::PageCache::new();
    // The pages (and the server functions Leptos mounts with them) behind the
    // page cache, which only ever answers GET requests from it.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context, move || shell(options.clone()))
        .layer(axum::middleware::from_fn_with_state(pages_cache.clone(), page_cache::serve));
    let router = Router::new()
        .route("/metrics", get(health::metrics))
        .route("/ws", get(ws::handler))
        .nest("/api/v1", api::router())
        .merge(pages)
        // Routes only (not the fallback's static files): who asks, then may they.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::audit))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authorize))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .route_layer(auth::session_layer(&state))
        // Probes answer whatever the accounts' state (a database that is
        // down included): no session, no principal.
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(server_fns::status))
        .layer(axum::middleware::from_fn_with_state(pages_cache, page_cache::forget_on_change))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::transport))
        .with_state(state.clone());
    // Requests are traced by path, never by query: a setup link's token
    // travels in one (`/setup?token=...`) and must stay out of the logs.
    let trace = TraceLayer::new_for_http().make_span_with(
        |request: &Request| tracing::debug_span!("request", method = %request.method(), path = %request.uri().path()),
    );
    edge::wrap(router, &state.config.http, state.metrics.requests().clone()).layer(trace)
}

/// The path of every REST route, `/api/v1` included, as the router was built
/// with them (for the test that each one is in the OpenAPI document).
#[must_use]
pub fn api_paths() -> Vec<String> {
    api::paths().into_iter().map(|path| format!("/api/v1{path}")).collect()
}

/// The path of every page route, as the router has it (for the test that
/// each one has an access rule).
#[must_use]
pub fn page_paths() -> Vec<String> {
    route_list().iter().map(|route| route.path().to_owned()).collect()
}

/// The app's routes, listed once per process.
///
/// Listing them renders the whole app with resource loading suppressed by a
/// process-wide flag in `leptos_server`; a resource first polled by any other
/// render while the flag is up waits forever (leptos issue 4773). Listing
/// once, before the first router exists, means no render can overlap it: this
/// was the "stalled render" the page tests used to serialise against, as each
/// of their requests built a router while other tests rendered.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Sets the page's Content-Security-Policy with the nonce Leptos gave its
/// inline scripts (runs in the render's context, before the page is sent).
fn page_security_policy() {
    if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        && let Ok(policy) = HeaderValue::from_str(&edge::headers::page_policy(&nonce))
    {
        response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
    }
}

fn load_assets(state: &AppState) -> assets::Assets {
    let root = &state.config.site_root;
    match assets::Assets::load(root, state.leptos.hash_files) {
        Ok(assets) => {
            tracing::debug!(files = assets.len(), root = %root.display(), "static files loaded");
            assets
        }
        Err(e) => {
            tracing::error!(error = %e, root = %root.display(), "reading the site's static files failed");
            assets::Assets::default()
        }
    }
}
