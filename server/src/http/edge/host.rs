//! The `Host` allow-list, the defence against DNS rebinding: a page on an
//! attacker's domain that re-points its name at 127.0.0.1 reaches this server
//! with its own name in `Host`, and is answered 421 here before any route.
//!
//! Allowed: any IP literal (a browser that sends one navigated to this server
//! by address, so it is same-origin with it), `localhost` and its
//! subdomains (which browsers resolve to loopback themselves), and the names
//! configured in `http.public_names`. A request with no `Host` at all is not
//! from a browser and passes. The port is not checked: only the name decides
//! which site a browser thinks it is talking to.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// The names this server answers to.
#[derive(Debug)]
pub(crate) struct Allowed {
    /// Configured public names, lower-case, without a trailing dot.
    names: Vec<String>,
    /// Origins whose pages may call the API with a token (`http.cors_origins`).
    pub(crate) cors: super::cors::Origins,
}

impl Allowed {
    pub(crate) fn new(public_names: &[String]) -> Self {
        Self {
            names: public_names.iter().map(|n| n.trim_end_matches('.').to_ascii_lowercase()).collect(),
            cors: super::cors::Origins::default(),
        }
    }

    /// With the CORS origins.
    pub(crate) fn with_cors(self, origins: &[String]) -> Self {
        Self { cors: super::cors::Origins::new(origins), ..self }
    }

    /// Whether `host` (a name or IP literal, without port) is one of ours.
    pub(crate) fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        if host.eq_ignore_ascii_case("localhost") || ends_with_ignore_case(host, ".localhost") {
            return true;
        }
        if host.parse::<IpAddr>().is_ok() {
            return true;
        }
        self.is_public_name(host)
    }

    /// Whether `host` is one of the configured public names.
    pub(crate) fn is_public_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.names.iter().any(|n| n.eq_ignore_ascii_case(host))
    }

    /// Whether a `Host` header value (`name[:port]`, `[v6][:port]`) is ours.
    pub(crate) fn allows_header(&self, value: &str) -> bool {
        split_host(value).is_some_and(|host| self.allows_name(host))
    }
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.is_char_boundary(text.len() - suffix.len())
        && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The host part of `host[:port]` or `[v6]:port`; `None` when malformed.
pub(crate) fn split_host(value: &str) -> Option<&str> {
    if let Some(rest) = value.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return (port_ok && v6.parse::<std::net::Ipv6Addr>().is_ok()).then_some(v6);
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    };
    if port.is_some_and(|p| !is_port(p)) || host.is_empty() {
        return None;
    }
    Some(host)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Middleware: 421 for a `Host` this server is not, 400 for one that is not a host.
pub(crate) async fn check(State(allowed): State<Arc<Allowed>>, request: Request, next: Next) -> Response {
    // HTTP/2 carries the authority in the URI instead of a Host header.
    let host = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => request.uri().authority().map(axum::http::uri::Authority::as_str),
    };
    match host {
        None if request.headers().get(header::HOST).is_none() => next.run(request).await,
        Some(host) if allowed.allows_header(host) => next.run(request).await,
        Some(host) if split_host(host).is_some() => super::refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this server does not answer to `{}`; add the name to http.public_names to allow it",
                app::api::excerpt(host)
            ),
        ),
        _ => super::refuse(StatusCode::BAD_REQUEST, "the Host header is not a host name".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_localhost_and_configured_names_are_allowed() {
        let allowed = Allowed::new(&["finstage.example.com".into()]);
        for ok in [
            "127.0.0.1:3000",
            "127.0.0.1",
            "[::1]:3000",
            "[::1]",
            "192.168.1.20:8080",
            "localhost:3000",
            "LOCALHOST",
            "app.localhost",
            "finstage.example.com",
            "Finstage.Example.com.:443",
        ] {
            assert!(allowed.allows_header(ok), "{ok} should be allowed");
        }
    }

    #[test]
    fn other_names_and_malformed_values_are_refused() {
        let allowed = Allowed::new(&["finstage.example.com".into()]);
        for bad in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example",
            "example.com",
            "finstage.example.com.evil.example",
            "[::1",
            "127.0.0.1:http",
            ":3000",
            "",
        ] {
            assert!(!allowed.allows_header(bad), "{bad} should be refused");
        }
    }
}
