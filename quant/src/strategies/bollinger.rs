//! Bollinger band rules, on [`Bbands`] of the closes (SMA middle band, bands
//! `nbdev` population standard deviations away). Each bar's close is compared
//! with that bar's bands.
//!
//! - `bollinger_reversion` (mean reversion): `Buy` on the bar where the close
//!   crosses back above the lower band (previous close `<=` its lower band,
//!   current close `>` the current lower band). `Sell` on the bar where the close
//!   crosses above the exit band: the middle band with `exit = "middle"` (the
//!   default: the reversion to the mean is done) or the upper band with
//!   `exit = "upper"`. If both happen on one bar (a jump from below the lower
//!   band to above the exit band), `Sell` wins: the reversion is already over.
//!   Defaults `period = 20`, `nbdev = 2`, `exit = "middle"`.
//! - `bollinger_breakout` (momentum): `Buy` on the bar where the close crosses
//!   above the upper band, `Sell` on the bar where it crosses below the middle
//!   band. Defaults `period = 20`, `nbdev = 2`.
//!
//! Warm-up: the bands exist from bar `period - 1` and a crossing needs two
//! bars, so `period` bars. `period >= 2`, `nbdev > 0`.
//!
//! Evidence (both): `close`, `upper`, `middle` and `lower`.

use serde::{Deserialize, Serialize};

use super::common::{Crossed, Crossing, evidence, positive};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Bands, Bbands, Indicator, MaType};
use crate::strategy::{Signal, Strategy};

/// Which band closes a mean-reversion trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BandExit {
    /// Sell when the close crosses above the middle band (the mean).
    Middle,
    /// Sell when the close crosses above the upper band.
    Upper,
}

/// Parameters of `bollinger_reversion`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BollingerReversionParams {
    /// Window of the moving average and the deviation (>= 2).
    pub period: usize,
    /// Band width in standard deviations (> 0).
    pub nbdev: f64,
    /// The band whose upward crossing sells.
    pub exit: BandExit,
}

impl Default for BollingerReversionParams {
    fn default() -> Self {
        Self { period: 20, nbdev: 2.0, exit: BandExit::Middle }
    }
}

fn bands(period: usize, nbdev: f64) -> Result<Bbands, ParamError> {
    let nbdev = positive("nbdev", nbdev)?;
    Bbands::new(period, nbdev, nbdev, MaType::Sma)
}

/// The evidence names of both rules, in the order of [`values`].
const NAMES: [&str; 4] = ["close", "upper", "middle", "lower"];

/// A bar's close and bands, in the order of [`NAMES`].
fn values(close: f64, bands: Option<Bands>) -> Option<[f64; 4]> {
    bands.map(|b| [close, b.upper, b.middle, b.lower])
}

/// `bollinger_reversion`: buy a close back inside the lower band, sell at the
/// middle (or upper) band.
#[derive(Debug, Clone)]
pub struct BollingerReversion {
    bands: Bbands,
    exit: BandExit,
    lower: Crossing,
    target: Crossing,
    /// Close and bands on the latest bar.
    last: Option<[f64; 4]>,
}

impl BollingerReversion {
    /// A new `bollinger_reversion`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2` or `nbdev` is not a positive number.
    pub fn new(params: BollingerReversionParams) -> Result<Self, ParamError> {
        Ok(Self {
            bands: bands(params.period, params.nbdev)?,
            exit: params.exit,
            lower: Crossing::default(),
            target: Crossing::default(),
            last: None,
        })
    }
}

impl Strategy for BollingerReversion {
    fn next(&mut self, bar: &Bar) -> Signal {
        let bands = self.bands.next(bar.close);
        self.last = values(bar.close, bands);
        let lower = self.lower.update(bands.map(|b| bar.close - b.lower));
        let exit = self.exit;
        let target = self.target.update(bands.map(|b| {
            bar.close
                - match exit {
                    BandExit::Middle => b.middle,
                    BandExit::Upper => b.upper,
                }
        }));
        match (lower, target) {
            (_, Crossed::Up) => Signal::Sell,
            (Crossed::Up, _) => Signal::Buy,
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.bands.reset();
        self.lower.reset();
        self.target.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.bands.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(NAMES, self.last)
    }
}

/// Parameters of `bollinger_breakout`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BollingerBreakoutParams {
    /// Window of the moving average and the deviation (>= 2).
    pub period: usize,
    /// Band width in standard deviations (> 0).
    pub nbdev: f64,
}

