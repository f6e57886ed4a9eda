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

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_login::AuthSession;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::{Expiry, SessionManagerLayer};

use super::edge::refuse;
use crate::accounts::live::Credential;
use crate::accounts::sessions::{DbStore, LOGIN_KEY};
use crate::accounts::{AccountError, Actor, Credentials, LoginBackend, Principal, Role, Via};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "finstage_session";
/// Session keys: when the user logged in, and when the session was last seen (Unix s).
const LOGIN_AT: &str = "login_at";
const SEEN_AT: &str = "seen_at";
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

fn unix_now() -> i64 {
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

fn unauthorized(message: &str) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, message.into());
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn unavailable(e: &dyn std::fmt::Display) -> Response {
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
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where to go after logging in: a local path only (never another site).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        _ => "/",
    }
}

/// A login, from the API (JSON) or the login page (a form).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// Where the login page goes afterwards (forms only).
    #[serde(default)]
    pub next: Option<String>,
}

/// Who the request acts for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user name (`anonymous` without one).
    pub name: String,
    /// `admin`, `trader` or `viewer`.
    pub role: String,
    /// `session`, `token` or `anonymous`.
    pub via: String,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        Self { name: p.name.clone(), role: p.role.as_str().into(), via: p.via.as_str().into() }
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Reads a JSON or form body into `T`; a 400 naming the problem otherwise.
async fn read_body<T: serde::de::DeserializeOwned>(request: Request) -> Result<(bool, T), Box<Response>> {
    let form = is_form(request.headers());
    let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| Box::new(refuse(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large".into())))?;
    let parsed = if form {
        serde_urlencoded_from(&bytes)
    } else {
        serde_json::from_slice(&bytes).map_err(|e| format!("the body is not the expected JSON: {e}"))
    };
    parsed.map(|value| (form, value)).map_err(|message| Box::new(refuse(StatusCode::BAD_REQUEST, message)))
}

fn serde_urlencoded_from<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| format!("the form is incomplete: {e}"))
}

fn back_to(page: &str, error: &str, keep: &[(&str, &str)]) -> Response {
    let mut query = format!("error={}", encode(error));
    for (key, value) in keep {
        query.push_str(&format!("&{key}={}", encode(value)));
    }
    Redirect::to(&format!("{page}?{query}")).into_response()
}

/// `POST /api/v1/auth/login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    mut session: AuthSession<LoginBackend>,
    request: Request,
) -> Response {
    let client = request.extensions().get::<Client>().copied().unwrap_or(Client { address: None, https: false });
    let (form, body) = match read_body::<LoginRequest>(request).await {
        Ok(read) => read,
        Err(refusal) => return *refusal,
    };
    let account = crate::accounts::fold_name(&body.username);
    let source = client.source();
    let next = local_path(body.next.as_deref()).to_owned();
    if let Some(wait) = state.auth.throttle.wait(&account, &source, Instant::now()) {
        let seconds = wait.as_secs().max(1);
        let message = format!("too many failed logins; try again in {seconds} s");
        if form {
            return back_to("/login", &message, &[("next", &next)]);
        }
        let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, message);
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let user = match session.authenticate(Credentials { username: account.clone(), password: body.password }).await {
        Ok(user) => user,
        Err(e) => return unavailable(&e),
    };
    let by =
        |user_id, name: &str| Actor { user_id, name: name.to_owned(), via: "session", source: Some(source.clone()) };
    let Some(user) = user else {
        state.auth.throttle.failed(&account, &source, Instant::now());
        state.auth.accounts.audit(&by(None, &account), "auth.login-failed", Some(&account), Some(401)).await;
        let message = "wrong user name or password";
        return if form { back_to("/login", message, &[("next", &next)]) } else { unauthorized(message) };
    };
    state.auth.throttle.succeeded(&account);
    // A session logged in already ends first, and every login gets a new
    // session id (no fixation): axum-login cycles the id only for a session
    // that never had a user, and after a logout tower-sessions would store
    // the new login under the old id.
    if session.user.is_some()
        && let Err(e) = session.logout().await
    {
        return unavailable(&e);
    }
    if let Err(e) = session.session.cycle_id().await {
        return unavailable(&e);
    }
    // Then the login, and its time for the absolute timeout.
    if let Err(e) = session.login(&user).await {
        return unavailable(&e);
    }
    let now = unix_now();
    if session.session.insert(LOGIN_AT, now).await.is_err() || session.session.insert(SEEN_AT, now).await.is_err() {
        return unavailable(&"the session could not be written");
    }
    state.auth.accounts.audit(&by(Some(user.id), &user.name), "auth.login", None, Some(200)).await;
    if form {
        return Redirect::to(&next).into_response();
    }
    Json(json!({ "user": Me::from(&user.principal(Via::Session)) })).into_response()
}

