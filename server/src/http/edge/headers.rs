//! Security headers on every answer, and the Content-Security-Policy.
//!
//! The policy allows scripts from this origin only, plus inline scripts that
//! carry the page's nonce (Leptos' hydration bootstrap and streamed resource
//! data), and `'wasm-unsafe-eval'` so the browser may compile our wasm.
//! Pages get the policy with their nonce from [`page_policy`], set while the
//! page renders; every other answer gets [`DEFAULT_POLICY`], which allows no
//! inline script at all. Inline style attributes stay allowed: the charts set
//! sizes and colours with them, and a style cannot run code.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy's directives besides `script-src` (a macro so that both
/// policies are built from one literal at compile time).
macro_rules! other_directives {
    () => {
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    };
}

/// The policy of answers that are not pages: no inline script.
pub(crate) const DEFAULT_POLICY: &str = concat!("script-src 'self' 'wasm-unsafe-eval'; ", other_directives!());

/// The policy of a page whose inline scripts carry `nonce`.
#[must_use]
pub(crate) fn page_policy(nonce: &str) -> String {
    format!(concat!("script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; ", other_directives!()), nonce)
}

/// Headers every answer carries, unless the handler set its own.
const FIXED: [(HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    // The dashboard links to news sites; they need not learn where it runs.
    // (`no-referrer` would also make browsers send `Origin: null` with the
    // page's own form posts, and drop the `Referer` Leptos uses to send a
    // form posted before hydration back to its page.)
    (header::REFERRER_POLICY, "same-origin"),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    (header::CONTENT_SECURITY_POLICY, DEFAULT_POLICY),
];

/// Middleware: adds the security headers, and `Cache-Control: no-cache` to
/// HTML that did not choose its own caching (pages change with every bar).
pub(crate) async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in FIXED {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    let html = headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_policies_forbid_framing_plugins_and_foreign_scripts() {
        for policy in [DEFAULT_POLICY.to_owned(), page_policy("abc123")] {
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert!(policy.contains("object-src 'none'"), "{policy}");
            assert!(policy.contains("'wasm-unsafe-eval'"), "{policy}");
            let scripts = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or_default();
            assert!(!scripts.contains("unsafe-inline") && !scripts.contains('*'), "{scripts}");
        }
        assert!(page_policy("abc123").contains("'nonce-abc123'"));
    }
}
