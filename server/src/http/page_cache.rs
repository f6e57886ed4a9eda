//! A one-second cache of rendered pages (a "micro-cache").
//!
//! A page is the same for every visitor for a while: the watchlist changes
//! when a quote does (every few seconds), and the browser replaces what it
//! shows with live data from `/ws` as soon as it hydrates. Rendering one is
//! the most expensive thing the server does per request (the reactive graph
//! of the whole app is built and torn down), so under load each page is
//! rendered at most about once a second per URL and served from memory
//! otherwise; concurrent misses for one URL wait for one render.
//!
//! - **Nonces stay unique.** A cached page keeps the nonce it was rendered
//!   with only as a marker: every answer gets a fresh nonce, written over the
//!   marker in the body and in the Content-Security-Policy header.
//! - **Changes show at once.** Any request that may change state (every method
//!   but GET, HEAD, OPTIONS) empties the cache when it succeeds, so a saved
//!   setting is on the next page load ([`forget_on_change`]); a render that
//!   began before the change is stored under the old generation and never
//!   served. (Server functions that only read are POSTs too and empty it as
//!   well: the cost is a render, never a stale page.)
//! - **What is cached.** Whole answers up to [`MAX_PAGE`] that are not server
//!   errors, keyed by the principal (user and role) and the path and query
//!   (larger ones are sent, not kept); a server error is answered and not
//!   kept. The session cookie is set outside this layer, so no cached page
//!   carries anyone's cookie.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use moka::future::Cache;

/// How long a rendered page is served.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// Most pages kept (distinct paths and queries).
const CAPACITY: u64 = 512;
/// Larger answers are not cached.
const MAX_PAGE: usize = 1 << 20;

/// A rendered page and the nonce it was rendered with.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    nonce: Option<String>,
}

/// The cache; one per router. Its layer wraps every request (to forget pages
/// on changes), so a clone is kept to two reference counts: a moka cache's own
/// clone counts several.
#[derive(Debug, Clone)]
pub(crate) struct PageCache {
    pages: Arc<Cache<(u64, String), Arc<Page>>>,
    /// Part of every key; a state change moves it on, so a render that began
    /// before the change is stored under a key nobody asks for again.
    generation: Arc<AtomicU64>,
}

impl PageCache {
    pub(crate) fn new() -> Self {
        let pages = Cache::builder().max_capacity(CAPACITY).time_to_live(FRESH_FOR).build();
        Self { pages: Arc::new(pages), generation: Arc::default() }
    }
}

/// Middleware on the page routes: answers from the cache, rendering on a miss.
pub(crate) async fn serve(State(cache): State<PageCache>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let path =
        request.uri().path_and_query().map_or_else(|| request.uri().path().to_owned(), |p| p.as_str().to_owned());
    // Pages show who is looking (the user menu, the controls their role may
    // use): each principal has pages of its own.
    let who = request
        .extensions()
        .get::<app::auth::Principal>()
        .map_or_else(String::new, |p| format!("{}:{}:{}", p.user_id.unwrap_or(0), p.role, p.name));
    let key = (cache.generation.load(Ordering::Acquire), format!("{who} {path}"));
    let mut rendered = None;
    let cached = cache
        .pages
        .optionally_get_with(key, async {
            let response = next.run(request).await;
            match capture(response).await {
                Ok(page) => Some(Arc::new(page)),
                // Not cacheable: answer this request with it, cache nothing.
                Err(response) => {
                    rendered = Some(response);
                    None
                }
            }
        })
        .await;
    if let Some(response) = rendered {
        return *response;
    }
    match cached {
        Some(page) => answer(&page),
        // This request waited for another's render, which was not cacheable
        // (a server error): nothing was stored, so the next request renders.
        None => {
            let mut response = Response::new(Body::from("the page could not be rendered; try again"));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
        }
    }
}

/// Reads a rendered answer whole, or gives it back when it is not cacheable.
async fn capture(response: Response) -> Result<Page, Box<Response>> {
    if response.status().is_server_error() {
        return Err(Box::new(response));
    }
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut failed = Response::from_parts(parts, Body::empty());
            *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return Err(Box::new(failed));
        }
    };
    if bytes.len() > MAX_PAGE {
        return Err(Box::new(Response::from_parts(parts, Body::from(bytes))));
    }
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => text,
        Err(_) => return Err(Box::new(Response::from_parts(parts, Body::from(bytes)))),
    };
    let nonce = parts
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .and_then(|policy| policy.split("'nonce-").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .map(str::to_owned);
    let mut headers = parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::TRANSFER_ENCODING);
    Ok(Page { status: parts.status, headers, body, nonce })
}

/// The cached page with a fresh nonce.
fn answer(page: &Page) -> Response {
    let mut headers = page.headers.clone();
    let body = match &page.nonce {
        Some(old) => {
            let fresh = leptos::nonce::Nonce::new().to_string();
            if let Some(policy) = headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok())
                && let Ok(policy) = HeaderValue::from_str(&policy.replace(old.as_str(), &fresh))
            {
                headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            page.body.replace(old.as_str(), &fresh)
        }
        None => page.body.clone(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = page.status;
    *response.headers_mut() = headers;
    response
}

/// Middleware on every route: a successful state change empties the cache.
pub(crate) async fn forget_on_change(State(cache): State<PageCache>, request: Request, next: Next) -> Response {
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        cache.generation.fetch_add(1, Ordering::AcqRel);
        cache.pages.invalidate_all();
    }
    response
}
