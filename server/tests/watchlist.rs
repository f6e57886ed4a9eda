//! The stored watchlist: seeded once from the configuration, edited through the
//! dashboard's server functions, and followed by the simulated feed and the
//! schedules without a restart. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use quant::Timeframe;
use server::config::{Config, SimConfig};
use server::scheduler::{Cadence, Schedule, Task};
use server::state::AppState;
use server::storage::Db;
use server::storage::watchlist::{self, Watchlist};
use server::symbol::Symbol;
use tokio_util::sync::CancellationToken;

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn names(symbols: &[Symbol]) -> Vec<&str> {
    symbols.iter().map(Symbol::as_str).collect()
}

/// A configured symbol is put on the watchlist once: removed by the user, it
/// stays removed at the next start; one new to the configuration is added.
async fn seeding_happens_once_per_symbol(db: &Db) {
    let configured = [sym("AAPL"), sym("MSFT")];
    assert_eq!(watchlist::seed(db, &configured, true, 1).await.unwrap(), 2);
    assert_eq!(names(&watchlist::list(db).await.unwrap()), ["AAPL", "MSFT"]);
    assert!(watchlist::is_on(db, &configured, &sym("AAPL")).await.unwrap());

    let handle = Watchlist::new(db.clone());
    assert!(handle.remove(&sym("AAPL")).await.unwrap());
    assert!(!handle.remove(&sym("AAPL")).await.unwrap(), "removing twice changes nothing");
    assert!(!watchlist::is_on(db, &configured, &sym("AAPL")).await.unwrap());
    // The next start: AAPL was seeded before, so it is not added again.
    assert_eq!(watchlist::seed(db, &configured, true, 2).await.unwrap(), 0);
    assert_eq!(names(&watchlist::list(db).await.unwrap()), ["MSFT"]);
    // A symbol written into the configuration later is added, at the end.
    let configured = [sym("AAPL"), sym("MSFT"), sym("TSLA")];
    assert!(watchlist::is_on(db, &configured, &sym("TSLA")).await.unwrap(), "will be seeded");
    assert_eq!(watchlist::seed(db, &configured, true, 3).await.unwrap(), 1);
    assert_eq!(names(&watchlist::list(db).await.unwrap()), ["MSFT", "TSLA"]);
    // Re-adding is idempotent and puts the symbol at the end.
    assert!(handle.add(&sym("AAPL"), None, true).await.unwrap());
    assert!(!handle.add(&sym("AAPL"), None, true).await.unwrap());
    assert_eq!(names(&watchlist::list(db).await.unwrap()), ["MSFT", "TSLA", "AAPL"]);
    // Removing the symbol itself (the REST API) takes it off the list too.
    assert!(server::storage::symbols::delete(db, "TSLA").await.unwrap());
    assert_eq!(names(&watchlist::list(db).await.unwrap()), ["MSFT", "AAPL"]);
}

/// A schedule over the watchlist runs over the symbols stored when each run starts.
async fn schedules_follow_the_watchlist(db: &Db) {
    let handle = Watchlist::new(db.clone());
    watchlist::seed(db, &[sym("AAPL")], true, 1).await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let task: Task = {
        let seen = seen.clone();
        Arc::new(move |symbol: Symbol| {
            seen.lock().unwrap().push(symbol.to_string());
            Box::pin(async { Ok(()) })
        })
    };
    let schedule = Schedule {
        name: "follow".into(),
        cadence: Cadence::Every(Duration::from_secs(3600)),
        concurrency: 2,
        symbols: handle.clone().into(),
        task,
    };
    server::scheduler::run_once(db, &schedule).await.unwrap();
    handle.add(&sym("AMD"), None, true).await.unwrap();
    server::scheduler::run_once(db, &schedule).await.unwrap();
    handle.remove(&sym("AAPL")).await.unwrap();
    server::scheduler::run_once(db, &schedule).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["AAPL", "AAPL", "AMD", "AMD"]);
}

/// The simulated feed, running, starts on a symbol added to the watchlist
/// (history first, then live quotes and bars) and stops on a removed one.
async fn the_feed_follows_the_watchlist(db: &Db) {
    let config = Config::default();
    let cache = server::cache::MarketCache::new(&config.cache);
    let bus = server::bus::Bus::new(64);
    let ingest = server::ingest::Ingest::new(db.clone(), cache).publishing(bus.clone());
    let sim = SimConfig { interval: Timeframe::S1, history_days: 30, ..SimConfig::default() };
    let handle = Watchlist::new(db.clone());
    watchlist::seed(db, &[sym("AAPL")], true, 1).await.unwrap();
    server::feed::backfill(&ingest, &[sym("AAPL")], &sim, chrono::Utc::now()).await.unwrap();
    let shutdown = CancellationToken::new();
    let feed = tokio::spawn(server::feed::run_simulated(ingest, handle.clone(), sim, shutdown.clone()));
    wait_for("a live AAPL quote", || bus.latest_quote("AAPL").is_some()).await;
    assert!(bus.latest_quote("AMD").is_none());
    assert!(handle.add(&sym("AMD"), None, true).await.unwrap());
    wait_for("a live AMD quote after adding AMD", || bus.latest_quote("AMD").is_some()).await;
    let history = server::storage::bars::latest(db, "AMD", Timeframe::D1, 100).await.unwrap();
    assert!(history.len() >= 20, "AMD got its simulated history first: {} daily bars", history.len());
    let row = server::storage::symbols::get(db, "AMD").await.unwrap().unwrap();
    assert!(row.simulated);

    assert!(handle.remove(&sym("AMD")).await.unwrap());
    // Once the removal is seen (a tick after it), AMD gets no more quotes.
    let aapl_ts = || bus.latest_quote("AAPL").unwrap().ts;
    let after_removal = aapl_ts() + 1;
    wait_for("an AAPL tick after the removal", || aapl_ts() > after_removal).await;
    let amd_last = bus.latest_quote("AMD").unwrap().ts;
    let later = aapl_ts() + 2;
    wait_for("two more AAPL ticks", || aapl_ts() >= later).await;
    assert_eq!(bus.latest_quote("AMD").unwrap().ts, amd_last, "no AMD quote after its removal");

    shutdown.cancel();
    feed.await.unwrap().unwrap();
}

