//! The live signal pipeline on SQLite and PostgreSQL: replaying history bar by
//! bar through it gives exactly a backtest's decisions, across a restart;
//! signals are stored once, carry evidence and backtest records, and only those
//! meeting their strategy's minimum quality are published.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;

use std::collections::BTreeMap;

use app::live::protocol::{Action, Channel};
use quant::strategies::CATALOG;
use quant::strategy::Signal;
use quant::{Bar, Timeframe};
use server::bus::Bus;
use server::pipeline::{self, Pipeline};
use server::providers::simulated;
use server::storage::bars::{self, NewBar};
use server::storage::signals::{self, SignalFilter, StrategySetting};
use server::storage::{Db, symbols};
use server::symbol::Symbol;

/// Simulated daily bars of `days` calendar days ending mid-2026 (weekdays only).
fn history(days: u32) -> Vec<Bar> {
    simulated::daily_history(7, "AAPL", chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(), days)
}

/// Stores each bar, then feeds it to the pipeline, as the live feed does.
async fn feed(db: &Db, pipeline: &Pipeline, bars: &[Bar]) {
    for &bar in bars {
        bars::upsert(db, &[NewBar { symbol: "AAPL", timeframe: Timeframe::D1, bar }]).await.unwrap();
        pipeline.on_closed_bar("AAPL", Timeframe::D1, bar).await.unwrap();
    }
}

async fn stored(db: &Db) -> Vec<signals::StoredSignal> {
    let filter = SignalFilter { symbol: Some("AAPL"), ..SignalFilter::default() };
    let mut all = signals::list(db, &filter, 100_000).await.unwrap();
    all.reverse();
    all
}

async fn replay_equals_backtest(db: &Db) {
    symbols::upsert(db, &Symbol::parse("AAPL").unwrap(), None, true).await.unwrap();
    let bars = history(1_000);
    let (first, second) = bars.split_at(600);
    // Half the history through one pipeline, the rest through another that
    // starts cold (a restart): it warms up from the stored bars.
    feed(db, &Pipeline::load(db.clone(), Bus::new(16)).await.unwrap(), first).await;
    let restarted = Pipeline::load(db.clone(), Bus::new(16)).await.unwrap();
    feed(db, &restarted, second).await;
    let live = stored(db).await;

    let config = pipeline::record_config();
    let mut fired = 0;
    for entry in CATALOG {
        // The backtest's decisions, bar by bar.
        let mut strategy = entry.build(&serde_json::json!({})).unwrap();
        let decided: Vec<Signal> = bars.iter().map(|b| strategy.next(b)).collect();
        let expected: Vec<(i64, Action)> = bars
            .iter()
            .zip(&decided)
            .filter_map(|(b, s)| match s {
                Signal::Buy => Some((b.ts, Action::Buy)),
                Signal::Sell => Some((b.ts, Action::Sell)),
                Signal::Hold => None,
            })
            .collect();
        let got: Vec<(i64, Action)> =
            live.iter().filter(|s| s.event.strategy == entry.name).map(|s| (s.event.bar_ts, s.event.action)).collect();
        assert_eq!(got, expected, "{}: live signals differ from the backtest's decisions", entry.name);
        fired += got.len();

        // The same backtest run on the stored signals gives the same report.
        let by_ts: BTreeMap<i64, Action> = got.into_iter().collect();
        let replayed: Vec<Signal> = bars
            .iter()
            .map(|b| match by_ts.get(&b.ts) {
                Some(Action::Buy) => Signal::Buy,
                Some(Action::Sell) => Signal::Sell,
                None => Signal::Hold,
            })
            .collect();
        strategy.reset();
        let direct = quant::backtest::run_strategy(&bars, &mut *strategy, &config).unwrap();
        let from_live = quant::backtest::run_signals(&bars, &replayed, &config).unwrap();
        // Debug text compares NaN metrics (no losing trade) as equal, bit for bit otherwise.
        assert!(format!("{from_live:?}") == format!("{direct:?}"), "{}: the reports differ", entry.name);
    }
    assert!(fired > 100, "the history must exercise the strategies, got {fired} signals");
    assert!(live.iter().all(|s| !s.event.evidence.is_empty()), "every signal carries its evidence");

    // Feeding the same bars again stores nothing new.
    let again = Pipeline::load(db.clone(), Bus::new(16)).await.unwrap();
    for &bar in &bars[bars.len() - 10..] {
        assert!(again.on_closed_bar("AAPL", Timeframe::D1, bar).await.unwrap().is_empty());
    }
    assert_eq!(stored(db).await.len(), live.len());
}

