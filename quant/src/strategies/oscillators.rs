//! Oscillator rules.
//!
//! - `stochastic_cross`: with the slow [`Stoch`] (%K = SMA(`slowk_period`) of raw
//!   %K over `fastk_period` bars, %D = SMA(`slowd_period`) of %K), `Buy` on the
//!   bar where %K crosses above %D while %D is below `oversold`, `Sell` on the
//!   bar where %K crosses below %D while %D is above `overbought`. Defaults
//!   `fastk_period = 14`, `slowk_period = 3`, `slowd_period = 3`, `oversold = 20`,
//!   `overbought = 80`; warm-up `fastk_period + slowk_period + slowd_period - 2`.
//! - `williams_r`: with [`Willr`] (from -100 to 0), `Buy` on the bar where %R
//!   crosses back up through `oversold` (previous `<= oversold`, current `>`),
//!   `Sell` where it crosses back down through `overbought` (previous
//!   `>= overbought`, current `<`). Defaults `period = 14`, `oversold = -80`,
//!   `overbought = -20`; warm-up `period` bars.
//! - `cci` (Lambert's trend rule): with [`Cci`], `Buy` on the bar where the CCI
//!   crosses above `+level`, `Sell` on the bar where it crosses below `-level`.
//!   Defaults `period = 20`, `level = 100`; warm-up `period` bars.
//! - `trix`: `Buy` on the bar where [`Trix`] crosses above its signal line, an
//!   EMA of `signal` TRIX values, `Sell` where it crosses below (the signal-line
//!   variant rather than the zero line: it turns earlier). Defaults
//!   `period = 15`, `signal = 9`; warm-up `3 * period + signal - 2` bars.
//!
//! Evidence: `k`, `d`, `oversold`, `overbought` (`stochastic_cross`);
//! `williams_r`, `oversold`, `overbought` (`williams_r`); `cci`, `upper` (+level)
//! and `lower` (-level) (`cci`); `trix` and `signal` (`trix`).

use serde::{Deserialize, Serialize};

use super::common::{Crossed, Crossing, ZoneExit, below, evidence, on_cross, positive, within};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Cci, Ema, Indicator, Stoch, Trix, Willr};
use crate::strategy::{Signal, Strategy};

/// Parameters of `stochastic_cross`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StochasticParams {
    /// Window of the raw %K (>= 1).
    pub fastk_period: usize,
    /// SMA smoothing of raw %K into %K (>= 1).
    pub slowk_period: usize,
    /// SMA smoothing of %K into %D (>= 1).
    pub slowd_period: usize,
    /// %D level below which an upward crossing buys.
    pub oversold: f64,
    /// %D level above which a downward crossing sells; above `oversold`.
    pub overbought: f64,
}

impl Default for StochasticParams {
    fn default() -> Self {
        Self { fastk_period: 14, slowk_period: 3, slowd_period: 3, oversold: 20.0, overbought: 80.0 }
    }
}

/// `stochastic_cross`: %K crossing %D in the extreme zones.
#[derive(Debug, Clone)]
pub struct StochasticCross {
    stoch: Stoch,
    oversold: f64,
    overbought: f64,
    crossing: Crossing,
    /// %K and %D on the latest bar.
    last: Option<[f64; 2]>,
}

