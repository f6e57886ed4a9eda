//! Who may do what over HTTP: the layers that establish the request's
//! principal and check it against the route's rule, and the login, logout,
//! setup and "who am I" endpoints under `/api/v1/auth`.
//!
//! Layers, outermost first:
//! - [`transport`] (every answer): the client's address and whether the
//!   request came over TLS, believed from `X-Forwarded-*` only when the peer
//!   is a trusted proxy; over TLS, cookies get `Secure` and answers HSTS.
//! - the session layer (`tower-sessions` with [`DbStore`], `axum-login`
//!   loading the session's user) on routes only: static files never touch
//!   the session table.
//! - [`authenticate`]: a bearer token, else the session's user (ended past
//!   the absolute timeout), else the configured anonymous role, becomes the
//!   request's [`Principal`] (an extension, which server functions and pages
//!   read through `app::auth::current`).
//! - [`authorize`]: the rule of the matched route ([`RULES`]); a route
//!   without one is refused, and a test sends every method of every route to
//!   make sure none is missing.
//!
//! The endpoints (login, logout, setup, who am I, the audit log) are in
//! `endpoints`; what the OpenAPI document says of all this in `openapi`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_login::AuthSession;
use tower_sessions::{Expiry, SessionManagerLayer};

mod endpoints;
mod openapi;

// Globs: utoipa finds each documented operation through a hidden item next to it.
pub use endpoints::*;
pub(crate) use openapi::*;

use super::edge::refuse;
use crate::accounts::live::Credential;
use crate::accounts::sessions::{DbStore, LOGIN_KEY};
use crate::accounts::{Actor, LoginBackend, Principal, Role, Via};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "finstage_session";
/// Session keys: when the user logged in, and when the session was last seen (Unix s).
pub(super) const LOGIN_AT: &str = "login_at";
pub(super) const SEEN_AT: &str = "seen_at";
/// A session's idle deadline is pushed on at most this often (each push is a
/// write), or every quarter of the idle timeout when that is shorter.
const TOUCH_EVERY_SECS: i64 = 60;

/// What a route asks of the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, before setup too.
    Public,
    /// At least this role.
    Role(Role),
    /// Operators' reads (`/metrics`, the OpenAPI document): any logged-in
    /// user or token, or an address in `auth.metrics_allow`.
    Operator,
}

use Need::{Operator, Public};
const VIEWER: Need = Need::Role(Role::Viewer);
const TRADER: Need = Need::Role(Role::Trader);
const ADMIN: Need = Need::Role(Role::Admin);

