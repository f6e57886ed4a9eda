//! Summary statistics of a backtest.
//!
//! Conventions:
//! - Per-bar returns are `equity[t] / equity[t-1] - 1` over the equity marked at
//!   each close; volatility is their sample standard deviation (n - 1) times
//!   `sqrt(periods_per_year)`.
//! - The risk-free rate is converted to a per-bar rate
//!   `(1 + rf)^(1 / periods_per_year) - 1`. Sharpe is the mean excess per-bar
//!   return over its standard deviation, times `sqrt(periods_per_year)`; Sortino
//!   uses the downside deviation `sqrt(mean(min(r - rf, 0)^2))` instead.
//! - CAGR uses calendar time between the first and the last bar
//!   (365.25-day years); Calmar is CAGR over the maximum drawdown.
//! - Drawdown is measured from the running peak of equity. Its duration is the
//!   number of bars below the peak, from the bar after the peak to the last bar
//!   before the recovery (or to the end when not recovered). The average
//!   drawdown is the mean depth of the separate drawdown episodes.
//! - Trade statistics include a position closed at the end of data.
//!   Profit factor is gross profit over gross loss; expectancy is the mean
//!   profit per trade in currency; SQN is `sqrt(n) * mean(pnl) / std(pnl)`.
//! - Undefined values (a ratio over zero, statistics of no trades) are `NAN`,
//!   which JSON output writes as `null`.
//! - Buy-and-hold is the last close over the first close, minus one.
//!
//! Fractions are plain fractions: 0.12 means 12%.

use serde::{Deserialize, Serialize};

use super::{Config, Trade};
use crate::bar::Bar;

const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// A backtest's summary statistics (fractions, not percentages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Final equity over initial cash, minus one.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub total_return: f64,
    /// Compound annual growth rate.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub cagr: f64,
    /// Annualised volatility of per-bar returns.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub volatility: f64,
    /// Annualised Sharpe ratio.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub sharpe: f64,
    /// Annualised Sortino ratio.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub sortino: f64,
    /// CAGR over maximum drawdown.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub calmar: f64,
    /// Largest fall from a peak of equity (0.25 = 25%).
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub max_drawdown: f64,
    /// Longest time under a previous peak, in bars.
    pub max_drawdown_bars: usize,
    /// Mean depth of the drawdown episodes.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub avg_drawdown: f64,
    /// Share of trades with a positive profit.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub win_rate: f64,
    /// Gross profit over gross loss.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub profit_factor: f64,
    /// Mean profit per trade, in currency.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub expectancy: f64,
    /// Van Tharp's system quality number.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub sqn: f64,
    /// Share of bars that ended in the market.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub exposure: f64,
    /// Number of round trips.
    pub trades: usize,
    /// Best trade's return.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub best_trade: f64,
    /// Worst trade's return.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub worst_trade: f64,
    /// Mean trade return.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub avg_trade: f64,
    /// Final equity.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub final_equity: f64,
    /// Return of holding the asset from the first to the last close.
    #[serde(deserialize_with = "super::nan_as_null::number")]
    pub buy_and_hold_return: f64,
}

impl Metrics {
    /// The value of a metric by its field name, for ranking sweeps.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "total_return" => self.total_return,
            "cagr" => self.cagr,
            "volatility" => self.volatility,
            "sharpe" => self.sharpe,
            "sortino" => self.sortino,
            "calmar" => self.calmar,
            "max_drawdown" => self.max_drawdown,
            "avg_drawdown" => self.avg_drawdown,
            "win_rate" => self.win_rate,
            "profit_factor" => self.profit_factor,
            "expectancy" => self.expectancy,
            "sqn" => self.sqn,
            "exposure" => self.exposure,
            "trades" => self.trades as f64,
            "final_equity" => self.final_equity,
            _ => return None,
        })
    }
}

