//! Storage behaviour, identical on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;

use quant::{Bar, Timeframe};
use serde_json::json;
use server::storage::bars::{self, NewBar};
use server::storage::jobs::{self, NewJob};
use server::storage::symbols::SymbolRow;
use server::storage::{Backend, Db, symbols};
use server::symbol::Symbol;
use sqlx::migrate::Migrator;

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

async fn before_pages_back_through_the_history(db: &Db) {
    add(db, "NVDA").await;
    let series: Vec<Bar> = (0..50).map(|i| bar(i * 60, f64::from(i as u8))).collect();
    bars::upsert(db, &rows("NVDA", Timeframe::M1, &series)).await.unwrap();
    // The page before bar 30 is bars 10..30, oldest first; paging on from its
    // first bar reaches the start, then nothing.
    let page = bars::before(db, "NVDA", Timeframe::M1, series[30].ts, 20).await.unwrap();
    assert_eq!(page, series[10..30].to_vec());
    let page = bars::before(db, "NVDA", Timeframe::M1, page[0].ts, 20).await.unwrap();
    assert_eq!(page, series[..10].to_vec());
    assert!(bars::before(db, "NVDA", Timeframe::M1, series[0].ts, 20).await.unwrap().is_empty());
    assert!(bars::before(db, "NVDA", Timeframe::D1, i64::MAX, 20).await.unwrap().is_empty());
}

async fn bulk_reads_match_ranged_reads(db: &Db) {
    add(db, "TSLA").await;
    // Awkward values: whole numbers (which SQLite may store as integers),
    // tiny and huge magnitudes, negative zero, and bits no short decimal has.
    let series: Vec<Bar> = (0..3_000i64)
        .map(|i| {
            let c = match i % 5 {
                0 => 100.0,
                1 => 1e-300 * (i as f64),
                2 => 1.0 / 3.0 + i as f64,
                3 => -0.0,
                _ => 9.007_199_254_740_993e15,
            };
            Bar { ts: 1_700_000_000 + i * 60, open: c, high: c, low: c, close: c, volume: (i * 7) as f64 }
        })
        .collect();
    bars::upsert(db, &rows("TSLA", Timeframe::M1, &series)).await.unwrap();
    bars::upsert(db, &rows("TSLA", Timeframe::D1, &series[..5])).await.unwrap();
    let bits = |b: &[Bar]| -> Vec<[u64; 5]> {
        b.iter().map(|b| [b.open, b.high, b.low, b.close, b.volume].map(f64::to_bits)).collect()
    };
    for (from, to, limit) in [(i64::MIN, i64::MAX, 10_000), (series[10].ts, series[2_000].ts, 10_000), (0, i64::MAX, 7)]
    {
        let bulk = bars::bulk(db, "TSLA", Timeframe::M1, from, to, limit).await.unwrap();
        let ranged = bars::range(db, "TSLA", Timeframe::M1, from, to, None, limit).await.unwrap();
        assert_eq!(bulk, ranged, "{from}..={to}, {limit}");
        assert_eq!(bits(&bulk), bits(&ranged));
    }
    assert_eq!(bars::bulk(db, "TSLA", Timeframe::M1, i64::MIN, i64::MAX, 10_000).await.unwrap(), series);
    assert!(bars::bulk(db, "NONE", Timeframe::M1, i64::MIN, i64::MAX, 10).await.unwrap().is_empty());
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
    // Rows in a few tables first: running the migrations again must leave them be.
    add(db, "AAPL").await;
    add(db, "MSFT").await;
    let series: Vec<Bar> = (0..500).map(|i| bar(i * 86_400, 50.0 + i as f64)).collect();
    bars::upsert(db, &rows("AAPL", Timeframe::D1, &series)).await.unwrap();
    jobs::enqueue(db, &NewJob::new("backfill", json!({"symbol": "AAPL"})), 1_000).await.unwrap();
    let symbols_before = symbols::list(db).await.unwrap();
    let jobs_before = jobs::list(db, None, 10).await.unwrap();
    assert_eq!((symbols_before.len(), jobs_before.len()), (2, 1));
    let every = versions(&migrator(db.backend()));
    assert_eq!(applied(db).await, every);

    db.migrate().await.unwrap();
    db.ping().await.unwrap();
    assert_eq!(applied(db).await, every, "each migration recorded once, none run again");
    assert_eq!(symbols::list(db).await.unwrap(), symbols_before);
    assert_eq!(bars::latest(db, "AAPL", Timeframe::D1, 1_000).await.unwrap(), series);
    assert_eq!(jobs::list(db, None, 10).await.unwrap(), jobs_before);
}