/// Every route's rule: method, route as matched (axum's pattern), need.
pub const RULES: &[(&str, &str, Need)] = &[
    // Probes, and the way in.
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Operator),
    ("GET", "/api/v1/openapi.json", Operator),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/logout", Public),
    ("POST", "/api/v1/auth/setup", Public),
    ("GET", "/api/v1/auth/me", Public),
    ("GET", "/login", Public),
    ("GET", "/setup", Public),
    // Pages.
    ("GET", "/", VIEWER),
    ("GET", "/symbol/{symbol}", VIEWER),
    ("GET", "/signals", VIEWER),
    ("GET", "/settings", VIEWER),
    ("GET", "/lab", VIEWER),
    ("GET", "/audit", ADMIN),
    // The live feed.
    ("GET", "/ws", VIEWER),
    // REST: reads.
    ("GET", "/api/v1/symbols", VIEWER),
    ("GET", "/api/v1/symbols/{symbol}/bars", VIEWER),
    ("GET", "/api/v1/symbols/{symbol}/bars.fsb", VIEWER),
    ("GET", "/api/v1/symbols/{symbol}/indicators", VIEWER),
    ("GET", "/api/v1/symbols/{symbol}/gaps", VIEWER),
    ("GET", "/api/v1/symbols/{symbol}/stats", VIEWER),
    ("GET", "/api/v1/quotes", VIEWER),
    ("GET", "/api/v1/providers", VIEWER),
    ("GET", "/api/v1/runs", VIEWER),
    ("GET", "/api/v1/news", VIEWER),
    ("GET", "/api/v1/signals", VIEWER),
    ("GET", "/api/v1/strategies", VIEWER),
    // A backtest reads bars and computes: the lab is open to viewers.
    ("POST", "/api/v1/backtests", VIEWER),
    ("GET", "/api/v1/audit", ADMIN),
    // REST: the market data everyone shares is the admin's; strategies the traders'.
    ("POST", "/api/v1/symbols", ADMIN),
    ("DELETE", "/api/v1/symbols/{symbol}", ADMIN),
    ("PUT", "/api/v1/strategies/{name}", TRADER),
    // Background work costs the server minutes of CPU: traders.
    ("POST", "/api/v1/sweeps", TRADER),
    ("GET", "/api/v1/sweeps/{id}", TRADER),
    ("DELETE", "/api/v1/sweeps/{id}", TRADER),
    ("POST", "/api/v1/walk-forward", TRADER),
    ("GET", "/api/v1/walk-forward/{id}", TRADER),
    ("DELETE", "/api/v1/walk-forward/{id}", TRADER),
    // Saved lab runs: each user's own (reads filtered by owner).
    ("GET", "/api/v1/lab/runs", VIEWER),
    ("POST", "/api/v1/lab/runs", TRADER),
    ("GET", "/api/v1/lab/runs/{id}", VIEWER),
    ("DELETE", "/api/v1/lab/runs/{id}", TRADER),
    // Server functions (all POST).
    ("POST", "/api/watchlist", VIEWER),
    ("POST", "/api/chart", VIEWER),
    ("POST", "/api/older_bars", VIEWER),
    ("POST", "/api/signals", VIEWER),
    ("POST", "/api/news", VIEWER),
    ("POST", "/api/strategies", VIEWER),
    ("POST", "/api/strategy", TRADER),
    // Telegram chats are each user's own (the bot itself is configured by the operator).
    ("POST", "/api/telegram", TRADER),
    ("POST", "/api/telegram_code", TRADER),
    ("POST", "/api/telegram_chat", TRADER),
    ("POST", "/api/watchlist_add", TRADER),
    ("POST", "/api/watchlist_remove", TRADER),
    ("POST", "/api/lab_runs", VIEWER),
    ("POST", "/api/lab_save", TRADER),
    ("POST", "/api/lab_run", VIEWER),
    ("POST", "/api/lab_delete", TRADER),
    ("POST", "/api/lab_check", VIEWER),
    ("POST", "/api/audit", ADMIN),
];

/// Routes taken by POST that only read (server functions are all POSTs):
/// not written to the audit log.
const READS_BY_POST: &[&str] = &[
    "/api/watchlist",
    "/api/chart",
    "/api/older_bars",
    "/api/signals",
    "/api/news",
    "/api/strategies",
    "/api/telegram",
    "/api/lab_runs",
    "/api/lab_run",
    "/api/lab_check",
    "/api/audit",
    "/api/v1/backtests",
];

/// The rule for `method` on the matched `route`.
#[must_use]
pub fn rule(method: &Method, route: &str) -> Option<Need> {
    // HEAD is answered like GET.
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    RULES.iter().find(|(m, r, _)| *m == method && *r == route).map(|(_, _, need)| *need)
}

/// How a request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address (a trusted proxy's `X-Forwarded-For`, else the peer).
    pub address: Option<IpAddr>,
    /// Whether it came over TLS (a trusted proxy's `X-Forwarded-Proto: https`).
    pub https: bool,
}

impl Client {
    /// The address as the audit log and the throttle write it.
    #[must_use]
    pub fn source(&self) -> String {
        self.address.map_or_else(|| "unknown".into(), |a| a.to_string())
    }
}

fn client_of(state: &AppState, request: &Request) -> Client {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let trusted = peer.is_some_and(|p| state.auth.config.trusted_proxies.contains(&p));
    if !trusted {
        return Client { address: peer, https: false };
    }
    let headers = request.headers();
    // The rightmost address a trusted proxy did not add is the client's.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|a| !state.auth.config.trusted_proxies.contains(a));
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")));
    Client { address: forwarded.or(peer), https }
}