/// Computes the statistics of a finished run.
#[must_use]
pub fn compute(bars: &[Bar], equity: &[f64], trades: &[Trade], bars_in_market: usize, config: &Config) -> Metrics {
    let initial = config.initial_cash;
    let final_equity = equity.last().copied().unwrap_or(initial);
    let total_return = final_equity / initial - 1.0;

    let years = match (bars.first(), bars.last()) {
        (Some(a), Some(b)) if b.ts > a.ts => (b.ts - a.ts) as f64 / SECONDS_PER_YEAR,
        _ => f64::NAN,
    };
    let cagr =
        if years > 0.0 && final_equity > 0.0 { libm::pow(final_equity / initial, 1.0 / years) - 1.0 } else { f64::NAN };

    // One pass over the curve: per-bar returns (the first against the
    // initial cash), their sum and the drawdowns; then one over the returns
    // for both deviations. Each sum adds in bar order, as a plain
    // `iter().sum()` would (a return is never -0.0, so the start is moot).
    let ppy = config.periods_per_year;
    let rf = libm::pow(1.0 + config.risk_free_rate, 1.0 / ppy) - 1.0;
    let mut returns = Vec::with_capacity(equity.len());
    let (mut previous, mut sum) = (initial, 0.0);
    let mut drawdowns = Drawdowns::default();
    for (i, &e) in equity.iter().enumerate() {
        let r = e / previous - 1.0;
        sum += r;
        returns.push(r);
        previous = e;
        drawdowns.push(i, e);
    }
    let n = returns.len() as f64;
    let mean = if returns.is_empty() { 0.0 } else { sum / n };
    let (mut squares, mut downside_squares) = (0.0, 0.0);
    for &r in &returns {
        squares += (r - mean).powi(2);
        // `(r - rf).min(0.0)` as a comparison: the same value (a NaN excess
        // gives 0 either way), and cheaper than `min`'s NaN handling in wasm32.
        let below = r - rf;
        downside_squares += if below < 0.0 { below * below } else { 0.0 };
    }
    let sd = if returns.len() < 2 { f64::NAN } else { (squares / (n - 1.0)).sqrt() };
    let annual = ppy.sqrt();
    let downside = if returns.is_empty() { f64::NAN } else { (downside_squares / n).sqrt() };
    let (max_drawdown, max_drawdown_bars, avg_drawdown) = drawdowns.finish();

    let pnls: Vec<f64> = trades.iter().map(|t| t.pnl).collect();
    let trade_returns: Vec<f64> = trades.iter().map(|t| t.return_pct).collect();
    // A fold from +0.0, not `sum()`: an empty f64 sum is -0.0, which made the
    // profit factor of all-losing trades -0 ("-0.00" on screen, -0.0 in JSON).
    let gross_profit = pnls.iter().filter(|p| **p > 0.0).fold(0.0, |a, p| a + p);
    let gross_loss: f64 = -pnls.iter().filter(|p| **p < 0.0).sum::<f64>();
    let pnl_mean = mean_or_nan(&pnls);
    let pnl_sd = sample_std(&pnls, pnl_mean);

    Metrics {
        total_return,
        cagr,
        volatility: sd * annual,
        sharpe: ratio(mean - rf, sd) * annual,
        sortino: ratio(mean - rf, downside) * annual,
        calmar: ratio(cagr, max_drawdown),
        max_drawdown,
        max_drawdown_bars,
        avg_drawdown,
        win_rate: ratio(pnls.iter().filter(|p| **p > 0.0).count() as f64, pnls.len() as f64),
        profit_factor: ratio(gross_profit, gross_loss),
        expectancy: pnl_mean,
        sqn: ratio(pnl_mean, pnl_sd) * (pnls.len() as f64).sqrt(),
        exposure: ratio(bars_in_market as f64, bars.len() as f64),
        trades: trades.len(),
        best_trade: trade_returns.iter().copied().fold(f64::NAN, f64::max),
        worst_trade: trade_returns.iter().copied().fold(f64::NAN, f64::min),
        avg_trade: mean_or_nan(&trade_returns),
        final_equity,
        buy_and_hold_return: match (bars.first(), bars.last()) {
            (Some(a), Some(b)) => b.close / a.close - 1.0,
            _ => f64::NAN,
        },
    }
}

/// `a / b`, or `NAN` when `b` is zero or undefined.
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 || b.is_nan() { f64::NAN } else { a / b }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() { 0.0 } else { xs.iter().sum::<f64>() / xs.len() as f64 }
}