// ---------------------------------------------------------------- migrations

/// The migrations of a backend, read from `migrations/` as `Db::migrate` reads them.
fn migrator(backend: Backend) -> Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
    }
}

fn versions(migrator: &Migrator) -> Vec<i64> {
    migrator.iter().filter(|m| !m.migration_type.is_down_migration()).map(|m| m.version).collect()
}

/// The versions the database records as applied, oldest first.
async fn applied(db: &Db) -> Vec<i64> {
    const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
    match db {
        Db::Sqlite { writer, .. } => sqlx::query_scalar(SQL).fetch_all(writer).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await.unwrap(),
    }
}

async fn execute(db: &Db, sql: &str) {
    match db {
        Db::Sqlite { writer, .. } => sqlx::raw_sql(sql).execute(writer).await.unwrap().rows_affected(),
        Db::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.unwrap().rows_affected(),
    };
}

/// A database an early release made (the first migration only), holding
/// rows shaped for that schema, is brought up to date by `migrate`: the rows
/// are intact and behave as the current schema says.
async fn upgrading_from_the_first_migration_keeps_the_data(t: common::TestDb) {
    let db = &t.db;
    let all = migrator(db.backend());
    let mut first = migrator(db.backend());
    first.migrations = Cow::Owned(all.migrations[..1].to_vec());
    match db {
        Db::Sqlite { writer, .. } => first.run(writer).await.unwrap(),
        Db::Postgres(pool) => first.run(pool).await.unwrap(),
    }
    assert_eq!(applied(db).await, versions(&first));

    // Written with the first migration's columns only, by plain SQL (today's
    // storage code may expect later columns).
    let (no, yes) = match db.backend() {
        Backend::Sqlite => ("0", "1"),
        Backend::Postgres => ("false", "true"),
    };
    execute(
        db,
        &format!(
            "INSERT INTO symbols (symbol, name, simulated, created_at) VALUES \
             ('AAPL', 'Apple Inc.', {no}, 1700000000), ('BTC-USD', NULL, {yes}, 1700000001)"
        ),
    )
    .await;
    let series: Vec<Bar> = (0..40).map(|i| bar(1_700_000_000 + i * 86_400, 100.0 + i as f64 / 4.0)).collect();
    for symbol in ["AAPL", "BTC-USD"] {
        let values: Vec<String> = series
            .iter()
            .map(|b| {
                format!(
                    "('{symbol}', '1d', {}, {:?}, {:?}, {:?}, {:?}, {:?})",
                    b.ts, b.open, b.high, b.low, b.close, b.volume
                )
            })
            .collect();
        execute(
            db,
            &format!(
                "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) VALUES {}",
                values.join(", ")
            ),
        )
        .await;
    }

    db.migrate().await.unwrap();
    assert_eq!(applied(db).await, versions(&all), "every later migration applied once");
    assert!(all.migrations.len() > 1, "an upgrade needs a later migration");
    assert_eq!(
        symbols::list(db).await.unwrap(),
        [
            SymbolRow { symbol: "AAPL".into(), name: Some("Apple Inc.".into()), simulated: false },
            SymbolRow { symbol: "BTC-USD".into(), name: None, simulated: true },
        ]
    );
    for symbol in ["AAPL", "BTC-USD"] {
        assert_eq!(bars::latest(db, symbol, Timeframe::D1, 100).await.unwrap(), series, "{symbol}");
    }
    // The upgraded rows obey today's rules: upserts update them in place,
    // bars still need a known symbol, and a symbol's removal takes its bars.
    let changed = [bar(series[3].ts, 1.0)];
    assert_eq!(bars::upsert(db, &rows("AAPL", Timeframe::D1, &changed)).await.unwrap(), 1);
    assert_eq!(bars::latest(db, "AAPL", Timeframe::D1, 100).await.unwrap()[3], changed[0]);
    assert!(bars::upsert(db, &rows("ZZZZ", Timeframe::D1, &changed)).await.is_err());
    assert!(symbols::delete(db, "BTC-USD").await.unwrap());
    assert_eq!(bars::count(db, "BTC-USD", Timeframe::D1).await.unwrap(), 0);
    assert_eq!(bars::count(db, "AAPL", Timeframe::D1).await.unwrap(), 40);
    // The tables later migrations added are there to use.
    jobs::enqueue(db, &NewJob::new("backfill", json!({})), 0).await.unwrap();
    t.cleanup().await;
}