/// Layer on everything: notes the [`Client`]; over TLS, marks cookies
/// `Secure` and sends HSTS.
pub(crate) async fn transport(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client = client_of(&state, &request);
    request.extensions_mut().insert(client);
    let mut response = next.run(request).await;
    if client.https {
        let headers = response.headers_mut();
        let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().cloned().collect();
        if !cookies.is_empty() {
            headers.remove(header::SET_COOKIE);
            for cookie in cookies {
                let secure = format!("{}; Secure", cookie.to_str().unwrap_or_default());
                if let Ok(value) = HeaderValue::from_str(&secure) {
                    headers.append(header::SET_COOKIE, value);
                }
            }
        }
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// The session layers: `tower-sessions` over the `sessions` table, and
/// `axum-login` loading the session's user on each request.
pub(crate) fn session_layer(state: &AppState) -> axum_login::AuthManagerLayer<LoginBackend, DbStore> {
    let idle = i64::try_from(state.auth.config.session_idle_secs).unwrap_or(i64::MAX);
    let sessions = SessionManagerLayer::new(DbStore::new(state.db.clone()))
        .with_name(COOKIE)
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        // `Secure` is added per request by `transport`, when over TLS.
        .with_secure(false)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(idle)));
    axum_login::AuthManagerLayerBuilder::new(LoginBackend::new(state.auth.accounts.clone()), sessions)
        .with_data_key(LOGIN_KEY)
        .build()
}

/// Marks a request whose credentials could not be checked (the database
/// failed): only public routes answer it.
#[derive(Debug, Clone, Copy)]
struct AccountsUnavailable;

pub(super) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Route layer: establishes the request's principal.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut session: AuthSession<LoginBackend>,
    mut request: Request,
    next: Next,
) -> Response {
    let bearer = request.headers().get(header::AUTHORIZATION).map(|value| {
        value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(|secret| secret.trim().to_owned())
    });
    let established = if let Some(secret) = bearer {
        let Some(secret) = secret else {
            return unauthorized("the Authorization header takes `Bearer <token>`");
        };
        match state.auth.accounts.principal_for_token(&secret).await {
            Ok(Some((id, principal))) => {
                if let Some(wait) = state.auth.token_wait(id) {
                    let seconds = wait.as_secs().max(1);
                    let mut response = refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "this token is over its {} requests a minute; try again in {seconds} s",
                            state.auth.config.token_requests_per_minute
                        ),
                    );
                    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                    return response;
                }
                Some((principal, Credential::Token(id)))
            }
            Ok(None) => return unauthorized("this token is unknown, revoked or expired, or its user is disabled"),
            Err(e) => {
                // Public routes still answer; `authorize` refuses the rest with 503.
                tracing::error!(error = %e, "checking a token failed");
                request.extensions_mut().insert(AccountsUnavailable);
                None
            }
        }
    } else if let Some(user) = session.user.clone() {
        let now = unix_now();
        let login_at = session.session.get::<i64>(LOGIN_AT).await.ok().flatten().unwrap_or(0);
        let max = i64::try_from(state.auth.config.session_max_secs).unwrap_or(i64::MAX);
        if now.saturating_sub(login_at) >= max {
            // Past the absolute timeout: the session ends, whatever its activity.
            let _ = session.logout().await;
            None
        } else {
            let seen = session.session.get::<i64>(SEEN_AT).await.ok().flatten().unwrap_or(0);
            let idle = i64::try_from(state.auth.config.session_idle_secs).unwrap_or(i64::MAX);
            if now - seen >= TOUCH_EVERY_SECS.min(idle / 4).max(1) {
                // Saving moves the idle deadline on.
                let _ = session.session.insert(SEEN_AT, now).await;
            }
            let id = session.session.id().map(|id| id.to_string()).unwrap_or_default();
            let credential = Credential::Session { user_id: user.id, id, hash: user.session_hash.clone() };
            Some((user.principal(Via::Session), credential))
        }
    } else {
        None
    };
    let established = established.or_else(|| match state.auth.config.anonymous {
        crate::config::auth::Anonymous::Viewer => Some((
            Principal { user_id: None, name: "anonymous".into(), role: Role::Viewer, via: Via::Anonymous },
            Credential::Anonymous,
        )),
        crate::config::auth::Anonymous::None => None,
    });
    if let Some((principal, credential)) = established {
        request.extensions_mut().insert(principal);
        request.extensions_mut().insert(credential);
    }
    next.run(request).await
}

pub(super) fn unauthorized(message: &str) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, message.into());
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

pub(super) fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "reading accounts failed");
    refuse(StatusCode::SERVICE_UNAVAILABLE, "the accounts database is unavailable; try again".into())
}

