//! The backtest lab's server side: saved runs in storage, the REST endpoints
//! (backtests, sweeps, walk-forward, packed bars, saved runs), the lab page's
//! server functions and the CLI on stored bars, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use quant::{Bar, Timeframe};
use serde_json::{Value, json};
use server::config::{Config, Feed};
use server::state::AppState;
use server::storage::bars::{self, NewBar};
use server::storage::lab_runs::{self, NewLabRun};
use server::storage::{Db, symbols};
use server::symbol::Symbol;
use tokio_util::sync::CancellationToken;

/// 2024-01-01, a Monday.
const START: i64 = 1_704_067_200;
const DAY: i64 = 86_400;

/// `n` daily bars that swing up and down with a drift: every strategy trades on them.
fn swinging(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            let close = 100.0 + 12.0 * (x / 9.0).sin() + 5.0 * (x / 3.7).cos() + x * 0.03;
            let open = close - 0.8 * (x / 2.3).sin();
            Bar {
                ts: START + i as i64 * DAY,
                open,
                high: open.max(close) + 1.0,
                low: open.min(close) - 1.0,
                close,
                volume: 1_000.0 + 100.0 * (x / 5.0).sin(),
            }
        })
        .collect()
}

async fn store(db: &Db, symbol: &str, series: &[Bar]) {
    symbols::upsert(db, &Symbol::parse(symbol).unwrap(), None, false).await.unwrap();
    let rows: Vec<NewBar<'_>> = series.iter().map(|&bar| NewBar { symbol, timeframe: Timeframe::D1, bar }).collect();
    for chunk in rows.chunks(1_000) {
        bars::upsert(db, chunk).await.unwrap();
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: bytes::Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
    }
}

async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let what = format!("{} {}", request.method(), request.uri());
    let exchange = async {
        let response = common::as_admin(state, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, bytes }
    };
    tokio::time::timeout(Duration::from_secs(60), exchange).await.unwrap_or_else(|_| panic!("{what} timed out"))
}

async fn call(state: &AppState, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(state, request.body(body).unwrap()).await
}

/// Runs `body` over a state on a fresh SQLite database, then on a fresh PostgreSQL one.
async fn on_both<F, Fut>(body: F)
where
    F: Fn(AppState, Config) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for t in [common::TestDb::sqlite().await, common::TestDb::postgres().await] {
        let config = Config { database_url: t.url.clone(), feed: Feed::None, ..Config::default() };
        body(AppState::new(config.clone(), t.db.clone(), CancellationToken::new()), config).await;
        t.cleanup().await;
    }
}