/// `POST /api/v1/auth/logout`: ends the session (and its WebSockets).
pub(crate) async fn logout(
    State(state): State<AppState>,
    mut session: AuthSession<LoginBackend>,
    request: Request,
) -> Response {
    let form = is_form(request.headers());
    let client = request.extensions().get::<Client>().copied();
    if let Some(user) = session.user.clone() {
        if let Err(e) = session.logout().await {
            return unavailable(&e);
        }
        let by = Actor {
            user_id: Some(user.id),
            name: user.name.clone(),
            via: "session",
            source: client.map(|c| c.source()),
        };
        state.auth.accounts.audit(&by, "auth.logout", None, Some(204)).await;
        state.auth.poke().await;
    }
    if form { Redirect::to("/login").into_response() } else { StatusCode::NO_CONTENT.into_response() }
}

/// `GET /api/v1/auth/me`.
pub(crate) async fn me(request: Request) -> Response {
    match request.extensions().get::<Principal>() {
        Some(p) => Json(Me::from(p)).into_response(),
        None => unauthorized("not logged in"),
    }
}

/// The first admin, from the setup page.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetupRequest {
    /// The setup link's token.
    pub token: String,
    /// The admin's user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// The password again (forms).
    #[serde(default)]
    pub confirm: Option<String>,
}

/// `POST /api/v1/auth/setup`: uses the setup link to create the first admin
/// and logs them in.
pub(crate) async fn setup(
    State(state): State<AppState>,
    mut session: AuthSession<LoginBackend>,
    request: Request,
) -> Response {
    let client = request.extensions().get::<Client>().copied();
    let (form, body) = match read_body::<SetupRequest>(request).await {
        Ok(read) => read,
        Err(refusal) => return *refusal,
    };
    let fail = |status: StatusCode, message: String| {
        if form {
            back_to("/setup", &message, &[("token", &body.token), ("username", &body.username)])
        } else {
            refuse(status, message)
        }
    };
    if body.confirm.as_ref().is_some_and(|c| *c != body.password) {
        return fail(StatusCode::BAD_REQUEST, "the two passwords differ".into());
    }
    let source = client.map(|c| c.source());
    let user = match state.auth.accounts.complete_setup(&body.token, &body.username, &body.password, source).await {
        Ok(user) => user,
        Err(e @ (AccountError::BadName | AccountError::WeakPassword(_))) => {
            return fail(StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(e @ AccountError::SetupLinkInvalid) => return fail(StatusCode::FORBIDDEN, e.to_string()),
        Err(e) => return unavailable(&e),
    };
    let _ = state.auth.is_set_up().await;
    if session.login(&user).await.is_err() {
        return unavailable(&"the session could not be written");
    }
    let now = unix_now();
    let _ = session.session.insert(LOGIN_AT, now).await;
    let _ = session.session.insert(SEEN_AT, now).await;
    if form {
        return Redirect::to("/").into_response();
    }
    (StatusCode::CREATED, Json(json!({ "user": Me::from(&user.principal(Via::Session)) }))).into_response()
}

/// The auth routes, under `/api/v1`.
pub(super) fn routes() -> super::routes::Routes {
    use axum::routing::{get, post};
    super::routes::Routes::default()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/setup", post(setup))
        .route("/auth/me", get(me))
        .route("/audit", get(list_audit))
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Most entries (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only entries older than this id (the cursor for the next page).
    pub before: Option<i64>,
    /// Only this actor's entries (a user name, or `cli`).
    #[param(max_length = 64)]
    pub user: Option<String>,
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = [AuditDto]), (status = 400, body = super::error::ErrorBody)))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditDto>>, super::ApiError> {
    let axum::extract::Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(super::ApiError::BadRequest(format!("limit must be between 1 and 1000, got {limit}")));
    }
    if q.user.as_ref().is_some_and(|u| u.chars().count() > 64) {
        return Err(super::ApiError::BadRequest("user: at most 64 characters".into()));
    }
    let rows = crate::storage::accounts::list_audit(&state.db, limit, q.before, q.user.as_deref()).await?;
    Ok(Json(rows.into_iter().map(|r| AuditDto::from(crate::accounts::audit_entry(r))).collect()))
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditDto {
    /// Row id.
    pub id: i64,
    /// When, Unix ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// How: session, token, anonymous, cli or setup.
    pub via: String,
    /// What.
    pub action: String,
    /// What it named.
    pub target: Option<String>,
    /// The status answered.
    pub status: Option<i64>,
    /// From where.
    pub source: Option<String>,
}

impl From<app::auth::AuditEntry> for AuditDto {
    fn from(e: app::auth::AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            via: e.via,
            action: e.action,
            target: e.target,
            status: e.status,
            source: e.source,
        }
    }
}