fn mean_or_nan(xs: &[f64]) -> f64 {
    if xs.is_empty() { f64::NAN } else { mean(xs) }
}

fn sample_std(xs: &[f64], mean: f64) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// (maximum depth, longest duration in bars, mean episode depth).
#[cfg(test)]
fn drawdowns(equity: &[f64]) -> (f64, usize, f64) {
    let mut d = Drawdowns::default();
    for (i, &e) in equity.iter().enumerate() {
        d.push(i, e);
    }
    d.finish()
}

/// Drawdowns of an equity curve fed one bar at a time: each episode runs from
/// a peak until the curve gets back to it.
#[derive(Debug)]
struct Drawdowns {
    peak: f64,
    peak_index: usize,
    max_depth: f64,
    max_bars: usize,
    episode_depth: f64,
    episodes: usize,
    depth_sum: f64,
}

impl Default for Drawdowns {
    fn default() -> Self {
        Self {
            peak: f64::NEG_INFINITY,
            peak_index: 0,
            max_depth: 0.0,
            max_bars: 0,
            episode_depth: 0.0,
            episodes: 0,
            depth_sum: 0.0,
        }
    }
}

impl Drawdowns {
    #[inline]
    fn push(&mut self, i: usize, e: f64) {
        if e >= self.peak {
            if self.episode_depth > 0.0 {
                self.episodes += 1;
                self.depth_sum += self.episode_depth;
                self.episode_depth = 0.0;
            }
            self.peak = e;
            self.peak_index = i;
        } else {
            // Comparisons rather than `f64::max`: the depths start at 0 and
            // a NaN depth is never taken by either, so the values are the same.
            let depth = 1.0 - e / self.peak;
            if depth > self.episode_depth {
                self.episode_depth = depth;
            }
            if depth > self.max_depth {
                self.max_depth = depth;
            }
            self.max_bars = self.max_bars.max(i - self.peak_index);
        }
    }

    /// (maximum depth, longest duration in bars, mean episode depth).
    fn finish(mut self) -> (f64, usize, f64) {
        if self.episode_depth > 0.0 {
            self.episodes += 1;
            self.depth_sum += self.episode_depth;
        }
        let avg = if self.episodes == 0 { 0.0 } else { self.depth_sum / self.episodes as f64 };
        (self.max_depth, self.max_bars, avg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{ExitReason, Side};

    #[test]
    fn drawdown_episodes_are_measured_from_their_peaks() {
        // Peak 100, down to 80 (-20%), recover to 110, down to 99 (-10%), end.
        let equity = [100.0, 90.0, 80.0, 100.0, 110.0, 99.0, 105.0];
        let (max, bars, avg) = drawdowns(&equity);
        assert!((max - 0.2).abs() < 1e-12);
        assert_eq!(bars, 2);
        assert!((avg - 0.15).abs() < 1e-12);
    }

    #[test]
    fn all_losing_trades_have_a_profit_factor_of_plus_zero() {
        let bars: Vec<Bar> = (0..3)
            .map(|i| Bar { ts: i * 86_400, open: 10.0, high: 10.0, low: 10.0, close: 10.0, volume: 0.0 })
            .collect();
        let loser = Trade {
            side: Side::Long,
            entry_ts: 0,
            entry_price: 10.0,
            exit_ts: 86_400,
            exit_price: 9.0,
            size: 1.0,
            pnl: -1.0,
            return_pct: -0.1,
            bars_held: 1,
            exit: ExitReason::Signal,
        };
        let config = Config { initial_cash: 10.0, ..Config::default() };
        let m = compute(&bars, &[10.0, 9.0, 9.0], &[loser.clone(), loser], 1, &config);
        assert_eq!(m.profit_factor.to_bits(), 0.0f64.to_bits(), "{}", m.profit_factor);
        assert_eq!(serde_json::to_string(&m.profit_factor).unwrap(), "0.0");
    }

    #[test]
    fn ratios_over_zero_are_undefined_not_infinite() {
        assert!(ratio(1.0, 0.0).is_nan());
        assert_eq!(ratio(1.0, 4.0), 0.25);
    }
}
