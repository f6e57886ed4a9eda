//! The router, exercised in-process with `tower::ServiceExt::oneshot`.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use server::config::{Config, SimConfig};
use server::state::AppState;
use server::symbol::Symbol;

async fn state_with_history(t: &common::TestDb) -> AppState {
    let config = Config {
        database_url: t.url.clone(),
        watchlist: vec![Symbol::parse("AAPL").unwrap(), Symbol::parse("MSFT").unwrap()],
        sim: SimConfig { history_days: 60, ..SimConfig::default() },
        ..Config::default()
    };
    common::state_with_history(t, config).await
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A probe's request: no credentials (the probes need none, and answer
/// with the database gone).
async fn probe(state: &AppState, uri: &str) -> (StatusCode, String) {
    send(state, Request::get(uri).header("x-test-anonymous", "1").body(Body::empty()).unwrap()).await
}

/// One request through the router. Bounded in time so that a stalled response
/// fails the test naming the request instead of hanging the suite.
async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let what = format!("{} {}", request.method(), request.uri());
    let exchange = async {
        let response = common::as_admin(state, request).await;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete within 30 s"))
}

#[tokio::test]
async fn health_and_readiness() {
    let t = common::TestDb::sqlite().await;
    let state = state_with_history(&t).await;
    assert_eq!(probe(&state, "/healthz").await, (StatusCode::OK, r#"{"status":"ok"}"#.into()));
    assert_eq!(probe(&state, "/readyz").await, (StatusCode::OK, r#"{"status":"ready"}"#.into()));
    // Start-up work running in the background is named until it finishes.
    let catching_up = state.recovery.begin("telegram_alert_catch_up");
    let backfill = state.recovery.begin("startup_backfill");
    let ready = |body: String| serde_json::from_str::<serde_json::Value>(&body).unwrap();
    let (status, body) = probe(&state, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let expected =
        serde_json::json!({"status": "ready", "recovering": ["telegram_alert_catch_up", "startup_backfill"]});
    assert_eq!(ready(body), expected);
    drop(catching_up);
    let expected = serde_json::json!({"status": "ready", "recovering": ["startup_backfill"]});
    assert_eq!(ready(probe(&state, "/readyz").await.1), expected);
    drop(backfill);
    assert_eq!(probe(&state, "/readyz").await, (StatusCode::OK, r#"{"status":"ready"}"#.into()));
    // With the database gone, the process is alive but not ready.
    tokio::time::timeout(std::time::Duration::from_secs(30), t.db.close()).await.expect("pool close hung");
    assert_eq!(probe(&state, "/healthz").await.0, StatusCode::OK);
    let (status, body) = probe(&state, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("database"), "{body}");
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_the_watchlist() {
    let t = common::TestDb::sqlite().await;
    let state = state_with_history(&t).await;
    let (status, html) = get(&state, "/").await;
    assert_eq!(status, StatusCode::OK);
    for needle in ["data-symbol=\"AAPL\"", "data-symbol=\"MSFT\"", "Apple", "Simulated data", "/pkg/finstage.js"] {
        assert!(html.contains(needle), "dashboard HTML lacks {needle}");
    }
    t.cleanup().await;
}

#[tokio::test]
async fn symbol_page_arrives_with_the_chart_legend_studies_and_text_alternative() {
    let t = common::TestDb::sqlite().await;
    let state = state_with_history(&t).await;
    let (status, html) = get(&state, "/symbol/aapl").await;
    assert_eq!(status, StatusCode::OK);
    // The drawing is made in the browser; the page arrives with everything
    // else: the chart's place, the latest bar's legend with the default
    // SMA(20) computed on the server (60 days hold ~42 weekdays, more than
    // 20), and the text alternative.
    assert!(html.contains("data-testid=\"chart\"") && html.contains("data-state=\"loading\""), "no chart");
    assert!(html.contains("data-testid=\"legend-close\""), "no legend");
    assert!(html.contains("data-study=\"SMA(20)\""), "no SMA(20) value in the legend");
    assert!(html.contains("Latest 1d bar "), "no text alternative");
    let bars = state_bars(&state, "AAPL").await;
    assert!(html.contains(&format!("Showing {n} of {n} bars", n = bars)), "the summary counts the bars held");

    // Studies come from the URL; one the catalog refuses is named with why.
    let (_, html) = get(&state, "/symbol/AAPL?ind=RSI(14)%3BNOPE(1)").await;
    assert!(html.contains("data-study=\"RSI(14)\""), "no RSI(14) in the legend");
    assert!(!html.contains("data-study=\"SMA(20)\""), "the URL's list replaces the default");
    assert!(html.contains("NOPE(1): unknown"), "the refused study is not named");
    // `bars` asks for fewer (or more) bars at first.
    let (_, html) = get(&state, "/symbol/AAPL?bars=5").await;
    assert!(html.contains("Showing 5 of 5 bars"), "bars=5 not honoured");

    // The chart blocks the response, so an unknown symbol's page is a 404.
    let (status, missing) = get(&state, "/symbol/ZZZZ").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("not found: symbol ZZZZ"), "{missing}");
    t.cleanup().await;
}

#[tokio::test]
async fn server_functions_refuse_bad_input_with_a_message() {
    let t = common::TestDb::sqlite().await;
    let state = state_with_history(&t).await;
    let form = |body: &str| {
        Request::post("/api/chart")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let (status, body) = send(&state, form("symbol=AAPL&timeframe=2d")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("unknown timeframe `2d`"), "{body}");
    let (_, body) = send(&state, form("symbol=AAPL&limit=0")).await;
    assert!(body.contains("limit must be between"), "{body}");
    let (_, body) = send(&state, form("symbol=bad%20symbol")).await;
    assert!(body.contains("may only contain"), "{body}");
    let (status, body) = send(&state, form("symbol=MSFT&timeframe=1d&limit=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let chart: app::model::Chart = serde_json::from_str(&body).unwrap();
    assert_eq!(chart.bars.len(), 5);
    assert!(chart.simulated);

    // Scrolling back: the page before the chart's first bar ends where it starts.
    let older = |body: &str| {
        Request::post("/api/older_bars")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let first = chart.bars[0].ts;
    let (status, body) = send(&state, older(&format!("symbol=msft&timeframe=1d&before={first}&limit=3"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Vec<quant::Bar> = serde_json::from_str(&body).unwrap();
    assert_eq!(page.len(), 3);
    assert!(page.windows(2).all(|w| w[0].ts < w[1].ts) && page[2].ts < first);
    let (status, body) = send(&state, older("symbol=MSFT&timeframe=1d&before=0&limit=3")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));
    let (status, body) = send(&state, older("symbol=MSFT&timeframe=1d&before=0&limit=10001")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = send(&state, older("symbol=MSFT&timeframe=9x&before=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = send(&state, older("symbol=ZZZZ&timeframe=1d&before=0")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = send(&state, older("symbol=MSFT&timeframe=1d&before=soon")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    t.cleanup().await;
}

/// How many daily bars of `symbol` are stored.
async fn state_bars(state: &AppState, symbol: &str) -> usize {
    server::storage::bars::latest(&state.db, symbol, quant::Timeframe::D1, 10_000).await.unwrap().len()
}

/// Runs the live pipeline over the stored daily history of AAPL, and stores a headline.
async fn with_signals_and_news(state: &AppState) {
    let pipeline = server::pipeline::Pipeline::load(state.db.clone(), state.bus.clone()).await.unwrap();
    let bars = server::storage::bars::latest(&state.db, "AAPL", quant::Timeframe::D1, 1_000).await.unwrap();
    // Cold start on the first bar, then every later bar as if live.
    for bar in bars {
        pipeline.on_closed_bar("AAPL", quant::Timeframe::D1, bar).await.unwrap();
    }
    let item = server::storage::news::NewsItem {
        dedupe_key: "https://example.com/aapl-news".into(),
        source: "yahoo".into(),
        url: Some("https://example.com/aapl-news".into()),
        title: "Apple ships a thing".into(),
        summary: Some("A short summary.".into()),
        published_at: 1_700_000_000,
        fetched_at: 1_700_000_100,
        symbols: vec!["AAPL".into()],
    };
    server::storage::news::insert_many(&state.db, &[item]).await.unwrap();
}

#[tokio::test]
async fn signals_settings_and_news_pages_are_server_rendered() {
    let t = common::TestDb::sqlite().await;
    let state = state_with_history(&t).await;
    with_signals_and_news(&state).await;
    let stored = server::storage::signals::list(&state.db, &Default::default(), 10_000).await.unwrap();
    assert!(!stored.is_empty(), "60 days of bars give some signals");

    let (status, html) = get(&state, "/signals").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("data-testid=\"signal-row\"").count(), stored.len().min(200), "one row per signal");
    assert!(html.contains(&format!("data-id=\"{}\"", stored[0].event.id)), "newest first");
    assert!(html.contains(&format!("id=\"signal-{}\"", stored[0].event.id)), "the chart's links land on the row");

    // Filters in the URL narrow the list.
    let one = &stored[0].event.strategy;
    let (_, filtered) = get(&state, &format!("/signals?strategy={one}")).await;
    let expected = stored.iter().filter(|s| &s.event.strategy == one).count();
    assert_eq!(filtered.matches("data-testid=\"signal-row\"").count(), expected);

    // The symbol page lists the daily signals (the browser marks them on the
    // chart) and the news.
    let (_, page) = get(&state, "/symbol/AAPL").await;
    let listed = page.split("data-testid=\"symbol-signals\"").nth(1).unwrap_or_default();
    assert!(listed.matches("data-testid=\"signal-row\"").count() >= 1, "no signals listed");
    assert!(page.contains("Apple ships a thing") && page.contains("A short summary."), "no news");

    let (status, settings) = get(&state, "/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(settings.contains("data-strategy=\"sma_cross\"") && settings.contains("name=\"min_trades\""));

    // The settings form's server function: bad input refused, good input stored.
    let form = |body: &str| {
        Request::post("/api/strategy")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let (status, body) = send(&state, form("name=sma_cross&enabled=on&min_win_rate=abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("min_win_rate: `abc` is not a number"), "{body}");
    let (_, body) = send(&state, form("name=sma_cross&min_win_rate=2")).await;
    assert!(body.contains("win rate 0 to 1"), "{body}");
    let (status, body) = send(&state, form("name=nope&enabled=on")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("NotFound") && body.contains("strategy nope"), "{body}");
    assert!(server::storage::signals::settings(&state.db).await.unwrap().is_empty(), "nothing stored");
    let (status, body) = send(&state, form("name=sma_cross&min_trades=12&min_sharpe=")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = server::storage::signals::settings(&state.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].enabled, stored[0].min_trades, stored[0].min_sharpe), (false, Some(12), None));
    t.cleanup().await;
}

#[tokio::test]
async fn telegram_settings_change_through_server_functions() {
    let t = common::TestDb::sqlite().await;
    let state = state_with_history(&t).await;
    let change = |body: &str| {
        Request::post("/api/telegram_chat")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    // Refused: not a number, a chat that is not linked, an unknown strategy or operation.
    for (body, status, text) in [
        ("chat_id=abc&op=link", StatusCode::BAD_REQUEST, "is not a number"),
        ("chat_id=5&op=subscribe&symbol=AAPL", StatusCode::NOT_FOUND, "chat 5 is not linked"),
        ("chat_id=5&op=dance", StatusCode::BAD_REQUEST, "unknown operation"),
    ] {
        let (got, reply) = send(&state, change(body)).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply.contains(text), "{body}: {reply}");
    }
    assert_eq!(send(&state, change("chat_id=5&op=link")).await.0, StatusCode::OK);
    for (body, text) in [
        ("chat_id=5&op=subscribe&symbol=AAPL&strategy=nope", "unknown strategy"),
        ("chat_id=5&op=subscribe&symbol=no%20good", "may only contain"),
        ("chat_id=5&op=quiet&value=25:00-07:00", "is not a window"),
    ] {
        let (got, reply) = send(&state, change(body)).await;
        assert_eq!(got, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert!(reply.to_lowercase().contains(text), "{body}: {reply}");
    }
    for body in [
        "chat_id=5&op=subscribe&symbol=aapl&strategy=",
        "chat_id=5&op=subscribe&symbol=MSFT&strategy=sma_cross",
        "chat_id=5&op=quiet&value=22:00-07:00",
        "chat_id=5&op=mute",
    ] {
        let (got, reply) = send(&state, change(body)).await;
        assert_eq!(got, StatusCode::OK, "{body}: {reply}");
    }
    let subs = server::storage::telegram::subscriptions(&state.db, 5).await.unwrap();
    let subs: Vec<(String, Option<String>)> = subs.into_iter().map(|s| (s.symbol, s.strategy)).collect();
    assert_eq!(subs, vec![("AAPL".into(), None), ("MSFT".into(), Some("sma_cross".into()))]);
    let (_, page) = get(&state, "/settings").await;
    assert!(
        page.contains("data-chat=\"5\"") && page.contains("22:00-07:00") && page.contains("muted"),
        "settings page"
    );
    assert_eq!(page.matches("data-testid=\"subscription\"").count(), 2);
    assert_eq!(send(&state, change("chat_id=5&op=unsubscribe&symbol=AAPL&strategy=")).await.0, StatusCode::OK);
    assert_eq!(server::storage::telegram::subscriptions(&state.db, 5).await.unwrap().len(), 1);
    t.cleanup().await;
}
