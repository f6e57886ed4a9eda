//! The endpoints under `/api/v1/auth` (login, logout, the first admin's
//! setup, who am I), `GET /api/v1/audit`, and the setup link printed at start.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_login::AuthSession;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Client, LOGIN_AT, SEEN_AT, encode, local_path, unauthorized, unavailable, unix_now};
use crate::accounts::{AccountError, Actor, Credentials, LoginBackend, Principal, Via};
use crate::http::edge::refuse;
use crate::state::AppState;

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
pub(in crate::http) fn routes() -> crate::http::routes::Routes {
    use axum::routing::{get, post};
    crate::http::routes::Routes::default()
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
    responses((status = 200, body = [AuditDto]), (status = 400, body = crate::http::error::ErrorBody)))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditDto>>, crate::http::ApiError> {
    let axum::extract::Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(crate::http::ApiError::BadRequest(format!("limit must be between 1 and 1000, got {limit}")));
    }
    if q.user.as_ref().is_some_and(|u| u.chars().count() > 64) {
        return Err(crate::http::ApiError::BadRequest("user: at most 64 characters".into()));
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
