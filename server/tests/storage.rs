//! Storage behaviour, identical on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use quant::{Bar, Timeframe};
use server::storage::bars::{self, NewBar};
use server::storage::{Db, symbols};
use server::symbol::Symbol;

fn bar(ts: i64, close: f64) -> Bar {
    Bar { ts, open: close, high: close + 1.0, low: close - 1.0, close, volume: 100.0 }
}

fn rows<'a>(symbol: &'a str, timeframe: Timeframe, bars: &[Bar]) -> Vec<NewBar<'a>> {
    bars.iter().map(|&bar| NewBar { symbol, timeframe, bar }).collect()
}

async fn add(db: &Db, symbol: &str) {
    symbols::upsert(db, &Symbol::parse(symbol).unwrap(), Some("Test Co"), false).await.unwrap();
}

async fn upsert_is_idempotent(db: &Db) {
    add(db, "AAPL").await;
    let series: Vec<Bar> = (0..10_000).map(|i| bar(i * 86_400, 100.0 + i as f64)).collect();
    let batch = rows("AAPL", Timeframe::D1, &series);
    assert_eq!(bars::upsert(db, &batch).await.unwrap(), 10_000);
    // Writing the same rows again changes nothing.
    assert_eq!(bars::upsert(db, &batch).await.unwrap(), 0);
    assert_eq!(bars::count(db, "AAPL", Timeframe::D1).await.unwrap(), 10_000);
    // A changed row is updated in place.
    let changed = [bar(5 * 86_400, 1.0)];
    assert_eq!(bars::upsert(db, &rows("AAPL", Timeframe::D1, &changed)).await.unwrap(), 1);
    let stored = bars::latest(db, "AAPL", Timeframe::D1, 10_000).await.unwrap();
    assert_eq!(stored.len(), 10_000);
    assert_eq!(stored[5], changed[0]);
}

async fn latest_returns_the_newest_bars_oldest_first(db: &Db) {
    add(db, "MSFT").await;
    let series: Vec<Bar> = (0..50).map(|i| bar(i * 60, f64::from(i as u8))).collect();
    bars::upsert(db, &rows("MSFT", Timeframe::M1, &series)).await.unwrap();
    bars::upsert(db, &rows("MSFT", Timeframe::D1, &series[..3])).await.unwrap();
    let got = bars::latest(db, "MSFT", Timeframe::M1, 5).await.unwrap();
    assert_eq!(got, series[45..].to_vec());
    assert_eq!(bars::timeframes(db, "MSFT").await.unwrap(), vec![Timeframe::M1, Timeframe::D1]);
    assert!(bars::latest(db, "NONE", Timeframe::M1, 5).await.unwrap().is_empty());
}

async fn duplicate_keys_in_one_batch_keep_the_last(db: &Db) {
    add(db, "TSLA").await;
    let batch = rows("TSLA", Timeframe::D1, &[bar(0, 1.0), bar(86_400, 2.0), bar(0, 3.0)]);
    bars::upsert(db, &batch).await.unwrap();
    let got = bars::latest(db, "TSLA", Timeframe::D1, 10).await.unwrap();
    assert_eq!(got, vec![bar(0, 3.0), bar(86_400, 2.0)]);
}

async fn a_failing_batch_writes_nothing(db: &Db) {
    add(db, "NVDA").await;
    // 5,000 good rows spill into a second SQLite statement; the last row names a
    // symbol that does not exist, so the whole transaction must roll back.
    let series: Vec<Bar> = (0..5_000).map(|i| bar(i * 60, 10.0)).collect();
    let mut batch = rows("NVDA", Timeframe::M1, &series);
    batch.push(NewBar { symbol: "ZZZZ", timeframe: Timeframe::M1, bar: bar(0, 1.0) });
    assert!(bars::upsert(db, &batch).await.is_err());
    assert_eq!(bars::count(db, "NVDA", Timeframe::M1).await.unwrap(), 0);
}