/// Polls `done` every 50 ms for up to 15 s.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "no {what} within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends!(seeding_happens_once_per_symbol, schedules_follow_the_watchlist, the_feed_follows_the_watchlist);

async fn post(state: &AppState, endpoint: &str, body: &str) -> (StatusCode, String) {
    let request = Request::post(format!("/api/{endpoint}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let exchange = async {
        let response = common::as_admin(state, request).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(30), exchange).await.expect("request did not complete")
}

async fn rows(state: &AppState) -> Vec<app::model::WatchRow> {
    let (status, body) = post(state, "watchlist", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The dashboard's server functions add and remove symbols, idempotently;
/// bad tickers are refused with a message and change nothing; each row
/// carries its sparkline closes, day bar and 52-week range.
#[tokio::test]
async fn symbols_are_added_and_removed_through_server_functions() {
    for t in [common::TestDb::sqlite().await, common::TestDb::postgres().await] {
        let config = Config {
            database_url: t.url.clone(),
            watchlist: vec![sym("AAPL")],
            sim: SimConfig { history_days: 60, ..SimConfig::default() },
            ..Config::default()
        };
        let state = common::state_with_history(&t, config).await;
        let changes = state.watchlist.changes();

        let first = rows(&state).await;
        assert_eq!(first.iter().map(|r| r.symbol.as_str()).collect::<Vec<_>>(), ["AAPL"]);
        let aapl = &first[0];
        assert_eq!(aapl.closes.len(), app::model::SPARK_POINTS);
        let day = aapl.day.unwrap();
        assert_eq!(aapl.closes.last().copied(), Some(day.close));
        assert!(day.low <= day.high && day.volume > 0.0);
        let (low, high) = aapl.range_52w.unwrap();
        assert!(low <= day.low && day.high <= high, "the 52-week range holds the last day");
        assert_eq!(aapl.quote.as_ref().unwrap().last, day.close);

        for (bad, says) in [
            ("symbol=no%20good", "may only contain letters, digits"),
            ("symbol=", "must be 1 to 20 characters"),
            ("symbol=ABCDEFGHIJKLMNOPQRSTUVWXYZ", "must be 1 to 20 characters"),
            ("symbol=%5E%5E", "must contain a letter or a digit"),
            ("", "symbol"),
        ] {
            let (status, body) = post(&state, "watchlist_add", bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert!(body.contains(says), "{bad}: {body}");
            let (status, body) = post(&state, "watchlist_remove", bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        assert!(!changes.has_changed().unwrap(), "refused input changes nothing");
        assert_eq!(rows(&state).await.len(), 1);

        assert_eq!(post(&state, "watchlist_add", "symbol=+amd+").await, (StatusCode::OK, "true".into()));
        assert!(changes.has_changed().unwrap(), "the followers are told");
        assert_eq!(post(&state, "watchlist_add", "symbol=AMD").await, (StatusCode::OK, "false".into()));
        let now = rows(&state).await;
        assert_eq!(now.iter().map(|r| r.symbol.as_str()).collect::<Vec<_>>(), ["AAPL", "AMD"]);
        // No feed ran for AMD here: its row is there, without data yet.
        assert_eq!((now[1].quote.as_ref(), now[1].closes.len(), now[1].day), (None, 0, None));
        assert!(now[1].simulated);

        assert_eq!(post(&state, "watchlist_remove", "symbol=aapl").await, (StatusCode::OK, "true".into()));
        assert_eq!(post(&state, "watchlist_remove", "symbol=AAPL").await, (StatusCode::OK, "false".into()));
        assert_eq!(rows(&state).await.iter().map(|r| r.symbol.as_str()).collect::<Vec<_>>(), ["AMD"]);
        // Removing keeps the bars: added again, AAPL is back with its history.
        assert_eq!(post(&state, "watchlist_add", "symbol=AAPL").await, (StatusCode::OK, "true".into()));
        let again = rows(&state).await;
        assert_eq!(again.iter().map(|r| r.symbol.as_str()).collect::<Vec<_>>(), ["AMD", "AAPL"]);
        assert_eq!(again[1].closes, aapl.closes);

        // The REST API refuses to delete a symbol on the watchlist.
        let delete = Request::delete("/api/v1/symbols/AMD").body(Body::empty()).unwrap();
        let response = common::as_admin(&state, delete).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        t.cleanup().await;
    }
}
