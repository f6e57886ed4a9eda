//! The Yahoo chart provider against a loopback server speaking Yahoo's shapes.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod mocks;

use std::time::Duration;

use mocks::http::{ManualClock, MockServer, Reply};
use quant::Timeframe;
use server::providers::resilience::{Backoff, ResilienceConfig, Resilient};
use server::providers::yahoo::{Yahoo, YahooConfig};
use server::providers::{HistoryProvider, HistoryRequest, NamedRange, ProviderError};
use server::symbol::Symbol;

/// 2024-01-02, -03, -04 at 14:30 UTC (09:30 New York), and the 00:00 UTC days.
const TS: [i64; 3] = [1_704_205_800, 1_704_292_200, 1_704_378_600];
const DAY: [i64; 3] = [1_704_153_600, 1_704_240_000, 1_704_326_400];

const CHART: &str = r#"{"chart":{"result":[{
  "meta":{"currency":"USD","symbol":"AAPL","exchangeName":"NMS","instrumentType":"EQUITY",
          "gmtoffset":-18000,"timezone":"EST","exchangeTimezoneName":"America/New_York",
          "regularMarketPrice":181.91,"dataGranularity":"1d","range":""},
  "timestamp":[1704205800,1704292200,1704378600],
  "events":{"dividends":{"1704292200":{"amount":0.24,"date":1704292200}},
            "splits":{"1704205800":{"date":1704205800,"numerator":4.0,"denominator":1.0,"splitRatio":"4:1"}}},
  "indicators":{"quote":[{"open":[187.15,184.22,null],"high":[188.44,185.88,183.09],
                          "low":[183.89,183.43,180.88],"close":[185.64,184.25,181.91],
                          "volume":[82488700,null,71983600]}],
                "adjclose":[{"adjclose":[184.73,null,181.02]}]}}],"error":null}}"#;

const NOT_FOUND: &str =
    r#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}"#;

fn yahoo(server: &MockServer, timeout: Duration) -> Yahoo {
    let client = server::providers::http::shared_client().unwrap();
    Yahoo::new(client, YahooConfig { base_url: server.base_url.clone(), timeout })
}

fn request(symbol: &str) -> HistoryRequest {
    HistoryRequest::between(Symbol::parse(symbol).unwrap(), Timeframe::D1, 1_704_153_600, 1_704_412_800)
}

#[tokio::test]
async fn parses_bars_events_and_meta_skipping_null_prices() {
    let server = MockServer::start(vec![Reply::json(200, CHART)]).await;
    let history = yahoo(&server, Duration::from_secs(5)).history(&request("AAPL")).await.unwrap();

    // The third row has a null open and is skipped; the null volume reads 0.
    assert_eq!(history.bars.len(), 2);
    assert_eq!(history.dropped, 1);
    assert_eq!(history.bars.iter().map(|b| b.ts).collect::<Vec<_>>(), DAY[..2]);
    assert_eq!(history.bars[0].close, 185.64);
    assert_eq!(history.bars[1].volume, 0.0);
    assert!(history.bars.iter().all(quant::Bar::is_consistent));
    assert_eq!(history.adj_close, [Some(184.73), None]);
    assert_eq!(history.currency.as_deref(), Some("USD"));
    assert_eq!(history.exchange_timezone.as_deref(), Some("America/New_York"));
    assert_eq!(history.last_price, Some(181.91));
    assert_eq!(history.dividends.len(), 1);
    assert_eq!((history.dividends[0].ts, history.dividends[0].amount), (TS[1], 0.24));
    assert_eq!((history.splits[0].numerator, history.splits[0].denominator), (4.0, 1.0));

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v8/finance/chart/AAPL");
    assert!(seen[0].query.starts_with("interval=1d&period1=1704153600&period2=1704412800"), "{}", seen[0].query);
    assert!(seen[0].headers.get("user-agent").is_some_and(|ua| ua.to_str().unwrap().starts_with("Mozilla/5.0")));
}

#[tokio::test]
async fn named_ranges_and_hourly_bars_use_yahoo_spellings() {
    let server = MockServer::start(vec![Reply::json(200, CHART)]).await;
    let req = HistoryRequest::named(Symbol::parse("^GSPC").unwrap(), Timeframe::H1, NamedRange::Year1);
    let history = yahoo(&server, Duration::from_secs(5)).history(&req).await.unwrap();
    // Intraday bars keep Yahoo's own times.
    assert_eq!(history.bars[0].ts, TS[0]);
    let seen = server.seen();
    // `^` may travel raw or as %5E; Yahoo accepts both.
    assert_eq!(seen[0].path.replace("%5E", "^"), "/v8/finance/chart/^GSPC");
    assert!(seen[0].query.starts_with("interval=60m&range=1y"), "{}", seen[0].query);
}

#[tokio::test]
async fn repairs_an_envelope_that_misses_the_close() {
    let body = CHART.replace("\"high\":[188.44", "\"high\":[185.00");
    let server = MockServer::start(vec![Reply::json(200, body)]).await;
    let history = yahoo(&server, Duration::from_secs(5)).history(&request("AAPL")).await.unwrap();
    assert_eq!(history.bars[0].high, 187.15);
    assert!(history.bars[0].is_consistent());
}