impl StochasticCross {
    /// A new `stochastic_cross`.
    ///
    /// # Errors
    /// [`ParamError`] when a period is 0, a level is outside `0..=100` or
    /// `oversold >= overbought`.
    pub fn new(params: StochasticParams) -> Result<Self, ParamError> {
        let oversold = within("oversold", params.oversold, 0.0, 100.0)?;
        let overbought = within("overbought", params.overbought, 0.0, 100.0)?;
        below("oversold", oversold, "overbought", overbought)?;
        let stoch = Stoch::new(params.fastk_period, params.slowk_period, params.slowd_period)?;
        Ok(Self { stoch, oversold, overbought, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for StochasticCross {
    fn next(&mut self, bar: &Bar) -> Signal {
        let value = self.stoch.next(*bar);
        self.last = value.map(|v| [v.slowk, v.slowd]);
        match (self.crossing.update(value.map(|v| v.slowk - v.slowd)), value) {
            (Crossed::Up, Some(v)) if v.slowd < self.oversold => Signal::Buy,
            (Crossed::Down, Some(v)) if v.slowd > self.overbought => Signal::Sell,
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.stoch.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.stoch.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["k", "d", "oversold", "overbought"], self.last.map(|[k, d]| [k, d, self.oversold, self.overbought]))
    }
}

/// Parameters of `williams_r`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WilliamsRParams {
    /// Window of %R (>= 2).
    pub period: usize,
    /// Level %R must cross back up through to buy, in `-100..=0`.
    pub oversold: f64,
    /// Level %R must cross back down through to sell; above `oversold`.
    pub overbought: f64,
}

impl Default for WilliamsRParams {
    fn default() -> Self {
        Self { period: 14, oversold: -80.0, overbought: -20.0 }
    }
}

/// `williams_r`: %R leaving its extreme zones.
#[derive(Debug, Clone)]
pub struct WilliamsR {
    willr: Willr,
    zones: ZoneExit,
}

impl WilliamsR {
    /// A new `williams_r`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2`, a level is outside `-100..=0` or
    /// `oversold >= overbought`.
    pub fn new(params: WilliamsRParams) -> Result<Self, ParamError> {
        let oversold = within("oversold", params.oversold, -100.0, 0.0)?;
        let overbought = within("overbought", params.overbought, -100.0, 0.0)?;
        below("oversold", oversold, "overbought", overbought)?;
        Ok(Self { willr: Willr::new(params.period)?, zones: ZoneExit::new(oversold, overbought) })
    }
}

impl Strategy for WilliamsR {
    fn next(&mut self, bar: &Bar) -> Signal {
        self.zones.update(self.willr.next(*bar))
    }

    fn reset(&mut self) {
        self.willr.reset();
        self.zones.reset();
    }

    fn warmup(&self) -> usize {
        self.willr.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        self.zones.evidence("williams_r")
    }
}

/// Parameters of `cci`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CciParams {
    /// Window of the CCI (>= 2).
    pub period: usize,
    /// Crossing `+level` buys, crossing `-level` sells (> 0).
    pub level: f64,
}

impl Default for CciParams {
    fn default() -> Self {
        Self { period: 20, level: 100.0 }
    }
}

/// `cci`: the CCI breaking out of `-level..=level`.
#[derive(Debug, Clone)]
pub struct CciBreakout {
    cci: Cci,
    level: f64,
    upper: Crossing,
    lower: Crossing,
    /// The CCI on the latest bar.
    last: Option<f64>,
}

impl CciBreakout {
    /// A new `cci`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2` or `level` is not a positive number.
    pub fn new(params: CciParams) -> Result<Self, ParamError> {
        let level = positive("level", params.level)?;
        Ok(Self {
            cci: Cci::new(params.period)?,
            level,
            upper: Crossing::default(),
            lower: Crossing::default(),
            last: None,
        })
    }
}

impl Strategy for CciBreakout {
    fn next(&mut self, bar: &Bar) -> Signal {
        let cci = self.cci.next(*bar);
        self.last = cci;
        let upper = self.upper.update(cci.map(|c| c - self.level));
        let lower = self.lower.update(cci.map(|c| c + self.level));
        match (upper, lower) {
            (Crossed::Up, _) => Signal::Buy,
            (_, Crossed::Down) => Signal::Sell,
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.cci.reset();
        self.upper.reset();
        self.lower.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.cci.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["cci", "upper", "lower"], self.last.map(|cci| [cci, self.level, -self.level]))
    }
}

/// Parameters of `trix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrixParams {
    /// Period of the three EMAs (>= 1).
    pub period: usize,
    /// Period of the signal EMA of TRIX (>= 1).
    pub signal: usize,
}

impl Default for TrixParams {
    fn default() -> Self {
        Self { period: 15, signal: 9 }
    }
}

/// `trix`: TRIX crossing its signal line.
#[derive(Debug, Clone)]
pub struct TrixCross {
    trix: Trix,
    signal: Ema,
    crossing: Crossing,
    /// TRIX and its signal line on the latest bar.
    last: Option<[f64; 2]>,
}

impl TrixCross {
    /// A new `trix`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is 0.
    pub fn new(params: TrixParams) -> Result<Self, ParamError> {
        let signal = Ema::new(params.signal).map_err(|e| match e {
            ParamError::TooSmall { min, value, .. } => ParamError::TooSmall { name: "signal", min, value },
            other => other,
        })?;
        Ok(Self { trix: Trix::new(params.period)?, signal, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for TrixCross {
    fn next(&mut self, bar: &Bar) -> Signal {
        let trix = self.trix.next(bar.close);
        self.last = trix.and_then(|t| self.signal.next(t).map(|s| [t, s]));
        let diff = self.last.map(|[t, s]| t - s);
        on_cross(self.crossing.update(diff))
    }

    fn reset(&mut self) {
        self.trix.reset();
        self.signal.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.trix.lookback() + self.signal.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["trix", "signal"], self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, closes, run, zigzag};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    #[test]
    fn stochastic_crossings_count_only_in_the_zones() {
        let params =
            StochasticParams { fastk_period: 3, slowk_period: 2, slowd_period: 2, oversold: 25.0, overbought: 80.0 };
        let mut s = StochasticCross::new(params).unwrap();
        assert_eq!(s.warmup(), 5);
        // %K/%D: bar 5 15.5/16.9 (a downward crossing, but not above 80), bar 6 32.1/23.8
        // (upward, %D below 25: Buy); bar 10 87.5/87.5, bar 11 85.4/86.5 (downward, %D
        // above 80: Sell).
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Hold, Hold]
        );
    }

    #[test]
    fn williams_r_leaves_its_zones() {
        let mut s = WilliamsR::new(WilliamsRParams { period: 3, ..Default::default() }).unwrap();
        assert_eq!(s.warmup(), 3);
        // %R: bar 5 -85.7, bar 6 -50 (out of the oversold zone: Buy); bar 11 -16.7, bar 12
        // -75 (out of the overbought zone: Sell).
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Hold]
        );
    }

