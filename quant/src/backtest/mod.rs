//! The backtest engine: replays bars through a strategy's signals and keeps the
//! books.
//!
//! Conventions (each one a choice a user may want to know):
//! - Decisions are made on a bar's close. With [`Fill::NextOpen`] (the default)
//!   the order fills at the next bar's open; with [`Fill::Close`] at the same
//!   close. A signal on the last bar with `NextOpen` never fills.
//! - [`Mode::LongOnly`]: `Buy` enters a long when flat, `Sell` exits it.
//!   [`Mode::LongShort`]: `Buy` targets long and `Sell` targets short; a
//!   reversal closes and reopens at the same fill price. `Hold` changes nothing.
//! - Sizing ([`Sizing`]): each entry commits `fraction` of current equity
//!   (the default), or a fixed amount of cash `size` (at most the equity: no
//!   leverage), or trades a fixed number of units `size` when the equity covers
//!   them. Units are whole unless `fractional`, costs included. An entry that
//!   cannot buy one unit (or the fixed units) is skipped.
//! - Costs: commission = `commission_rate` * notional + `commission_fixed` per
//!   fill; slippage moves every fill `slippage_bps` against the trader.
//! - Exits by price, checked on every bar after the entry fill (including the
//!   entry bar for next-open fills): stop-loss and take-profit at a fraction of
//!   the entry price, a trailing stop at a fraction below the best price since
//!   entry (above, for shorts). A bar that opens beyond a level fills at the
//!   open; a bar that touches both stop and target is assumed to hit the stop
//!   first (the pessimistic reading of an OHLC bar).
//! - Equity is marked at every close. A position still open after the last bar
//!   is closed at the last close for the statistics and reported with
//!   `exit: ExitReason::EndOfData`.
//!
//! The engine holds no clock and no global state: the same inputs give
//! bit-identical results on every platform (the only transcendental functions
//! go through `libm`).

mod breakdown;
pub mod columns;
mod fingerprint;
mod metrics;
mod settings;
mod sweep;
#[cfg(test)]
mod tests;

pub use breakdown::{MonthReturn, TradeStats, buy_and_hold, monthly_returns, trade_stats, underwater};
pub use fingerprint::{Fingerprint, fingerprint, first_difference};
pub use metrics::{Metrics, compute as compute_metrics};
pub use settings::{Checked, Resolved, Settings, config_field};
pub use sweep::{
    Grid, Progress, RANK_METRICS, Sweep, SweepRun, WalkForward, WalkForwardReport, WalkForwardWindow, check_metric,
    combinations, evaluate, lower_is_better, rank, sweep, sweep_with, walk_forward, walk_forward_with,
};

use serde::{Deserialize, Serialize};

use crate::bar::Bar;
use crate::error::ParamError;
use crate::strategy::{Signal, Strategy};

/// When a decision made on a close is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fill {
    /// At the next bar's open (no look-ahead: the default).
    #[default]
    NextOpen,
    /// At the deciding bar's own close.
    Close,
}

/// Which positions the engine may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Long or flat.
    #[default]
    LongOnly,
    /// Long or short, always in the market after the first signal.
    LongShort,
}

/// How an entry is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sizing {
    /// Commit `fraction` of current equity.
    #[default]
    Equity,
    /// Commit `size` in cash (capped by the equity).
    Cash,
    /// Trade `size` units.
    Units,
}

