//! Yahoo Finance's chart API:
//! `GET {base}/v8/finance/chart/{symbol}?interval=1d&period1=..&period2=..`
//! (or `range=1y` instead of the periods), with dividends and splits.
//!
//! The payload is `chart.result[0]` holding parallel arrays: `timestamp[]`,
//! `indicators.quote[0].{open,high,low,close,volume}[]` and
//! `indicators.adjclose[0].adjclose[]`, any entry of which may be `null`, plus
//! `events.{dividends,splits}` maps keyed by time and a `meta` object. Unknown
//! symbols come back as `chart.error` (usually with HTTP 404).
//!
//! Row rules, in order:
//! - a row with any `null` price (open, high, low or close) is skipped: Yahoo
//!   writes these for halted sessions and for the still-empty live bar;
//! - a `null` volume is read as 0 (indices and FX have no volume);
//! - the envelope is repaired with [`repair_bar`] (high/low widened to cover
//!   open and close, Yahoo rounds them separately); rows with non-positive
//!   prices are dropped;
//! - daily and weekly bars are moved to 00:00 UTC of their local trading day
//!   (Yahoo stamps them with the session's opening instant, e.g. 14:30 UTC in
//!   New York and 23:00 UTC the day before in Sydney), so they line up with
//!   the rest of Finstage's daily data; intraday bars keep Yahoo's UTC times;
//! - rows sharing a time keep the last (Yahoo repeats the live bar).
//!
//! A result without timestamps (nothing traded in the span) is an empty
//! [`History`], not an error.

use std::time::Duration;

use quant::{Bar, Timeframe};
use reqwest::Url;
use serde::Deserialize;

use super::error::ProviderError;
use super::history::{Dividend, History, HistoryProvider, HistoryRequest, Span, Split, repair_bar, sort_dedup};
use super::http;

const NAME: &str = "yahoo";

/// Where and how to reach Yahoo.
#[derive(Debug, Clone)]
pub struct YahooConfig {
    /// Scheme and host, without a trailing path (tests use a loopback URL).
    pub base_url: String,
    /// Time allowed for one whole request.
    pub timeout: Duration,
}

impl Default for YahooConfig {
    fn default() -> Self {
        Self { base_url: "https://query1.finance.yahoo.com".into(), timeout: Duration::from_secs(15) }
    }
}

/// The Yahoo Finance chart provider.
#[derive(Debug, Clone)]
pub struct Yahoo {
    client: reqwest::Client,
    config: YahooConfig,
}

impl Yahoo {
    /// A provider using the shared `client`.
    #[must_use]
    pub fn new(client: reqwest::Client, config: YahooConfig) -> Self {
        Self { client, config }
    }

    /// The Yahoo `interval=` for a timeframe; 1h is `60m`.
    ///
    /// # Errors
    /// [`ProviderError::UnsupportedTimeframe`] for 1s and 5s.
    pub fn interval(timeframe: Timeframe) -> Result<&'static str, ProviderError> {
        Ok(match timeframe {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "60m",
            Timeframe::D1 => "1d",
            Timeframe::W1 => "1wk",
            Timeframe::S1 | Timeframe::S5 => {
                return Err(ProviderError::UnsupportedTimeframe { provider: NAME, timeframe });
            }
        })
    }

    fn url(&self, req: &HistoryRequest) -> Result<Url, ProviderError> {
        let invalid = |reason: String| ProviderError::InvalidRequest { provider: NAME, reason };
        let mut url = Url::parse(&self.config.base_url)
            .map_err(|e| invalid(format!("base URL `{}`: {e}", self.config.base_url)))?;
        url.path_segments_mut()
            .map_err(|()| invalid(format!("base URL `{}` cannot take a path", self.config.base_url)))?
            .pop_if_empty()
            .extend(["v8", "finance", "chart", req.symbol.as_str()]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("interval", Self::interval(req.timeframe)?);
            match req.span {
                Span::Between { start, end } => {
                    query.append_pair("period1", &start.to_string()).append_pair("period2", &end.to_string());
                }
                Span::Named(range) => {
                    query.append_pair("range", range.as_str());
                }
            }
            query.append_pair("events", "div|split").append_pair("includeAdjustedClose", "true");
        }
        Ok(url)
    }
}

