//! Telegram delivery under load: the operator's scenario of issue 13, in
//! process, against a loopback Bot API that answers like Telegram.
//!
//! For each chat count: a fresh SQLite database (or PostgreSQL with
//! `--postgres`), that many linked chats each subscribed to every one of
//! `--symbols` symbols, and the bot (poller and delivery loop) started as
//! `serve` starts it. A generator stands for the simulated feed at 1 s bars:
//! every second, each symbol yields `--signals-per-bar` signals, handed to the
//! pipeline's alert sink (`alerts::sink`), which queues one alert per
//! subscribed chat and wakes the delivery loop. The mock Bot API (the test
//! suite's, `server/tests/mocks/telegram.rs`) adds a random latency to each
//! request and refuses with 429 (`retry_after` 1) a message that would be the
//! 31st within a second or a chat's second within a second.
//!
//! Reported per run, over `--secs` seconds of load: messages and alerts
//! delivered per second, the most messages that reached the API in any
//! sliding second (all chats, and per chat), 429s, the outbox backlog over
//! time (it must level off), the jobs table, the WAL's size at the end,
//! alert latency (queued to delivered) and the latency of a read on the
//! database meanwhile.
//!
//! ```text
//! cargo run --release -p server --example telegram_load -- --chats 10,40,100 --secs 60
//! ```
//!
//! Lines starting with `RESULT` are for scripts.

#![allow(clippy::unwrap_used, reason = "a benchmark")]

#[path = "../tests/mocks/telegram.rs"]
mod telegram_mock;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use app::live::protocol::{Action, SignalEvent};
use clap::Parser;
use quant::Timeframe;
use serde_json::json;
use server::bus::Bus;
use server::cache::{CacheConfig, MarketCache};
use server::config::DatabaseUrl;
use server::jobs::now_ms;
use server::storage::Db;
use server::storage::telegram as store;
use server::telegram::{BotToken, Telegram, TelegramConfig, alerts};
use sqlx::Connection as _;
use telegram_mock::{MockApi, TOKEN, max_in_window};
use tokio_util::sync::CancellationToken;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Load the Telegram delivery with alerts against a loopback Bot API")]
struct Args {
    /// Linked chats, one run per count.
    #[arg(long, value_delimiter = ',', default_value = "10,40,100")]
    chats: Vec<usize>,
    /// Symbols; every chat subscribes to all of them.
    #[arg(long, default_value_t = 10)]
    symbols: usize,
    /// Signals per symbol per 1 s bar.
    #[arg(long, default_value_t = 1)]
    signals_per_bar: usize,
    /// Seconds of load per run.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Least latency the mock adds to a request, ms.
    #[arg(long, default_value_t = 20)]
    latency_min_ms: u64,
    /// Most latency the mock adds to a request, ms.
    #[arg(long, default_value_t = 80)]
    latency_max_ms: u64,
    /// Run on a scratch database of this PostgreSQL server instead of SQLite.
    #[arg(long)]
    postgres: Option<String>,
}

/// One run's figures.
#[derive(Debug)]
struct Report {
    chats: usize,
    alerts_queued: i64,
    messages: usize,
    alerts_sent: i64,
    superseded: i64,
    refused: usize,
    max_global: usize,
    max_per_chat: usize,
    /// (seconds into the run, pending rows)
    pending: Vec<(u64, i64)>,
    jobs: i64,
    wal_bytes: Option<u64>,
    db_bytes: Option<u64>,
    alert_latency_ms: (i64, i64, i64),
    read_latency_ms: (f64, f64),
    drained_in: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut reports = Vec::new();
    for &chats in &args.chats {
        let report = run(&args, chats).await?;
        print_report(&args, &report);
        reports.push(report);
    }
    println!(
        "\nchats | msg/s | alerts/s | max msgs in 1 s (all / one chat) | 429s | backlog at 10 s .. end (max) | jobs | WAL at end | alert latency p50 / p99 | read p50 / max"
    );
    for r in &reports {
        println!(
            "{} | {:.1} | {:.0} | {} / {} | {} | {} .. {} ({}) | {} | {} | {} / {} ms | {:.1} / {:.1} ms",
            r.chats,
            per_second(r.messages, args.secs),
            per_second(usize::try_from(r.alerts_sent).unwrap_or(0), args.secs),
            r.max_global,
            r.max_per_chat,
            r.refused,
            r.pending.iter().find(|(s, _)| *s >= 10).map_or(0, |p| p.1),
            r.pending.last().map_or(0, |p| p.1),
            r.pending.iter().map(|p| p.1).max().unwrap_or(0),
            r.jobs,
            r.wal_bytes.map_or_else(|| "n/a".into(), mib),
            r.alert_latency_ms.0,
            r.alert_latency_ms.1,
            r.read_latency_ms.0,
            r.read_latency_ms.1,
        );
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss, reason = "display")]
fn per_second(n: usize, secs: u64) -> f64 {
    n as f64 / secs as f64
}