#[tokio::test]
async fn sqlite_upgrades_from_the_first_migration() {
    upgrading_from_the_first_migration_keeps_the_data(common::TestDb::sqlite_unmigrated().await).await;
}

#[tokio::test]
async fn postgres_upgrades_from_the_first_migration() {
    upgrading_from_the_first_migration_keeps_the_data(common::TestDb::postgres_unmigrated().await).await;
}

/// Every table and its columns, each with its type reduced to a storage class.
type Schema = BTreeMap<String, BTreeMap<String, &'static str>>;

/// The storage class of a declared column type (SQLite's names, and
/// PostgreSQL's as `information_schema` spells them); booleans are integers
/// in SQLite.
fn storage_class(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "smallint" | "boolean" => "integer",
        "real" | "double precision" => "real",
        "text" | "character varying" | "json" | "jsonb" => "text",
        "blob" | "bytea" => "blob",
        other => panic!("no storage class for the column type `{other}`: add it here"),
    }
}

async fn schema(db: &Db) -> Schema {
    let columns: Vec<(String, String, String)> = match db {
        Db::Sqlite { writer, .. } => sqlx::query_as(
            "SELECT m.name, c.name, c.type FROM sqlite_master AS m, pragma_table_info(m.name) AS c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(writer)
        .await
        .unwrap(),
        Db::Postgres(pool) => sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    let mut schema = Schema::new();
    for (table, column, declared) in columns {
        schema.entry(table).or_default().insert(column, storage_class(&declared));
    }
    schema
}

/// The two backends' migrations are written separately; after all of them
/// the databases have the same tables with the same columns.
#[tokio::test]
async fn sqlite_and_postgres_schemas_agree() {
    let (sqlite, postgres) = (common::TestDb::sqlite().await, common::TestDb::postgres().await);
    let (lite, pg) = (schema(&sqlite.db).await, schema(&postgres.db).await);
    assert!(lite.contains_key("bars") && lite.contains_key("symbols"), "{lite:?}");
    assert_eq!(lite.keys().collect::<Vec<_>>(), pg.keys().collect::<Vec<_>>(), "the tables differ");
    for (table, columns) in &lite {
        assert_eq!(columns, &pg[table], "the columns of `{table}` differ (SQLite left, PostgreSQL right)");
    }
    sqlite.cleanup().await;
    postgres.cleanup().await;
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
    before_pages_back_through_the_history,
    bulk_reads_match_ranged_reads,
    duplicate_keys_in_one_batch_keep_the_last,
    a_failing_batch_writes_nothing,
    bars_follow_their_symbol,
    symbols_upsert_keeps_a_known_name,
    migrations_run_twice_without_harm,
    simulated_backfill_is_idempotent,
);