impl HistoryProvider for Yahoo {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn history(&self, req: &HistoryRequest) -> Result<History, ProviderError> {
        req.check(NAME)?;
        let url = self.url(req)?;
        let timeout = self.config.timeout;
        let request = self.client.get(url).header(reqwest::header::ACCEPT, "application/json");
        let http::Answer { status, headers, body } = http::fetch(NAME, timeout, request).await?;
        if !status.is_success() {
            // Yahoo answers unknown symbols with 404 and a `chart.error` body.
            if let Some(err) = serde_json::from_slice::<Envelope>(&body).ok().and_then(|e| e.chart.error) {
                return Err(chart_error(req, err));
            }
            return Err(http::status_error(NAME, status, &headers, &body));
        }
        parse_chart(&body, req)
    }
}

/// Parses a chart payload into a [`History`] following the module's row rules.
///
/// # Errors
/// [`ProviderError::Malformed`] for JSON that is not a chart, mismatched array
/// lengths; [`ProviderError::UnknownSymbol`] / `InvalidRequest` for a
/// `chart.error`.
pub fn parse_chart(body: &[u8], req: &HistoryRequest) -> Result<History, ProviderError> {
    let malformed = |reason: String| ProviderError::Malformed { provider: NAME, reason };
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not a chart payload: {e}")))?;
    if let Some(err) = envelope.chart.error {
        return Err(chart_error(req, err));
    }
    let Some(result) = envelope.chart.result.and_then(|r| r.into_iter().next()) else {
        return Ok(History::default());
    };
    let meta = result.meta.unwrap_or_default();
    let mut history = History {
        currency: meta.currency,
        exchange_timezone: meta.exchange_timezone_name,
        last_price: meta.regular_market_price,
        ..History::default()
    };
    let events = result.events.unwrap_or_default();
    history.splits = events
        .splits
        .into_values()
        .filter(|s| s.numerator > 0.0 && s.denominator > 0.0)
        .map(|s| Split { ts: s.date, numerator: s.numerator, denominator: s.denominator })
        .collect();
    history.splits.sort_by_key(|s| s.ts);
    history.dividends = events.dividends.into_values().map(|d| Dividend { ts: d.date, amount: d.amount }).collect();
    history.dividends.sort_by_key(|d| d.ts);

    let timestamps = result.timestamp.unwrap_or_default();
    if timestamps.is_empty() {
        return Ok(history);
    }
    let indicators = result.indicators.ok_or_else(|| malformed("timestamps without indicators".into()))?;
    let quote = indicators.quote.into_iter().next().ok_or_else(|| malformed("no indicators.quote[0]".into()))?;
    let adj = indicators.adjclose.into_iter().next().map(|a| a.adjclose).unwrap_or_default();
    let n = timestamps.len();
    for (name, len) in
        [("open", quote.open.len()), ("high", quote.high.len()), ("low", quote.low.len()), ("close", quote.close.len())]
    {
        if len != n {
            return Err(malformed(format!("{name}[] has {len} entries for {n} timestamps")));
        }
    }
    let daily = !req.timeframe.is_intraday();
    let mut rows = Vec::with_capacity(n);
    for (i, &ts) in timestamps.iter().enumerate() {
        let (Some(open), Some(high), Some(low), Some(close)) =
            (quote.open[i], quote.high[i], quote.low[i], quote.close[i])
        else {
            history.dropped += 1;
            continue;
        };
        let volume = quote.volume.get(i).copied().flatten().unwrap_or(0.0);
        let ts = if daily { req.timeframe.bucket_start(ts + meta.gmtoffset) } else { ts };
        match repair_bar(Bar { ts, open, high, low, close, volume }) {
            Some(bar) => rows.push((bar, adj.get(i).copied().flatten().filter(|a| a.is_finite() && *a > 0.0))),
            None => history.dropped += 1,
        }
    }
    history.dropped += sort_dedup(&mut rows);
    (history.bars, history.adj_close) = rows.into_iter().unzip();
    Ok(history)
}