/// Whether the request is a browser asking for a page (a GET outside the
/// API, the feed and the metrics).
fn wants_page(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::GET && !path.starts_with("/api/") && path != "/ws" && path != "/metrics"
}

/// Route layer: checks the principal against the matched route's rule.
pub(crate) async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path().to_owned(), |m| m.as_str().to_owned());
    let route = route.as_str();
    let Some(need) = rule(request.method(), route) else {
        return without_rule(request, next, route).await;
    };
    if need == Public {
        return next.run(request).await;
    }
    if request.extensions().get::<AccountsUnavailable>().is_some() {
        return unavailable(&"the token could not be checked");
    }
    match state.auth.is_set_up().await {
        Ok(true) => {}
        Ok(false) if wants_page(&request) => return Redirect::to("/setup").into_response(),
        Ok(false) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "no admin yet: open the setup link `finstage serve` printed, or run `finstage users add NAME --role admin`"
                    .into(),
            );
        }
        Err(e) => return unavailable(&e),
    }
    let principal = request.extensions().get::<Principal>();
    let allowed = match (need, principal) {
        (Need::Operator, Some(_)) => true,
        (Need::Operator, None) => request
            .extensions()
            .get::<Client>()
            .and_then(|c| c.address)
            .is_some_and(|a| state.auth.config.metrics_allow.contains(&a)),
        (Need::Role(role), Some(p)) => p.can(role),
        (_, None) => false,
        (Public, _) => true,
    };
    if allowed {
        return next.run(request).await;
    }
    match principal {
        None if wants_page(&request) => {
            let next = request.uri().path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&format!("/login?next={}", encode(next))).into_response()
        }
        None => unauthorized("log in, or send `Authorization: Bearer <token>` (`finstage tokens create`)"),
        Some(p) => {
            let needed = match need {
                Need::Role(role) => role.as_str(),
                _ => "viewer",
            };
            refuse(
                StatusCode::FORBIDDEN,
                format!("{} ({}) may not do this: it needs the {needed} role", p.name, p.role),
            )
        }
    }
}

/// A request whose method has no rule on its route. Methods none of our
/// routes take go on to the router, which answers 405 with the methods the
/// route really has (a test reads them from there to check every one has a
/// rule). Others are answered 405 here with the methods the rules name, and
/// a route with no rule at all is refused: nothing runs without a rule.
async fn without_rule(request: Request, next: Next, route: &str) -> Response {
    const ROUTED: [Method; 6] = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];
    if !ROUTED.contains(request.method()) {
        return next.run(request).await;
    }
    let allowed: Vec<&str> = RULES.iter().filter(|(_, r, _)| *r == route).map(|(m, _, _)| *m).collect();
    if allowed.is_empty() {
        tracing::error!(method = %request.method(), route, "no access rule for this route: refused");
        return refuse(StatusCode::FORBIDDEN, format!("no access rule for {} {route}", request.method()));
    }
    let mut response = refuse(StatusCode::METHOD_NOT_ALLOWED, format!("{route} takes {}", allowed.join(", ")));
    if let Ok(value) = HeaderValue::from_str(&allowed.join(",")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Route layer inside [`authorize`]: writes every authorized request that
/// changes something to the audit log: who, what (method and route), the
/// path it named, the answer's status, and from where. The login, logout and
/// setup endpoints write their own entries.
pub(crate) async fn audit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let changes = matches!(method, Method::POST | Method::PUT | Method::DELETE | Method::PATCH)
        && route.as_deref().is_some_and(|r| !r.starts_with("/api/v1/auth/") && !READS_BY_POST.contains(&r));
    if !changes {
        return next.run(request).await;
    }
    let principal = request.extensions().get::<Principal>().cloned();
    let client = request.extensions().get::<Client>().copied();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let actor = principal.as_ref().map_or_else(
        || Actor { user_id: None, name: "anonymous".into(), via: "anonymous", source: None },
        |p| Actor::of(p, None),
    );
    let actor = Actor { source: client.map(|c| c.source()), ..actor };
    let action = format!("{method} {}", route.unwrap_or_default());
    state.auth.accounts.audit(&actor, &action, Some(&path), Some(response.status().as_u16())).await;
    response
}

/// Percent-encodes a path for a query value.
pub(super) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where to go after logging in: a local path only (never another site).
pub(super) fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        _ => "/",
    }
}
