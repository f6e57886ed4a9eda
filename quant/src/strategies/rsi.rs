//! RSI rules, on the TA-Lib (Wilder) [`Rsi`] of the closes.
//!
//! - `rsi_reversal`: `Buy` on the bar where the RSI crosses back up through
//!   `oversold` (previous `<= oversold`, current `> oversold`), `Sell` where it
//!   crosses back down through `overbought` (previous `>= overbought`, current
//!   `< overbought`). Defaults `period = 14`, `oversold = 30`, `overbought = 70`.
//! - `rsi_trend`: `Buy` on the bar where the RSI crosses above `level`
//!   (previous `<= level`, current `> level`), `Sell` where it crosses below
//!   (previous `>= level`, current `< level`). Defaults `period = 14`, `level = 50`.
//!
//! The RSI's first value is at bar `period`, so the first signal can come at bar
//! `period + 1`: the warm-up is `period + 1` bars. Levels lie in `0..=100`, with
//! `oversold < overbought`; `period >= 2`.
//!
//! Evidence: `rsi` with `oversold` and `overbought` (`rsi_reversal`) or with
//! `level` (`rsi_trend`).

use serde::{Deserialize, Serialize};

use super::common::{Crossing, ZoneExit, below, evidence, on_cross, within};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Indicator, Rsi};
use crate::strategy::{Signal, Strategy};

/// Parameters of `rsi_reversal`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsiReversalParams {
    /// RSI period (>= 2).
    pub period: usize,
    /// Level the RSI must cross back up through to buy.
    pub oversold: f64,
    /// Level the RSI must cross back down through to sell; above `oversold`.
    pub overbought: f64,
}

impl Default for RsiReversalParams {
    fn default() -> Self {
        Self { period: 14, oversold: 30.0, overbought: 70.0 }
    }
}

/// `rsi_reversal`: buy when the RSI leaves the oversold zone, sell when it
/// leaves the overbought zone.
#[derive(Debug, Clone)]
pub struct RsiReversal {
    rsi: Rsi,
    zones: ZoneExit,
}

impl RsiReversal {
    /// A new `rsi_reversal`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2`, a level is outside `0..=100` or
    /// `oversold >= overbought`.
    pub fn new(params: RsiReversalParams) -> Result<Self, ParamError> {
        let oversold = within("oversold", params.oversold, 0.0, 100.0)?;
        let overbought = within("overbought", params.overbought, 0.0, 100.0)?;
        below("oversold", oversold, "overbought", overbought)?;
        Ok(Self { rsi: Rsi::new(params.period)?, zones: ZoneExit::new(oversold, overbought) })
    }
}

impl Strategy for RsiReversal {
    fn next(&mut self, bar: &Bar) -> Signal {
        self.zones.update(self.rsi.next(bar.close))
    }

    fn reset(&mut self) {
        self.rsi.reset();
        self.zones.reset();
    }

    fn warmup(&self) -> usize {
        self.rsi.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        self.zones.evidence("rsi")
    }
}

/// Parameters of `rsi_trend`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsiTrendParams {
    /// RSI period (>= 2).
    pub period: usize,
    /// The level whose crossings are traded, in `0..=100`.
    pub level: f64,
}

impl Default for RsiTrendParams {
    fn default() -> Self {
        Self { period: 14, level: 50.0 }
    }
}

/// `rsi_trend`: buy when the RSI crosses above `level`, sell when it crosses below.
#[derive(Debug, Clone)]
pub struct RsiTrend {
    rsi: Rsi,
    level: f64,
    crossing: Crossing,
    /// The RSI on the latest bar.
    last: Option<f64>,
}

impl RsiTrend {
    /// A new `rsi_trend`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2` or `level` is outside `0..=100`.
    pub fn new(params: RsiTrendParams) -> Result<Self, ParamError> {
        let level = within("level", params.level, 0.0, 100.0)?;
        Ok(Self { rsi: Rsi::new(params.period)?, level, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for RsiTrend {
    fn next(&mut self, bar: &Bar) -> Signal {
        let rsi = self.rsi.next(bar.close);
        self.last = rsi;
        on_cross(self.crossing.update(rsi.map(|r| r - self.level)))
    }

    fn reset(&mut self) {
        self.rsi.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.rsi.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["rsi", "level"], self.last.map(|rsi| [rsi, self.level]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, closes, run};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    /// Falls, recovers, rallies, rolls over.
    const SERIES: [f64; 16] =
        [10.0, 11.0, 10.0, 9.0, 8.0, 7.5, 8.5, 9.0, 10.0, 11.0, 12.0, 13.0, 12.0, 11.0, 10.0, 10.5];

    #[test]
    fn reversal_fires_when_leaving_the_zones() {
        let params = RsiReversalParams { period: 3, oversold: 30.0, overbought: 70.0 };
        let mut s = RsiReversal::new(params).unwrap();
        assert_eq!(s.warmup(), 4);
        // RSI(3) from bar 3: 33.3, 22.2, 17.8, 48.6 (back above 30: Buy), 59.9, 75.8, 84.8,
        // 90.3, 93.7, 61.4 (back below 70: Sell), 40.5, 26.8, 41.6 (back above 30: Buy).
        let got = run(&mut s, &closes(&SERIES));
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Buy]
        );
    }

    #[test]
    fn trend_fires_on_crossing_the_level() {
        let mut s = RsiTrend::new(RsiTrendParams { period: 3, level: 50.0 }).unwrap();
        // Same RSI: 48.6 on bar 6, 59.9 on bar 7 (above 50: Buy), ..., 61.4 on bar 12,
        // 40.5 on bar 13 (below 50: Sell).
        let got = run(&mut s, &closes(&SERIES));
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold]
        );
    }

    #[test]
    fn parameters_are_checked() {
        let p = RsiReversalParams::default();
        assert!(RsiReversal::new(RsiReversalParams { oversold: 70.0, overbought: 30.0, ..p }).is_err());
        assert!(RsiReversal::new(RsiReversalParams { overbought: 170.0, ..p }).is_err());
        assert!(RsiReversal::new(RsiReversalParams { period: 1, ..p }).is_err());
        assert!(RsiTrend::new(RsiTrendParams { period: 14, level: f64::NAN }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = closes(&SERIES);
        assert_reset_equals_fresh(|| RsiReversal::new(RsiReversalParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(|| RsiTrend::new(RsiTrendParams { period: 3, level: 55.0 }).unwrap(), &bars);
    }
}
