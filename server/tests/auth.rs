//! Who may do what, over HTTP and the live feed: every route has a rule,
//! every role against every route (on both databases), sessions (cookie
//! flags, a new id at login, logout, the first start's setup), tokens
//! (scope, revocation), disabled users, login throttling, per-user data, the
//! anonymous role, TLS behind a trusted proxy, and live connections closed
//! when their credential ends.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use server::accounts::{Accounts, Actor, Role, Scope};
use server::config::{Config, Feed};
use server::http::auth::{Need, RULES, rule};
use server::state::AppState;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const PASSWORD: &str = common::PASSWORD;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

/// One request through the whole router, from `peer`.
async fn send_from(state: &AppState, peer: SocketAddr, mut request: Request<Body>) -> Answer {
    request.extensions_mut().insert(ConnectInfo(peer));
    let what = format!("{} {}", request.method(), request.uri());
    let exchange = async {
        let response = server::http::router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete within 30 s"))
}

/// From a LAN address (not loopback: `/metrics` is not open to it).
async fn send(state: &AppState, request: Request<Body>) -> Answer {
    send_from(state, "192.168.1.20:50000".parse().unwrap(), request).await
}

fn request(method: &str, uri: &str, auth: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:3000");
    if let Some(auth) = auth {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap()
}

/// The session cookie a response set (`name=value`).
fn session_cookie(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("finstage_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn with_cookie(mut request: Request<Body>, cookie: &str) -> Request<Body> {
    request.headers_mut().insert(header::COOKIE, cookie.parse().unwrap());
    request
}

async fn login(state: &AppState, name: &str, password: &str, cookie: Option<&str>) -> Answer {
    let body = serde_json::json!({"username": name, "password": password}).to_string();
    let mut login = request("POST", "/api/v1/auth/login", None, Some(&body));
    if let Some(cookie) = cookie {
        login = with_cookie(login, cookie);
    }
    send(state, login).await
}

async fn state_on(t: &common::TestDb, change: impl FnOnce(&mut Config)) -> AppState {
    let mut config = Config { database_url: t.url.clone(), feed: Feed::None, ..Config::default() };
    change(&mut config);
    AppState::new(config, t.db.clone(), CancellationToken::new())
}

/// Every route the router has, with each of its methods: the REST API's
/// (from the `Allow` header of a 405), the server functions, the pages, and
/// the rest; each has a rule, and each rule has its route.
#[tokio::test]
async fn every_route_has_a_rule_and_every_rule_a_route() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |_| {}).await;
    let admin = common::admin_token(&t.db).await;
    let mut routes = BTreeSet::new();
    for path in server::http::api_paths() {
        let uri: Vec<&str> = path.split('/').map(|part| if part.starts_with('{') { "x" } else { part }).collect();
        let answer = send(&state, request("PROBE", &uri.join("/"), Some(&admin), None)).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        for method in answer.headers["allow"].to_str().unwrap().split(',').map(str::trim) {
            routes.insert((method.to_owned(), path.clone()));
        }
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.insert((method.to_string(), path.to_owned()));
    }
    for path in server::http::page_paths() {
        routes.insert(("GET".to_owned(), path));
    }
    for path in ["/ws", "/metrics", "/healthz", "/readyz"] {
        routes.insert(("GET".to_owned(), path.to_owned()));
    }
    let missing: Vec<_> = routes
        .iter()
        .filter(|(method, path)| method != "HEAD" && rule(&method.parse::<Method>().unwrap(), path).is_none())
        .collect();
    assert!(missing.is_empty(), "routes without an access rule (add them to http::auth::RULES): {missing:?}");
    let stale: Vec<_> =
        RULES.iter().filter(|(m, p, _)| !routes.contains(&((*m).to_owned(), (*p).to_owned()))).collect();
    assert!(stale.is_empty(), "rules for routes that do not exist: {stale:?}");
    assert!(routes.len() > 50, "{routes:?}");
    t.cleanup().await;
}

/// A request for a rule's route: path parameters filled, a body for methods
/// that take one (whatever it holds, the rule decides before it is read).
fn probe(method: &str, route: &str, auth: Option<&str>) -> Request<Body> {
    let uri: Vec<&str> = route.split('/').map(|part| if part.starts_with('{') { "AAPL" } else { part }).collect();
    let body = (method != "GET").then_some("{}");
    request(method, &uri.join("/"), auth, body)
}

/// Every role against every route: nobody gets 401 (a page, a redirect to
/// the login page), a role below the rule 403, a role at or above it
/// anything but those; a read token has a viewer's rights whatever its
/// user's role.
async fn every_role_against_every_route(t: &common::TestDb) {
    let state = state_on(t, |_| {}).await;
    let tokens = [
        (Role::Viewer, common::token_for(&t.db, "vera", Role::Viewer).await),
        (Role::Trader, common::token_for(&t.db, "tom", Role::Trader).await),
        (Role::Admin, common::admin_token(&t.db).await),
    ];
    let accounts = Accounts::new(t.db.clone());
    let read = accounts.create_token("admin", Scope::Read, "", None, &Actor::cli()).await.unwrap();
    let read = format!("Bearer {}", read.secret);
    for &(method, route, need) in RULES {
        if route == "/ws" || route.starts_with("/api/v1/auth/") {
            continue; // the feed and the way in have tests of their own
        }
        let anonymous = send(&state, probe(method, route, None)).await;
        match need {
            Need::Public => assert!(anonymous.status.as_u16() < 500, "{method} {route}: {}", anonymous.status),
            _ if method == "GET" && !route.starts_with("/api/") && route != "/metrics" => {
                assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{method} {route}");
                assert!(anonymous.headers["location"].to_str().unwrap().starts_with("/login?next="));
            }
            _ => assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {route}: {}", anonymous.body),
        }
        for (role, token) in &tokens {
            let answer = send(&state, probe(method, route, Some(token))).await;
            let allowed = match need {
                Need::Public | Need::Operator => true,
                Need::Role(needed) => *role >= needed,
            };
            if allowed {
                assert!(
                    answer.status != StatusCode::UNAUTHORIZED && answer.status != StatusCode::FORBIDDEN,
                    "{role} on {method} {route}: {} {}",
                    answer.status,
                    answer.body
                );
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role} on {method} {route}: {}", answer.body);
                assert!(answer.body.contains(&format!(
                    "needs the {}",
                    match need {
                        Need::Role(r) => r.as_str(),
                        _ => "",
                    }
                )));
            }
        }
        let answer = send(&state, probe(method, route, Some(&read))).await;
        let viewer_may = !matches!(need, Need::Role(r) if r > Role::Viewer);
        assert_eq!(answer.status == StatusCode::FORBIDDEN, !viewer_may, "a read token on {method} {route}");
    }
}

