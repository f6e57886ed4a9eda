//! Investing.com historical data through the JSON endpoint its own pages use:
//! `GET {base}/api/financialdata/historical/{pair_id}?start-date=YYYY-MM-DD&
//! end-date=YYYY-MM-DD&time-frame=Daily&add-missing-rows=false` with
//! `domain-id: www`, answering `{"data":[{"rowDateTimestamp":..,
//! "last_openRaw":..,"last_maxRaw":..,"last_minRaw":..,"last_closeRaw":..,
//! "volumeRaw":..}, ...]}`, newest first.
//!
//! Symbols are mapped to Investing.com's numeric pair ids through a map given
//! in the configuration, not through its search endpoint: a search costs an
//! extra request through the same bot wall, and picking the right hit among
//! several listings of one ticker cannot be done reliably by code. A symbol
//! missing from the map is [`ProviderError::UnknownSymbol`].
//!
//! The site sits behind Cloudflare. A challenge (403/503 with
//! `cf-mitigated: challenge`, `server: cloudflare`, or a "Just a moment..."
//! page, even with status 200) is [`ProviderError::Blocked`], which the
//! resilience layer never retries.
//!
//! Only daily and weekly bars are offered. Rows with a missing or
//! non-positive price are dropped; the envelope is repaired with
//! [`repair_bar`]. Daily rows keep their date at 00:00 UTC; weekly rows, dated
//! on the Sunday that starts Investing.com's week, are moved to the following
//! Monday so they match [`Timeframe::bucket_start`]. Adjusted closes are not
//! given by this source. `{"data":null}` or `[]` is an empty [`History`].

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use quant::{Bar, Timeframe};
use reqwest::Url;
use serde::Deserialize;

use super::error::ProviderError;
use super::history::{History, HistoryProvider, HistoryRequest, Span, repair_bar, sort_dedup};
use super::http;
use crate::symbol::Symbol;

const NAME: &str = "investing";

/// Where and how to reach Investing.com.
#[derive(Debug, Clone)]
pub struct InvestingConfig {
    /// Scheme and host (default `https://api.investing.com`).
    pub base_url: String,
    /// Time allowed for one whole request.
    pub timeout: Duration,
    /// Symbol to Investing.com pair id (`AAPL` is 6408 there).
    pub pairs: HashMap<Symbol, u64>,
}

impl Default for InvestingConfig {
    fn default() -> Self {
        Self { base_url: "https://api.investing.com".into(), timeout: Duration::from_secs(15), pairs: HashMap::new() }
    }
}

/// The Investing.com historical-data provider.
#[derive(Debug, Clone)]
pub struct Investing {
    client: reqwest::Client,
    config: InvestingConfig,
}

impl Investing {
    /// A provider using the shared `client`.
    #[must_use]
    pub fn new(client: reqwest::Client, config: InvestingConfig) -> Self {
        Self { client, config }
    }

    /// Investing.com's `time-frame=` for a timeframe.
    ///
    /// # Errors
    /// [`ProviderError::UnsupportedTimeframe`] for anything intraday.
    pub fn time_frame(timeframe: Timeframe) -> Result<&'static str, ProviderError> {
        match timeframe {
            Timeframe::D1 => Ok("Daily"),
            Timeframe::W1 => Ok("Weekly"),
            _ => Err(ProviderError::UnsupportedTimeframe { provider: NAME, timeframe }),
        }
    }

    fn url(&self, req: &HistoryRequest, pair: u64) -> Result<Url, ProviderError> {
        let invalid = |reason: String| ProviderError::InvalidRequest { provider: NAME, reason };
        let (start, end) = dates(req.span, Utc::now().date_naive());
        let mut url = Url::parse(&self.config.base_url)
            .map_err(|e| invalid(format!("base URL `{}`: {e}", self.config.base_url)))?;
        url.path_segments_mut()
            .map_err(|()| invalid(format!("base URL `{}` cannot take a path", self.config.base_url)))?
            .pop_if_empty()
            .extend(["api", "financialdata", "historical", &pair.to_string()]);
        url.query_pairs_mut()
            .append_pair("start-date", &start.format("%Y-%m-%d").to_string())
            .append_pair("end-date", &end.format("%Y-%m-%d").to_string())
            .append_pair("time-frame", Self::time_frame(req.timeframe)?)
            .append_pair("add-missing-rows", "false");
        Ok(url)
    }
}