on_both_backends!(replay_equals_backtest);

async fn quality_bars_hold_back_weak_signals(db: &Db) {
    symbols::upsert(db, &Symbol::parse("AAPL").unwrap(), None, true).await.unwrap();
    let bars = history(1_000);
    let (past, live) = bars.split_at(500);
    bars::upsert(
        db,
        &past.iter().map(|&bar| NewBar { symbol: "AAPL", timeframe: Timeframe::D1, bar }).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    // Only two strategies, one demanding an impossible record.
    for entry in CATALOG {
        let mut setting = StrategySetting::default_for(entry.name);
        setting.enabled = matches!(entry.name, "sma_cross" | "rsi_reversal");
        if entry.name == "rsi_reversal" {
            setting.min_trades = Some(1_000_000);
        }
        signals::put_setting(db, &setting, 0).await.unwrap();
    }
    let bus = Bus::new(1_024);
    let pipeline = Pipeline::load(db.clone(), bus.clone()).await.unwrap();
    let settings = signals::settings(db).await.unwrap();
    assert_eq!(settings.iter().filter(|s| s.enabled).count(), 2, "{settings:?}");
    assert_eq!(pipeline.strategies().await.len(), 2);

    // The backtest schedule records both strategies on the stored history.
    let watch = vec![Symbol::parse("AAPL").unwrap()];
    let schedule = server::schedules::strategy_backtests(
        db.clone(),
        pipeline.clone(),
        watch,
        vec![Timeframe::D1],
        chrono::NaiveTime::MIN,
        1,
    );
    server::scheduler::run_once(db, &schedule).await.unwrap();
    let records = signals::records(db, Some("AAPL")).await.unwrap();
    assert_eq!(records.len(), 2);
    let record_of = |name: &str| records.iter().find(|(k, _)| k.strategy == name).map(|(_, r)| r.clone()).unwrap();
    assert_eq!(record_of("sma_cross").to_ts, past[past.len() - 1].ts);

    feed(db, &pipeline, live).await;
    let all = stored(db).await;
    let (sent, held): (Vec<_>, Vec<_>) = all.iter().partition(|s| s.passed);
    assert!(!sent.is_empty() && !held.is_empty(), "both kinds occur: {} sent, {} held", sent.len(), held.len());
    assert!(sent.iter().all(|s| s.event.strategy == "sma_cross"));
    assert!(held.iter().all(|s| s.event.strategy == "rsi_reversal"));
    // Each carries its strategy's record and the evidence behind it.
    for s in &all {
        assert_eq!(s.event.backtest.as_ref(), Some(&record_of(&s.event.strategy)));
        assert_eq!(s.event.params_hash, pipeline::params_hash(&serde_json::json!({})));
    }
    let sma = sent[0];
    assert_eq!(sma.event.evidence.keys().collect::<Vec<_>>().len(), sma.event.evidence.len());
    assert!(
        sma.event.evidence.contains_key("fast") && sma.event.evidence.contains_key("slow"),
        "{:?}",
        sma.event.evidence
    );

    // Only the passing ones were published on the signals channel (the bus
    // remembers the latest for snapshots, newest first).
    assert!(sent.len() < server::bus::RECENT);
    let published = match bus.snapshot(Channel::Signals, |_| true) {
        app::live::protocol::ServerMessage::Snapshot { signals, .. } => signals,
        other => panic!("expected a snapshot, got {other:?}"),
    };
    let mut expected: Vec<_> = sent.iter().map(|s| s.event.clone()).collect();
    expected.reverse();
    assert_eq!(published, expected);
    assert!(
        signals::list(db, &SignalFilter { passed_only: true, ..SignalFilter::default() }, 1_000)
            .await
            .unwrap()
            .iter()
            .all(|s| s.passed)
    );
}

on_both_backends!(quality_bars_hold_back_weak_signals);

async fn call(
    state: &server::state::AppState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request =
        request.body(body.map_or_else(axum::body::Body::empty, |b| axum::body::Body::from(b.to_owned()))).unwrap();
    let response = common::as_admin(state, request).await;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

async fn signals_and_strategies_over_rest(db: &Db) {
    symbols::upsert(db, &Symbol::parse("AAPL").unwrap(), None, true).await.unwrap();
    let pipeline = Pipeline::load(db.clone(), Bus::new(16)).await.unwrap();
    feed(db, &pipeline, &history(400)).await;
    let config = server::config::Config::default();
    let state = server::state::AppState::new(config, db.clone(), tokio_util::sync::CancellationToken::new())
        .with(|s| s.pipeline = Some(pipeline.clone()));

    let (status, page) = call(&state, "GET", "/api/v1/signals?symbol=aapl&strategy=sma_cross&limit=2", None).await;
    assert_eq!(status, 200, "{page}");
    let list = page["signals"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0]["id"].as_i64() > list[1]["id"].as_i64(), "newest first");
    assert!(list.iter().all(|s| s["strategy"] == "sma_cross" && s["symbol"] == "AAPL"));
    assert!(list[0]["evidence"]["fast"].is_number());
    let next = page["next_before"].as_i64().unwrap();
    let (_, older) =
        call(&state, "GET", &format!("/api/v1/signals?strategy=sma_cross&before={next}&limit=2"), None).await;
    assert!(older["signals"][0]["id"].as_i64().unwrap() < next);

    for uri in [
        "/api/v1/signals?strategy=nope",
        "/api/v1/signals?symbol=bad%20symbol",
        "/api/v1/signals?timeframe=2d",
        "/api/v1/signals?limit=0",
        "/api/v1/signals?passed=maybe",
    ] {
        let (status, body) = call(&state, "GET", uri, None).await;
        assert_eq!(status, 400, "{uri}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{uri}");
    }

    let (status, all) = call(&state, "GET", "/api/v1/strategies", None).await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), CATALOG.len());

    // Bad updates are refused and change nothing.
    for (uri, body, code) in [
        ("/api/v1/strategies/sma_cross", r#"{"params":{"fast":30,"slow":20}}"#, 400),
        ("/api/v1/strategies/sma_cross", r#"{"params":{"speed":3}}"#, 400),
        ("/api/v1/strategies/sma_cross", r#"{"min_win_rate":1.5}"#, 400),
        ("/api/v1/strategies/sma_cross", r#"{"colour":"red"}"#, 400),
        ("/api/v1/strategies/nope", r#"{"enabled":false}"#, 404),
    ] {
        let (status, reply) = call(&state, "PUT", uri, Some(body)).await;
        assert_eq!(status, code, "{body}: {reply}");
    }
    assert!(signals::settings(db).await.unwrap().is_empty());

    let (status, updated) =
        call(&state, "PUT", "/api/v1/strategies/sma_cross", Some(r#"{"params":{"fast":5},"min_trades":3}"#)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["min_trades"], 3);
    let (_, cleared) = call(&state, "PUT", "/api/v1/strategies/sma_cross", Some(r#"{"min_trades":null}"#)).await;
    assert_eq!(cleared["min_trades"], serde_json::Value::Null);
    assert_eq!(cleared["params"], serde_json::json!({"fast": 5}), "left-out fields keep their value");
    // The pipeline took the new parameters in.
    let running = pipeline.strategies().await;
    let sma = running.iter().find(|(name, _, _)| name == "sma_cross").unwrap();
    assert_eq!(sma.1, serde_json::json!({"fast": 5}));
}

on_both_backends!(signals_and_strategies_over_rest);