/// The live feed: refused without credentials, open to every role.
async fn the_live_feed_needs_a_viewer(t: &common::TestDb) {
    let state = state_on(t, |_| {}).await;
    let viewer = common::token_for(&t.db, "vera", Role::Viewer).await;
    let upgrade = |auth: Option<&str>| {
        let mut r = request("GET", "/ws", auth, None);
        let h = r.headers_mut();
        h.insert("connection", "upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("sec-websocket-version", "13".parse().unwrap());
        h.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
        r
    };
    assert_eq!(send(&state, upgrade(None)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&state, upgrade(Some("Bearer fst_nonsense"))).await.status, StatusCode::UNAUTHORIZED);
    // Accepted; the upgrade itself needs a real connection (see below).
    let answer = send(&state, upgrade(Some(&viewer))).await;
    assert!(answer.status != StatusCode::UNAUTHORIZED && answer.status != StatusCode::FORBIDDEN, "{}", answer.status);
}

/// Runs an `async fn(&TestDb)` test once on SQLite and once on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let t = crate::common::TestDb::sqlite().await;
                super::$name(&t).await;
                t.cleanup().await;
            }
            #[tokio::test]
            async fn postgres() {
                let t = crate::common::TestDb::postgres().await;
                super::$name(&t).await;
                t.cleanup().await;
            }
        }
    )+};
}

on_both!(every_role_against_every_route, the_live_feed_needs_a_viewer);

