//! Trend-following rules on trend indicators.
//!
//! - `supertrend`: `Buy` on the bar where the [`SuperTrend`] direction flips from
//!   down to up, `Sell` where it flips from up to down. Defaults `period = 10`,
//!   `multiplier = 3`; warm-up `period + 1` bars.
//! - `parabolic_sar`: `Buy` on the bar where the close crosses above the
//!   parabolic [`Sar`] (previous close `<=` previous SAR, current close `>`
//!   current SAR), `Sell` where it crosses below. Defaults `acceleration = 0.02`,
//!   `maximum = 0.2`; warm-up 2 bars.
//! - `adx_trend`: `Buy` on the bar where +DI crosses above -DI while the ADX is
//!   above `threshold`, `Sell` on the bar where +DI crosses below -DI while the ADX
//!   is above `threshold` (a crossing in a trendless market is ignored). Defaults
//!   `period = 14`, `threshold = 20`; warm-up `2 * period - 1` bars (the ADX's).
//! - `aroon`: `Buy` on the bar where Aroon up crosses above Aroon down, `Sell`
//!   where it crosses below. Default `period = 25`; warm-up `period + 1` bars.
//!
//! Evidence: `close`, `supertrend` (the line) and `direction` (+1 up, -1 down)
//! (`supertrend`); `close` and `sar` (`parabolic_sar`); `adx`, `plus_di`,
//! `minus_di` and `threshold`, once all three indicators exist (`adx_trend`);
//! `up` and `down`, the two Aroon lines (`aroon`).

use serde::{Deserialize, Serialize};

use super::common::{Crossing, evidence, on_cross, positive, within};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Adx, Aroon, Indicator, MinusDi, PlusDi, Sar, SuperTrend};
use crate::strategy::{Signal, Strategy};

/// Parameters of `supertrend`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperTrendParams {
    /// ATR period (>= 1).
    pub period: usize,
    /// Band distance in ATRs (> 0).
    pub multiplier: f64,
}

impl Default for SuperTrendParams {
    fn default() -> Self {
        Self { period: 10, multiplier: 3.0 }
    }
}

/// `supertrend`: trade the SuperTrend's direction flips.
#[derive(Debug, Clone)]
pub struct SuperTrendFlip {
    indicator: SuperTrend,
    crossing: Crossing,
    /// Close, line and direction on the latest bar.
    last: Option<[f64; 3]>,
}