    #[test]
    fn cci_breaks_out_of_its_band() {
        let mut s = CciBreakout::new(CciParams { period: 3, level: 90.0 }).unwrap();
        assert_eq!(s.warmup(), 3);
        // CCI from bar 2: -100, -80, -100 (below -90: Sell), -87.5, 0, 100 (above 90: Buy),
        // 100, 100, 100, 71.4, -100 (Sell), -100, -100, -90.9.
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Sell, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Hold]
        );
    }

    #[test]
    fn trix_crosses_its_signal_line() {
        let mut s = TrixCross::new(TrixParams { period: 2, signal: 2 }).unwrap();
        assert_eq!(s.warmup(), 6);
        let series = [20.0, 19.0, 18.0, 17.5, 16.0, 15.0, 15.5, 17.0, 18.5, 20.0, 21.5, 22.0, 21.0, 19.0, 17.0, 15.5];
        // TRIX/signal: bar 5 -5.90/-5.57, bar 6 -3.60/-4.25 (above: Buy); bar 10 7.36/6.72,
        // bar 11 5.82/6.12 (below: Sell).
        let got = run(&mut s, &closes(&series));
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Hold, Hold]
        );
    }

    #[test]
    fn parameters_are_checked() {
        let p = StochasticParams::default();
        assert!(StochasticCross::new(StochasticParams { oversold: 80.0, overbought: 20.0, ..p }).is_err());
        assert!(StochasticCross::new(StochasticParams { fastk_period: 0, ..p }).is_err());
        assert!(WilliamsR::new(WilliamsRParams { oversold: 20.0, overbought: 80.0, period: 14 }).is_err());
        assert!(CciBreakout::new(CciParams { period: 20, level: 0.0 }).is_err());
        assert!(TrixCross::new(TrixParams { period: 15, signal: 0 }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = zigzag();
        assert_reset_equals_fresh(|| StochasticCross::new(StochasticParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(
            || WilliamsR::new(WilliamsRParams { period: 3, ..Default::default() }).unwrap(),
            &bars,
        );
        assert_reset_equals_fresh(|| CciBreakout::new(CciParams { period: 3, level: 90.0 }).unwrap(), &bars);
        assert_reset_equals_fresh(|| TrixCross::new(TrixParams { period: 2, signal: 2 }).unwrap(), &bars);
    }
}
