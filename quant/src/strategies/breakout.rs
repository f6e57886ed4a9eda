//! Channel breakouts. A breakout compares the current close with a channel of
//! the bars *before* it (the current bar is added to the channel afterwards), so
//! a close can exceed it; each signal fires on the bar where its condition
//! becomes true after a bar where it was false (both bars with a channel).
//!
//! - `donchian_breakout` (turtle): `Buy` when the close rises above the highest
//!   high of the previous `entry` bars, `Sell` when it falls below the lowest low
//!   of the previous `exit` bars. Defaults `entry = 20`, `exit = 10`; warm-up
//!   `min(entry, exit) + 1` bars.
//! - `keltner_breakout`: with [`Keltner`] channels (EMA of `period` closes plus
//!   or minus `multiplier` ATRs of `atr_period` bars), `Buy` on the bar where the
//!   close crosses above the upper band, `Sell` where it crosses below the middle
//!   band (the EMA). Defaults `period = 20`, `atr_period = 10`, `multiplier = 2`.
//! - `new_high`: `Buy` when the close makes a new closing high: above every close
//!   of the previous `period` bars (default 252, a 52-week high on daily bars), or
//!   of all previous bars with `all_time = true`. `Sell` when the close falls
//!   below the lowest close of the previous `exit` bars (default 20; 0 disables),
//!   or, with `trailing > 0` (a fraction, default 0 = off), on the first close at
//!   or below `(1 - trailing)` times the highest close since the last `Buy`
//!   (the stop then disarms until the next `Buy`). A `Sell` and a `Buy` on one
//!   bar give `Sell`. Warm-up `min(period, exit) + 1` bars (`period` counts as 1
//!   with `all_time`).
//!
//! Evidence: `close` with the channel it was compared with, `upper` and `lower`
//! (`donchian_breakout`; each once its channel exists); `close`, `upper`, `middle`
//! and `lower` (`keltner_breakout`); `close`, `upper` (the highest close),
//! `lower` (the lowest close) and `stop` (the trailing stop level while armed)
//! (`new_high`; each when it applies).

use serde::{Deserialize, Serialize};

use super::common::{Crossed, Crossing, Edge, evidence, length, positive, within};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Donchian, Indicator, Keltner};
use crate::strategy::{Signal, Strategy};

/// Parameters of `donchian_breakout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DonchianParams {
    /// Bars whose highest high a close must exceed to buy (>= 1).
    pub entry: usize,
    /// Bars whose lowest low a close must undercut to sell (>= 1).
    pub exit: usize,
}

impl Default for DonchianParams {
    fn default() -> Self {
        Self { entry: 20, exit: 10 }
    }
}

/// `donchian_breakout`, the turtle rule.
#[derive(Debug, Clone)]
pub struct DonchianBreakout {
    entry: Donchian,
    exit: Donchian,
    /// Highest high of the previous `entry` bars.
    high: Option<f64>,
    /// Lowest low of the previous `exit` bars.
    low: Option<f64>,
    buy: Edge,
    sell: Edge,
    /// Close, `high` and `low` (NaN while missing) on the latest bar.
    last: Option<[f64; 3]>,
}

impl DonchianBreakout {
    /// A new `donchian_breakout`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is 0.
    pub fn new(params: DonchianParams) -> Result<Self, ParamError> {
        Ok(Self {
            entry: Donchian::new(length("entry", params.entry, 1)?)?,
            exit: Donchian::new(length("exit", params.exit, 1)?)?,
            high: None,
            low: None,
            buy: Edge::default(),
            sell: Edge::default(),
            last: None,
        })
    }
}

