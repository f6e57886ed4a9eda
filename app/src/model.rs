//! The data the dashboard shows, as it travels from server functions to views.

use quant::{Bar, Timeframe};
use serde::{Deserialize, Serialize};

/// The period of the moving average drawn on every chart.
pub const CHART_SMA_PERIOD: usize = 20;

/// One watchlist row: the latest price of a symbol against the previous close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteRow {
    /// Ticker, e.g. `AAPL`.
    pub symbol: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// The latest price.
    pub last: f64,
    /// The previous session's close, when there is one.
    pub prev_close: Option<f64>,
    /// Time of the latest price, Unix seconds.
    pub ts: i64,
    /// Whether the prices come from the simulated feed.
    pub simulated: bool,
}

/// Absolute and relative change of `last` against `prev_close`.
#[must_use]
pub fn change(last: f64, prev_close: Option<f64>) -> Option<(f64, f64)> {
    let prev = prev_close.filter(|p| *p > 0.0)?;
    let diff = last - prev;
    Some((diff, diff / prev * 100.0))
}

/// Everything the symbol page needs to draw its chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Ticker of the charted symbol.
    pub symbol: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// The timeframe of `bars`.
    pub timeframe: Timeframe,
    /// Timeframes stored for this symbol, for the picker.
    pub timeframes: Vec<Timeframe>,
    /// The most recent bars, oldest first.
    pub bars: Vec<Bar>,
    /// The latest price, when the symbol has any data.
    pub quote: Option<QuoteRow>,
    /// Whether the prices come from the simulated feed.
    pub simulated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_relative_to_the_previous_close() {
        let (abs, pct) = change(110.0, Some(100.0)).unwrap();
        assert!((abs - 10.0).abs() < 1e-12);
        assert!((pct - 10.0).abs() < 1e-12);
        assert_eq!(change(110.0, None), None);
        assert_eq!(change(110.0, Some(0.0)), None);
    }
}