impl SuperTrendFlip {
    /// A new `supertrend`.
    ///
    /// # Errors
    /// [`ParamError`] when `period` is 0 or `multiplier` is not a positive number.
    pub fn new(params: SuperTrendParams) -> Result<Self, ParamError> {
        let multiplier = positive("multiplier", params.multiplier)?;
        Ok(Self { indicator: SuperTrend::new(params.period, multiplier)?, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for SuperTrendFlip {
    fn next(&mut self, bar: &Bar) -> Signal {
        // The direction is +1 or -1, so it "crosses zero" exactly when it flips.
        let value = self.indicator.next(*bar);
        self.last = value.map(|v| [bar.close, v.supertrend, v.direction]);
        on_cross(self.crossing.update(value.map(|v| v.direction)))
    }

    fn reset(&mut self) {
        self.indicator.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.indicator.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "supertrend", "direction"], self.last)
    }
}

/// Parameters of `parabolic_sar`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SarParams {
    /// Acceleration step, `0 < acceleration <= maximum`.
    pub acceleration: f64,
    /// Largest acceleration, at most 1.
    pub maximum: f64,
}

impl Default for SarParams {
    fn default() -> Self {
        Self { acceleration: 0.02, maximum: 0.2 }
    }
}

/// `parabolic_sar`: trade the close crossing the SAR.
#[derive(Debug, Clone)]
pub struct ParabolicSar {
    sar: Sar,
    crossing: Crossing,
    /// The SAR on the latest bar, with the close.
    last: Option<[f64; 2]>,
}

impl ParabolicSar {
    /// A new `parabolic_sar`.
    ///
    /// # Errors
    /// [`ParamError`] unless `0 < acceleration <= maximum <= 1`.
    pub fn new(params: SarParams) -> Result<Self, ParamError> {
        let maximum = within("maximum", params.maximum, f64::MIN_POSITIVE, 1.0)?;
        let acceleration = within("acceleration", params.acceleration, f64::MIN_POSITIVE, maximum)?;
        Ok(Self { sar: Sar::new(acceleration, maximum)?, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for ParabolicSar {
    fn next(&mut self, bar: &Bar) -> Signal {
        let sar = self.sar.next(*bar);
        self.last = sar.map(|sar| [bar.close, sar]);
        on_cross(self.crossing.update(sar.map(|sar| bar.close - sar)))
    }

    fn reset(&mut self) {
        self.sar.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.sar.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "sar"], self.last)
    }
}

/// Parameters of `adx_trend`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdxParams {
    /// Period of the DIs and the ADX (>= 2).
    pub period: usize,
    /// ADX level above which DI crossings are traded, in `0..100`.
    pub threshold: f64,
}

impl Default for AdxParams {
    fn default() -> Self {
        Self { period: 14, threshold: 20.0 }
    }
}

/// `adx_trend`: trade DI crossings when the ADX says there is a trend.
#[derive(Debug, Clone)]
pub struct AdxTrend {
    threshold: f64,
    adx: Adx,
    plus: PlusDi,
    minus: MinusDi,
    crossing: Crossing,
    /// ADX, +DI and -DI on the latest bar.
    last: Option<[f64; 3]>,
}

impl AdxTrend {
    /// A new `adx_trend`.
    ///
    /// # Errors
    /// [`ParamError`] when `period < 2` or `threshold` is outside `0..100`.
    pub fn new(params: AdxParams) -> Result<Self, ParamError> {
        Ok(Self {
            threshold: within("threshold", params.threshold, 0.0, 99.999)?,
            adx: Adx::new(params.period)?,
            plus: PlusDi::new(params.period)?,
            minus: MinusDi::new(params.period)?,
            crossing: Crossing::default(),
            last: None,
        })
    }
}

impl Strategy for AdxTrend {
    fn next(&mut self, bar: &Bar) -> Signal {
        let adx = self.adx.next(*bar);
        let (plus, minus) = (self.plus.next(*bar), self.minus.next(*bar));
        self.last = adx.zip(plus).zip(minus).map(|((adx, p), m)| [adx, p, m]);
        let crossed = self.crossing.update(plus.zip(minus).map(|(p, m)| p - m));
        match adx {
            Some(adx) if adx > self.threshold => on_cross(crossed),
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.adx.reset();
        self.plus.reset();
        self.minus.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.adx.lookback().max(self.plus.lookback() + 1)
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        let values = self.last.map(|[adx, plus, minus]| [adx, plus, minus, self.threshold]);
        evidence(["adx", "plus_di", "minus_di", "threshold"], values)
    }
}

/// Parameters of `aroon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AroonParams {
    /// Aroon period (>= 2).
    pub period: usize,
}

impl Default for AroonParams {
    fn default() -> Self {
        Self { period: 25 }
    }
}

/// `aroon`: trade Aroon up crossing Aroon down.
#[derive(Debug, Clone)]
pub struct AroonCross {
    aroon: Aroon,
    crossing: Crossing,
    /// Aroon up and down on the latest bar.
    last: Option<[f64; 2]>,
}

impl AroonCross {
    /// A new `aroon`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period < 2`.
    pub fn new(params: AroonParams) -> Result<Self, ParamError> {
        Ok(Self { aroon: Aroon::new(params.period)?, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for AroonCross {
    fn next(&mut self, bar: &Bar) -> Signal {
        let value = self.aroon.next(*bar);
        self.last = value.map(|a| [a.up, a.down]);
        on_cross(self.crossing.update(value.map(|a| a.up - a.down)))
    }

    fn reset(&mut self) {
        self.aroon.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.aroon.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["up", "down"], self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, run, zigzag};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    #[test]
    fn supertrend_trades_direction_flips() {
        let mut s = SuperTrendFlip::new(SuperTrendParams { period: 2, multiplier: 1.0 }).unwrap();
        assert_eq!(s.warmup(), 3);
        // Direction from bar 2: down until bar 6, up on bars 7..=12, down from bar 13.
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold]
        );
    }

    #[test]
    fn sar_trades_the_close_crossing_it() {
        let mut s = ParabolicSar::new(SarParams::default()).unwrap();
        assert_eq!(s.warmup(), 2);
        // SAR above the close until bar 7 (18.77 > 17); bar 8: 14.50 < 18.5 (Buy); bar 13:
        // 16.37 < 19; bar 14: 22.50 > 17 (Sell).
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold]
        );
    }

    #[test]
    fn adx_trades_di_crossings_in_a_trend() {
        let mut s = AdxTrend::new(AdxParams { period: 3, threshold: 20.0 }).unwrap();
        assert_eq!(s.warmup(), 5);
        // +DI/-DI: bar 6 13.2/49.7, bar 7 40.6/27.7 (up, ADX 63.6: Buy); bar 12 42.7/25.1,
        // bar 13 23.6/49.7 (down, ADX 50.8: Sell).
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold]
        );
        // With a threshold above every ADX value, no crossing counts.
        let mut strict = AdxTrend::new(AdxParams { period: 3, threshold: 99.0 }).unwrap();
        assert_eq!(run(&mut strict, &zigzag()), vec![Hold; 16]);
    }

    #[test]
    fn aroon_trades_up_crossing_down() {
        let mut s = AroonCross::new(AroonParams { period: 3 }).unwrap();
        assert_eq!(s.warmup(), 4);
        // Up/down: bar 6 0/66.7, bar 7 100/33.3 (Buy); bar 12 66.7/0, bar 13 33.3/100 (Sell).
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold]
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert!(SuperTrendFlip::new(SuperTrendParams { period: 0, multiplier: 3.0 }).is_err());
        assert!(SuperTrendFlip::new(SuperTrendParams { period: 10, multiplier: -3.0 }).is_err());
        assert!(ParabolicSar::new(SarParams { acceleration: 0.3, maximum: 0.2 }).is_err());
        assert!(ParabolicSar::new(SarParams { acceleration: 0.0, maximum: 0.2 }).is_err());
        assert!(AdxTrend::new(AdxParams { period: 1, threshold: 20.0 }).is_err());
        assert!(AdxTrend::new(AdxParams { period: 14, threshold: 100.0 }).is_err());
        assert!(AroonCross::new(AroonParams { period: 1 }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = zigzag();
        assert_reset_equals_fresh(|| SuperTrendFlip::new(SuperTrendParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(|| ParabolicSar::new(SarParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(|| AdxTrend::new(AdxParams { period: 3, threshold: 10.0 }).unwrap(), &bars);
        assert_reset_equals_fresh(|| AroonCross::new(AroonParams { period: 3 }).unwrap(), &bars);
    }
}