impl Strategy for DonchianBreakout {
    fn next(&mut self, bar: &Bar) -> Signal {
        self.last = (self.high.is_some() || self.low.is_some())
            .then(|| [bar.close, self.high.unwrap_or(f64::NAN), self.low.unwrap_or(f64::NAN)]);
        let buy = self.buy.update(self.high.map(|h| bar.close > h));
        let sell = self.sell.update(self.low.map(|l| bar.close < l));
        self.high = self.entry.next(*bar).map(|c| c.upper);
        self.low = self.exit.next(*bar).map(|c| c.lower);
        if buy {
            Signal::Buy
        } else if sell {
            Signal::Sell
        } else {
            Signal::Hold
        }
    }

    fn reset(&mut self) {
        self.entry.reset();
        self.exit.reset();
        self.high = None;
        self.low = None;
        self.buy.reset();
        self.sell.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.entry.lookback().min(self.exit.lookback()) + 2
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "upper", "lower"], self.last)
    }
}

/// Parameters of `keltner_breakout`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeltnerParams {
    /// Period of the EMA of closes, the middle band (>= 1).
    pub period: usize,
    /// Period of the ATR (>= 1).
    pub atr_period: usize,
    /// Band width in ATRs (> 0).
    pub multiplier: f64,
}

impl Default for KeltnerParams {
    fn default() -> Self {
        Self { period: 20, atr_period: 10, multiplier: 2.0 }
    }
}

/// `keltner_breakout`: buy a close above the upper Keltner band, sell a close
/// below the middle band.
#[derive(Debug, Clone)]
pub struct KeltnerBreakout {
    channel: Keltner,
    upper: Crossing,
    middle: Crossing,
    /// Close and bands on the latest bar.
    last: Option<[f64; 4]>,
}

impl KeltnerBreakout {
    /// A new `keltner_breakout`.
    ///
    /// # Errors
    /// [`ParamError`] when a period is 0 or `multiplier` is not a positive number.
    pub fn new(params: KeltnerParams) -> Result<Self, ParamError> {
        let multiplier = positive("multiplier", params.multiplier)?;
        Ok(Self {
            channel: Keltner::new(params.period, params.atr_period, multiplier)?,
            upper: Crossing::default(),
            middle: Crossing::default(),
            last: None,
        })
    }
}

impl Strategy for KeltnerBreakout {
    fn next(&mut self, bar: &Bar) -> Signal {
        let bands = self.channel.next(*bar);
        self.last = bands.map(|b| [bar.close, b.upper, b.middle, b.lower]);
        let upper = self.upper.update(bands.map(|b| bar.close - b.upper));
        let middle = self.middle.update(bands.map(|b| bar.close - b.middle));
        match (upper, middle) {
            (Crossed::Up, _) => Signal::Buy,
            (_, Crossed::Down) => Signal::Sell,
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.channel.reset();
        self.upper.reset();
        self.middle.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.channel.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "upper", "middle", "lower"], self.last)
    }
}

/// Parameters of `new_high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHighParams {
    /// Bars whose highest close a close must exceed to buy (>= 1; ignored with `all_time`).
    pub period: usize,
    /// Buy on a new all-time closing high instead (over every bar seen).
    pub all_time: bool,
    /// Bars whose lowest close a close must undercut to sell; 0 disables.
    pub exit: usize,
    /// Trailing stop as a fraction below the highest close since the last buy,
    /// in `0..1`; 0 disables. At least one exit must be enabled.
    pub trailing: f64,
}

impl Default for NewHighParams {
    fn default() -> Self {
        Self { period: 252, all_time: false, exit: 20, trailing: 0.0 }
    }
}

/// Closes as bars for a channel of closes.
fn close_only(bar: &Bar) -> Bar {
    Bar { high: bar.close, low: bar.close, ..*bar }
}

/// `new_high`: buy new closing highs, sell on a channel low or a trailing stop.
#[derive(Debug, Clone)]
pub struct NewHigh {
    params: NewHighParams,
    /// Highest close of the previous `period` bars; `None` with `all_time`.
    window: Option<Donchian>,
    exit: Option<Donchian>,
    /// Highest close of the previous `period` (or all) bars.
    high: Option<f64>,
    /// Lowest close of the previous `exit` bars.
    low: Option<f64>,
    /// Highest close since the last `Buy`, while the trailing stop is armed.
    peak: Option<f64>,
    buy: Edge,
    sell: Edge,
    /// Close, `high`, `low` and the stop level (NaN while missing) on the latest bar.
    last: Option<[f64; 4]>,
}

