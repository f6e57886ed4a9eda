//! `finstage backfill --provider yahoo|investing` end to end: the binary, its
//! configuration and the durable job, against a loopback server shaped like
//! the real APIs.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
mod mocks;

use std::process::Command;

use mocks::http::{MockServer, Reply};
use quant::Timeframe;
use server::storage::{bars, jobs};

const BIN: &str = env!("CARGO_BIN_EXE_finstage");

/// Two trading days of AAPL as Yahoo's chart API returns them (one open is null).
const CHART: &str = r#"{"chart":{"result":[{
  "meta":{"currency":"USD","symbol":"AAPL","gmtoffset":-18000,"timezone":"EST","regularMarketPrice":181.91},
  "timestamp":[1704205800,1704292200,1704378600],
  "indicators":{"quote":[{"open":[187.15,184.22,null],"high":[188.44,185.88,183.09],
                          "low":[183.89,183.43,180.88],"close":[185.64,184.25,181.91],
                          "volume":[82488700,58414500,71983600]}],
                "adjclose":[{"adjclose":[184.73,183.34,181.02]}]}}],"error":null}}"#;

async fn run(args: &[&str], envs: Vec<(&'static str, String)>) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(&args).env("FINSTAGE_LOG", "warn").env_remove("DATABASE_URL").env_remove("FINSTAGE_CONFIG");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yahoo_backfill_stores_the_bars_once_with_retries_on_server_errors() {
    let t = common::TestDb::sqlite().await;
    // The first answer is a server error: the provider's retry recovers.
    let yahoo = MockServer::start(vec![Reply::json(500, "{}"), Reply::json(200, CHART)]).await;
    let envs = || {
        vec![
            ("FINSTAGE_DATABASE_URL", t.url.expose().to_owned()),
            ("FINSTAGE_PROVIDERS__YAHOO__BASE_URL", yahoo.base_url.clone()),
        ]
    };
    let args = ["backfill", "--symbol", "aapl", "--from", "2024-01-01", "--to", "2024-01-31", "--provider", "yahoo"];
    let out = run(&args, envs()).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(yahoo.hits(), 2);
    let seen = yahoo.seen();
    assert_eq!(seen[1].path, "/v8/finance/chart/AAPL");
    assert!(seen[1].query.contains("interval=1d"), "{}", seen[1].query);

    // The bar with a null open is dropped; the other two are stored at the
    // start of their trading day (UTC), as daily bars are everywhere.
    let stored = bars::latest(&t.db, "AAPL", Timeframe::D1, 10).await.unwrap();
    assert_eq!(stored.iter().map(|b| b.ts).collect::<Vec<_>>(), vec![1_704_153_600, 1_704_240_000]);
    assert_eq!(stored[0].close, 185.64);

    // Asking again finds the finished job: no new request, no new rows.
    let out = run(&args, envs()).await;
    assert!(out.status.success());
    assert_eq!(yahoo.hits(), 2);
    assert_eq!(jobs::list(&t.db, None, 10).await.unwrap().len(), 1);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_investing_block_fails_the_job_with_a_clear_message() {
    let t = common::TestDb::sqlite().await;
    let blocked = Reply::json(403, "<html><title>Just a moment...</title></html>")
        .header("server", "cloudflare")
        .header("cf-mitigated", "challenge");
    let investing = MockServer::start(vec![blocked]).await;
    let envs = vec![
        ("FINSTAGE_DATABASE_URL", t.url.expose().to_owned()),
        ("FINSTAGE_PROVIDERS__INVESTING__BASE_URL", investing.base_url.clone()),
        ("FINSTAGE_PROVIDERS__INVESTING__PAIRS", "{AAPL=6408}".to_owned()),
    ];
    let args =
        ["backfill", "--symbol", "AAPL", "--from", "2024-01-01", "--to", "2024-01-31", "--provider", "investing"];
    // A block is permanent: one request, no provider retry, no job retry.
    let out = run(&args, envs).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("blocked"), "the message names the block: {stderr}");
    assert_eq!(investing.hits(), 1);
    let job = jobs::list(&t.db, None, 1).await.unwrap().pop().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("dead", 1));
    assert_eq!(bars::count(&t.db, "AAPL", Timeframe::D1).await.unwrap(), 0);
    t.cleanup().await;
}