fn chart_error(req: &HistoryRequest, err: ChartError) -> ProviderError {
    if err.code.eq_ignore_ascii_case("Not Found") {
        ProviderError::UnknownSymbol { provider: NAME, symbol: req.symbol.to_string() }
    } else if err.code.eq_ignore_ascii_case("Bad Request") {
        ProviderError::InvalidRequest { provider: NAME, reason: err.description }
    } else {
        ProviderError::Malformed { provider: NAME, reason: format!("chart.error {}: {}", err.code, err.description) }
    }
}

// The payload, as far as we read it. Unknown fields are ignored; arrays of
// `Option` carry Yahoo's `null`s.

#[derive(Deserialize)]
struct Envelope {
    chart: Chart,
}

#[derive(Deserialize)]
struct Chart {
    result: Option<Vec<ChartResult>>,
    error: Option<ChartError>,
}

#[derive(Deserialize)]
struct ChartError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct ChartResult {
    meta: Option<Meta>,
    timestamp: Option<Vec<i64>>,
    events: Option<Events>,
    indicators: Option<Indicators>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    currency: Option<String>,
    exchange_timezone_name: Option<String>,
    regular_market_price: Option<f64>,
    #[serde(default)]
    gmtoffset: i64,
}

#[derive(Deserialize, Default)]
struct Events {
    #[serde(default)]
    dividends: std::collections::BTreeMap<String, DividendEvent>,
    #[serde(default)]
    splits: std::collections::BTreeMap<String, SplitEvent>,
}

#[derive(Deserialize)]
struct DividendEvent {
    amount: f64,
    date: i64,
}

#[derive(Deserialize)]
struct SplitEvent {
    date: i64,
    numerator: f64,
    denominator: f64,
}

#[derive(Deserialize)]
struct Indicators {
    #[serde(default)]
    quote: Vec<Quote>,
    #[serde(default)]
    adjclose: Vec<AdjClose>,
}

#[derive(Deserialize)]
struct Quote {
    #[serde(default)]
    open: Vec<Option<f64>>,
    #[serde(default)]
    high: Vec<Option<f64>>,
    #[serde(default)]
    low: Vec<Option<f64>>,
    #[serde(default)]
    close: Vec<Option<f64>>,
    #[serde(default)]
    volume: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct AdjClose {
    #[serde(default)]
    adjclose: Vec<Option<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::Symbol;

    fn req(tf: Timeframe) -> HistoryRequest {
        HistoryRequest::between(Symbol::parse("^GSPC").unwrap_or_else(|_| unreachable!()), tf, 0, 10)
    }

    #[test]
    fn intervals_map_and_reject() {
        assert_eq!(Yahoo::interval(Timeframe::H1).ok(), Some("60m"));
        assert!(matches!(Yahoo::interval(Timeframe::S5), Err(ProviderError::UnsupportedTimeframe { .. })));
    }

    #[test]
    fn url_encodes_the_symbol_and_span() {
        let y = Yahoo::new(
            reqwest::Client::new(),
            YahooConfig { base_url: "http://127.0.0.1:9/".into(), ..YahooConfig::default() },
        );
        let url = y.url(&req(Timeframe::D1)).map(|u| u.to_string().replace("%5E", "^")).unwrap_or_default();
        assert!(url.starts_with("http://127.0.0.1:9/v8/finance/chart/^GSPC?interval=1d&period1=0&period2=10"), "{url}");
    }
}
