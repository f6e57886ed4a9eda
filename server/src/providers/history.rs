//! The history-provider contract: a typed request for past bars of one symbol
//! and the answer, with whatever adjustments and corporate events the source
//! gives. Remote providers (Yahoo, Investing.com) implement
//! [`HistoryProvider`]; the resilience layer wraps any of them.

use std::future::Future;

use chrono::{Datelike, NaiveDate};
use quant::{Bar, Timeframe};
use serde::Serialize;

use super::error::ProviderError;
use crate::symbol::Symbol;

/// A named look-back window, as Yahoo's `range=` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum NamedRange {
    /// One day.
    Day1,
    /// Five days.
    Day5,
    /// One month.
    Month1,
    /// Three months.
    Month3,
    /// Six months.
    Month6,
    /// One year.
    Year1,
    /// Two years.
    Year2,
    /// Five years.
    Year5,
    /// Ten years.
    Year10,
    /// Since 1 January of the current year.
    YearToDate,
    /// Everything the source has.
    Max,
}

impl NamedRange {
    /// Yahoo's spelling (`1d`, `5d`, `1mo`, ..., `ytd`, `max`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Day1 => "1d",
            Self::Day5 => "5d",
            Self::Month1 => "1mo",
            Self::Month3 => "3mo",
            Self::Month6 => "6mo",
            Self::Year1 => "1y",
            Self::Year2 => "2y",
            Self::Year5 => "5y",
            Self::Year10 => "10y",
            Self::YearToDate => "ytd",
            Self::Max => "max",
        }
    }

    /// The first day of the window ending on `today`, for sources that only
    /// take explicit dates. `Max` starts at 1970-01-01.
    #[must_use]
    pub fn start_date(self, today: NaiveDate) -> NaiveDate {
        let months_back = |m: u32| today.checked_sub_months(chrono::Months::new(m)).unwrap_or(NaiveDate::MIN);
        match self {
            Self::Day1 => today - chrono::Days::new(1),
            Self::Day5 => today - chrono::Days::new(5),
            Self::Month1 => months_back(1),
            Self::Month3 => months_back(3),
            Self::Month6 => months_back(6),
            Self::Year1 => months_back(12),
            Self::Year2 => months_back(24),
            Self::Year5 => months_back(60),
            Self::Year10 => months_back(120),
            Self::YearToDate => NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
            Self::Max => NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN),
        }
    }
}

/// Which stretch of time to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    /// `[start, end)` in Unix seconds, UTC (Yahoo's `period1`/`period2`).
    Between {
        /// First second wanted.
        start: i64,
        /// First second not wanted.
        end: i64,
    },
    /// A window ending now.
    Named(NamedRange),
}

/// Past bars of one symbol at one timeframe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HistoryRequest {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar length.
    pub timeframe: Timeframe,
    /// The stretch of time.
    pub span: Span,
}

impl HistoryRequest {
    /// A request for `[start, end)` in Unix seconds.
    #[must_use]
    pub fn between(symbol: Symbol, timeframe: Timeframe, start: i64, end: i64) -> Self {
        Self { symbol, timeframe, span: Span::Between { start, end } }
    }

    /// A request for a named window ending now.
    #[must_use]
    pub fn named(symbol: Symbol, timeframe: Timeframe, range: NamedRange) -> Self {
        Self { symbol, timeframe, span: Span::Named(range) }
    }

    /// Refuses an empty or inverted `Between` span.
    ///
    /// # Errors
    /// [`ProviderError::InvalidRequest`] naming `provider`.
    pub fn check(&self, provider: &'static str) -> Result<(), ProviderError> {
        match self.span {
            Span::Between { start, end } if start >= end => Err(ProviderError::InvalidRequest {
                provider,
                reason: format!("empty time range: start {start} is not before end {end}"),
            }),
            _ => Ok(()),
        }
    }
}

/// A stock split: `numerator` new shares for every `denominator` old ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    /// When the split took effect, Unix seconds.
    pub ts: i64,
    /// New shares...
    pub numerator: f64,
    /// ...per this many old shares.
    pub denominator: f64,
}

/// A cash dividend per share, in the instrument's currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dividend {
    /// The ex-dividend time, Unix seconds.
    pub ts: i64,
    /// Amount per share.
    pub amount: f64,
}