/// Everything a backtest can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Starting cash.
    pub initial_cash: f64,
    /// Commission as a fraction of the notional of each fill (0.001 = 0.1%).
    pub commission_rate: f64,
    /// Fixed commission per fill.
    pub commission_fixed: f64,
    /// Slippage per fill in basis points of price, always against the trader.
    pub slippage_bps: f64,
    /// Long-only or long/short.
    pub mode: Mode,
    /// Fill at the next open or at the deciding close.
    pub fill: Fill,
    /// How entries are sized.
    pub sizing: Sizing,
    /// Fraction of equity committed on each entry, in (0, 1] ([`Sizing::Equity`]).
    pub fraction: f64,
    /// Cash per entry ([`Sizing::Cash`]) or units per entry ([`Sizing::Units`]).
    pub size: f64,
    /// Allow fractional units.
    pub fractional: bool,
    /// Exit when price moves this fraction against the entry (0.05 = 5%).
    pub stop_loss: Option<f64>,
    /// Exit when price moves this fraction in favour of the entry.
    pub take_profit: Option<f64>,
    /// Exit when price falls this fraction from its best since entry.
    pub trailing_stop: Option<f64>,
    /// Bars per year, for annualising volatility, Sharpe and Sortino (252 for
    /// daily equities, 365 for daily crypto, 252 * 390 for 1-minute equities).
    pub periods_per_year: f64,
    /// Annual risk-free rate used by Sharpe and Sortino (0.02 = 2%).
    pub risk_free_rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            initial_cash: 10_000.0,
            commission_rate: 0.0,
            commission_fixed: 0.0,
            slippage_bps: 0.0,
            mode: Mode::LongOnly,
            fill: Fill::NextOpen,
            sizing: Sizing::Equity,
            fraction: 1.0,
            size: 0.0,
            fractional: false,
            stop_loss: None,
            take_profit: None,
            trailing_stop: None,
            periods_per_year: 252.0,
            risk_free_rate: 0.0,
        }
    }
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`ParamError::OutOfRange`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ParamError> {
        let check = |name: &'static str, value: f64, min: f64, max: f64| {
            if value.is_finite() && (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ParamError::OutOfRange { name, min, max, value })
            }
        };
        check("initial_cash", self.initial_cash, f64::MIN_POSITIVE, 1e15)?;
        check("commission_rate", self.commission_rate, 0.0, 0.5)?;
        check("commission_fixed", self.commission_fixed, 0.0, 1e9)?;
        check("slippage_bps", self.slippage_bps, 0.0, 1_000.0)?;
        check("fraction", self.fraction, f64::MIN_POSITIVE, 1.0)?;
        match self.sizing {
            Sizing::Equity => {}
            Sizing::Cash | Sizing::Units => check("size", self.size, f64::MIN_POSITIVE, 1e15)?,
        }
        if self.sizing == Sizing::Units && !self.fractional && self.size.fract() != 0.0 {
            return Err(ParamError::Spec {
                spec: format!("size={}", self.size),
                reason: "size must be a whole number of units unless fractional is on".into(),
            });
        }
        check("periods_per_year", self.periods_per_year, 1.0, 1e8)?;
        check("risk_free_rate", self.risk_free_rate, -0.5, 1.0)?;
        for (name, level) in
            [("stop_loss", self.stop_loss), ("take_profit", self.take_profit), ("trailing_stop", self.trailing_stop)]
        {
            if let Some(level) = level {
                check(name, level, f64::MIN_POSITIVE, 10.0)?;
            }
        }
        Ok(())
    }
}

/// JSON has no NaN: `serde_json` writes an undefined figure as `null`.
/// These read `null` back as NaN, so a report survives a round trip through
/// JSON (the server's report checked against the browser's, saved runs).
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer};

    /// A number, or `null` for NaN.
    pub(crate) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    /// Numbers, each possibly `null` for NaN.
    pub(crate) fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Profits when price rises.
    Long,
    /// Profits when price falls.
    Short,
}

/// Why a trade ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitReason {
    /// An opposite signal.
    Signal,
    /// The stop-loss level.
    StopLoss,
    /// The take-profit level.
    TakeProfit,
    /// The trailing stop.
    TrailingStop,
    /// Still open after the last bar; valued at the last close.
    EndOfData,
}

/// One round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// Long or short.
    pub side: Side,
    /// Entry fill time (the filling bar's `ts`).
    pub entry_ts: i64,
    /// Entry fill price, after slippage.
    #[serde(deserialize_with = "nan_as_null::number")]
    pub entry_price: f64,
    /// Exit fill time.
    pub exit_ts: i64,
    /// Exit fill price, after slippage.
    #[serde(deserialize_with = "nan_as_null::number")]
    pub exit_price: f64,
    /// Units traded.
    #[serde(deserialize_with = "nan_as_null::number")]
    pub size: f64,
    /// Profit after both commissions.
    #[serde(deserialize_with = "nan_as_null::number")]
    pub pnl: f64,
    /// `pnl` relative to the entry notional.
    #[serde(deserialize_with = "nan_as_null::number")]
    pub return_pct: f64,
    /// Bars from entry fill to exit fill.
    pub bars_held: usize,
    /// Why it ended.
    pub exit: ExitReason,
}

/// A backtest's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Summary statistics.
    pub metrics: Metrics,
    /// Every round trip, in order.
    pub trades: Vec<Trade>,
    /// Equity at every bar's close.
    #[serde(deserialize_with = "nan_as_null::numbers")]
    pub equity: Vec<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Position {
    side: Side,
    size: f64,
    entry_price: f64,
    entry_ts: i64,
    entry_index: usize,
    entry_commission: f64,
    /// Best price since entry (highest high for longs, lowest low for shorts).
    best: f64,
}

/// The book-keeping state of one run.
struct Book<'c> {
    config: &'c Config,
    cash: f64,
    position: Option<Position>,
    trades: Vec<Trade>,
}

