//! The HTTP edge, through the router (and, where the socket matters, through
//! the real listener): names and origins refused before any route, security
//! headers, limits, and bad input answered 4xx, never 5xx.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rand::{Rng, SeedableRng};
use server::config::{Config, HttpConfig, SimConfig};
use server::state::AppState;
use server::symbol::Symbol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

async fn state(t: &common::TestDb) -> AppState {
    let config = Config {
        database_url: t.url.clone(),
        watchlist: vec![Symbol::parse("AAPL").unwrap()],
        sim: SimConfig { history_days: 30, ..SimConfig::default() },
        http: HttpConfig { body_limit_bytes: 64 * 1_024, ..HttpConfig::default() },
        ..Config::default()
    };
    common::state_with_history(t, config).await
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let what = format!("{} {}", request.method(), request.uri());
    let exchange = async {
        let response = common::as_admin(state, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete within 30 s"))
}

fn form(path: &str) -> axum::http::request::Builder {
    Request::post(path).header("host", "127.0.0.1:3000").header("content-type", "application/x-www-form-urlencoded")
}

#[tokio::test]
async fn foreign_host_names_are_misdirected_and_own_names_served() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let get = |host: &'static str| Request::get("/healthz").header("host", host).body(Body::empty()).unwrap();
    for host in ["127.0.0.1:3000", "localhost:3000", "[::1]:3000"] {
        assert_eq!(send(&state, get(host)).await.status, StatusCode::OK, "{host}");
    }
    let refused = send(&state, get("evil.example")).await;
    assert_eq!(refused.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(refused.body.contains("does not answer to `evil.example`"), "{}", refused.body);
    assert_eq!(refused.headers.get("x-content-type-options").unwrap(), "nosniff", "refusals carry the headers too");
    // A rebinding page's WebSocket is refused the same way.
    let ws = Request::get("/ws")
        .header("host", "evil.example:3000")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, ws).await.status, StatusCode::MISDIRECTED_REQUEST);
    t.cleanup().await;
}

#[tokio::test]
async fn cross_site_state_changes_and_upgrades_are_refused_and_change_nothing() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let body = "chat_id=31337&op=link";
    let evil = form("/api/telegram_chat").header("origin", "https://evil.example").body(Body::from(body)).unwrap();
    let refused = send(&state, evil).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("cross-site request refused"), "{}", refused.body);
    let strategy = "name=sma_cross&enabled=on";
    let evil = form("/api/strategy").header("sec-fetch-site", "cross-site").body(Body::from(strategy)).unwrap();
    assert_eq!(send(&state, evil).await.status, StatusCode::FORBIDDEN);
    let rest = Request::delete("/api/v1/symbols/AAPL")
        .header("host", "127.0.0.1:3000")
        .header("origin", "http://127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, rest).await.status, StatusCode::FORBIDDEN, "another local port is another site");
    assert!(server::storage::telegram::list_chats(&state.db).await.unwrap().is_empty(), "no chat linked");
    assert!(server::storage::signals::settings(&state.db).await.unwrap().is_empty(), "no setting stored");
    assert!(server::storage::symbols::get(&state.db, "AAPL").await.unwrap().is_some(), "symbol kept");

    let ws = |origin: &'static str| {
        Request::get("/ws")
            .header("host", "127.0.0.1:3000")
            .header("origin", origin)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&state, ws("https://evil.example")).await.status, StatusCode::FORBIDDEN);
    // The page's own origin reaches the handshake (which needs a real
    // connection to complete, so oneshot stops short of 101).
    assert_ne!(send(&state, ws("http://127.0.0.1:3000")).await.status, StatusCode::FORBIDDEN);

    // The dashboard's own page, and clients that are not browsers, may.
    let own = form("/api/telegram_chat").header("origin", "http://127.0.0.1:3000").body(Body::from(body)).unwrap();
    assert_eq!(send(&state, own).await.status, StatusCode::OK);
    let script = form("/api/telegram_chat").body(Body::from("chat_id=42&op=link")).unwrap();
    assert_eq!(send(&state, script).await.status, StatusCode::OK);
    assert_eq!(server::storage::telegram::list_chats(&state.db).await.unwrap().len(), 2);
    t.cleanup().await;
}