impl Default for BollingerBreakoutParams {
    fn default() -> Self {
        Self { period: 20, nbdev: 2.0 }
    }
}

/// `bollinger_breakout`: buy a close above the upper band, sell a close below
/// the middle band.
#[derive(Debug, Clone)]
pub struct BollingerBreakout {
    bands: Bbands,
    upper: Crossing,
    middle: Crossing,
    /// Close and bands on the latest bar.
    last: Option<[f64; 4]>,
}

impl BollingerBreakout {
    /// A new `bollinger_breakout`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2` or `nbdev` is not a positive number.
    pub fn new(params: BollingerBreakoutParams) -> Result<Self, ParamError> {
        Ok(Self {
            bands: bands(params.period, params.nbdev)?,
            upper: Crossing::default(),
            middle: Crossing::default(),
            last: None,
        })
    }
}

impl Strategy for BollingerBreakout {
    fn next(&mut self, bar: &Bar) -> Signal {
        let bands = self.bands.next(bar.close);
        self.last = values(bar.close, bands);
        let upper = self.upper.update(bands.map(|b| bar.close - b.upper));
        let middle = self.middle.update(bands.map(|b| bar.close - b.middle));
        match (upper, middle) {
            (Crossed::Up, _) => Signal::Buy,
            (_, Crossed::Down) => Signal::Sell,
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.bands.reset();
        self.upper.reset();
        self.middle.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.bands.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(NAMES, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, closes, run};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    /// Flat-ish, a plunge below the lower band, recovery past the mean, a spike
    /// above the upper band, then a fall.
    const SERIES: [f64; 16] =
        [10.0, 10.2, 9.9, 10.1, 10.0, 8.5, 9.2, 10.3, 10.4, 10.2, 12.5, 12.8, 12.0, 10.5, 10.0, 10.1];

    #[test]
    fn reversion_buys_back_inside_and_sells_at_the_mean() {
        let mut s = BollingerReversion::new(BollingerReversionParams { period: 4, nbdev: 1.0, exit: BandExit::Middle })
            .unwrap();
        assert_eq!(s.warmup(), 4);
        // Bands (lower/middle/upper) on bar 5: 8.97/9.62/10.28, close 8.5 below the lower;
        // bar 6: 8.80/9.45/10.10, close 9.2 back inside (Buy); bar 7: 8.80/9.50/10.20, close
        // 10.3 above the middle (Sell); bar 14: close 10.0 below 10.20, bar 15: 10.1 above
        // 9.85 (Buy).
        let got = run(&mut s, &closes(&SERIES));
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Sell, Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy]
        );
    }

    #[test]
    fn reversion_can_exit_at_the_upper_band() {
        let params = BollingerReversionParams { period: 4, nbdev: 1.0, exit: BandExit::Upper };
        let mut s = BollingerReversion::new(params).unwrap();
        // As above, but the close first exceeds the upper band on bar 7 (10.3 > 10.20),
        // then again on bar 10 (12.5 > 11.81).
        let got = run(&mut s, &closes(&SERIES));
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Buy, Sell, Hold, Hold, Sell, Hold, Hold, Hold, Hold, Buy]
        );
    }

    #[test]
    fn breakout_buys_above_the_upper_band_and_sells_below_the_middle() {
        let mut s = BollingerBreakout::new(BollingerBreakoutParams { period: 4, nbdev: 1.0 }).unwrap();
        // Bar 4: close 10.0 below the middle 10.05 (Sell); bar 7: 10.3 above the upper 10.20
        // (Buy); bar 10: 12.5 above 11.81 (Buy); bar 13: 10.5 below the middle 11.95 (Sell).
        let got = run(&mut s, &closes(&SERIES));
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Sell, Hold, Hold, Buy, Hold, Hold, Buy, Hold, Hold, Sell, Hold, Hold]
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert!(BollingerBreakout::new(BollingerBreakoutParams { period: 1, nbdev: 2.0 }).is_err());
        assert!(BollingerBreakout::new(BollingerBreakoutParams { period: 20, nbdev: 0.0 }).is_err());
        let p = BollingerReversionParams { nbdev: -1.0, ..BollingerReversionParams::default() };
        assert!(BollingerReversion::new(p).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = closes(&SERIES);
        assert_reset_equals_fresh(|| BollingerReversion::new(BollingerReversionParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(
            || BollingerBreakout::new(BollingerBreakoutParams { period: 4, nbdev: 1.0 }).unwrap(),
            &bars,
        );
    }
}
