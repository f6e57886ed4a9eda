//! Settings of accounts and sessions (section `auth`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What a request without credentials may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    /// Nothing but health, readiness, the login and setup pages (the default).
    #[default]
    None,
    /// Read like a viewer without logging in (a trusted LAN).
    Viewer,
}

/// Section `auth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// What a request without credentials may do: `none` or `viewer`.
    pub anonymous: Anonymous,
    /// A session ends after this many seconds without a request (7 days).
    pub session_idle_secs: u64,
    /// A session ends this many seconds after its login, however active (30 days).
    pub session_max_secs: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` (the client's
    /// address) and `X-Forwarded-Proto` (`https`: cookies get `Secure` and
    /// answers HSTS) are believed. Empty: none are.
    pub trusted_proxies: Vec<IpAddr>,
    /// Client addresses that may read `/metrics` and the OpenAPI document
    /// without a token (a Prometheus on the same host by default).
    pub metrics_allow: Vec<IpAddr>,
    /// Failed logins per account within `login_window_minutes` before the
    /// account's logins wait (429 with `Retry-After`).
    pub login_failures_per_account: u32,
    /// Failed logins per client address within the window before its
    /// logins wait.
    pub login_failures_per_address: u32,
    /// The window the failures are counted over, and the longest wait.
    pub login_window_minutes: u64,
    /// Requests an API token may make per minute (bursts up to that many);
    /// beyond, 429 with `Retry-After`.
    pub token_requests_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            anonymous: Anonymous::None,
            session_idle_secs: 7 * 24 * 3600,
            session_max_secs: 30 * 24 * 3600,
            trusted_proxies: Vec::new(),
            metrics_allow: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)],
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            login_window_minutes: 15,
            token_requests_per_minute: 600,
        }
    }
}
