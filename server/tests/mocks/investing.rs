//! Investing.com's historical-data API
//! (`/api/financialdata/historical/{pair_id}?start-date=..&end-date=..`),
//! answering every pair id with a fixed daily history, newest row first, in
//! the site's field names. [`expected`] gives what a complete backfill of a
//! pair stores; faults are pushed ahead with [`MockServer::push`].

use std::sync::Arc;

use chrono::NaiveDate;
use quant::Bar;
use serde_json::json;

use super::http::{MockServer, Reply, Seen};

/// An Investing.com server for any pair id.
pub async fn start() -> MockServer {
    MockServer::serve(Arc::new(historical)).await
}

/// Every bar of `pair` over `from..=to` (weekdays; the same series generator as the Yahoo stand-in).
pub fn expected(pair: u64, from: NaiveDate, to: NaiveDate) -> Vec<Bar> {
    super::yahoo::expected(&format!("pair-{pair}"), from, to)
}

fn historical(seen: &Seen) -> Reply {
    let pair = seen.path.strip_prefix("/api/financialdata/historical/").and_then(|p| p.parse::<u64>().ok());
    let date = |name: &str| seen.param(name).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let (Some(pair), Some(from), Some(to)) = (pair, date("start-date"), date("end-date")) else {
        return Reply::json(400, r#"{"error":"bad request"}"#);
    };
    let today = chrono::Utc::now().date_naive();
    let rows: Vec<_> = expected(pair, from, to.min(today))
        .iter()
        .rev()
        .map(|b| {
            let day = chrono::DateTime::from_timestamp(b.ts, 0).unwrap_or_default();
            json!({
                "rowDate": day.format("%b %d, %Y").to_string(),
                "rowDateTimestamp": day.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "last_close": format!("{:.2}", b.close),
                "last_closeRaw": b.close, "last_openRaw": b.open, "last_maxRaw": b.high, "last_minRaw": b.low,
                "volumeRaw": b.volume,
            })
        })
        .collect();
    if rows.is_empty() {
        return Reply::json(200, r#"{"data":null}"#);
    }
    Reply::json(200, json!({ "data": rows }).to_string())
}
