//! The `Origin` check on state-changing requests (every method but GET, HEAD
//! and OPTIONS) and on the `/ws` upgrade: the defence against cross-site
//! request forgery (a form on another site posting to a server function) and
//! cross-site WebSocket hijacking. GET handlers never change state.
//!
//! A browser names the page's origin in `Origin`. It must be this server's
//! own (its host and port equal the request's `Host`) or carry one of the
//! configured public names (a proxy may rewrite `Host`). Without `Origin`,
//! `Sec-Fetch-Site` decides (`same-origin` or `none` pass). A request with
//! neither header does not come from a browser page (curl, scripts, the CLI)
//! and passes: there is no victim's browser to borrow credentials from.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::host::{Allowed, split_host};

/// Why a request was refused.
const CROSS_SITE: &str = "cross-site request refused: the request's Origin is not this server";

/// Middleware: 403 for a state change or WebSocket upgrade from another site.
pub(crate) async fn check(State(allowed): State<Arc<Allowed>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    // A page of an allowed CORS origin may change state with a token, never with the cookie.
    let cors_token = allowed.cors.allowed(headers).is_some() && super::cors::token_only(headers);
    if needs_check(&request) && !same_site(headers, &allowed) && !cors_token {
        return super::refuse(StatusCode::FORBIDDEN, CROSS_SITE.into());
    }
    next.run(request).await
}

fn needs_check(request: &Request) -> bool {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    !safe || request.headers().contains_key(header::UPGRADE)
}

/// Whether the request comes from this server's own pages (or from no page).
pub(crate) fn same_site(headers: &HeaderMap, allowed: &Allowed) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else { return false };
        if origin == "null" {
            // Sandboxed frames and file: pages send `null`, and so may a page's
            // own form post under some referrer policies: only the browser's
            // own word that it is same-origin lets it through.
            return headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin");
        }
        let Some(authority) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
            // Other schemes (extensions, file:).
            return false;
        };
        let Some(origin_host) = split_host(authority) else { return false };
        let own = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        // On loopback or an IP literal only the exact host and port is this
        // server: another port on 127.0.0.1 is another program's site.
        return own.is_some_and(|own| own.eq_ignore_ascii_case(authority)) || allowed.is_public_name(origin_host);
    }
    match headers.get("sec-fetch-site").map(axum::http::HeaderValue::as_bytes) {
        None | Some(b"same-origin" | b"none") => true,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn own_pages_and_non_browsers_pass() {
        let allowed = Allowed::new(&["finstage.example.com".into()]);
        for h in [
            headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]),
            headers(&[("host", "localhost:3000"), ("origin", "http://localhost:3000")]),
            // A proxy that rewrites Host to the upstream address.
            headers(&[("host", "127.0.0.1:3000"), ("origin", "https://finstage.example.com")]),
            headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "same-origin")]),
            headers(&[("host", "127.0.0.1:3000"), ("origin", "null"), ("sec-fetch-site", "same-origin")]),
            headers(&[("host", "127.0.0.1:3000")]),
        ] {
            assert!(same_site(&h, &allowed), "{h:?}");
        }
    }

    #[test]
    fn other_sites_are_refused() {
        let allowed = Allowed::new(&[]);
        for h in [
            headers(&[("host", "127.0.0.1:3000"), ("origin", "https://evil.example")]),
            headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]),
            headers(&[("host", "127.0.0.1:3000"), ("origin", "null"), ("sec-fetch-site", "cross-site")]),
            // Another program's page on another local port.
            headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:8080")]),
            headers(&[("host", "localhost:3000"), ("origin", "http://localhost:5173")]),
            headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "same-site")]),
            headers(&[("host", "127.0.0.1:3000"), ("origin", "chrome-extension://abc")]),
        ] {
            assert!(!same_site(&h, &allowed), "{h:?}");
        }
    }
}
