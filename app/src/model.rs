//! The data the dashboard shows, as it travels from server functions to views.

use quant::{Bar, Timeframe};
use serde::{Deserialize, Serialize};

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
    /// The all-time and 52-week levels, once computed from daily bars.
    pub levels: Option<Levels>,
}

/// A symbol's all-time high and 52-week range, from its daily bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    /// The highest daily high stored.
    pub ath: f64,
    /// The highest high of the 365 days up to the last daily bar.
    pub high_52w: f64,
    /// The lowest low of those days.
    pub low_52w: f64,
}

/// A stored signal and whether it met its strategy's minimum quality (and was sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRow {
    /// The signal.
    pub signal: crate::live::protocol::SignalEvent,
    /// Whether it passed its quality bar.
    pub passed: bool,
}

/// Which signals a page asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalQuery {
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only this strategy.
    pub strategy: Option<String>,
    /// Only this timeframe.
    pub timeframe: Option<Timeframe>,
    /// Only signals that were sent.
    pub passed_only: bool,
}

/// A strategy and the minimum backtest quality its signals need to be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRow {
    /// Catalog name.
    pub name: String,
    /// What it does.
    pub summary: String,
    /// Whether the live pipeline runs it.
    pub enabled: bool,
    /// Fewest backtest trades.
    pub min_trades: Option<i64>,
    /// Lowest backtest win rate, 0 to 1.
    pub min_win_rate: Option<f64>,
    /// Lowest backtest profit factor.
    pub min_profit_factor: Option<f64>,
    /// Lowest backtest Sharpe ratio.
    pub min_sharpe: Option<f64>,
}

/// A Telegram chat linked to the service, with its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettings {
    /// Telegram's chat id.
    pub chat_id: i64,
    /// The chat's title or user name, when known.
    pub title: Option<String>,
    /// Whether alerts are muted.
    pub muted: bool,
    /// Quiet hours, `HH:MM-HH:MM` UTC, when set.
    pub quiet: Option<String>,
    /// `(symbol, strategy)`; `None` strategy means every strategy.
    pub subscriptions: Vec<(String, Option<String>)>,
}

/// How many daily closes a watchlist sparkline draws.
pub const SPARK_POINTS: usize = 30;

/// One row of the watchlist page: the symbol's quote, the last daily closes
/// for a sparkline, the day's range and volume, and the 52-week range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchRow {
    /// Ticker, e.g. `AAPL`.
    pub symbol: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// The latest price; `None` until the symbol has data (just added).
    pub quote: Option<QuoteRow>,
    /// Up to [`SPARK_POINTS`] daily closes, oldest first; the last is the
    /// latest daily bar's.
    pub closes: Vec<f64>,
    /// The latest daily bar (the day's open, range, close and volume).
    pub day: Option<Bar>,
    /// The lowest low and highest high of the 365 days up to the last daily bar.
    pub range_52w: Option<(f64, f64)>,
    /// Whether the prices come from the simulated feed.
    pub simulated: bool,
}

/// Where `price` sits between `low` and `high`, as a percentage clamped to
/// 0..=100; `None` for an empty or inverted range.
#[must_use]
pub fn range_position(price: f64, low: f64, high: f64) -> Option<f64> {
    (high > low && price.is_finite()).then(|| ((price - low) / (high - low) * 100.0).clamp(0.0, 100.0))
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

    #[test]
    fn range_position_is_a_clamped_percentage() {
        assert_eq!(range_position(150.0, 100.0, 200.0), Some(50.0));
        assert_eq!(range_position(90.0, 100.0, 200.0), Some(0.0));
        assert_eq!(range_position(250.0, 100.0, 200.0), Some(100.0));
        assert_eq!(range_position(100.0, 100.0, 100.0), None);
    }
}