#[allow(clippy::cast_precision_loss, reason = "display")]
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn print_report(args: &Args, r: &Report) {
    println!(
        "\n== {} chats x {} symbols, {} signal(s) per symbol per 1 s bar, {} s",
        r.chats, args.symbols, args.signals_per_bar, args.secs
    );
    println!(
        "alerts queued {}, delivered {} in {} messages, superseded {}",
        r.alerts_queued, r.alerts_sent, r.messages, r.superseded
    );
    println!(
        "delivered {:.1} msg/s ({:.0} alerts/s); most in any sliding second: {} overall, {} to one chat; 429s: {}",
        per_second(r.messages, args.secs),
        per_second(usize::try_from(r.alerts_sent).unwrap_or(0), args.secs),
        r.max_global,
        r.max_per_chat,
        r.refused
    );
    let series: Vec<String> = r.pending.iter().filter(|(s, _)| s % 5 == 0).map(|(s, n)| format!("{s}s:{n}")).collect();
    println!("outbox pending: {}", series.join(" "));
    println!(
        "jobs rows {}; WAL at end {}; database {}",
        r.jobs,
        r.wal_bytes.map_or_else(|| "n/a".into(), mib),
        r.db_bytes.map_or_else(|| "n/a".into(), mib)
    );
    println!(
        "alert latency (queued -> sent) p50 {} ms, p99 {} ms, max {} ms; read latency p50 {:.1} ms, max {:.1} ms; drained {}",
        r.alert_latency_ms.0,
        r.alert_latency_ms.1,
        r.alert_latency_ms.2,
        r.read_latency_ms.0,
        r.read_latency_ms.1,
        r.drained_in
            .map_or_else(|| "not within 60 s".into(), |d| format!("{:.1} s after the load stopped", d.as_secs_f64()))
    );
    println!(
        "RESULT chats={} msg_per_s={:.2} alerts_per_s={:.1} max_global_1s={} max_chat_1s={} refused={} pending_end={} pending_max={} jobs={} wal_bytes={} alert_p50_ms={} alert_p99_ms={}",
        r.chats,
        per_second(r.messages, args.secs),
        per_second(usize::try_from(r.alerts_sent).unwrap_or(0), args.secs),
        r.max_global,
        r.max_per_chat,
        r.refused,
        r.pending.last().map_or(0, |p| p.1),
        r.pending.iter().map(|p| p.1).max().unwrap_or(0),
        r.jobs,
        r.wal_bytes.unwrap_or(0),
        r.alert_latency_ms.0,
        r.alert_latency_ms.1,
    );
}

