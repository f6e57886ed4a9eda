//! CORS for API tokens: pages of the origins in `http.cors_origins` may call
//! the REST API (`/api/v1/...`) with `Authorization: Bearer`. The answer
//! names the origin and never allows credentials, so a browser never sends
//! the session cookie along; the Origin check lets such a request change
//! state only when it carries a token and no cookie. With no origin
//! configured (the default), nothing here answers and no CORS header is
//! sent: cross-origin pages cannot read the API at all.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The allowed origins, exactly as browsers send them.
#[derive(Debug, Default)]
pub(crate) struct Origins(Vec<String>);

impl Origins {
    pub(crate) fn new(origins: &[String]) -> Self {
        Self(origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect())
    }

    /// The request's Origin, when it is one of the allowed.
    pub(crate) fn allowed<'h>(&self, headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        self.0.contains(&text).then_some(origin)
    }
}

/// Whether a request authenticates with a token and not with a cookie (what
/// a cross-origin call from an allowed origin must do).
pub(crate) fn token_only(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "))
        && !headers.contains_key(header::COOKIE)
}

/// The layer: answers preflights from allowed origins and marks their
/// answers readable.
pub(crate) async fn layer(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/v1/");
    let Some(origin) = origins.allowed(request.headers()).filter(|_| api).cloned() else {
        return next.run(request).await;
    };
    if request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("location, retry-after"));
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}