impl Book<'_> {
    fn equity(&self, price: f64) -> f64 {
        match &self.position {
            Some(p) if p.side == Side::Long => self.cash + p.size * price,
            Some(p) => self.cash - p.size * price,
            None => self.cash,
        }
    }

    fn slipped(&self, price: f64, buying: bool) -> f64 {
        let s = self.config.slippage_bps / 10_000.0;
        if buying { price * (1.0 + s) } else { price * (1.0 - s) }
    }

    fn commission(&self, notional: f64) -> f64 {
        notional * self.config.commission_rate + self.config.commission_fixed
    }

    fn open(&mut self, side: Side, price: f64, ts: i64, index: usize) {
        let fill = self.slipped(price, side == Side::Long);
        let equity = self.equity(fill);
        let affordable =
            |budget: f64| (budget - self.config.commission_fixed) / (fill * (1.0 + self.config.commission_rate));
        let mut size = match self.config.sizing {
            Sizing::Equity => affordable(equity * self.config.fraction),
            Sizing::Cash => affordable(self.config.size.min(equity)),
            Sizing::Units if self.config.size <= affordable(equity) => self.config.size,
            Sizing::Units => return,
        };
        if !self.config.fractional {
            size = size.floor();
        }
        if !(size > 0.0 && size.is_finite()) {
            return;
        }
        let commission = self.commission(size * fill);
        match side {
            Side::Long => self.cash -= size * fill + commission,
            Side::Short => self.cash += size * fill - commission,
        }
        self.position = Some(Position {
            side,
            size,
            entry_price: fill,
            entry_ts: ts,
            entry_index: index,
            entry_commission: commission,
            best: fill,
        });
    }

    fn close(&mut self, price: f64, ts: i64, index: usize, exit: ExitReason) {
        let Some(p) = self.position.take() else { return };
        let fill = self.slipped(price, p.side == Side::Short);
        let commission = self.commission(p.size * fill);
        let gross = match p.side {
            Side::Long => {
                self.cash += p.size * fill - commission;
                (fill - p.entry_price) * p.size
            }
            Side::Short => {
                self.cash -= p.size * fill + commission;
                (p.entry_price - fill) * p.size
            }
        };
        let pnl = gross - p.entry_commission - commission;
        self.trades.push(Trade {
            side: p.side,
            entry_ts: p.entry_ts,
            entry_price: p.entry_price,
            exit_ts: ts,
            exit_price: fill,
            size: p.size,
            pnl,
            return_pct: pnl / (p.entry_price * p.size),
            bars_held: index - p.entry_index,
            exit,
        });
    }

    /// Moves to the position a signal asks for, filling at `price`.
    fn apply(&mut self, target: Side, price: f64, ts: i64, index: usize) {
        let current = self.position.map(|p| p.side);
        match (self.config.mode, target, current) {
            (_, t, Some(c)) if t == c => {}
            (Mode::LongOnly, Side::Long, None) => self.open(Side::Long, price, ts, index),
            (Mode::LongOnly, Side::Short, Some(_)) => self.close(price, ts, index, ExitReason::Signal),
            (Mode::LongOnly, _, _) => {}
            (Mode::LongShort, t, c) => {
                if c.is_some() {
                    self.close(price, ts, index, ExitReason::Signal);
                }
                self.open(t, price, ts, index);
            }
        }
    }

    /// Exits by stop, target or trailing stop if this bar reaches one.
    #[inline]
    fn check_exits(&mut self, bar: &Bar, index: usize) {
        let c = self.config;
        if c.stop_loss.is_none() && c.take_profit.is_none() && c.trailing_stop.is_none() {
            // Nothing to check; `best` only feeds the trailing stop.
            return;
        }
        let Some(p) = &self.position else { return };
        let (stop, target, trail) = match p.side {
            Side::Long => (
                c.stop_loss.map(|f| p.entry_price * (1.0 - f)),
                c.take_profit.map(|f| p.entry_price * (1.0 + f)),
                c.trailing_stop.map(|f| p.best * (1.0 - f)),
            ),
            Side::Short => (
                c.stop_loss.map(|f| p.entry_price * (1.0 + f)),
                c.take_profit.map(|f| p.entry_price * (1.0 - f)),
                c.trailing_stop.map(|f| p.best * (1.0 + f)),
            ),
        };
        // The nearer of stop-loss and trailing stop protects the position.
        let protective = match (stop, trail) {
            (Some(s), Some(t)) if p.side == Side::Long => {
                Some(if t > s { (t, ExitReason::TrailingStop) } else { (s, ExitReason::StopLoss) })
            }
            (Some(s), Some(t)) => Some(if t < s { (t, ExitReason::TrailingStop) } else { (s, ExitReason::StopLoss) }),
            (Some(s), None) => Some((s, ExitReason::StopLoss)),
            (None, Some(t)) => Some((t, ExitReason::TrailingStop)),
            (None, None) => None,
        };
        let (adverse, favourable) = match p.side {
            Side::Long => (bar.low, bar.high),
            Side::Short => (bar.high, bar.low),
        };
        let beyond = |level: f64, price: f64, against: bool| match (p.side, against) {
            (Side::Long, true) | (Side::Short, false) => price <= level,
            (Side::Long, false) | (Side::Short, true) => price >= level,
        };
        if let Some((level, reason)) = protective
            && beyond(level, adverse, true)
        {
            let price = if beyond(level, bar.open, true) { bar.open } else { level };
            self.close(price, bar.ts, index, reason);
            return;
        }
        if let Some(level) = target
            && beyond(level, favourable, false)
        {
            let price = if beyond(level, bar.open, false) { bar.open } else { level };
            self.close(price, bar.ts, index, ExitReason::TakeProfit);
            return;
        }
        if let Some(p) = &mut self.position {
            p.best = match p.side {
                Side::Long => p.best.max(bar.high),
                Side::Short => p.best.min(bar.low),
            };
        }
    }
}