impl NewHigh {
    /// A new `new_high`.
    ///
    /// # Errors
    /// [`ParamError`] when `period` is 0, `trailing` is outside `0..1`, or both
    /// exits are disabled.
    pub fn new(params: NewHighParams) -> Result<Self, ParamError> {
        let period = length("period", params.period, 1)?;
        let trailing = within("trailing", params.trailing, 0.0, 0.999_999)?;
        if params.exit == 0 && trailing == 0.0 {
            return Err(ParamError::Spec {
                spec: "exit=0, trailing=0".into(),
                reason: "enable an exit: a channel of at least 1 bar or a trailing stop above 0".into(),
            });
        }
        Ok(Self {
            params,
            window: if params.all_time { None } else { Some(Donchian::new(period)?) },
            exit: if params.exit == 0 { None } else { Some(Donchian::new(params.exit)?) },
            high: None,
            low: None,
            peak: None,
            buy: Edge::default(),
            sell: Edge::default(),
            last: None,
        })
    }
}

impl Strategy for NewHigh {
    fn next(&mut self, bar: &Bar) -> Signal {
        let close = bar.close;
        let stop = self.peak.map(|peak| peak * (1.0 - self.params.trailing));
        self.last = (self.high.is_some() || self.low.is_some() || stop.is_some()).then(|| {
            let missing = f64::NAN;
            [close, self.high.unwrap_or(missing), self.low.unwrap_or(missing), stop.unwrap_or(missing)]
        });
        let mut buy = self.buy.update(self.high.map(|h| close > h));
        let mut sell = self.sell.update(self.low.map(|l| close < l));
        if let Some(stop) = stop {
            sell |= close <= stop;
        }
        if sell {
            buy = false;
        }
        self.high = match &mut self.window {
            Some(window) => window.next(close_only(bar)).map(|c| c.upper),
            None => Some(self.high.map_or(close, |h| h.max(close))),
        };
        self.low = self.exit.as_mut().and_then(|exit| exit.next(close_only(bar)).map(|c| c.lower));
        if self.params.trailing > 0.0 {
            self.peak = if sell {
                None
            } else if buy {
                Some(self.peak.map_or(close, |p| p.max(close)))
            } else {
                self.peak.map(|p| p.max(close))
            };
        }
        if buy {
            Signal::Buy
        } else if sell {
            Signal::Sell
        } else {
            Signal::Hold
        }
    }