/// Saved runs belong to their user: another user neither lists, reads nor
/// deletes them; rows from before accounts (no user) are the admins'.
async fn saved_runs_are_stored_listed_and_deleted_by_their_owner_only(db: &Db) {
    use app::auth::Owner;
    common::token_for(db, "ann", server::accounts::Role::Trader).await;
    common::token_for(db, "bob", server::accounts::Role::Trader).await;
    let users = server::accounts::Accounts::new(db.clone()).users().await.unwrap();
    let id = |name: &str| users.iter().find(|u| u.name == name).unwrap().id;
    let (ann_id, bob_id) = (id("ann"), id("bob"));
    let (ann, bob) = (Owner { user_id: Some(ann_id), admin: false }, Owner { user_id: Some(bob_id), admin: false });
    let admin = Owner { user_id: Some(bob_id), admin: true };

    assert!(lab_runs::list(db, ann, 10).await.unwrap().is_empty());
    let run = |name| NewLabRun {
        name,
        symbol: "AAPL",
        timeframe: "1d",
        strategy: "sma_cross",
        input: r#"{"symbol":"AAPL","strategy":"sma_cross"}"#,
        metrics: Some(r#"{"sharpe":1.5}"#),
        equity: None,
    };
    let first = lab_runs::insert(db, &run("first"), Some(ann_id), 1_000).await.unwrap();
    let second = lab_runs::insert(db, &run("second"), Some(ann_id), 2_000).await.unwrap();
    let bobs = lab_runs::insert(db, &run("bob's"), Some(bob_id), 3_000).await.unwrap();
    let legacy = lab_runs::insert(db, &run("from before accounts"), None, 500).await.unwrap();
    assert!(second.id > first.id);
    assert_eq!(
        (first.name.as_str(), first.created_at, first.metrics.as_deref()),
        ("first", 1_000, Some(r#"{"sharpe":1.5}"#))
    );
    let names = |rows: Vec<server::storage::lab_runs::LabRunRow>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(lab_runs::list(db, ann, 10).await.unwrap()), ["second", "first"], "newest first, own only");
    assert_eq!(lab_runs::list(db, ann, 1).await.unwrap().len(), 1);
    assert_eq!(names(lab_runs::list(db, bob, 10).await.unwrap()), ["bob's"]);
    assert_eq!(names(lab_runs::list(db, admin, 10).await.unwrap()), ["from before accounts", "bob's"]);
    assert!(lab_runs::list(db, Owner::NOBODY, 10).await.unwrap().is_empty());

    // Bob can neither read nor delete Ann's run; she can.
    assert_eq!(lab_runs::get(db, bob, first.id).await.unwrap(), None);
    assert!(!lab_runs::delete(db, bob, first.id).await.unwrap());
    assert!(!lab_runs::delete(db, ann, bobs.id).await.unwrap());
    assert!(!lab_runs::delete(db, ann, legacy.id).await.unwrap());
    assert_eq!(lab_runs::get(db, ann, first.id).await.unwrap(), Some(first.clone()));
    assert!(lab_runs::delete(db, ann, first.id).await.unwrap());
    assert!(!lab_runs::delete(db, ann, first.id).await.unwrap());
    assert_eq!(lab_runs::get(db, ann, first.id).await.unwrap(), None);
    assert!(lab_runs::delete(db, admin, legacy.id).await.unwrap(), "an admin tidies rows of nobody");
}

on_both_backends!(saved_runs_are_stored_listed_and_deleted_by_their_owner_only);

/// `finstage backtest --symbol ... --json` over the state's database.
async fn cli_json(config: &Config, args: &[&str]) -> Value {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: server::analysis::BacktestArgs,
    }
    let args = Wrapper::parse_from([&["finstage"][..], args].concat()).args;
    let mut out = Vec::new();
    server::commands::backtest(config, &args, &mut out).await.unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[tokio::test]
async fn a_backtest_over_stored_bars_answers_what_the_cli_prints() {
    on_both(|s, config| async move {
        store(&s.db, "GOOG", &swinging(400)).await;
        let request = json!({"symbol": "goog", "timeframe": "1d", "from": "2024-02-01", "to": "2024-12-31",
            "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "cash": 10000, "commission": 0.002,
            "mode": "long-short"});
        let answer = call(&s, "POST", "/api/v1/backtests", Some(request)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.message());
        let api = answer.json();
        let trades = api["trades"].as_array().unwrap();
        assert!(trades.len() > 5, "{}", trades.len());
        assert!(trades.iter().any(|t| t["side"] == "short"), "long-short trades both ways");
        // 2024-02-01 to 2024-12-31: 335 daily bars.
        assert_eq!(api["equity"].as_array().unwrap().len(), 335);
        assert_eq!(api["equity"][0]["time"], "2024-02-01T00:00:00+00:00");
        assert_eq!(api["fingerprint"]["metrics"].as_str().unwrap().len(), 16);

        let cli = cli_json(
            &config,
            &[
                "--symbol",
                "GOOG",
                "--timeframe",
                "1d",
                "--from",
                "2024-02-01",
                "--to",
                "2024-12-31",
                "--strategy",
                "sma_cross",
                "--param",
                "fast=5",
                "--param",
                "slow=20",
                "--cash",
                "10000",
                "--commission",
                "0.002",
                "--mode",
                "long-short",
                "--json",
            ],
        )
        .await;
        assert_eq!(cli, api, "the API and the CLI give the same report");

        // The same bars in the engine directly: the fingerprint is the engine's.
        let series: Vec<Bar> =
            swinging(400).into_iter().filter(|b| (START + 31 * DAY..=START + 365 * DAY).contains(&b.ts)).collect();
        let settings: quant::backtest::Settings = serde_json::from_value(json!({"strategy": "sma_cross",
            "params": {"fast": 5, "slow": 20}, "commission": 0.002, "mode": "long-short"}))
        .unwrap();
        let resolved = settings.resolve().unwrap();
        let report = server::lab::run(&series, &resolved).unwrap();
        assert_eq!(api["fingerprint"], serde_json::to_value(quant::backtest::fingerprint(&report)).unwrap());
    })
    .await;
}

#[tokio::test]
async fn bad_lab_input_gets_a_4xx_naming_the_field() {
    on_both(|s, _| async move {
        store(&s.db, "GOOG", &swinging(120)).await;
        let base = || json!({"symbol": "GOOG", "strategy": "sma_cross"});
        let with = |pairs: &[(&str, Value)]| {
            let mut v = base();
            for (k, value) in pairs {
                v[*k] = value.clone();
            }
            v
        };
        let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
            ("/api/v1/backtests", with(&[("cassh", json!(1))]), StatusCode::BAD_REQUEST, "unknown field `cassh`"),
            (
                "/api/v1/backtests",
                with(&[("params", json!({"fast": 0}))]),
                StatusCode::BAD_REQUEST,
                "fast must be within",
            ),
            (
                "/api/v1/backtests",
                with(&[("params", json!({"fast": "x"}))]),
                StatusCode::BAD_REQUEST,
                "fast must be a whole number",
            ),
            (
                "/api/v1/backtests",
                with(&[("strategy", json!("nope"))]),
                StatusCode::BAD_REQUEST,
                "unknown strategy `nope`",
            ),
            ("/api/v1/backtests", with(&[("cash", json!("lots"))]), StatusCode::BAD_REQUEST, "cash"),
            ("/api/v1/backtests", with(&[("mode", json!("sideways"))]), StatusCode::BAD_REQUEST, "sideways"),
            ("/api/v1/backtests", with(&[("symbol", json!("NOPE"))]), StatusCode::NOT_FOUND, "symbol NOPE not found"),
            (
                "/api/v1/backtests",
                with(&[("from", json!("2024-03-01")), ("to", json!("2024-02-01"))]),
                StatusCode::BAD_REQUEST,
                "from (2024-03-01T00:00:00+00:00) must not be after to",
            ),
            (
                "/api/v1/backtests",
                with(&[("from", json!("2030-01-01"))]),
                StatusCode::UNPROCESSABLE_ENTITY,
                "no 1d bars of GOOG",
            ),
            (
                "/api/v1/backtests",
                with(&[("grid", json!({"fast": [5]}))]),
                StatusCode::BAD_REQUEST,
                "unknown field `grid`",
            ),
            ("/api/v1/backtests", json!([1, 2]), StatusCode::BAD_REQUEST, "the body must be a JSON object"),
            ("/api/v1/sweeps", base(), StatusCode::BAD_REQUEST, "grid is required"),
            (
                "/api/v1/sweeps",
                with(&[("grid", json!({"fastest": [5]}))]),
                StatusCode::BAD_REQUEST,
                "grid: unknown parameter `fastest`",
            ),
            (
                "/api/v1/sweeps",
                with(&[("grid", json!({"fast": [0, 5]}))]),
                StatusCode::BAD_REQUEST,
                "grid.fast: fast must be within",
            ),
            (
                "/api/v1/sweeps",
                with(&[("grid", json!({"fast": {"from": 1, "to": 1000}, "slow": {"from": 2, "to": 1000}}))]),
                StatusCode::BAD_REQUEST,
                "grid: more than 100000 combinations",
            ),
            (
                "/api/v1/sweeps",
                with(&[("grid", json!({"fast": [5]})), ("metric", json!("luck"))]),
                StatusCode::BAD_REQUEST,
                "metric: unknown metric `luck`",
            ),
            (
                "/api/v1/walk-forward",
                with(&[("grid", json!({"fast": [5]})), ("train", json!(100)), ("test", json!(50))]),
                StatusCode::BAD_REQUEST,
                "train + test (100 + 50) must fit in the 120 bars",
            ),
            (
                "/api/v1/walk-forward",
                with(&[("grid", json!({"fast": [5]})), ("test", json!(50))]),
                StatusCode::BAD_REQUEST,
                "train is required",
            ),
        ];
        for (uri, body, status, expected) in cases {
            let answer = call(&s, "POST", uri, Some(body.clone())).await;
            assert_eq!(answer.status, status, "{uri} {body}: {}", answer.message());
            assert!(answer.message().contains(expected), "{uri} {body}: {}", answer.message());
        }
        let malformed = send(
            &s,
            Request::post("/api/v1/backtests")
                .header("content-type", "application/json")
                .body(Body::from("{"))
                .unwrap(),
        )
        .await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        for uri in ["/api/v1/sweeps/nope", "/api/v1/walk-forward/nope"] {
            assert_eq!(call(&s, "GET", uri, None).await.status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(call(&s, "DELETE", uri, None).await.status, StatusCode::NOT_FOUND, "{uri}");
        }
    })
    .await;
}

/// Polls a task until `done` says so; fails after a minute.
async fn poll(s: &AppState, uri: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..6_000 {
        let answer = call(s, "GET", uri, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.message());
        let status = answer.json();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{uri} never got there");
}

#[tokio::test]
async fn a_sweep_reports_progress_ranks_its_runs_and_can_be_cancelled() {
    on_both(|s, _| async move {
        store(&s.db, "GOOG", &swinging(300)).await;
        let small = json!({"symbol": "GOOG", "strategy": "sma_cross", "params": {"slow": 30},
            "grid": {"fast": {"from": 2, "to": 10, "step": 2}, "slow": [20, 30]}, "metric": "total_return"});
        let answer = call(&s, "POST", "/api/v1/sweeps", Some(small)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.message());
        let started = answer.json();
        let location = answer.headers["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/v1/sweeps/{}", started["id"].as_str().unwrap()));
        assert_eq!((started["kind"].as_str(), started["total"].as_u64()), (Some("sweep"), Some(10)));
        let finished = poll(&s, &location, |v| v["state"] != "running").await;
        assert_eq!(finished["state"], "done", "{finished}");
        assert_eq!(finished["done"], 10);
        let result = &finished["result"];
        assert_eq!((result["total"].as_u64(), result["skipped"].as_u64()), (Some(10), Some(0)));
        let scores: Vec<f64> =
            result["runs"].as_array().unwrap().iter().map(|r| r["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
        assert_eq!(result["runs"][0]["metrics"]["total_return"].as_f64(), Some(scores[0]));
        let top = call(&s, "GET", &format!("{location}?limit=3"), None).await.json();
        assert_eq!(top["result"]["runs"].as_array().unwrap().len(), 3);
        assert_eq!(call(&s, "GET", &format!("{location}?limit=0"), None).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            call(&s, "GET", &location.replace("sweeps", "walk-forward"), None).await.status,
            StatusCode::NOT_FOUND
        );

        // A big grid: cancelled once it has started, it stops within one backtest.
        let big = json!({"symbol": "GOOG", "strategy": "sma_cross",
            "grid": {"fast": {"from": 1, "to": 150}, "slow": {"from": 2, "to": 300}}});
        let answer = call(&s, "POST", "/api/v1/sweeps", Some(big)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.message());
        let location = answer.headers["location"].to_str().unwrap().to_owned();
        let total = answer.json()["total"].as_u64().unwrap();
        assert_eq!(total, 150 * 299);
        let running = poll(&s, &location, |v| v["done"].as_u64().unwrap() > 0).await;
        assert_eq!(running["state"], "running", "{running}");
        assert!(running.get("result").is_none());
        let cancelling = call(&s, "DELETE", &location, None).await;
        assert_eq!(cancelling.status, StatusCode::OK);
        let cancelled = poll(&s, &location, |v| v["state"] != "running").await;
        assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
        let done = cancelled["done"].as_u64().unwrap();
        assert!(done < total, "{done} of {total}");
        let result = &cancelled["result"];
        assert_eq!(result["cancelled"], true);
        assert!(result["runs"].as_array().unwrap().len() as u64 <= done);
    })
    .await;
}

#[tokio::test]
async fn walk_forward_returns_its_windows() {
    on_both(|s, _| async move {
        store(&s.db, "GOOG", &swinging(300)).await;
        let request = json!({"symbol": "GOOG", "strategy": "sma_cross", "grid": {"fast": [3, 5, 8], "slow": [15, 25]},
            "metric": "total_return", "train": 120, "test": 60, "anchored": true});
        let answer = call(&s, "POST", "/api/v1/walk-forward", Some(request)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.message());
        let location = answer.headers["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/api/v1/walk-forward/"), "{location}");
        // 300 bars: test windows start at 120, 180 and 240; 6 combinations per
        // window and for the hindsight sweep.
        assert_eq!(answer.json()["total"], 6 * 4);
        let finished = poll(&s, &location, |v| v["state"] != "running").await;
        assert_eq!(finished["state"], "done", "{finished}");
        let result = &finished["result"];
        let windows = result["windows"].as_array().unwrap();
        assert_eq!(windows.len(), 3);
        assert_eq!(windows[0]["train"], json!([START, START + 119 * DAY]));
        assert_eq!(windows[2]["train"][0], json!(START), "anchored");
        assert_eq!(windows[1]["test"], json!([START + 180 * DAY, START + 239 * DAY]));
        assert!(windows.iter().all(|w| w["params"]["fast"].is_i64() && w["params"]["slow"].is_i64()));
        assert_eq!(result["oos_equity"].as_array().unwrap().len(), 180);
        assert!(result["efficiency"].is_number() || result["efficiency"].is_null());
        assert_eq!(finished["done"], finished["total"]);
    })
    .await;
}

#[tokio::test]
async fn packed_bars_round_trip_and_are_compressed() {
    on_both(|s, _| async move {
        // 2024-01-01 to 2026-09-26: every bar has closed.
        let series = swinging(1_000);
        store(&s.db, "GOOG", &series).await;
        // A bar that has not ended yet (today's) is left out: the lab sees closed bars only.
        let today = chrono::Utc::now().timestamp() / DAY * DAY;
        let open = Bar { ts: today, ..series[0] };
        bars::upsert(&s.db, &[NewBar { symbol: "GOOG", timeframe: Timeframe::D1, bar: open }]).await.unwrap();
        let plain = call(&s, "GET", "/api/v1/symbols/goog/bars.fsb?timeframe=1d", None).await;
        assert_eq!(plain.status, StatusCode::OK);
        assert_eq!(plain.headers["content-type"], "application/octet-stream");
        assert_eq!(plain.headers["cache-control"], "no-cache");
        assert!(plain.headers.get("content-encoding").is_none());
        assert_eq!(quant::pack::unpack(&plain.bytes).unwrap(), series, "bit for bit");

        let range = call(&s, "GET", "/api/v1/symbols/GOOG/bars.fsb?from=2024-01-03&to=2024-01-05", None).await;
        assert_eq!(quant::pack::unpack(&range.bytes).unwrap(), series[2..5].to_vec());
        for query in ["from=2040-01-01", "from=2024-02-01&to=2024-01-01"] {
            let empty = call(&s, "GET", &format!("/api/v1/symbols/GOOG/bars.fsb?{query}"), None).await;
            assert_eq!(
                (empty.status, quant::pack::unpack(&empty.bytes).unwrap().len()),
                (StatusCode::OK, 0),
                "{query}"
            );
        }

        let gzip = send(
            &s,
            Request::get("/api/v1/symbols/GOOG/bars.fsb")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(gzip.status, StatusCode::OK);
        assert_eq!(gzip.headers["content-encoding"], "gzip");
        assert_eq!(&gzip.bytes[..2], &[0x1f, 0x8b], "a gzip stream");
        assert!(gzip.bytes.len() < plain.bytes.len(), "{} of {}", gzip.bytes.len(), plain.bytes.len());

        // Revalidation: the same ETag answers 304 until the bars change.
        let etag = plain.headers["etag"].to_str().unwrap().to_owned();
        let again = send(
            &s,
            Request::get("/api/v1/symbols/GOOG/bars.fsb?timeframe=1d")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        let mut changed = series[0];
        changed.close += 1.0;
        bars::upsert(&s.db, &[NewBar { symbol: "GOOG", timeframe: Timeframe::D1, bar: changed }]).await.unwrap();
        let after = send(
            &s,
            Request::get("/api/v1/symbols/GOOG/bars.fsb?timeframe=1d")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(after.status, StatusCode::OK);
        assert_ne!(after.headers["etag"].to_str().unwrap(), etag);

        for (uri, status) in [
            ("/api/v1/symbols/NOPE/bars.fsb", StatusCode::NOT_FOUND),
            ("/api/v1/symbols/GOOG/bars.fsb?timeframe=2d", StatusCode::BAD_REQUEST),
            ("/api/v1/symbols/GOOG/bars.fsb?from=soon", StatusCode::BAD_REQUEST),
        ] {
            assert_eq!(call(&s, "GET", uri, None).await.status, status, "{uri}");
        }
    })
    .await;
}

#[tokio::test]
async fn saved_runs_over_rest() {
    on_both(|s, _| async move {
        let input =
            json!({"symbol": "GOOG", "timeframe": "1d", "strategy": "sma_cross", "params": {"fast": 10, "slow": 20}});
        let answer = call(
            &s,
            "POST",
            "/api/v1/lab/runs",
            Some(json!({"name": " first ", "input": input, "metrics": {"sharpe": 1.25}, "equity": [10000, 10100.5]})),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.message());
        let run = answer.json();
        let id = run["id"].as_i64().unwrap();
        assert_eq!(answer.headers["location"], format!("/api/v1/lab/runs/{id}").as_str());
        assert_eq!(
            (run["name"].as_str(), run["symbol"].as_str(), run["strategy"].as_str()),
            (Some("first"), Some("GOOG"), Some("sma_cross"))
        );
        assert_eq!(run["input"], input);
        assert_eq!(run["equity"], json!([10000, 10100.5]));
        call(&s, "POST", "/api/v1/lab/runs", Some(json!({"name": "second", "input": input}))).await;

        let list = call(&s, "GET", "/api/v1/lab/runs", None).await.json();
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["second", "first"]);
        assert_eq!(list[1]["metrics"], json!({"sharpe": 1.25}));
        assert!(list[0].get("input").is_none(), "lists leave the input out");
        assert_eq!(call(&s, "GET", &format!("/api/v1/lab/runs/{id}"), None).await.json(), run);

        for (body, expected) in [
            (json!({"name": "", "input": input}), "name must be 1 to 100 characters"),
            (json!({"name": "x".repeat(101), "input": input}), "name must be 1 to 100 characters"),
            (json!({"name": "a\u{0}b", "input": input}), "control characters"),
            (
                json!({"name": "x", "input": {"symbol": "GOOG", "strategy": "sma_cross", "params": {"fast": 0}}}),
                "input: fast must be within",
            ),
            (
                json!({"name": "x", "input": {"symbol": "GOOG", "strategy": "sma_cross", "cassh": 1}}),
                "input: unknown field `cassh`",
            ),
            (json!({"name": "x", "input": "GOOG"}), "input must be a JSON object"),
            (json!({"name": "x", "input": input, "metrics": [1]}), "metrics must be a JSON object"),
            (json!({"name": "x", "input": input, "colour": "red"}), "unknown field `colour`"),
        ] {
            let answer = call(&s, "POST", "/api/v1/lab/runs", Some(body.clone())).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
            assert!(answer.message().contains(expected), "{body}: {}", answer.message());
        }

        assert_eq!(call(&s, "DELETE", &format!("/api/v1/lab/runs/{id}"), None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(call(&s, "DELETE", &format!("/api/v1/lab/runs/{id}"), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(call(&s, "GET", &format!("/api/v1/lab/runs/{id}"), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(call(&s, "GET", "/api/v1/lab/runs/abc", None).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(call(&s, "GET", "/api/v1/lab/runs?limit=0", None).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(call(&s, "GET", "/api/v1/lab/runs", None).await.json().as_array().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn strategies_carry_their_parameters_metadata() {
    on_both(|s, _| async move {
        let list = call(&s, "GET", "/api/v1/strategies", None).await.json();
        let sma = list.as_array().unwrap().iter().find(|e| e["name"] == "sma_cross").unwrap();
        assert_eq!(
            sma["params"][0],
            json!({"name": "fast", "type": "int", "default": 10, "min": 1, "max": 2000, "doc": "Period of the fast SMA"})
        );
        assert_eq!(sma["rules"], json!([{"rule": "below", "low": "fast", "high": "slow", "strict": true}]));
    })
    .await;
}

/// A lab server function called as the page calls it: JSON in, JSON out.
async fn server_fn(state: &AppState, endpoint: &str, args: Value) -> Answer {
    let request = Request::post(format!("/api/{endpoint}"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(Body::from(args.to_string()))
        .unwrap();
    send(state, request).await
}

#[tokio::test]
async fn the_lab_pages_server_functions_save_runs_and_check_backtests() {
    on_both(|s, _| async move {
        let series = swinging(250);
        store(&s.db, "GOOG", &series).await;
        let input = json!({"symbol": "GOOG", "strategy": "sma_cross", "params": {"fast": 4, "slow": 12},
            "commission": 0.001, "from": "2024-01-15"})
        .to_string();

        // The page's fingerprint matches: no report comes back.
        let settings: quant::backtest::Settings = serde_json::from_value(json!({"strategy": "sma_cross",
            "params": {"fast": 4, "slow": 12}, "commission": 0.001}))
        .unwrap();
        let local = server::lab::run(&series[14..], &settings.resolve().unwrap()).unwrap();
        let ours = quant::backtest::fingerprint(&local);
        let answer = server_fn(&s, "lab_check", json!({"input": input, "fingerprint": ours})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.bytes));
        let reply: app::lab_api::CheckReply = serde_json::from_slice(&answer.bytes).unwrap();
        assert_eq!((reply.server.clone(), reply.report.is_none(), reply.bars), (ours.clone(), true, 236));

        // A page whose engine differed gets the server's report, to find the first difference.
        let mut off = local.clone();
        off.equity[100] += 0.01;
        let theirs = quant::backtest::fingerprint(&off);
        let answer = server_fn(&s, "lab_check", json!({"input": input, "fingerprint": theirs})).await;
        let reply: app::lab_api::CheckReply = serde_json::from_slice(&answer.bytes).unwrap();
        let report = reply.report.unwrap();
        assert_eq!(quant::backtest::fingerprint(&report), ours);
        assert!(quant::backtest::first_difference(&off, &report).unwrap().starts_with("equity[100]: "));

        for (args, status, expected) in [
            (json!({"input": "{", "fingerprint": ours}), StatusCode::BAD_REQUEST, "input is not JSON"),
            (
                json!({"input": json!({"symbol": "GOOG", "strategy": "sma_cross", "params": {"fast": 0}}).to_string(), "fingerprint": ours}),
                StatusCode::BAD_REQUEST,
                "fast must be within",
            ),
            (json!({"input": json!({"symbol": "NOPE", "strategy": "sma_cross"}).to_string(), "fingerprint": ours}), StatusCode::NOT_FOUND, "NOPE"),
            (json!({"input": input}), StatusCode::BAD_REQUEST, "fingerprint"),
        ] {
            let answer = server_fn(&s, "lab_check", args.clone()).await;
            let body = String::from_utf8_lossy(&answer.bytes).into_owned();
            assert_eq!(answer.status, status, "{args}: {body}");
            assert!(body.contains(expected), "{args}: {body}");
        }

        // Saved runs: save, list, open, delete.
        let answer = server_fn(&s, "lab_save", json!({"name": "four twelve", "input": input, "metrics": "{\"sharpe\": 0.5}"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.bytes));
        let saved: app::lab_api::LabRunSummary = serde_json::from_slice(&answer.bytes).unwrap();
        assert_eq!((saved.name.as_str(), saved.symbol.as_str(), saved.metrics.as_str()), ("four twelve", "GOOG", r#"{"sharpe":0.5}"#));
        let answer = server_fn(&s, "lab_save", json!({"name": "bare", "input": input, "metrics": ""})).await;
        let bare: app::lab_api::LabRunSummary = serde_json::from_slice(&answer.bytes).unwrap();
        assert_eq!(bare.metrics, "null");
        let answer = server_fn(&s, "lab_save", json!({"name": "", "input": input, "metrics": ""})).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&answer.bytes).contains("name must be 1 to 100 characters"));

        let list: Vec<app::lab_api::LabRunSummary> =
            serde_json::from_slice(&server_fn(&s, "lab_runs", json!({})).await.bytes).unwrap();
        assert_eq!(list.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["bare", "four twelve"]);
        let run: app::lab_api::LabRun =
            serde_json::from_slice(&server_fn(&s, "lab_run", json!({"id": saved.id})).await.bytes).unwrap();
        assert_eq!(run.summary, saved);
        assert_eq!(serde_json::from_str::<Value>(&run.input).unwrap(), serde_json::from_str::<Value>(&input).unwrap());
        assert_eq!(server_fn(&s, "lab_run", json!({"id": 999_999})).await.status, StatusCode::NOT_FOUND);
        assert_eq!(server_fn(&s, "lab_delete", json!({"id": saved.id})).await.bytes, "true");
        assert_eq!(server_fn(&s, "lab_delete", json!({"id": saved.id})).await.bytes, "false");
        assert_eq!(server_fn(&s, "lab_run", json!({"id": "x"})).await.status, StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn sweep_and_walk_forward_commands_run_on_stored_bars() {
    use clap::Parser;
    #[derive(Parser)]
    struct Sweep {
        #[command(flatten)]
        args: server::analysis::SweepArgs,
    }
    #[derive(Parser)]
    struct Walk {
        #[command(flatten)]
        args: server::analysis::WalkForwardArgs,
    }
    on_both(|s, config| async move {
        store(&s.db, "GOOG", &swinging(300)).await;
        let args = Sweep::parse_from([
            "x",
            "--symbol",
            "GOOG",
            "--from",
            "2024-02-01",
            "--grid",
            "fast=2..8:2",
            "--grid",
            "slow=20,30",
            "--json",
        ])
        .args;
        let mut out = Vec::new();
        server::commands::sweep(&config, &args, &mut out).await.unwrap();
        let json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!((json["total"].as_u64(), json["runs"].as_array().unwrap().len()), (Some(8), 8));

        // The API's sweep over the same bars ranks the same runs.
        let request = json!({"symbol": "GOOG", "from": "2024-02-01", "strategy": "sma_cross",
            "grid": {"fast": {"from": 2, "to": 8, "step": 2}, "slow": [20, 30]}});
        let answer = call(&s, "POST", "/api/v1/sweeps", Some(request)).await;
        let location = answer.headers["location"].to_str().unwrap().to_owned();
        let done = poll(&s, &location, |v| v["state"] != "running").await;
        assert_eq!(done["result"], json);

        let args = Walk::parse_from([
            "x",
            "--symbol",
            "GOOG",
            "--grid",
            "fast=2..8:2",
            "--train",
            "100",
            "--test",
            "50",
            "--metric",
            "total_return",
        ])
        .args;
        let mut out = Vec::new();
        server::commands::walk_forward(&config, &args, &mut out).await.unwrap();
        let table = String::from_utf8(out).unwrap();
        assert_eq!(table.lines().filter(|l| l.starts_with("2024-")).count(), 4, "{table}");

        let bad =
            Walk::parse_from(["x", "--symbol", "NOPE", "--grid", "fast=2..8", "--train", "100", "--test", "50"]).args;
        let err = server::commands::walk_forward(&config, &bad, &mut Vec::new()).await.unwrap_err();
        assert!(err.to_string().contains("symbol NOPE not found"), "{err}");
        let bad = Sweep::parse_from(["x", "--symbol", "GOOG", "--grid", "fast=0..3"]).args;
        let err = server::commands::sweep(&config, &bad, &mut Vec::new()).await.unwrap_err();
        assert!(err.to_string().contains("grid.fast: fast must be within"), "{err}");
    })
    .await;
}