/// Runs a backtest of precomputed `signals` (one per bar, decided on that
/// bar's close) over `bars`.
///
/// # Errors
/// [`ParamError`] when the configuration is invalid or the lengths differ.
pub fn run_signals(bars: &[Bar], signals: &[Signal], config: &Config) -> Result<Report, ParamError> {
    if bars.len() != signals.len() {
        return Err(ParamError::Spec {
            spec: "signals".into(),
            reason: format!("{} signals for {} bars", signals.len(), bars.len()),
        });
    }
    run(bars, config, |first, decisions| decisions.copy_from_slice(&signals[first..first + decisions.len()]))
}

/// Runs a backtest of `strategy` over `bars`, feeding it one closed bar at a time.
///
/// # Errors
/// [`ParamError`] when the configuration is invalid.
pub fn run_strategy<S: Strategy + ?Sized>(
    bars: &[Bar],
    strategy: &mut S,
    config: &Config,
) -> Result<Report, ParamError> {
    run(bars, config, |first, decisions| strategy.next_many(&bars[first..first + decisions.len()], decisions))
}

/// Bars decided per call of `decide` in [`run`].
const CHUNK: usize = 256;

/// The engine: `decide(first, decisions)` fills the decisions on bars
/// `first..first + decisions.len()`, a chunk at a time, in order. Decisions
/// depend on the bars alone (a strategy sees no account), so deciding a chunk
/// before booking it changes nothing but the number of calls.
fn run(bars: &[Bar], config: &Config, mut decide: impl FnMut(usize, &mut [Signal])) -> Result<Report, ParamError> {
    config.validate()?;
    let mut book = Book { config, cash: config.initial_cash, position: None, trades: Vec::new() };
    let mut equity = Vec::with_capacity(bars.len());
    let mut pending: Option<Side> = None;
    let mut bars_in_market = 0usize;
    let mut decisions = [Signal::Hold; CHUNK];
    for (c, chunk) in bars.chunks(CHUNK).enumerate() {
        let first = c * CHUNK;
        let decisions = &mut decisions[..chunk.len()];
        decide(first, decisions);
        for (k, (bar, &decision)) in chunk.iter().zip(decisions.iter()).enumerate() {
            let i = first + k;
            if let Some(target) = pending.take() {
                book.apply(target, bar.open, bar.ts, i);
            }
            book.check_exits(bar, i);
            let target = match decision {
                Signal::Buy => Some(Side::Long),
                Signal::Sell => Some(Side::Short),
                Signal::Hold => None,
            };
            if let Some(target) = target {
                match config.fill {
                    Fill::Close => book.apply(target, bar.close, bar.ts, i),
                    Fill::NextOpen => pending = Some(target),
                }
            }
            bars_in_market += usize::from(book.position.is_some());
            equity.push(book.equity(bar.close));
        }
    }
    if let Some(last) = bars.last() {
        book.close(last.close, last.ts, bars.len() - 1, ExitReason::EndOfData);
        // Closing at the end pays the exit commission; the curve shows it.
        if let Some(e) = equity.last_mut() {
            *e = book.cash;
        }
    }
    let metrics = metrics::compute(bars, &equity, &book.trades, bars_in_market, config);
    Ok(Report { metrics, trades: book.trades, equity })
}
