//! The Investing.com provider against a loopback server, Cloudflare included.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod mocks;

use std::collections::HashMap;
use std::time::Duration;

use mocks::http::{ManualClock, MockServer, Reply};
use quant::Timeframe;
use server::providers::investing::{Investing, InvestingConfig};
use server::providers::resilience::{ResilienceConfig, Resilient};
use server::providers::{HistoryProvider, HistoryRequest, ProviderError};
use server::symbol::Symbol;

/// Newest first, as the site sends it; the middle row lacks its high.
const HISTORICAL: &str = r#"{"data":[
  {"rowDate":"Jan 04, 2024","rowDateTimestamp":"2024-01-04T00:00:00Z","last_close":"181.91","last_open":"182.15",
   "last_closeRaw":181.91,"last_openRaw":182.15,"last_maxRaw":183.09,"last_minRaw":180.88,"volumeRaw":71983600,
   "change_precentRaw":-1.27},
  {"rowDate":"Jan 03, 2024","rowDateTimestamp":"2024-01-03T00:00:00Z",
   "last_closeRaw":184.25,"last_openRaw":184.22,"last_maxRaw":null,"last_minRaw":183.43,"volumeRaw":58414500},
  {"rowDate":"Jan 02, 2024","rowDateTimestamp":"2024-01-02T00:00:00Z",
   "last_closeRaw":185.64,"last_openRaw":187.15,"last_maxRaw":188.44,"last_minRaw":183.89,"volumeRaw":82488700}
]}"#;

const CHALLENGE: &str = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>\
    <script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1\"></script></body></html>";

fn investing(server: &MockServer) -> Investing {
    let client = server::providers::http::shared_client().unwrap();
    let pairs = HashMap::from([(Symbol::parse("AAPL").unwrap(), 6408)]);
    Investing::new(
        client,
        InvestingConfig { base_url: server.base_url.clone(), timeout: Duration::from_secs(5), pairs },
    )
}

fn request(symbol: &str) -> HistoryRequest {
    HistoryRequest::between(Symbol::parse(symbol).unwrap(), Timeframe::D1, 1_704_153_600, 1_704_412_800)
}

#[tokio::test]
async fn parses_rows_oldest_first_and_sends_the_site_headers() {
    let server = MockServer::start(vec![Reply::json(200, HISTORICAL)]).await;
    let history = investing(&server).history(&request("AAPL")).await.unwrap();
    assert_eq!(history.bars.iter().map(|b| b.ts).collect::<Vec<_>>(), [1_704_153_600, 1_704_326_400]);
    assert_eq!(history.dropped, 1);
    assert_eq!(history.bars[0].close, 185.64);
    assert!(history.bars.iter().all(quant::Bar::is_consistent));
    assert_eq!(history.adj_close, [None, None]);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/financialdata/historical/6408");
    assert_eq!(seen[0].query, "start-date=2024-01-02&end-date=2024-01-04&time-frame=Daily&add-missing-rows=false");
    assert_eq!(seen[0].headers.get("domain-id").unwrap(), "www");
}

#[tokio::test]
async fn a_cloudflare_403_is_blocked_and_not_retried() {
    let server = MockServer::start(vec![
        Reply::json(403, CHALLENGE)
            .header("content-type", "text/html; charset=UTF-8")
            .header("server", "cloudflare")
            .header("cf-mitigated", "challenge"),
    ])
    .await;
    let resilient = Resilient::with_clock(investing(&server), ResilienceConfig::default(), ManualClock::new());
    let err = resilient.history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Blocked { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(server.hits(), 1);
    assert_eq!(resilient.health().retries, 0);
}

#[tokio::test]
async fn a_cloudflare_503_page_is_blocked_too() {
    let server = MockServer::start(vec![Reply::json(503, CHALLENGE).header("server", "cloudflare")]).await;
    let err = investing(&server).history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Blocked { .. }), "{err}");
    // A plain 503 without Cloudflare's marks is an ordinary, retryable 5xx.
    let server = MockServer::start(vec![Reply::json(503, r#"{"error":"maintenance"}"#)]).await;
    let err = investing(&server).history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Status { status: 503, .. }) && err.is_retryable(), "{err}");
}

#[tokio::test]
async fn unmapped_symbols_and_intraday_are_refused_without_a_request() {
    let server = MockServer::start(vec![Reply::json(200, HISTORICAL)]).await;
    let err = investing(&server).history(&request("MSFT")).await.unwrap_err();
    assert!(matches!(err, ProviderError::UnknownSymbol { .. }), "{err}");
    let req = HistoryRequest::between(Symbol::parse("AAPL").unwrap(), Timeframe::M5, 0, 600);
    let err = investing(&server).history(&req).await.unwrap_err();
    assert!(matches!(err, ProviderError::UnsupportedTimeframe { .. }), "{err}");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn no_data_is_an_empty_history_and_garbage_is_malformed() {
    let server = MockServer::start(vec![Reply::json(200, r#"{"data":null}"#), Reply::json(200, "<html>")]).await;
    assert!(investing(&server).history(&request("AAPL")).await.unwrap().bars.is_empty());
    let err = investing(&server).history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn a_429_is_rate_limited_with_its_retry_after() {
    let server = MockServer::start(vec![Reply::json(429, "{}").header("retry-after", "30")]).await;
    let err = investing(&server).history(&request("AAPL")).await.unwrap_err();
    assert!(err.is_rate_limited() && err.is_retryable(), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}
