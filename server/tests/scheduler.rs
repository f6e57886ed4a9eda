//! The scheduler: bounded fan-out, recorded runs, no overlapping runs, and the
//! quote refresh against a loopback Yahoo.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
mod mocks;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mocks::http::{MockServer, Reply};
use serde_json::json;
use server::scheduler::{self, Cadence, Schedule, Task};
use server::storage::{Db, runs};
use server::symbol::Symbol;

fn symbols(n: usize) -> Vec<Symbol> {
    (0..n).map(|i| Symbol::parse(&format!("S{i:02}")).unwrap()).collect()
}

/// A task that sleeps, tracks how many run at once, and fails for S03, S07, S11.
fn tracked(in_flight: Arc<AtomicUsize>, peak: Arc<AtomicUsize>, pause: Duration) -> Task {
    Arc::new(move |symbol: Symbol| {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        Box::pin(async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(pause).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            match symbol.as_str() {
                "S03" | "S07" | "S11" => Err(format!("no data for {symbol}").into()),
                _ => Ok(()),
            }
        })
    })
}

async fn a_run_fans_out_with_bounded_concurrency_and_records_failures(db: &Db) {
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let schedule = Schedule {
        name: "test".into(),
        cadence: Cadence::Every(Duration::from_secs(60)),
        concurrency: 4,
        symbols: symbols(20).into(),
        task: tracked(in_flight, peak.clone(), Duration::from_millis(20)),
    };
    let id = scheduler::run_once(db, &schedule).await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 4, "at most 4 at once, and it did use 4");
    let run = runs::list(db, Some("test"), 10).await.unwrap().pop().unwrap();
    assert_eq!((run.id, run.status.as_str(), run.succeeded, run.failed), (id, "partial", 17, 3));
    assert!(run.finished_at.unwrap() >= run.started_at);
    let errors: serde_json::Value = serde_json::from_str(&run.errors).unwrap();
    assert_eq!(
        errors,
        json!([{"symbol": "S03", "error": "no data for S03"}, {"symbol": "S07", "error": "no data for S07"},
               {"symbol": "S11", "error": "no data for S11"}])
    );
    let all_fail = Schedule { symbols: vec![Symbol::parse("S03").unwrap()].into(), ..schedule };
    scheduler::run_once(db, &all_fail).await.unwrap();
    assert_eq!(runs::list(db, Some("test"), 1).await.unwrap()[0].status, "failed");
}

on_both_backends!(a_run_fans_out_with_bounded_concurrency_and_records_failures);

/// Waits on recorded runs, not on the clock. (Not tokio's paused clock: the
/// runs are recorded in SQLite, whose connection works on a thread of its own;
/// while the runtime waits for it, a paused clock jumps to the next timer and
/// fires sqlx's acquire timeout.)
#[tokio::test]
async fn a_slow_run_delays_the_next_instead_of_overlapping_it() {
    let t = common::TestDb::sqlite().await;
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // Every 10 ms, but each run takes at least 50 ms: a scheduler that started
    // a run per tick would have several in flight at once.
    let schedule = Schedule {
        name: "slow".into(),
        cadence: Cadence::Every(Duration::from_millis(10)),
        concurrency: 1,
        symbols: symbols(1).into(),
        task: tracked(in_flight, peak.clone(), Duration::from_millis(50)),
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(scheduler::run(t.db.clone(), vec![schedule], shutdown.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let recorded = runs::list(&t.db, Some("slow"), 100).await.unwrap();
        if recorded.iter().filter(|r| r.finished_at.is_some()).count() >= 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "three runs did not finish within 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running).await.unwrap().unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 1, "never two runs at once");
    let mut recorded = runs::list(&t.db, Some("slow"), 100).await.unwrap();
    recorded.reverse();
    assert!(recorded.len() >= 3, "{} runs", recorded.len());
    for pair in recorded.windows(2) {
        assert!(
            pair[1].started_at >= pair[0].finished_at.unwrap(),
            "run {} started before {} ended",
            pair[1].id,
            pair[0].id
        );
    }
    t.cleanup().await;
}

const CHART: &str = r#"{"chart":{"result":[{"meta":{"currency":"USD","gmtoffset":-18000},
  "timestamp":[1704205800,1704292200],
  "indicators":{"quote":[{"open":[187.15,184.22],"high":[188.44,185.88],"low":[183.89,183.43],
  "close":[185.64,184.25],"volume":[82488700,58414500]}]}}],"error":null}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_refresh_stores_bars_and_publishes_quotes() {
    let t = common::TestDb::sqlite().await;
    let yahoo = MockServer::start(vec![Reply::json(200, CHART)]).await;
    let mut config = server::config::ProvidersConfig::default();
    config.yahoo.base_url = yahoo.base_url.clone();
    let remote = server::providers::remote::Remote::from_config(&config).unwrap();
    let bus = server::bus::Bus::new(16);
    let watch = vec![Symbol::parse("AAPL").unwrap(), Symbol::parse("MSFT").unwrap()];
    let cache = server::cache::MarketCache::new(&server::cache::CacheConfig::default());
    // Nothing stored yet, and the cache remembers that.
    let aapl = server::storage::symbols::SymbolRow { symbol: "AAPL".into(), name: None, simulated: false };
    let stored_quote = |cache| {
        let (db, aapl) = (t.db.clone(), aapl.clone());
        async move { server::quotes::latest(&db, &server::bus::Bus::new(1), &cache, aapl).await.unwrap() }
    };
    assert_eq!(stored_quote(cache.clone()).await, None);
    let schedule = server::schedules::quote_refresh(
        server::ingest::Ingest::new(t.db.clone(), cache.clone()).publishing(bus.clone()),
        remote,
        watch,
        Duration::from_secs(60),
        2,
    );
    scheduler::run_once(&t.db, &schedule).await.unwrap();

    let run = runs::list(&t.db, Some("quote_refresh"), 1).await.unwrap().pop().unwrap();
    assert_eq!((run.status.as_str(), run.succeeded), ("ok", 2), "{}", run.errors);
    assert_eq!(yahoo.hits(), 2);
    let quote = bus.latest_quote("MSFT").unwrap();
    assert_eq!((quote.price, quote.prev_close), (184.25, Some(185.64)));
    assert_eq!(server::storage::bars::count(&t.db, "AAPL", quant::Timeframe::D1).await.unwrap(), 2);
    // The refresh stored new bars, so the cached "no quote" is not served again.
    assert_eq!(stored_quote(cache.clone()).await.map(|q| q.last), Some(184.25));
    assert_eq!(cache.quote_stats().misses, 2);
    t.cleanup().await;
}