/// The inclusive date range for a span. `Between`'s end is exclusive in
/// seconds, so the last date is the one holding `end - 1`.
fn dates(span: Span, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let day = |ts: i64| DateTime::from_timestamp(ts, 0).map_or(today, |d| d.date_naive());
    match span {
        Span::Between { start, end } => (day(start), day(end - 1)),
        Span::Named(range) => (range.start_date(today), today),
    }
}

impl HistoryProvider for Investing {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn history(&self, req: &HistoryRequest) -> Result<History, ProviderError> {
        req.check(NAME)?;
        Self::time_frame(req.timeframe)?;
        let pair = *self
            .config
            .pairs
            .get(&req.symbol)
            .ok_or_else(|| ProviderError::UnknownSymbol { provider: NAME, symbol: req.symbol.to_string() })?;
        let url = self.url(req, pair)?;
        let timeout = self.config.timeout;
        let request =
            self.client.get(url).header("domain-id", "www").header(reqwest::header::ACCEPT, "application/json");
        let http::Answer { status, headers, body } = http::fetch(NAME, timeout, request).await?;
        if !status.is_success() {
            return Err(http::status_error(NAME, status, &headers, &body));
        }
        parse_historical(&body, req.timeframe)
    }
}

/// Parses the historical-data payload following the module's row rules.
///
/// # Errors
/// [`ProviderError::Malformed`] when the body is not that JSON or a row has an
/// unreadable date.
pub fn parse_historical(body: &[u8], timeframe: Timeframe) -> Result<History, ProviderError> {
    let malformed = |reason: String| ProviderError::Malformed { provider: NAME, reason };
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not a historical-data payload: {e}")))?;
    let mut history = History::default();
    let mut rows = Vec::new();
    for row in payload.data.unwrap_or_default() {
        let ts = DateTime::parse_from_rfc3339(&row.row_date_timestamp)
            .map_err(|e| malformed(format!("rowDateTimestamp `{}`: {e}", row.row_date_timestamp)))?
            .timestamp();
        let ts = match timeframe {
            // Sunday- or Saturday-dated weeks belong to the following Monday.
            Timeframe::W1 => Timeframe::W1.bucket_start(ts + 2 * 86_400),
            other => other.bucket_start(ts),
        };
        let (Some(open), Some(high), Some(low), Some(close)) =
            (row.last_open_raw, row.last_max_raw, row.last_min_raw, row.last_close_raw)
        else {
            history.dropped += 1;
            continue;
        };
        let volume = row.volume_raw.unwrap_or(0.0);
        match repair_bar(Bar { ts, open, high, low, close, volume }) {
            Some(bar) => rows.push((bar, None)),
            None => history.dropped += 1,
        }
    }
    history.dropped += sort_dedup(&mut rows);
    (history.bars, history.adj_close) = rows.into_iter().unzip();
    Ok(history)
}

#[derive(Deserialize)]
struct Payload {
    data: Option<Vec<Row>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    row_date_timestamp: String,
    #[serde(rename = "last_openRaw")]
    last_open_raw: Option<f64>,
    #[serde(rename = "last_maxRaw")]
    last_max_raw: Option<f64>,
    #[serde(rename = "last_minRaw")]
    last_min_raw: Option<f64>,
    #[serde(rename = "last_closeRaw")]
    last_close_raw: Option<f64>,
    volume_raw: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_inclusive() {
        let today = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap_or_default();
        // 2024-01-02 00:00 to 2024-01-05 00:00 (exclusive).
        let (start, end) = dates(Span::Between { start: 1_704_153_600, end: 1_704_412_800 }, today);
        assert_eq!((start.to_string(), end.to_string()), ("2024-01-02".into(), "2024-01-04".into()));
    }

    #[test]
    fn weekly_rows_move_to_monday() {
        let body = br#"{"data":[{"rowDateTimestamp":"2024-01-07T00:00:00Z","last_openRaw":1,"last_maxRaw":2,"last_minRaw":1,"last_closeRaw":2,"volumeRaw":5}]}"#;
        let h = parse_historical(body, Timeframe::W1).unwrap_or_default();
        // Monday 2024-01-08.
        assert_eq!(h.bars.first().map(|b| b.ts), Some(1_704_672_000));
    }
}
