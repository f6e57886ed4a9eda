//! `finstage backfill --provider yahoo|investing` end to end: the binary, its
//! configuration and the durable job, against a loopback server shaped like
//! the real APIs.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
mod providers_mock;

use std::process::Command;

use providers_mock::{MockServer, Reply};
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
