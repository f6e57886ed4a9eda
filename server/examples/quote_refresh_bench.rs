//! Wall time of one `quote_refresh` run over 500 symbols against a slow,
//! rate-limited stand-in for Yahoo's chart API.
//!
//! The mock listens on loopback and answers `GET /v8/finance/chart/{symbol}`
//! with a five-day daily chart after sleeping `--latency-ms` (100 ms). It
//! admits at most `--limit` (50) requests per second and answers the rest at
//! once with HTTP 429 and `Retry-After: 1`, counting them. Two admission
//! rules are available (`--server-limit`):
//! - `window` (default, the strict one): at most `limit` admitted requests in
//!   any sliding one-second interval;
//! - `bucket`: a token bucket holding `limit` tokens, refilled at `limit`/s.
//!
//! The client side is the production code path: `Remote::from_config` with
//! `providers.yahoo.requests_per_second = limit`, `schedules::quote_refresh`
//! and `scheduler::run_once` on a fresh SQLite database. The floor is
//! `symbols / limit` seconds (10 s for 500 symbols at 50/s).
//!
//! ```text
//! cargo run --release -p server --example quote_refresh_bench -- --concurrency 5,8,16,32
//! ```
//!
//! Lines starting with `RESULT` are for scripts:
//! `RESULT <concurrency> <median wall s> <429s of that run> <succeeded> <failed>`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::{Parser, ValueEnum};
use server::bus::Bus;
use server::cache::{CacheConfig, MarketCache};
use server::config::{DatabaseUrl, ProvidersConfig, RemoteConfig};
use server::ingest::Ingest;
use server::providers::remote::Remote;
use server::scheduler;
use server::storage::{Db, runs};
use server::symbol::Symbol;

/// How the mock decides that a request is over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ServerLimit {
    /// At most `limit` requests in any sliding one-second interval.
    Window,
    /// A token bucket of `limit` tokens refilled at `limit` per second.
    Bucket,
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Time a 500-symbol quote refresh against a slow, rate-limited Yahoo mock")]
struct Args {
    /// Symbols refreshed.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// The mock's latency per admitted request, milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// The mock's limit (requests per second), also the client's configured rate.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// The mock's admission rule.
    #[arg(long, value_enum, default_value_t = ServerLimit::Window)]
    server_limit: ServerLimit,
    /// Scheduler concurrencies to try, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "5,8,16,32")]
    concurrency: Vec<usize>,
    /// Runs per concurrency; the median wall time is reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

/// The mock's admission state.
#[derive(Debug)]
enum Gate {
    Window { admitted: VecDeque<Instant> },
    Bucket { tokens: f64, at: Instant },
}

/// The mock's state and counters.
#[derive(Debug)]
struct Mock {
    limit: u32,
    latency: Duration,
    gate: Mutex<Gate>,
    ok: AtomicU64,
    rejected: AtomicU64,
    /// When it answered 429.
    rejections: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl Mock {
    /// Admits a request arriving now, or returns the wait to report in `Retry-After`.
    fn admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *gate {
            Gate::Window { admitted } => {
                while admitted.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
                    admitted.pop_front();
                }
                if admitted.len() >= limit {
                    let oldest = admitted.front().copied().unwrap_or(now);
                    return Err(Duration::from_secs(1).saturating_sub(now.duration_since(oldest)));
                }
                admitted.push_back(now);
                Ok(())
            }
            Gate::Bucket { tokens, at } => {
                let rate = f64::from(self.limit);
                *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(rate);
                *at = now;
                if *tokens < 1.0 {
                    return Err(Duration::from_secs_f64((1.0 - *tokens) / rate));
                }
                *tokens -= 1.0;
                Ok(())
            }
        }
    }
}

/// A deterministic number in `[0, 1)` from a symbol, for its prices.
fn seed(symbol: &str) -> f64 {
    let h = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    #[allow(clippy::cast_precision_loss, reason = "only a fraction is needed")]
    let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

/// Five daily bars as Yahoo sends them: New York session opens (14:30 UTC),
/// parallel arrays, a `meta` block.
fn chart(symbol: &str) -> serde_json::Value {
    // 2024-01-02 .. 2024-01-08, weekdays only.
    let ts: [i64; 5] = [1_704_205_800, 1_704_292_200, 1_704_378_600, 1_704_465_000, 1_704_724_200];
    let base = 20.0 + 480.0 * seed(symbol);
    let close: Vec<f64> = (0..5).map(|i| ((base * (1.0 + 0.01 * f64::from(i))) * 100.0).round() / 100.0).collect();
    let open: Vec<f64> = close.iter().map(|c| ((c * 0.995) * 100.0).round() / 100.0).collect();
    let high: Vec<f64> = close.iter().map(|c| ((c * 1.01) * 100.0).round() / 100.0).collect();
    let low: Vec<f64> = open.iter().map(|o| ((o * 0.99) * 100.0).round() / 100.0).collect();
    let volume: Vec<u64> = (0..5).map(|i| 1_000_000 + 10_000 * i).collect();
    serde_json::json!({"chart": {"result": [{
        "meta": {
            "currency": "USD", "symbol": symbol, "exchangeName": "NMS", "instrumentType": "EQUITY",
            "gmtoffset": -18000, "timezone": "EST", "exchangeTimezoneName": "America/New_York",
            "regularMarketPrice": close[4], "dataGranularity": "1d", "range": "5d"
        },
        "timestamp": ts,
        "indicators": {
            "quote": [{"open": open, "high": high, "low": low, "close": close, "volume": volume}],
            "adjclose": [{"adjclose": close}]
        }
    }], "error": null}})
}

async fn answer(State(mock): State<Arc<Mock>>, Path(symbol): Path<String>) -> Response {
    if let Err(wait) = mock.admit() {
        mock.rejected.fetch_add(1, Ordering::Relaxed);
        mock.rejections.lock().unwrap_or_else(PoisonError::into_inner).push(Instant::now());
        let secs = wait.as_secs_f64().ceil().max(1.0);
        let body = r#"{"finance":{"result":null,"error":{"code":"Too Many Requests"}}}"#;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, format!("{secs:.0}")), (header::CONTENT_TYPE, "application/json".to_owned())],
            body,
        )
            .into_response();
    }
    let now = mock.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    mock.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    tokio::time::sleep(mock.latency).await;
    mock.in_flight.fetch_sub(1, Ordering::Relaxed);
    mock.ok.fetch_add(1, Ordering::Relaxed);
    axum::Json(chart(&symbol)).into_response()
}