#[tokio::test]
async fn unknown_symbols_come_back_as_chart_error() {
    let server = MockServer::start(vec![Reply::json(404, NOT_FOUND)]).await;
    let err = yahoo(&server, Duration::from_secs(5)).history(&request("NOPE")).await.unwrap_err();
    assert!(matches!(err, ProviderError::UnknownSymbol { ref symbol, .. } if symbol == "NOPE"), "{err}");
    assert!(!err.is_retryable());
    // Also when Yahoo sends the error with a 200.
    let server = MockServer::start(vec![Reply::json(200, NOT_FOUND)]).await;
    let err = yahoo(&server, Duration::from_secs(5)).history(&request("NOPE")).await.unwrap_err();
    assert!(matches!(err, ProviderError::UnknownSymbol { .. }), "{err}");
}

#[tokio::test]
async fn an_empty_result_is_an_empty_history() {
    let body = r#"{"chart":{"result":[{"meta":{"currency":"USD","gmtoffset":-18000},
        "indicators":{"quote":[{}],"adjclose":[{}]}}],"error":null}}"#;
    let server = MockServer::start(vec![Reply::json(200, body)]).await;
    let history = yahoo(&server, Duration::from_secs(5)).history(&request("AAPL")).await.unwrap();
    assert!(history.bars.is_empty() && history.adj_close.is_empty());
    assert_eq!(history.currency.as_deref(), Some("USD"));
}

/// An answer cut short (a 200 with truncated JSON) is usually transient: it is
/// retried, within the configured attempts, and then given up.
#[tokio::test]
async fn a_truncated_answer_is_retried_a_bounded_number_of_times() {
    const TRUNCATED: &str = r#"{"chart":{"result":[{"timestamp":[1,2"#;
    let server = MockServer::start(vec![Reply::json(200, TRUNCATED), Reply::json(200, CHART)]).await;
    let resilient =
        Resilient::with_clock(yahoo(&server, Duration::from_secs(5)), ResilienceConfig::default(), ManualClock::new());
    assert_eq!(resilient.history(&request("AAPL")).await.unwrap().bars.len(), 2);
    assert_eq!(server.hits(), 2);

    let always = MockServer::start(vec![Reply::json(200, TRUNCATED)]).await;
    let config = ResilienceConfig::default();
    let attempts = config.max_attempts as usize;
    let resilient = Resilient::with_clock(yahoo(&always, Duration::from_secs(5)), config, ManualClock::new());
    let err = resilient.history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Malformed { .. }), "{err}");
    assert_eq!(always.hits(), attempts, "one request per attempt, no more");
}

/// Yahoo behind a Cloudflare challenge was reported as `HTTP 403: <!DOCTYPE
/// html>...` and retried; it is a block, and blocks are not retried.
#[tokio::test]
async fn a_cloudflare_challenge_is_reported_as_blocked() {
    const CHALLENGE: &str = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>\
        <script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1\"></script></body></html>";
    let server = MockServer::start(vec![
        Reply::json(403, CHALLENGE).header("content-type", "text/html; charset=UTF-8").header("server", "cloudflare"),
    ])
    .await;
    let resilient =
        Resilient::with_clock(yahoo(&server, Duration::from_secs(5)), ResilienceConfig::default(), ManualClock::new());
    let err = resilient.history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Blocked { provider: "yahoo", .. }), "{err}");
    assert_eq!(server.hits(), 1);

    // The interstitial can also come as a 200.
    let server = MockServer::start(vec![Reply::json(200, CHALLENGE)]).await;
    let err = yahoo(&server, Duration::from_secs(5)).history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Blocked { .. }), "{err}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = MockServer::start(vec![Reply::json(200, CHART).delayed(Duration::from_millis(400))]).await;
    let err = yahoo(&server, Duration::from_millis(40)).history(&request("AAPL")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn honours_retry_after_on_429_then_succeeds() {
    let server = MockServer::start(vec![
        Reply::json(429, r#"{"finance":{"error":{"code":"Too Many Requests"}}}"#).header("retry-after", "2"),
        Reply::json(200, CHART),
    ])
    .await;
    let clock = ManualClock::new();
    let resilient =
        Resilient::with_clock(yahoo(&server, Duration::from_secs(5)), ResilienceConfig::default(), clock.clone());
    let history = resilient.history(&request("AAPL")).await.unwrap();
    assert_eq!(history.bars.len(), 2);
    assert_eq!(server.hits(), 2);
    // The retry waited exactly what the server asked for.
    assert!(clock.sleeps().contains(&Duration::from_secs(2)), "{:?}", clock.sleeps());
    let health = resilient.health();
    assert_eq!((health.retries, health.successes, health.failures), (1, 1, 1));
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    let server = MockServer::start(vec![Reply::json(500, "oops"), Reply::json(200, CHART)]).await;
    let clock = ManualClock::new();
    let config = ResilienceConfig {
        backoff: Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) },
        ..ResilienceConfig::default()
    };
    let resilient = Resilient::with_clock(yahoo(&server, Duration::from_secs(5)), config, clock.clone());
    assert_eq!(resilient.history(&request("AAPL")).await.unwrap().bars.len(), 2);
    assert_eq!(server.hits(), 2);
    assert!(clock.sleeps().iter().all(|d| *d <= Duration::from_millis(100)), "{:?}", clock.sleeps());
}

#[tokio::test]
async fn second_bars_are_refused_without_a_request() {
    let server = MockServer::start(vec![Reply::json(200, CHART)]).await;
    let req = HistoryRequest::named(Symbol::parse("AAPL").unwrap(), Timeframe::S5, NamedRange::Day1);
    let err = yahoo(&server, Duration::from_secs(5)).history(&req).await.unwrap_err();
    assert!(matches!(err, ProviderError::UnsupportedTimeframe { .. }), "{err}");
    assert_eq!(server.hits(), 0);
}