/// Sessions: the cookie's flags, a new id at every login (a planted or
/// earlier id never carries one), logout ending it, and the login throttle.
#[tokio::test]
async fn sessions_get_a_fresh_id_at_login_and_end_at_logout() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |_| {}).await;
    common::token_for(&t.db, "ann", Role::Trader).await;
    common::token_for(&t.db, "bob", Role::Viewer).await;

    let answer = login(&state, "ann", PASSWORD, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let set = answer.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"), "{set}");
    assert!(!set.contains("Secure"), "no TLS, no Secure: {set}");
    let ann = session_cookie(&answer).unwrap();
    let me = send(&state, with_cookie(request("GET", "/api/v1/auth/me", None, None), &ann)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body.contains(r#""name":"ann""#) && me.body.contains(r#""role":"trader""#), "{}", me.body);
    // Logging in again over a live session: a new id, and the old one is dead.
    let answer = login(&state, "bob", PASSWORD, Some(&ann)).await;
    let bob = session_cookie(&answer).unwrap();
    assert_ne!(bob, ann);
    assert_eq!(
        send(&state, with_cookie(request("GET", "/api/v1/auth/me", None, None), &ann)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A planted id: the login gets a different one.
    let planted = "finstage_session=AAAAAAAAAAAAAAAAAAAAAA";
    let answer = login(&state, "ann", PASSWORD, Some(planted)).await;
    let fresh = session_cookie(&answer).unwrap();
    assert_ne!(fresh, planted);

    // Logout ends the session for good.
    let out = send(&state, with_cookie(request("POST", "/api/v1/auth/logout", None, None), &bob)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&state, with_cookie(request("GET", "/api/v1/auth/me", None, None), &bob)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = send(&state, with_cookie(request("GET", "/signals", None, None), &bob)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/login?next=/signals");

    // Wrong passwords: 401 naming neither which part was wrong; then 429 with Retry-After,
    // for the right password too, until the window passes.
    for _ in 0..5 {
        let wrong = login(&state, "ann", "not her password", None).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("wrong user name or password"));
    }
    let throttled = login(&state, "ann", PASSWORD, None).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
    let wait: u64 = throttled.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&wait), "{wait}");
    // Another account from another address is not held up.
    assert_eq!(login(&state, "bob", PASSWORD, None).await.status, StatusCode::OK);
    // Failed logins are in the audit log, with the name tried and never the password.
    let log = server::storage::accounts::list_audit(&t.db, 50, None, None).await.unwrap();
    assert_eq!(log.iter().filter(|r| r.action == "auth.login-failed").count(), 5);
    assert!(!format!("{log:?}").contains("not her password"));
    t.cleanup().await;
}

/// With no user yet, only the probes, the setup page and the login page
/// answer; the setup link creates the first admin once.
#[tokio::test]
async fn the_first_start_is_set_up_once_through_the_link() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |_| {}).await;
    assert_eq!(send(&state, request("GET", "/healthz", None, None)).await.status, StatusCode::OK);
    let api = send(&state, request("GET", "/api/v1/symbols", None, None)).await;
    assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(api.body.contains("setup link"), "{}", api.body);
    let page = send(&state, request("GET", "/", None, None)).await;
    assert_eq!((page.status, page.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/setup"));
    assert_eq!(send(&state, request("GET", "/setup", None, None)).await.status, StatusCode::OK);

    let link = state.auth.accounts.issue_setup_link().await.unwrap().unwrap();
    let body = |token: &str, name: &str| {
        serde_json::json!({"token": token, "username": name, "password": PASSWORD}).to_string()
    };
    let wrong = send(&state, request("POST", "/api/v1/auth/setup", None, Some(&body("guess", "root")))).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let weak = serde_json::json!({"token": link, "username": "root", "password": "password"}).to_string();
    assert_eq!(
        send(&state, request("POST", "/api/v1/auth/setup", None, Some(&weak))).await.status,
        StatusCode::BAD_REQUEST
    );
    let created = send(&state, request("POST", "/api/v1/auth/setup", None, Some(&body(&link, "root")))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let cookie = session_cookie(&created).expect("logged in");
    let me = send(&state, with_cookie(request("GET", "/api/v1/auth/me", None, None), &cookie)).await;
    assert!(me.body.contains(r#""role":"admin""#), "{}", me.body);
    let again = send(&state, request("POST", "/api/v1/auth/setup", None, Some(&body(&link, "eve")))).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.body);
    assert_eq!(send(&state, request("GET", "/api/v1/symbols", None, None)).await.status, StatusCode::UNAUTHORIZED);
    t.cleanup().await;
}

/// `auth.anonymous = "viewer"`: reading without logging in, nothing more.
#[tokio::test]
async fn an_anonymous_viewer_reads_and_changes_nothing() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |c| c.auth.anonymous = server::config::auth::Anonymous::Viewer).await;
    common::admin_token(&t.db).await;
    assert_eq!(send(&state, request("GET", "/api/v1/symbols", None, None)).await.status, StatusCode::OK);
    assert_eq!(send(&state, request("GET", "/signals", None, None)).await.status, StatusCode::OK);
    let add = send(&state, request("POST", "/api/watchlist_add", None, Some("{}"))).await;
    assert_eq!(add.status, StatusCode::FORBIDDEN, "{}", add.body);
    t.cleanup().await;
}

/// Behind a trusted proxy that says the request came over TLS, the cookie is
/// `Secure` and answers carry HSTS; the same header from anyone else is ignored.
#[tokio::test]
async fn tls_behind_a_trusted_proxy_makes_cookies_secure() {
    let t = common::TestDb::sqlite().await;
    let proxy: SocketAddr = "10.0.0.2:443".parse().unwrap();
    let state = state_on(&t, |c| c.auth.trusted_proxies = vec![proxy.ip()]).await;
    common::token_for(&t.db, "ann", Role::Viewer).await;
    let body = serde_json::json!({"username": "ann", "password": PASSWORD}).to_string();
    let mut over_tls = request("POST", "/api/v1/auth/login", None, Some(&body));
    over_tls.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
    over_tls.headers_mut().insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    let answer = send_from(&state, proxy, over_tls).await;
    assert!(answer.headers[header::SET_COOKIE].to_str().unwrap().contains("; Secure"));
    assert!(answer.headers[header::STRICT_TRANSPORT_SECURITY].to_str().unwrap().starts_with("max-age="));
    let mut spoofed = request("POST", "/api/v1/auth/login", None, Some(&body));
    spoofed.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
    let answer = send(&state, spoofed).await;
    assert!(!answer.headers[header::SET_COOKIE].to_str().unwrap().contains("Secure"));
    assert!(answer.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());
    // The audit log has the client's address the proxy reported.
    let log = server::storage::accounts::list_audit(&t.db, 5, None, None).await.unwrap();
    assert_eq!(log.iter().find(|r| r.action == "auth.login").unwrap().source.as_deref(), Some("192.168.1.20"));
    assert!(log.iter().any(|r| r.source.as_deref() == Some("203.0.113.9")));
    t.cleanup().await;
}

/// `/metrics` and the OpenAPI document: open to a token or an allowed
/// address (loopback by default), not to anyone else.
#[tokio::test]
async fn metrics_need_a_token_or_an_allowed_address() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |_| {}).await;
    let viewer = common::token_for(&t.db, "vera", Role::Viewer).await;
    for path in ["/metrics", "/api/v1/openapi.json"] {
        assert_eq!(send(&state, request("GET", path, None, None)).await.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(send(&state, request("GET", path, Some(&viewer), None)).await.status, StatusCode::OK, "{path}");
        let local = send_from(&state, "127.0.0.1:40000".parse().unwrap(), request("GET", path, None, None)).await;
        assert_eq!(local.status, StatusCode::OK, "{path}");
    }
    t.cleanup().await;
}

/// A user's watchlist, lab runs and Telegram chats are theirs: another user
/// neither sees nor changes them.
async fn users_see_and_change_only_their_own_data(t: &common::TestDb) {
    let config = Config {
        database_url: t.url.clone(),
        watchlist: vec![server::symbol::Symbol::parse("AAPL").unwrap()],
        sim: server::config::SimConfig { history_days: 30, ..Default::default() },
        ..Config::default()
    };
    let state = common::state_with_history(t, config).await;
    let ann = common::token_for(&t.db, "ann", Role::Trader).await;
    let bob = common::token_for(&t.db, "bob", Role::Trader).await;
    let call = |auth: &str, endpoint: &str, body: &str| {
        let mut r = request("POST", &format!("/api/{endpoint}"), Some(auth), Some(body));
        r.headers_mut().insert(header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
        send(&state, r)
    };
    let symbols = |answer: Answer| -> Vec<String> {
        let rows: Vec<serde_json::Value> = serde_json::from_str(&answer.body).unwrap();
        rows.iter().map(|r| r["symbol"].as_str().unwrap().to_owned()).collect()
    };

    // Watchlists: both start as the followed list; each edits their own.
    assert_eq!(symbols(call(&ann, "watchlist", "").await), ["AAPL"]);
    assert_eq!(symbols(call(&bob, "watchlist", "").await), ["AAPL"]);
    assert_eq!(call(&ann, "watchlist_add", "symbol=MSFT").await.status, StatusCode::OK);
    assert_eq!(symbols(call(&ann, "watchlist", "").await), ["AAPL", "MSFT"]);
    assert_eq!(symbols(call(&bob, "watchlist", "").await), ["AAPL"]);
    assert_eq!(call(&bob, "watchlist_remove", "symbol=AAPL").await.body, "true");
    assert_eq!(symbols(call(&bob, "watchlist", "").await), Vec::<String>::new());
    assert_eq!(symbols(call(&ann, "watchlist", "").await), ["AAPL", "MSFT"], "Bob's removal is his own");
    // Removing what is not on one's own list changes nothing, anyone's.
    assert_eq!(call(&bob, "watchlist_remove", "symbol=MSFT").await.body, "false");
    // The feed follows the union: MSFT (Ann's) and AAPL (still Ann's).
    let followed = state.watchlist.symbols().await.unwrap();
    assert_eq!(followed.iter().map(ToString::to_string).collect::<Vec<_>>(), ["AAPL", "MSFT"]);
    assert_eq!(call(&ann, "watchlist_remove", "symbol=AAPL").await.body, "true");
    let followed = state.watchlist.symbols().await.unwrap();
    assert_eq!(followed.iter().map(ToString::to_string).collect::<Vec<_>>(), ["MSFT"], "no list holds AAPL now");

    // Lab runs over REST.
    let run =
        serde_json::json!({"name": "ann's", "input": {"symbol": "MSFT", "timeframe": "1d", "strategy": "sma_cross"}});
    let saved = send(&state, request("POST", "/api/v1/lab/runs", Some(&ann), Some(&run.to_string()))).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let id = serde_json::from_str::<serde_json::Value>(&saved.body).unwrap()["id"].as_i64().unwrap();
    let listed = |auth: &str| {
        let auth = auth.to_owned();
        let state = state.clone();
        async move { send(&state, request("GET", "/api/v1/lab/runs", Some(&auth), None)).await.body }
    };
    assert!(listed(&ann).await.contains("ann's"));
    assert_eq!(listed(&bob).await, "[]");
    let path = format!("/api/v1/lab/runs/{id}");
    assert_eq!(send(&state, request("GET", &path, Some(&bob), None)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&state, request("DELETE", &path, Some(&bob), None)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&state, request("GET", &path, Some(&ann), None)).await.status, StatusCode::OK);
    // And through the lab page's server functions.
    let json = |auth: &str, endpoint: &str, body: serde_json::Value| {
        send(&state, request("POST", &format!("/api/{endpoint}"), Some(auth), Some(&body.to_string())))
    };
    assert_eq!(json(&bob, "lab_runs", serde_json::json!({})).await.body, "[]");
    assert_eq!(json(&bob, "lab_run", serde_json::json!({"id": id})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(json(&bob, "lab_delete", serde_json::json!({"id": id})).await.body, "false");
    assert_eq!(json(&ann, "lab_run", serde_json::json!({"id": id})).await.status, StatusCode::OK);

    // Telegram chats: Ann links one; Bob neither sees nor changes it, nor takes it over.
    assert_eq!(call(&ann, "telegram_chat", "chat_id=4242&op=link").await.status, StatusCode::OK);
    assert!(call(&ann, "telegram", "").await.body.contains("4242"));
    assert_eq!(call(&bob, "telegram", "").await.body, "[]");
    assert_eq!(call(&bob, "telegram_chat", "chat_id=4242&op=mute").await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&bob, "telegram_chat", "chat_id=4242&op=unlink").await.status, StatusCode::NOT_FOUND);
    let takeover = call(&bob, "telegram_chat", "chat_id=4242&op=link").await;
    assert_eq!(takeover.status, StatusCode::BAD_REQUEST, "{}", takeover.body);
    assert!(call(&ann, "telegram", "").await.body.contains("4242"), "still Ann's");
    // A chat linked with Bob's code is Bob's.
    let code: String = serde_json::from_str(&call(&bob, "telegram_code", "").await.body).unwrap();
    let outcome = server::storage::telegram::redeem_code(&t.db, &code, 77, Some("bob's chat"), 1).await.unwrap();
    assert_eq!(outcome, server::storage::telegram::LinkOutcome::Linked);
    assert!(call(&bob, "telegram", "").await.body.contains("bob's chat"));
    assert!(!call(&ann, "telegram", "").await.body.contains("bob's chat"));
}

on_both!(users_see_and_change_only_their_own_data);

/// Opens `/ws` on a real listener as `auth`; the hello read.
async fn feed(url: &str, auth: &str) -> common::Socket {
    let mut socket = common::ws_connect(url, auth).await.unwrap();
    let hello = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("hello"));
    socket
}

/// The close frame a socket gets within 10 s, or `None` if it stays open.
async fn closed_with(socket: &mut common::Socket) -> Option<(u16, String)> {
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(Some(frame))))) => return Some((frame.code.into(), frame.reason.to_string())),
            Ok(None | Some(Ok(Message::Close(None)) | Err(_))) => return Some((0, String::new())),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// A disabled user, a revoked token and a logged-out session lose their
/// live feed at once (in this process; other processes' changes within the
/// epoch's poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_connections_end_with_their_credential() {
    let t = common::TestDb::sqlite().await;
    let shutdown = CancellationToken::new();
    let state = AppState::new(
        Config { database_url: t.url.clone(), feed: Feed::None, ..Config::default() },
        t.db.clone(),
        shutdown.clone(),
    );
    tokio::spawn(state.auth.clone().watch_epoch(shutdown.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("ws://{addr}/ws");
    let (edge, requests) = (state.config.http.clone(), state.metrics.requests().clone());
    let router = server::http::router(state.clone());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        server::http::listen::serve(listener, router, &edge, requests, stop.cancelled_owned()).await
    });

    let accounts = Accounts::new(t.db.clone());
    let cli = Actor::cli();
    common::admin_token(&t.db).await;
    let vera = common::token_for(&t.db, "vera", Role::Viewer).await;
    let tom = common::token_for(&t.db, "tom", Role::Trader).await;

    // Disabling: the feed closes with 1008; the token is refused from then on.
    let mut socket = feed(&url, &vera).await;
    let mut other = feed(&url, &tom).await;
    accounts.set_disabled("vera", true, &cli).await.unwrap();
    let closed = closed_with(&mut socket).await.expect("the disabled user's feed closes");
    assert_eq!(closed, (1008, "logged out or access revoked".to_owned()));
    assert!(common::ws_connect(&url, &vera).await.is_err(), "refused at the upgrade");

    // Revoking Tom's token closes his; nobody else's.
    let token_id = accounts.tokens(Some("tom")).await.unwrap()[0].id;
    accounts.revoke_token(token_id, None, &cli).await.unwrap();
    assert_eq!(closed_with(&mut other).await.map(|c| c.0), Some(1008));

    // A session's feed ends with its logout.
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let answer = http
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"username": "admin", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    let cookie = answer.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut by_session = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut r = url.as_str().into_client_request().unwrap();
        r.headers_mut().insert("cookie", cookie.parse().unwrap());
        tokio_tungstenite::connect_async(r).await.unwrap().0
    };
    let mut admin_token = feed(&url, &common::admin_token(&t.db).await).await;
    http.post(format!("{base}/api/v1/auth/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(closed_with(&mut by_session).await.map(|c| c.0), Some(1008));
    assert_eq!(closed_with(&mut admin_token).await, None, "the admin's token still works");
    shutdown.cancel();
    t.cleanup().await;
}

/// An API token is held to its rate: past it, 429 with `Retry-After`; other
/// tokens are not held up.
#[tokio::test]
async fn a_token_over_its_rate_waits() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |c| c.auth.token_requests_per_minute = 3).await;
    let busy = common::token_for(&t.db, "ann", Role::Viewer).await;
    let other = common::token_for(&t.db, "bob", Role::Viewer).await;
    for _ in 0..3 {
        assert_eq!(send(&state, request("GET", "/api/v1/symbols", Some(&busy), None)).await.status, StatusCode::OK);
    }
    let held = send(&state, request("GET", "/api/v1/symbols", Some(&busy), None)).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{}", held.body);
    let wait: u64 = held.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(send(&state, request("GET", "/api/v1/symbols", Some(&other), None)).await.status, StatusCode::OK);
    t.cleanup().await;
}

