//! Yahoo Finance's chart API (`/v8/finance/chart/{symbol}`), answering every
//! symbol with a made-up but fixed daily history, shaped like the real
//! payload: one entry per weekday stamped at the New York open, with the
//! exchange's UTC offset, so the parser moves each bar to 00:00 UTC.
//!
//! [`expected`] gives what a complete backfill must store; push faults ahead
//! of the real answers with [`MockServer::push`] and the `Reply` helpers
//! (429 with `Retry-After`, 500, truncated JSON, a Cloudflare challenge, an
//! answer slower than the client's timeout) or [`rate_limited`] here.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Weekday};
use quant::Bar;
use serde_json::json;

use super::http::{MockServer, Reply, Seen};

/// The New York open, 14:30 UTC in winter, as Yahoo stamps daily bars.
const OPEN_OFFSET: i64 = 14 * 3_600 + 30 * 60;

/// A Yahoo chart server for any symbol.
pub async fn start() -> MockServer {
    MockServer::serve(Arc::new(chart)).await
}

/// Yahoo's answer to too many requests.
pub fn rate_limited(retry_after_secs: u64) -> Reply {
    Reply::rate_limited(retry_after_secs, r#"{"finance":{"result":null,"error":{"code":"Too Many Requests"}}}"#)
}

/// The daily bar of `symbol` on `day` (00:00 UTC), if that day is a weekday.
pub fn bar(symbol: &str, day: NaiveDate) -> Option<Bar> {
    if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        return None;
    }
    let seed = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let base = 20.0 + (seed % 500) as f64;
    let n = f64::from(day.num_days_from_ce());
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let close = round(base * (1.0 + 0.2 * (n / 37.0).sin() + 0.03 * (n / 3.0).cos()));
    let open = round(close * (1.0 + 0.01 * (n / 5.0).sin()));
    let high = round(open.max(close) * 1.012);
    let low = round(open.min(close) * 0.988);
    let volume = 1_000_000.0 + ((seed >> 8) % 1_000) as f64 * 1_000.0 + (n % 97.0) * 10_000.0;
    let ts = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(Bar { ts, open, high, low, close, volume })
}

/// Every bar of `symbol` from `from` to `to`, both included: what a complete backfill stores.
pub fn expected(symbol: &str, from: NaiveDate, to: NaiveDate) -> Vec<Bar> {
    from.iter_days().take_while(|d| *d <= to).filter_map(|d| bar(symbol, d)).collect()
}

/// The chart payload for `bars` (stamped at the New York open).
pub fn chart_json(symbol: &str, bars: &[Bar]) -> String {
    let col = |f: fn(&Bar) -> f64| bars.iter().map(f).collect::<Vec<_>>();
    json!({"chart": {"result": [{
        "meta": {"currency": "USD", "symbol": symbol, "exchangeName": "NMS", "instrumentType": "EQUITY",
                 "gmtoffset": -18_000, "timezone": "EST", "exchangeTimezoneName": "America/New_York",
                 "regularMarketPrice": bars.last().map(|b| b.close), "dataGranularity": "1d"},
        "timestamp": bars.iter().map(|b| b.ts + OPEN_OFFSET).collect::<Vec<_>>(),
        "indicators": {
            "quote": [{"open": col(|b| b.open), "high": col(|b| b.high), "low": col(|b| b.low),
                       "close": col(|b| b.close), "volume": col(|b| b.volume)}],
            "adjclose": [{"adjclose": col(|b| b.close)}]
        }
    }], "error": null}})
    .to_string()
}

/// The payload of a full answer for `symbol` over `from..=to`, to cut short or script.
pub fn chart_for(symbol: &str, from: NaiveDate, to: NaiveDate) -> String {
    chart_json(symbol, &expected(symbol, from, to))
}

fn chart(seen: &Seen) -> Reply {
    let Some(symbol) = seen.path.strip_prefix("/v8/finance/chart/") else {
        return Reply::json(404, r#"{"finance":{"result":null,"error":{"code":"Not Found"}}}"#);
    };
    if seen.param("interval").as_deref() != Some("1d") {
        let body =
            r#"{"chart":{"result":null,"error":{"code":"Bad Request","description":"this stand-in serves 1d"}}}"#;
        return Reply::json(400, body);
    }
    let today = chrono::Utc::now().date_naive();
    let date = |ts: i64| chrono::DateTime::from_timestamp(ts, 0).map(|t| t.date_naive());
    let span = match (seen.param("period1"), seen.param("period2"), seen.param("range")) {
        (Some(p1), Some(p2), _) => {
            match (p1.parse().ok().and_then(date), p2.parse::<i64>().ok().and_then(|p| date(p - 1))) {
                (Some(from), Some(to)) => Some((from, to)),
                _ => None,
            }
        }
        (_, _, Some(range)) => {
            let days = match range.as_str() {
                "1d" => 1,
                "5d" => 5,
                "1mo" => 31,
                "3mo" => 92,
                "6mo" => 183,
                "1y" => 366,
                "2y" => 731,
                "5y" => 1_827,
                _ => 3_653,
            };
            Some((today - chrono::Duration::days(days), today))
        }
        _ => None,
    };
    let Some((from, to)) = span else {
        let body =
            r#"{"chart":{"result":null,"error":{"code":"Bad Request","description":"period1/period2 or range"}}}"#;
        return Reply::json(400, body);
    };
    // Nothing after today, as on the real service.
    let bars = expected(symbol, from, to.min(today));
    Reply::json(200, chart_json(symbol, &bars))
}