/// The fault from the issue: a provider failing repeatedly opens its circuit.
/// The open circuit used to count as a permanent failure, so the backfill went
/// dead at attempt 3 of 5 with nothing stored. Now a refusal by the open
/// circuit puts the job back until the circuit's next probe, with its attempt
/// returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_defers_the_backfill_without_using_an_attempt() {
    use server::backfill::{self, Backfill, Source};
    use server::jobs::{Registry, Step};

    let t = common::TestDb::sqlite().await;
    let yahoo = MockServer::start(vec![Reply::json(500, "{}")]).await;
    let mut providers = server::config::ProvidersConfig::default();
    providers.yahoo.base_url.clone_from(&yahoo.base_url);
    providers.yahoo.requests_per_second = 1_000.0;
    let remote = server::providers::remote::Remote::from_config(&providers).unwrap();
    let mut registry = Registry::default();
    let cache = server::cache::MarketCache::new(&server::cache::CacheConfig::default());
    backfill::register(&mut registry, server::ingest::Ingest::new(t.db.clone(), cache), remote);
    let request = Backfill {
        symbol: server::symbol::Symbol::parse("BTC-USD").unwrap(),
        timeframe: Timeframe::D1,
        from: chrono::NaiveDate::from_ymd_opt(2013, 1, 1).unwrap(),
        to: chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        source: Source::Yahoo,
        seed: 0,
    };
    let id = jobs::enqueue(&t.db, &request.job().unwrap(), server::jobs::now_ms()).await.unwrap();

    // Attempt 1: four requests (the provider's own retries) fail. Attempt 2:
    // the fifth failure opens the circuit. Attempt 3 is refused by the circuit.
    let mut steps = Vec::new();
    while steps.len() < 3 {
        match server::jobs::run_once(&t.db, &registry, "w").await.unwrap() {
            Step::Idle => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            step => steps.push(step),
        }
    }
    assert_eq!(steps, [Step::Failed(id), Step::Failed(id), Step::Deferred(id)]);
    assert_eq!(yahoo.hits(), 5, "the open circuit sent no request");
    let job = jobs::get(&t.db, id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 2), "the refused attempt was given back");
    assert!(job.last_error.as_deref().unwrap_or_default().contains("circuit open"), "{:?}", job.last_error);
    let wait = job.run_at - server::jobs::now_ms();
    assert!(wait > 20_000, "due at the circuit's next probe, {wait} ms away");
    t.cleanup().await;
}

/// A first start with the Yahoo feed: the schedules that read the history
/// (all-time highs, strategy backtests) used to run at once, before the
/// start-up backfill had stored anything, and recorded failures until their
/// next daily run. They now start when the start-up backfill has settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_yahoo_feed_history_schedules_wait_for_the_startup_backfill() {
    let t = common::TestDb::sqlite().await;
    // Slow enough that a schedule started at once would certainly find no bars.
    let yahoo = MockServer::start(vec![Reply::json(200, CHART).delayed(std::time::Duration::from_millis(1_500))]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = KillOnDrop(
        Command::new(BIN)
            .arg("serve")
            .env("FINSTAGE_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("FINSTAGE_CONFIG")
            .env("FINSTAGE_DATABASE_URL", t.url.expose())
            .env("FINSTAGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FINSTAGE_FEED", "yahoo")
            .env("FINSTAGE_WATCHLIST", "AAPL")
            .env("FINSTAGE_PROVIDERS__YAHOO__BASE_URL", &yahoo.base_url)
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run = loop {
        let runs = server::storage::runs::list(&t.db, Some("all_time_high"), 1).await.unwrap_or_default();
        if let Some(run) = runs.into_iter().find(|r| r.finished_at.is_some()) {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "no all_time_high run within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    drop(child);
    assert_eq!((run.succeeded, run.failed), (1, 0), "{}", run.errors);
    let backfill = jobs::list(&t.db, None, 10).await.unwrap().into_iter().find(|j| j.kind == "backfill").unwrap();
    assert_eq!(backfill.status, "done");
    assert!(backfill.updated_at <= run.started_at, "the schedule started after the backfill finished");
    t.cleanup().await;
}

/// A server process that is killed when the test ends, failed or not (a
/// failed test must not leave it running, holding the test's output open).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