/// Pages of a configured origin may call the API with a token (CORS), never
/// with the session cookie; other origins get no CORS answer and cannot
/// change state.
#[tokio::test]
async fn cors_lets_listed_origins_use_tokens_only() {
    let t = common::TestDb::sqlite().await;
    let state = state_on(&t, |c| c.http.cors_origins = vec!["https://app.example.com".into()]).await;
    let token = common::token_for(&t.db, "tom", Role::Trader).await;
    let from = |origin: &str, mut r: Request<Body>| {
        r.headers_mut().insert(header::ORIGIN, origin.parse().unwrap());
        r
    };
    let mut preflight = from("https://app.example.com", request("OPTIONS", "/api/v1/lab/runs", None, None));
    preflight.headers_mut().insert(header::ACCESS_CONTROL_REQUEST_METHOD, "POST".parse().unwrap());
    let answer = send(&state, preflight).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    assert!(answer.headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("authorization"));
    assert!(answer.headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());

    let run = serde_json::json!({"name": "x", "input": {"symbol": "AAPL", "timeframe": "1d", "strategy": "sma_cross"}});
    let post = |origin: &str, auth: Option<&str>| {
        from(origin, request("POST", "/api/v1/lab/runs", auth, Some(&run.to_string())))
    };
    let answer = send(&state, post("https://app.example.com", Some(&token))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    // The cookie does not travel cross-origin; a request that brings one is refused.
    let with_cookie = with_cookie(post("https://app.example.com", Some(&token)), "finstage_session=x");
    assert_eq!(send(&state, with_cookie).await.status, StatusCode::FORBIDDEN);
    // Another origin: refused, and no CORS answer.
    let answer = send(&state, post("https://evil.example.net", Some(&token))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let read =
        send(&state, from("https://evil.example.net", request("GET", "/api/v1/symbols", Some(&token), None))).await;
    assert!(read.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    t.cleanup().await;
}

/// A session ends after `auth.session_idle_secs` without a request, and
/// `auth.session_max_secs` after its login however busy it is.
#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_limit() {
    let t = common::TestDb::sqlite().await;
    common::token_for(&t.db, "ann", Role::Viewer).await;
    let me = |state: &AppState, cookie: &str| {
        let (state, cookie) = (state.clone(), cookie.to_owned());
        async move { send(&state, with_cookie(request("GET", "/api/v1/auth/me", None, None), &cookie)).await.status }
    };

    let idle = state_on(&t, |c| c.auth.session_idle_secs = 2).await;
    let cookie = session_cookie(&login(&idle, "ann", PASSWORD, None).await).unwrap();
    assert_eq!(me(&idle, &cookie).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(me(&idle, &cookie).await, StatusCode::UNAUTHORIZED, "idle for longer than 2 s");

    // Login times are kept in whole seconds: 4 s, with 2.5 s of requests.
    let capped = state_on(&t, |c| c.auth.session_max_secs = 4).await;
    let cookie = session_cookie(&login(&capped, "ann", PASSWORD, None).await).unwrap();
    // Busy all along: a request every half second.
    for _ in 0..5 {
        assert_eq!(me(&capped, &cookie).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    assert_eq!(me(&capped, &cookie).await, StatusCode::UNAUTHORIZED, "over 4 s after its login");
    t.cleanup().await;
}