    fn reset(&mut self) {
        if let Some(window) = &mut self.window {
            window.reset();
        }
        if let Some(exit) = &mut self.exit {
            exit.reset();
        }
        self.high = None;
        self.low = None;
        self.peak = None;
        self.buy.reset();
        self.sell.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        let entry = self.window.as_ref().map_or(1, |w| w.lookback() + 1);
        let exit = self.exit.as_ref().map_or(entry, |e| e.lookback() + 1);
        entry.min(exit) + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "upper", "lower", "stop"], self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, closes, hlc, run, zigzag};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    #[test]
    fn donchian_compares_with_the_channel_before_the_bar() {
        // (high, low, close)
        let bars = hlc(&[
            (11.0, 9.0, 10.0),
            (12.0, 10.0, 11.0),
            (11.5, 9.5, 10.5),
            (11.8, 10.2, 11.0), // not above the previous 3 highs (max 12)
            (12.5, 11.0, 12.2), // above 12: Buy
            (13.0, 12.0, 12.9), // above 12.5 again: no new event
            (12.6, 11.8, 12.0), // not above 13
            (13.5, 12.0, 13.2), // above 13 again: Buy
            (12.0, 10.0, 10.5), // below the previous 2 lows (12, 11.8 → 11.8): Sell
            (10.8, 9.0, 9.5),   // below 10 again: no new event
            (11.0, 9.4, 10.8),  // not below 9
        ]);
        let mut s = DonchianBreakout::new(DonchianParams { entry: 3, exit: 2 }).unwrap();
        assert_eq!(s.warmup(), 3);
        assert_eq!(run(&mut s, &bars), vec![Hold, Hold, Hold, Hold, Buy, Hold, Hold, Buy, Sell, Hold, Hold]);
    }

    #[test]
    fn keltner_buys_above_the_upper_band_and_sells_below_the_middle() {
        let mut s = KeltnerBreakout::new(KeltnerParams { period: 3, atr_period: 2, multiplier: 0.5 }).unwrap();
        assert_eq!(s.warmup(), 3);
        // Middle (EMA 3) / upper band: bar 7 16.39/17.21 (close 17), bar 8 17.45/18.36
        // (close 18.5 above: Buy); bar 11 21.06 (close 22), bar 12 21.03 (close 21
        // below the middle: Sell).
        let bars = zigzag();
        let got = run(&mut s, &bars);
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Sell, Hold, Hold, Hold]
        );
    }

    const CLOSES: [f64; 12] = [10.0, 11.0, 10.5, 11.5, 12.0, 11.8, 12.5, 11.0, 10.4, 10.6, 12.6, 12.7];

    #[test]
    fn new_high_over_a_window_with_a_channel_exit() {
        let mut s = NewHigh::new(NewHighParams { period: 3, all_time: false, exit: 2, trailing: 0.0 }).unwrap();
        assert_eq!(s.warmup(), 3);
        // Bar 3 (11.5 > 11) is the first bar with a window, so only a later new high
        // can be an event: bar 6 (12.5 > 12) and bar 10 (12.6 > 11); bar 11 is still
        // a new high. Bar 7 (11.0) is below the previous two closes (12.5, 11.8): Sell.
        let got = run(&mut s, &closes(&CLOSES));
        assert_eq!(got, vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Sell, Hold, Hold, Buy, Hold]);
    }

    #[test]
    fn new_high_all_time_with_a_trailing_stop() {
        let params = NewHighParams { period: 3, all_time: true, exit: 0, trailing: 0.1 };
        let mut s = NewHigh::new(params).unwrap();
        assert_eq!(s.warmup(), 2);
        // New all-time closing highs on bars 3, 6 and 10 (bars 4 and 11 continue one);
        // bar 7 closes at 11.0 <= 0.9 * 12.5, the peak since the last Buy: Sell.
        let got = run(&mut s, &closes(&CLOSES));
        assert_eq!(got, vec![Hold, Hold, Hold, Buy, Hold, Hold, Buy, Sell, Hold, Hold, Buy, Hold]);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(DonchianBreakout::new(DonchianParams { entry: 0, exit: 10 }).is_err());
        assert!(KeltnerBreakout::new(KeltnerParams { multiplier: 0.0, ..KeltnerParams::default() }).is_err());
        assert!(NewHigh::new(NewHighParams { exit: 0, ..NewHighParams::default() }).is_err());
        assert!(NewHigh::new(NewHighParams { trailing: 1.0, ..NewHighParams::default() }).is_err());
        assert!(NewHigh::new(NewHighParams { period: 0, ..NewHighParams::default() }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = closes(&CLOSES);
        assert_reset_equals_fresh(|| DonchianBreakout::new(DonchianParams { entry: 3, exit: 2 }).unwrap(), &bars);
        assert_reset_equals_fresh(|| KeltnerBreakout::new(KeltnerParams::default()).unwrap(), &bars);
        let params = NewHighParams { period: 3, all_time: true, exit: 2, trailing: 0.05 };
        assert_reset_equals_fresh(|| NewHigh::new(params).unwrap(), &bars);
    }
}