#[tokio::test]
async fn every_answer_carries_security_headers_and_pages_a_nonce_policy() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let page = send(&state, Request::get("/").header("host", "127.0.0.1:3000").body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    let header =
        |a: &Answer, name: &str| a.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let policy = header(&page, "content-security-policy");
    let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).unwrap_or_default();
    assert!(nonce.len() >= 16, "page policy has a nonce: {policy}");
    assert!(page.body.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the policy's nonce");
    assert!(!page.body.contains("<script>"), "every inline script has a nonce");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let again = send(&state, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_ne!(header(&again, "content-security-policy"), policy, "a fresh nonce per page");

    let api = send(&state, Request::get("/api/v1/symbols").body(Body::empty()).unwrap()).await;
    for answer in [&page, &api] {
        assert_eq!(header(answer, "x-content-type-options"), "nosniff");
        assert_eq!(header(answer, "x-frame-options"), "DENY");
        assert_eq!(header(answer, "referrer-policy"), "same-origin");
        assert!(header(answer, "content-security-policy").contains("frame-ancestors 'none'"));
    }
    assert!(!header(&api, "content-security-policy").contains("nonce"), "no inline script outside pages");
    t.cleanup().await;
}

#[tokio::test]
async fn large_answers_are_compressed_and_small_ones_not() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let get = |uri: &str| Request::get(uri).header("accept-encoding", "gzip, br").body(Body::empty()).unwrap();
    let bars = send(&state, get("/api/v1/symbols/AAPL/bars?limit=500")).await;
    assert_eq!(bars.status, StatusCode::OK);
    assert_eq!(bars.headers.get("content-encoding").unwrap(), "br");
    let health = send(&state, get("/healthz")).await;
    assert!(health.headers.get("content-encoding").is_none(), "a 15-byte answer is sent as it is");
    t.cleanup().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_change_nothing() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let big = format!("{{\"symbol\": \"ZZZ\", \"name\": \"{}\"}}", "x".repeat(200_000));
    let request = Request::post("/api/v1/symbols")
        .header("content-type", "application/json")
        .body(Body::from(big.clone()))
        .unwrap();
    let answer = send(&state, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.body);
    // Without a length up front (chunked), the limit still holds.
    let stream = futures::stream::iter(
        big.into_bytes().chunks(8_192).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let request = Request::post("/api/v1/symbols")
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let answer = send(&state, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.body);
    let form = "name=sma_cross&enabled=on&min_trades=".to_owned() + &"9".repeat(100_000);
    // As browsers and curl send it: with its length up front.
    let request = Request::post("/api/strategy").header("content-length", form.len()).body(Body::from(form)).unwrap();
    let answer = send(&state, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.body);
    assert!(server::storage::symbols::get(&state.db, "ZZZ").await.unwrap().is_none());
    assert!(server::storage::signals::settings(&state.db).await.unwrap().is_empty());
    t.cleanup().await;
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_short_message_never_a_5xx() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let post = |path: &str, body: &str| {
        Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let missing = send(&state, post("/api/strategy", "x=1")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    assert!(missing.body.contains("BadRequest"), "{}", missing.body);

    let long = "A".repeat(100_000);
    let chart = send(&state, post("/api/chart", &format!("symbol={long}"))).await;
    assert_eq!(chart.status, StatusCode::BAD_REQUEST);
    assert!(chart.body.len() < 300, "the message quotes a prefix, not 100 KB: {} bytes", chart.body.len());
    let rest =
        send(&state, Request::get(format!("/api/v1/symbols/{}/bars", &long[..20_000])).body(Body::empty()).unwrap())
            .await;
    assert_eq!(rest.status, StatusCode::BAD_REQUEST);
    assert!(rest.body.len() < 300, "{} bytes", rest.body.len());
    let from = send(
        &state,
        Request::get(format!("/api/v1/symbols/AAPL/bars?from={}", &long[..8_000])).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(from.status, StatusCode::BAD_REQUEST);
    assert!(from.body.len() < 300, "{} bytes", from.body.len());
    let tf = send(&state, post("/api/chart", &format!("symbol=AAPL&timeframe={long}"))).await;
    assert_eq!(tf.status, StatusCode::BAD_REQUEST);
    assert!(tf.body.len() < 400, "{} bytes", tf.body.len());

    for path in ["/pkg/..", "/pkg/%2e%2e", "/pkg/%2e%2e/Cargo.toml", "/pkg/../Cargo.toml", "/..%2f..%2fetc/passwd"] {
        let answer = send(&state, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.body);
    }
    t.cleanup().await;
}

/// 2,000 malformed requests to every server function: random bodies, wrong
/// content types, invalid encodings, wrong methods. None may get a 5xx.
#[tokio::test]
async fn malformed_requests_to_server_functions_never_get_a_5xx() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let endpoints = [
        "watchlist",
        "chart",
        "signals",
        "news",
        "strategies",
        "strategy",
        "telegram",
        "telegram_code",
        "telegram_chat",
    ];
    let fields = ["symbol", "timeframe", "limit", "name", "enabled", "min_trades", "chat_id", "op", "query", "value"];
    let types = ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data", ""];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut failures = Vec::new();
    for i in 0..2_000 {
        let endpoint = endpoints[rng.random_range(0..endpoints.len())];
        let body: Vec<u8> = match rng.random_range(0..5) {
            0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
            1 => {
                let field = fields[rng.random_range(0..fields.len())];
                let value: String =
                    (0..rng.random_range(0..12)).map(|_| rng.random_range(b' '..=b'~') as char).collect();
                format!("{field}={value}&{field}[]=%zz&=").into_bytes()
            }
            2 => format!("{{\"symbol\": {}, \"limit\": \"x\"}}", rng.random::<i64>()).into_bytes(),
            3 => "query[symbol]=AAPL&query[passed_only]=maybe&limit=-1".as_bytes().to_vec(),
            _ => {
                format!("symbol=%{:02X}%&timeframe=%E2%82&limit=99999999999999999999", rng.random::<u8>()).into_bytes()
            }
        };
        let method = if rng.random_range(0..10) == 0 { "PUT" } else { "POST" };
        let mut request = Request::builder().method(method).uri(format!("/api/{endpoint}"));
        let content_type = types[rng.random_range(0..types.len())];
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let answer = send(&state, request.body(Body::from(body.clone())).unwrap()).await;
        if answer.status.is_server_error() {
            failures.push(format!(
                "#{i} {method} /api/{endpoint} ({content_type}) {:?} -> {}",
                String::from_utf8_lossy(&body),
                answer.status
            ));
        }
    }
    assert!(failures.is_empty(), "{} of 2,000 got a 5xx:\n{}", failures.len(), failures.join("\n"));
    t.cleanup().await;
}

/// A client that sends half a request's headers is disconnected after the
/// read timeout instead of holding the socket.
#[tokio::test]
async fn a_client_that_stalls_mid_headers_is_disconnected() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let mut config = (*state.config).clone();
    config.http.read_timeout_secs = 1;
    let state = state.with(|s| s.config = std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let (router, edge, requests) =
        (server::http::router(state.clone()), state.config.http.clone(), state.metrics.requests().clone());
    let serving = {
        let stop = stop.clone();
        tokio::spawn(async move {
            server::http::listen::serve(listener, router, &edge, requests, stop.cancelled_owned()).await
        })
    };
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open 10 s later");
    // A complete request on a new connection is still served.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), ok.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(15), serving).await.unwrap().unwrap();
    t.cleanup().await;
}

/// Pages are rendered at most about once a second per URL; every answer still
/// gets its own nonce, and a state change shows on the next load.
#[tokio::test]
async fn cached_pages_get_fresh_nonces_and_state_changes_show_at_once() {
    let t = common::TestDb::sqlite().await;
    let state = state(&t).await;
    let router = server::http::router(state.clone());
    let token = common::admin_header(&state).await;
    let get = |uri: &str| {
        Request::get(uri).header("host", "127.0.0.1:3000").header("authorization", &token).body(Body::empty()).unwrap()
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        let response = router.clone().oneshot(get("/settings")).await.unwrap();
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        let nonce = policy.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).unwrap().to_owned();
        assert!(body.contains(&format!("nonce=\"{nonce}\"")), "the body carries the header's nonce");
        seen.push((nonce, body));
    }
    assert!(seen[0].0 != seen[1].0 && seen[1].0 != seen[2].0 && seen[0].0 != seen[2].0, "one nonce per answer");
    assert_eq!(seen[1].1.replace(&seen[1].0, "N"), seen[2].1.replace(&seen[2].0, "N"), "the same page, from the cache");
    assert!(!seen[0].1.contains("value=\"17\""));

    let change = Request::post("/api/strategy")
        .header("host", "127.0.0.1:3000")
        .header("authorization", &token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("name=sma_cross&enabled=on&min_trades=17"))
        .unwrap();
    assert_eq!(router.clone().oneshot(change).await.unwrap().status(), StatusCode::OK);
    let response = router.clone().oneshot(get("/settings")).await.unwrap();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(body.contains("value=\"17\""), "the saved minimum is on the next load");
    t.cleanup().await;
}
