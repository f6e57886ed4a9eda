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