/// Starts a mock on a loopback port; returns its base URL and state.
async fn start_mock(args: &Args) -> anyhow::Result<(String, Arc<Mock>, tokio::task::JoinHandle<()>)> {
    let now = Instant::now();
    let gate = match args.server_limit {
        ServerLimit::Window => Gate::Window { admitted: VecDeque::new() },
        ServerLimit::Bucket => Gate::Bucket { tokens: f64::from(args.limit), at: now },
    };
    let mock = Arc::new(Mock {
        limit: args.limit,
        latency: Duration::from_millis(args.latency_ms),
        gate: Mutex::new(gate),
        ok: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        rejections: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        peak_in_flight: AtomicUsize::new(0),
    });
    let app =
        axum::Router::new().route("/v8/finance/chart/{symbol}", axum::routing::get(answer)).with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("mock server stopped: {e}");
        }
    });
    Ok((format!("http://{addr}"), mock, task))
}

/// One run's outcome.
#[derive(Debug, Clone)]
struct Outcome {
    wall: Duration,
    rejected: u64,
    rejected_at: Vec<Duration>,
    ok: u64,
    succeeded: i32,
    failed: i32,
    retries: u64,
    peak_in_flight: usize,
    final_rate: f64,
}

async fn run(args: &Args, symbols: &[Symbol], concurrency: usize) -> anyhow::Result<Outcome> {
    let (base_url, mock, server) = start_mock(args).await?;
    let dir = tempfile::tempdir()?;
    let url = DatabaseUrl::from(format!("sqlite://{}", dir.path().join("bench.db").display()).as_str());
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let providers = ProvidersConfig {
        yahoo: RemoteConfig { base_url, requests_per_second: f64::from(args.limit), timeout_secs: 15 },
        ..ProvidersConfig::default()
    };
    let remote = Remote::from_config(&providers)?;
    let schedule = server::schedules::quote_refresh(
        Ingest::new(db.clone(), MarketCache::new(&CacheConfig::default())).publishing(Bus::new(1024)),
        remote.clone(),
        symbols.to_vec(),
        Duration::from_secs(60),
        concurrency,
    );
    let started = Instant::now();
    let id = scheduler::run_once(&db, &schedule).await?;
    let wall = started.elapsed();
    let run = runs::list(&db, Some("quote_refresh"), 1)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .context("the run was not recorded")?;
    let health = remote.health().into_iter().find(|(name, _)| *name == "yahoo").map(|(_, h)| h);
    db.close().await;
    dir.close()?;
    server.abort();
    Ok(Outcome {
        wall,
        rejected: mock.rejected.load(Ordering::Relaxed),
        rejected_at: mock
            .rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|t| t.saturating_duration_since(started))
            .collect(),
        ok: mock.ok.load(Ordering::Relaxed),
        succeeded: run.succeeded,
        failed: run.failed,
        retries: health.as_ref().map_or(0, |h| h.retries),
        peak_in_flight: mock.peak_in_flight.load(Ordering::Relaxed),
        final_rate: health.as_ref().map_or(0.0, |h| h.current_rate),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let symbols: Vec<Symbol> =
        (0..args.symbols).map(|i| Symbol::parse(&format!("Q{i:04}"))).collect::<Result<_, _>>()?;
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    let floor = args.symbols as f64 / f64::from(args.limit);
    println!(
        "{} symbols, mock latency {} ms, limit {}/s ({:?}), floor {floor:.1} s",
        args.symbols, args.latency_ms, args.limit, args.server_limit
    );
    for &concurrency in &args.concurrency {
        let mut outcomes = Vec::new();
        for n in 0..args.runs.max(1) {
            let o = run(&args, &symbols, concurrency).await?;
            println!(
                "concurrency {concurrency:>3} run {}: wall {:>6.2} s ({:+5.1}% over the floor), 200s {}, 429s {}, \
                 retries {}, succeeded {}, failed {}, peak in flight {}, final limiter rate {:.1}/s",
                n + 1,
                o.wall.as_secs_f64(),
                100.0 * (o.wall.as_secs_f64() / floor - 1.0),
                o.ok,
                o.rejected,
                o.retries,
                o.succeeded,
                o.failed,
                o.peak_in_flight,
                o.final_rate,
            );
            if !o.rejected_at.is_empty() {
                let at: Vec<String> = o.rejected_at.iter().map(|t| format!("{:.2}", t.as_secs_f64())).collect();
                println!("    429s at (s into the run): {}", at.join(" "));
            }
            outcomes.push(o);
        }
        outcomes.sort_by_key(|o| o.wall);
        if let Some(m) = outcomes.get(outcomes.len() / 2) {
            println!("RESULT {concurrency} {:.2} {} {} {}", m.wall.as_secs_f64(), m.rejected, m.succeeded, m.failed);
        }
    }
    Ok(())
}
