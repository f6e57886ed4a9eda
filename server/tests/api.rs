//! The REST API under `/api/v1`, through the router, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use quant::{Bar, Timeframe};
use serde_json::{Value, json};
use server::config::{Config, Feed};
use server::state::AppState;
use server::storage::bars::{self, NewBar};
use tokio_util::sync::CancellationToken;

async fn call(state: &AppState, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
    let exchange = async {
        let response = common::as_admin(state, request).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), exchange).await.expect("request did not complete")
}

/// Runs `body` on a fresh SQLite database, then on a fresh PostgreSQL one.
async fn on_both<F, Fut>(body: F)
where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for t in [common::TestDb::sqlite().await, common::TestDb::postgres().await] {
        // No feed runs in these tests, and none is configured: the API may
        // then remove any symbol (see `a_symbol_the_feed_follows_cannot_be_removed`).
        let config = Config { database_url: t.url.clone(), feed: Feed::None, ..Config::default() };
        body(AppState::new(config, t.db.clone(), CancellationToken::new())).await;
        t.cleanup().await;
    }
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

/// Removing a symbol the live feed follows used to stop the whole simulated
/// feed (every tick failed on the missing row). It is refused now, with a
/// message saying what to do, and nothing changes.
#[tokio::test]
async fn a_symbol_the_feed_follows_cannot_be_removed() {
    let t = common::TestDb::sqlite().await;
    let config = Config { database_url: t.url.clone(), feed: Feed::Sim, ..Config::default() };
    assert!(config.watchlist.iter().any(|s| s.as_str() == "TSLA"));
    let s = AppState::new(config, t.db.clone(), CancellationToken::new());
    let (status, _) = call(&s, "POST", "/api/v1/symbols", Some(r#"{"symbol":"TSLA"}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(&s, "DELETE", "/api/v1/symbols/tsla", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("TSLA is on the watchlist"), "{body}");
    assert!(message(&body).contains("sim feed"), "{body}");
    assert_eq!(call(&s, "GET", "/api/v1/symbols", None).await.1[0]["symbol"], "TSLA", "still there");
    // A symbol off the watchlist goes as before.
    call(&s, "POST", "/api/v1/symbols", Some(r#"{"symbol":"ZZZ"}"#)).await;
    assert_eq!(call(&s, "DELETE", "/api/v1/symbols/ZZZ", None).await.0, StatusCode::NO_CONTENT);
    t.cleanup().await;
}

#[tokio::test]
async fn symbols_can_be_added_listed_and_removed() {
    on_both(|s| async move {
        let (status, body) = call(&s, "POST", "/api/v1/symbols", Some(r#"{"symbol":"aapl","name":"Apple"}"#)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body, json!({"symbol": "AAPL", "name": "Apple", "simulated": false}));
        let (status, body) = call(&s, "POST", "/api/v1/symbols", Some(r#"{"symbol":"AAPL"}"#)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(message(&body).contains("already exists"));

        // Bad input is refused with a message and changes nothing.
        for (payload, expected) in [
            (r#"{"symbol":"bad symbol"}"#, "may only contain"),
            (r#"{"symbol":""}"#, "1 to 20 characters"),
            (r#"{"symbol":".."}"#, "a letter or a digit"),
            (r#"{"symbol":"MSFT","colour":"red"}"#, "unknown field"),
            // PostgreSQL refuses NUL in text: this was a 500 there.
            (r#"{"symbol":"MSFT","name":"a\u0000b"}"#, "control characters"),
            (r#"{"symbol":"#, "EOF"),
        ] {
            let (status, body) = call(&s, "POST", "/api/v1/symbols", Some(payload)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{payload}");
            assert!(message(&body).contains(expected), "{payload}: {body}");
        }
        let (_, list) = call(&s, "GET", "/api/v1/symbols", None).await;
        assert_eq!(list, json!([{"symbol": "AAPL", "name": "Apple", "simulated": false}]));

        assert_eq!(call(&s, "DELETE", "/api/v1/symbols/AAPL", None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(call(&s, "DELETE", "/api/v1/symbols/AAPL", None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&s, "DELETE", "/api/v1/symbols/a%20b", None).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(call(&s, "GET", "/api/v1/symbols", None).await.1, json!([]));
    })
    .await;
}

#[tokio::test]
async fn bars_are_paged_by_time_and_bad_ranges_are_refused() {
    on_both(|s| async move {
        call(&s, "POST", "/api/v1/symbols", Some(r#"{"symbol":"MSFT"}"#)).await;
        let day = 86_400;
        let series: Vec<Bar> = (0..25)
            .map(|i| Bar {
                ts: 1_704_067_200 + i * day,
                open: 10.0,
                high: 11.0,
                low: 9.0,
                close: 10.0 + i as f64,
                volume: 5.0,
            })
            .collect();
        let rows: Vec<NewBar<'_>> =
            series.iter().map(|&bar| NewBar { symbol: "MSFT", timeframe: Timeframe::D1, bar }).collect();
        bars::upsert(&s.db, &rows).await.unwrap();

        // Walk the pages: 10 + 10 + 5.
        let mut seen = Vec::new();
        let mut uri = "/api/v1/symbols/msft/bars?timeframe=1d&from=2024-01-01&to=2024-12-31&limit=10".to_owned();
        loop {
            let (status, page) = call(&s, "GET", &uri, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(page["bars"].as_array().unwrap().iter().map(|b| b["ts"].as_i64().unwrap()));
            match page["next_after"].as_i64() {
                Some(after) => uri = format!("/api/v1/symbols/MSFT/bars?from=2024-01-01&limit=10&after={after}"),
                None => break,
            }
        }
        assert_eq!(seen, series.iter().map(|b| b.ts).collect::<Vec<_>>());

        // A range inside the series.
        let (_, page) =
            call(&s, "GET", "/api/v1/symbols/MSFT/bars?from=2024-01-03&to=2024-01-05T00:00:00Z", None).await;
        assert_eq!(page["bars"].as_array().unwrap().len(), 3);
        assert_eq!(page["bars"][0]["close"], json!(12.0));

        // A range that ends before it begins holds no bars (as one starting in the future does).
        for query in ["?from=2024-02-01&to=2024-01-01", "?from=2999-01-01"] {
            let (status, page) = call(&s, "GET", &format!("/api/v1/symbols/MSFT/bars{query}"), None).await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            assert_eq!(page["bars"], json!([]), "{query}");
            assert_eq!(page["next_after"], Value::Null, "{query}");
        }

        for (query, status, expected) in [
            ("?limit=0", StatusCode::BAD_REQUEST, "limit must be between 1 and 5000"),
            ("?limit=5001", StatusCode::BAD_REQUEST, "limit must be between 1 and 5000"),
            ("?timeframe=2d", StatusCode::BAD_REQUEST, "unknown timeframe `2d`"),
            ("?from=yesterday", StatusCode::BAD_REQUEST, "from: `yesterday`"),
            ("?limit=many", StatusCode::BAD_REQUEST, "limit"),
        ] {
            let (got, body) = call(&s, "GET", &format!("/api/v1/symbols/MSFT/bars{query}"), None).await;
            assert_eq!(got, status, "{query}: {body}");
            assert!(message(&body).contains(expected), "{query}: {body}");
        }
        // An indicator's window is bounded: a huge period would allocate it whole.
        let (status, body) = call(&s, "GET", "/api/v1/symbols/MSFT/indicators?ind=STOCH(999999999)", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message(&body).contains("parameters must be within -100000..=100000"), "{body}");
        assert_eq!(call(&s, "GET", "/api/v1/symbols/NOPE/bars", None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&s, "GET", "/api/v1/symbols/no%20pe/bars", None).await.0, StatusCode::BAD_REQUEST);

        // Removing the symbol removes its bars.
        call(&s, "DELETE", "/api/v1/symbols/MSFT", None).await;
        assert_eq!(bars::count(&s.db, "MSFT", Timeframe::D1).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn quotes_for_many_symbols_in_one_request() {
    on_both(|s| async move {
        for symbol in ["AAPL", "TSLA"] {
            call(&s, "POST", "/api/v1/symbols", Some(&format!(r#"{{"symbol":"{symbol}"}}"#))).await;
        }
        let bar = |ts, close| Bar { ts, open: close, high: close, low: close, close, volume: 1.0 };
        let rows = [
            NewBar { symbol: "AAPL", timeframe: Timeframe::D1, bar: bar(0, 100.0) },
            NewBar { symbol: "AAPL", timeframe: Timeframe::D1, bar: bar(86_400, 110.0) },
        ];
        bars::upsert(&s.db, &rows).await.unwrap();
        let (status, body) = call(&s, "GET", "/api/v1/quotes?symbols=aapl,TSLA,ZZZ,AAPL", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"quotes": [{"symbol": "AAPL", "price": 110.0, "prev_close": 100.0, "ts": 86_400, "simulated": false}],
                   "missing": ["TSLA", "ZZZ"]})
        );
        let too_many = (0..501).map(|i| format!("S{i}")).collect::<Vec<_>>().join(",");
        // Repeats count towards the limit (they are answered once).
        let repeated = ["AAPL"; 501].join(",");
        for query in
            ["symbols=", "symbols=bad%20one", &format!("symbols={too_many}"), &format!("symbols={repeated}"), "nothing=1"]
        {
            let (status, _) = call(&s, "GET", &format!("/api/v1/quotes?{query}"), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        }
    })
    .await;
}

/// The operations an OpenAPI path item may hold.
const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let t = common::TestDb::sqlite().await;
    let state = AppState::new(
        Config { database_url: t.url.clone(), ..Config::default() },
        t.db.clone(),
        CancellationToken::new(),
    );
    let (status, doc) = call(&state, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    // The routes, from the router itself: their paths as the router was built
    // with them, and each path's methods from the `Allow` header of the 405
    // that a method no route has gets.
    let mut routed = BTreeSet::new();
    for path in server::http::api_paths() {
        if path == "/api/v1/openapi.json" {
            continue; // the document itself
        }
        // Any value matches a path parameter: the method is refused before a handler runs.
        let uri: Vec<&str> = path.split('/').map(|part| if part.starts_with('{') { "x" } else { part }).collect();
        let request = Request::builder().method("PROBE").uri(uri.join("/")).body(Body::empty()).unwrap();
        let response = common::as_admin(&state, request).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        for method in allow.split(',').map(str::trim).filter(|m| *m != "HEAD") {
            routed.insert((path.clone(), method.to_ascii_lowercase()));
        }
    }
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().unwrap().keys();
            methods.filter(|m| HTTP_METHODS.contains(&m.as_str())).map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
    assert!(routed.len() >= 14, "{routed:?}");
    assert!(doc["components"]["schemas"].get("BarsPage").is_some());
    assert_eq!(call(&state, "GET", "/api/v1/runs", None).await, (StatusCode::OK, json!([])));
    assert_eq!(call(&state, "GET", "/api/v1/runs?limit=0", None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&state, "GET", "/api/v1/runs?schedule=a%00b", None).await.0, StatusCode::BAD_REQUEST);

    // Provider health: both remotes, circuits closed, nothing called yet.
    let (status, providers) = call(&state, "GET", "/api/v1/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = providers.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["yahoo", "investing"]);
    assert_eq!(providers[0]["health"]["state"], "closed");
    assert_eq!(providers[0]["health"]["successes"], 0);
    t.cleanup().await;
}