/// Prints the setup link when no user exists yet.
pub async fn announce_setup(state: &AppState, listen: SocketAddr) {
    match state.auth.accounts.issue_setup_link().await {
        Ok(Some(token)) => {
            let host = if listen.ip().is_unspecified() { "127.0.0.1".to_owned() } else { listen.ip().to_string() };
            let link = format!("http://{host}:{}/setup?token={token}", listen.port());
            // Printed, not logged: the token must not end up in log files.
            println!(
                "\nNo user yet. Open this link within 24 hours to create the first admin:\n\n    {link}\n\n\
                 (or run `finstage users add NAME --role admin`)\n"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "issuing the setup link failed"),
    }
}

/// Adds the security schemes to the OpenAPI document and, from [`RULES`],
/// what each operation needs: public ones say so (an empty requirement),
/// the others name the token scope (`read` for a viewer's rights, `write`
/// for a trader's or an admin's) and the role, and document 401 and 403.
#[derive(Debug)]
pub(crate) struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{RefOr, ResponseBuilder};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `finstage tokens create --user NAME --scope read|write`. A `read` token \
                         has a viewer's rights; a `write` token has its user's role.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE,
                "The browser session set by `POST /api/v1/auth/login`.",
            ))),
        );
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("DELETE", &mut item.delete),
                ("PATCH", &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let Some(need) = RULES.iter().find(|(m, r, _)| *m == method && r == path).map(|(_, _, n)| *n) else {
                    continue;
                };
                let (security, needs) = match need {
                    Public => (vec![SecurityRequirement::default()], None),
                    Need::Operator => (
                        vec![
                            SecurityRequirement::new("bearer", ["read"]),
                            SecurityRequirement::new::<&str, [&str; 0], &str>("session", []),
                        ],
                        Some("any user or token, or an address in `auth.metrics_allow`".to_owned()),
                    ),
                    Need::Role(role) => {
                        let scope = if role == Role::Viewer { "read" } else { "write" };
                        (
                            vec![
                                SecurityRequirement::new("bearer", [scope]),
                                SecurityRequirement::new::<&str, [&str; 0], &str>("session", []),
                            ],
                            Some(format!("the {role} role (a `{scope}` token)")),
                        )
                    }
                };
                operation.security = Some(security);
                if let Some(needs) = needs {
                    let note = format!("Needs {needs}.");
                    operation.description =
                        Some(operation.description.take().map_or_else(|| note.clone(), |d| format!("{d}\n\n{note}")));
                    let responses = &mut operation.responses.responses;
                    responses.entry("401".into()).or_insert_with(|| {
                        RefOr::T(ResponseBuilder::new().description("No valid session or token").build())
                    });
                    responses.entry("403".into()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new().description("The role or token scope does not allow this").build(),
                        )
                    });
                    responses.entry("429".into()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(
                                    "The token is over `auth.token_requests_per_minute`; `Retry-After` says when to \
                                     try again",
                                )
                                .build(),
                        )
                    });
                }
            }
        }
    }
}

/// `POST /api/v1/auth/login` (documentation only; [`login`] answers).
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses((status = 200, description = "Logged in; the session cookie is set"),
        (status = 303, description = "From a form: on to `next`, or back to the login page with the reason"),
        (status = 400, description = "The body is not a login", body = super::error::ErrorBody),
        (status = 401, description = "Wrong user name or password", body = super::error::ErrorBody),
        (status = 429, description = "Too many failed logins; `Retry-After` says when to try again",
            body = super::error::ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait")))))]
#[allow(dead_code, reason = "the OpenAPI document's description of `login`")]
pub(crate) fn doc_login() {}

/// `POST /api/v1/auth/logout`.
#[utoipa::path(post, path = "/api/v1/auth/logout",
    responses((status = 204, description = "The session ended (or there was none)"),
        (status = 303, description = "From a form: on to the login page")))]
#[allow(dead_code, reason = "the OpenAPI document's description of `logout`")]
pub(crate) fn doc_logout() {}

/// `POST /api/v1/auth/setup`.
#[utoipa::path(post, path = "/api/v1/auth/setup", request_body = SetupRequest,
    responses((status = 201, description = "The first admin exists and is logged in"),
        (status = 303, description = "From a form: on to the dashboard, or back with the reason"),
        (status = 400, description = "A bad name or weak password", body = super::error::ErrorBody),
        (status = 403, description = "The link was used, expired, or an admin exists", body = super::error::ErrorBody)))]
#[allow(dead_code, reason = "the OpenAPI document's description of `setup`")]
pub(crate) fn doc_setup() {}

/// `GET /api/v1/auth/me`.
#[utoipa::path(get, path = "/api/v1/auth/me",
    responses((status = 200, description = "Who the request acts for", body = Me),
        (status = 401, description = "Nobody", body = super::error::ErrorBody)))]
#[allow(dead_code, reason = "the OpenAPI document's description of `me`")]
pub(crate) fn doc_me() {}