/// The answer to a [`HistoryRequest`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Consistent bars (`Bar::is_consistent`), oldest first, strictly
    /// increasing `ts`. Empty when the source has nothing in the span.
    pub bars: Vec<Bar>,
    /// The split- and dividend-adjusted close of each bar, index for index
    /// with `bars`; `None` where the source gives none.
    pub adj_close: Vec<Option<f64>>,
    /// Splits inside the span, oldest first.
    pub splits: Vec<Split>,
    /// Dividends inside the span, oldest first.
    pub dividends: Vec<Dividend>,
    /// The quote currency (`USD`), when the source says.
    pub currency: Option<String>,
    /// The exchange's time zone (`America/New_York`), when the source says.
    pub exchange_timezone: Option<String>,
    /// The latest regular-session price, when the source says.
    pub last_price: Option<f64>,
    /// Rows the source sent that were dropped (missing prices, not positive,
    /// duplicate times); see each provider for its rules.
    pub dropped: usize,
}

/// A source of historical bars.
///
/// The future is `Send` so calls can run on spawned tasks; implementors simply
/// write `async fn history`.
pub trait HistoryProvider: Send + Sync {
    /// A short stable name (`yahoo`, `investing`) for logs, errors and health.
    fn name(&self) -> &'static str;

    /// Fetches the bars `req` asks for.
    ///
    /// # Errors
    /// [`ProviderError`]; see its classifiers for what may be retried.
    fn history(&self, req: &HistoryRequest) -> impl Future<Output = Result<History, ProviderError>> + Send;
}

/// Makes a bar consistent if only its envelope is off, else rejects it.
///
/// Sources round high/low and adjusted prices separately, so a high a cent
/// below the close is common and harmless: it is widened to cover open and
/// close. A bar with a missing, non-finite or non-positive price, or negative
/// volume, carries no usable information and is dropped (`None`).
#[must_use]
pub fn repair_bar(bar: Bar) -> Option<Bar> {
    let prices = [bar.open, bar.high, bar.low, bar.close];
    if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) || !bar.volume.is_finite() || bar.volume < 0.0 {
        return None;
    }
    let high = bar.high.max(bar.open).max(bar.close);
    let low = bar.low.min(bar.open).min(bar.close);
    Some(Bar { high, low, ..bar }).filter(Bar::is_consistent)
}

/// Sorts rows by time and keeps the last of any rows sharing a time (sources
/// repeat the live, still-forming bar). Returns how many rows were removed.
pub(crate) fn sort_dedup(rows: &mut Vec<(Bar, Option<f64>)>) -> usize {
    let before = rows.len();
    // Stable sort keeps source order among equal times, so "last" is the
    // source's latest version of that bar.
    rows.sort_by_key(|(bar, _)| bar.ts);
    let mut out: Vec<(Bar, Option<f64>)> = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        match out.last_mut() {
            Some(last) if last.0.ts == row.0.ts => *last = row,
            _ => out.push(row),
        }
    }
    *rows = out;
    before - rows.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, open: f64, high: f64, low: f64, close: f64) -> Bar {
        Bar { ts, open, high, low, close, volume: 1.0 }
    }

    #[test]
    fn repair_widens_the_envelope_and_drops_nonsense() {
        let fixed = repair_bar(bar(0, 10.0, 10.4, 9.9, 10.5));
        assert_eq!(fixed.map(|b| b.high), Some(10.5));
        assert_eq!(repair_bar(bar(0, 10.0, 11.0, 0.0, 10.5)), None);
        assert_eq!(repair_bar(bar(0, f64::NAN, 11.0, 9.0, 10.5)), None);
    }

    #[test]
    fn dedup_keeps_the_latest_version_of_a_bar() {
        let mut rows = vec![
            (bar(2, 1.0, 1.0, 1.0, 1.0), None),
            (bar(1, 1.0, 1.0, 1.0, 1.0), None),
            (bar(2, 2.0, 2.0, 2.0, 2.0), None),
        ];
        assert_eq!(sort_dedup(&mut rows), 1);
        assert_eq!(rows.iter().map(|r| (r.0.ts, r.0.close)).collect::<Vec<_>>(), [(1, 1.0), (2, 2.0)]);
    }

    #[test]
    fn named_ranges_count_back_from_today() {
        let today = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap_or_default();
        assert_eq!(NamedRange::Month1.start_date(today), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default());
        assert_eq!(NamedRange::YearToDate.start_date(today), NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default());
    }
}