/// A scratch database and what removes it.
enum Scratch {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

async fn open(args: &Args, chats: usize) -> anyhow::Result<(Db, Scratch)> {
    let (url, scratch) = match &args.postgres {
        None => {
            let dir = tempfile::tempdir()?;
            (format!("sqlite://{}", dir.path().join("bench.db").display()), Scratch::Sqlite(dir))
        }
        Some(admin) => {
            let name = format!("finstage_telegram_load_{}_{chats}", std::process::id());
            let mut conn = sqlx::PgConnection::connect(admin).await.with_context(|| format!("connect to {admin}"))?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
            conn.close().await?;
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
            (format!("{base}/{name}"), Scratch::Postgres { admin: admin.clone(), name })
        }
    };
    let db = Db::connect(&DatabaseUrl::from(url.as_str())).await?;
    db.migrate().await?;
    Ok((db, scratch))
}

async fn remove(db: Db, scratch: Scratch) -> anyhow::Result<()> {
    db.close().await;
    if let Scratch::Postgres { admin, name } = scratch {
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
    }
    Ok(())
}

/// `SELECT COUNT(*)`-like scalars, on either backend.
async fn scalar(db: &Db, sql: &str) -> i64 {
    match db {
        Db::Sqlite { reader, .. } => sqlx::query_scalar(sql).fetch_one(reader).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn column(db: &Db, sql: &str) -> Vec<i64> {
    match db {
        Db::Sqlite { reader, .. } => sqlx::query_scalar(sql).fetch_all(reader).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
    }
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

const STRATEGIES: [&str; 4] = ["sma_cross", "rsi_reversal", "macd_cross", "bollinger_breakout"];

fn event(id: i64, symbol: &str, strategy: &str, price: f64) -> SignalEvent {
    SignalEvent {
        id,
        symbol: symbol.into(),
        timeframe: Timeframe::M1,
        strategy: strategy.into(),
        params: json!({"fast": 10, "slow": 20}),
        params_hash: "h".into(),
        action: if id % 2 == 0 { Action::Buy } else { Action::Sell },
        bar_ts: now_ms() / 1_000,
        price,
        evidence: BTreeMap::from([("fast".into(), price * 0.99), ("slow".into(), price * 1.01)]),
        backtest: None,
        created_at: now_ms(),
    }
}

async fn run(args: &Args, chats: usize) -> anyhow::Result<Report> {
    let (db, scratch) = open(args, chats).await?;
    let symbols: Vec<String> = (0..args.symbols).map(|i| format!("SYM{i:02}")).collect();
    let now = now_ms();
    for chat in 1..=i64::try_from(chats)? {
        store::link_chat(&db, chat, Some("load"), now).await?;
        for symbol in &symbols {
            store::subscribe(&db, chat, symbol, None, now).await?;
        }
    }
    let mock = MockApi::start().await;
    mock.set_latency(Duration::from_millis(args.latency_min_ms), Duration::from_millis(args.latency_max_ms));
    mock.enforce_limits(30, Duration::from_secs(1));
    let config = TelegramConfig {
        enabled: Some(true),
        token: Some(BotToken::new(TOKEN)),
        api_url: mock.url.clone(),
        ..TelegramConfig::default()
    };
    let bot = Telegram::new(db.clone(), &config, Bus::new(64), MarketCache::new(&CacheConfig::default()))?;
    let shutdown = CancellationToken::new();
    let bot_task = bot.spawn(shutdown.clone());
    let sink = alerts::sink(db.clone(), bot.waker());

    // The feed: a bar a second per symbol, each yielding its signals.
    let stop_feed = CancellationToken::new();
    let feed = tokio::spawn({
        let (stop, symbols, per_bar) = (stop_feed.clone(), symbols.clone(), args.signals_per_bar);
        let sink = Arc::clone(&sink);
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut id = 0_i64;
            let mut prices: HashMap<String, f64> = symbols.iter().map(|s| (s.clone(), 100.0)).collect();
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                for symbol in &symbols {
                    let price = prices.get_mut(symbol).unwrap();
                    *price = (*price * (1.0 + 0.01 * (rand::random::<f64>() - 0.5))).max(1.0);
                    for k in 0..per_bar {
                        id += 1;
                        sink(event(id, symbol, STRATEGIES[k % STRATEGIES.len()], *price));
                    }
                }
            }
        }
    });

    let started = Instant::now();
    let mut pending = Vec::new();
    let mut reads = Vec::new();
    for second in 1..=args.secs {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        let before = Instant::now();
        let n = store::pending_count(&db, None).await?;
        reads.push(before.elapsed().as_secs_f64() * 1_000.0);
        pending.push((second, n));
    }
    stop_feed.cancel();
    feed.await?;
    let attempts = mock.all_attempts();
    let messages = mock.sent_count();
    let wal_bytes = match &scratch {
        Scratch::Sqlite(dir) => file_size(&dir.path().join("bench.db-wal")),
        Scratch::Postgres { .. } => None,
    };
    let db_bytes = match &scratch {
        Scratch::Sqlite(dir) => file_size(&dir.path().join("bench.db")),
        Scratch::Postgres { .. } => None,
    };
    let alerts_queued = scalar(&db, "SELECT COUNT(*) FROM telegram_outbox WHERE kind = 'alert'").await;
    let alerts_sent = scalar(&db, "SELECT COUNT(*) FROM telegram_outbox WHERE outcome = 'sent'").await;
    let superseded = scalar(&db, "SELECT COUNT(*) FROM telegram_outbox WHERE outcome = 'superseded'").await;
    let jobs = scalar(&db, "SELECT COUNT(*) FROM jobs").await;
    let mut latencies =
        column(&db, "SELECT done_at - created_at FROM telegram_outbox WHERE outcome = 'sent' ORDER BY 1").await;
    latencies.sort_unstable();
    let quantile = |q: f64| -> i64 {
        if latencies.is_empty() {
            return 0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index"
        )]
        let i = ((latencies.len() - 1) as f64 * q).round() as usize;
        latencies[i]
    };
    let alert_latency_ms = (quantile(0.5), quantile(0.99), latencies.last().copied().unwrap_or(0));
    reads.sort_by(f64::total_cmp);
    let read_latency_ms = (reads[reads.len() / 2], reads.last().copied().unwrap_or(0.0));

    let times: Vec<Instant> = attempts.iter().map(|s| s.at).collect();
    let max_global = max_in_window(&times, Duration::from_secs(1));
    let mut by_chat: HashMap<i64, Vec<Instant>> = HashMap::new();
    for s in &attempts {
        by_chat.entry(s.chat_id).or_default().push(s.at);
    }
    let max_per_chat = by_chat.values().map(|t| max_in_window(t, Duration::from_secs(1))).max().unwrap_or(0);

    // With the load gone, how long until the backlog is delivered.
    let load_stopped = Instant::now();
    let mut drained_in = None;
    while load_stopped.elapsed() < Duration::from_secs(60) {
        if store::pending_count(&db, None).await? == 0 {
            drained_in = Some(load_stopped.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    bot_task.await?;
    let refused = mock.refused();
    remove(db, scratch).await?;
    Ok(Report {
        chats,
        alerts_queued,
        messages,
        alerts_sent,
        superseded,
        refused,
        max_global,
        max_per_chat,
        pending,
        jobs,
        wal_bytes,
        db_bytes,
        alert_latency_ms,
        read_latency_ms,
        drained_in,
    })
}