async fn bars_follow_their_symbol(db: &Db) {
    // Bars name a known symbol (PostgreSQL checks this per statement, SQLite
    // per row), and removing the symbol removes its bars and nobody else's.
    add(db, "AMD").await;
    add(db, "INTC").await;
    let series: Vec<Bar> = (0..2_000).map(|i| bar(i * 60, 5.0)).collect();
    bars::upsert(db, &rows("AMD", Timeframe::M1, &series)).await.unwrap();
    bars::upsert(db, &rows("INTC", Timeframe::M1, &series[..10])).await.unwrap();
    let unknown = bars::upsert(db, &rows("ZZZZ", Timeframe::M1, &series)).await.unwrap_err();
    assert!(unknown.to_string().to_lowercase().contains("foreign key"), "{unknown}");
    // An update through ON CONFLICT is checked as well: a batch mixing a
    // changed AMD bar and an unknown symbol changes nothing.
    let mut mixed = rows("AMD", Timeframe::M1, &[bar(0, 6.0)]);
    mixed.push(NewBar { symbol: "ZZZZ", timeframe: Timeframe::M1, bar: bar(0, 1.0) });
    assert!(bars::upsert(db, &mixed).await.is_err());
    assert_eq!(bars::latest(db, "AMD", Timeframe::M1, 2_000).await.unwrap()[0], series[0]);

    assert!(symbols::delete(db, "AMD").await.unwrap());
    assert_eq!(bars::count(db, "AMD", Timeframe::M1).await.unwrap(), 0);
    assert_eq!(bars::count(db, "INTC", Timeframe::M1).await.unwrap(), 10);
    // Re-adding the symbol starts it empty.
    add(db, "AMD").await;
    assert_eq!(bars::count(db, "AMD", Timeframe::M1).await.unwrap(), 0);
}

async fn symbols_upsert_keeps_a_known_name(db: &Db) {
    let sym = Symbol::parse("spy").unwrap();
    symbols::upsert(db, &sym, Some("S&P 500 ETF"), true).await.unwrap();
    symbols::upsert(db, &sym, None, true).await.unwrap();
    let row = symbols::get(db, "SPY").await.unwrap().unwrap();
    assert_eq!(row.name.as_deref(), Some("S&P 500 ETF"));
    assert!(row.simulated);
    assert_eq!(symbols::list(db).await.unwrap().len(), 1);
    assert!(symbols::get(db, "QQQ").await.unwrap().is_none());
}

async fn migrations_run_twice_without_harm(db: &Db) {
    db.migrate().await.unwrap();
    db.ping().await.unwrap();
}

async fn simulated_backfill_is_idempotent(db: &Db) {
    use chrono::TimeZone;
    let watchlist = vec![Symbol::parse("AAPL").unwrap(), Symbol::parse("BTC-USD").unwrap()];
    let sim = server::config::SimConfig { history_days: 400, ..Default::default() };
    let now = chrono::Utc.with_ymd_and_hms(2025, 3, 14, 15, 0, 0).unwrap();
    let ingest = server::ingest::Ingest::new(db.clone(), server::cache::MarketCache::new(&Default::default()));
    let first = server::feed::backfill(&ingest, &watchlist, &sim, now).await.unwrap();
    // 400 calendar days: ~286 weekdays for AAPL, 400 days for BTC-USD.
    assert!(first > 650, "{first}");
    assert_eq!(server::feed::backfill(&ingest, &watchlist, &sim, now).await.unwrap(), 0);
    let btc = bars::latest(db, "BTC-USD", Timeframe::D1, 1_000).await.unwrap();
    assert_eq!(btc.len(), 400);
    // History ends yesterday (UTC); today's bar belongs to the live feed.
    assert_eq!(btc.last().unwrap().ts, now.timestamp() / 86_400 * 86_400 - 86_400);
    assert!(btc.iter().all(Bar::is_consistent));
}

on_both_backends!(
    upsert_is_idempotent,
    latest_returns_the_newest_bars_oldest_first,
    duplicate_keys_in_one_batch_keep_the_last,
    a_failing_batch_writes_nothing,
    bars_follow_their_symbol,
    symbols_upsert_keeps_a_known_name,
    migrations_run_twice_without_harm,
    simulated_backfill_is_idempotent,
);
