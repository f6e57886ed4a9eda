//! Volume rules.
//!
//! - `mfi`: with the [`Mfi`] (a volume-weighted RSI), `Buy` on the bar where it
//!   crosses back up through `oversold` (previous `<= oversold`, current `>`),
//!   `Sell` where it crosses back down through `overbought` (previous
//!   `>= overbought`, current `<`). Defaults `period = 14`, `oversold = 20`,
//!   `overbought = 80`; warm-up `period + 1` bars.
//! - `obv_trend`: `Buy` on the bar where the [`Obv`] crosses above its SMA over
//!   `period` bars, `Sell` where it crosses below. Default `period = 20`;
//!   warm-up `period` bars.
//! - `volume_breakout`: `Buy` on the bar where "close above the highest high of
//!   the previous `period` bars and volume above `multiplier` times the mean
//!   volume of the previous `volume_period` bars" becomes true (it did not hold
//!   on the previous bar); `Sell` on the bar where "close below the lowest low of
//!   the previous `exit` bars" becomes true (a Donchian exit: the breakout failed
//!   or the trend ended). Defaults `period = 20`, `volume_period = 20`,
//!   `multiplier = 1.2`, `exit = 10`; warm-up
//!   `min(max(period, volume_period), exit) + 1` bars.
//!
//! Evidence: `mfi`, `oversold`, `overbought` (`mfi`); `obv` and `average`, its
//! SMA (`obv_trend`); `close`, `upper` and `lower` (the previous bars' channel),
//! `volume` with `mean_volume` (the previous bars' mean), each once it exists
//! (`volume_breakout`).

use serde::{Deserialize, Serialize};

use super::common::{Crossing, Edge, ZoneExit, below, evidence, length, on_cross, positive, within};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Donchian, Indicator, Mfi, Obv, Sma};
use crate::strategy::{Signal, Strategy};

/// Parameters of `mfi`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfiParams {
    /// MFI period (>= 2).
    pub period: usize,
    /// Level the MFI must cross back up through to buy, in `0..=100`.
    pub oversold: f64,
    /// Level the MFI must cross back down through to sell; above `oversold`.
    pub overbought: f64,
}

impl Default for MfiParams {
    fn default() -> Self {
        Self { period: 14, oversold: 20.0, overbought: 80.0 }
    }
}

/// `mfi`: the money flow index leaving its extreme zones.
#[derive(Debug, Clone)]
pub struct MfiReversal {
    mfi: Mfi,
    zones: ZoneExit,
}

impl MfiReversal {
    /// A new `mfi`.
    ///
    /// # Errors
    /// [`ParamError`] for a period the MFI refuses, a level outside `0..=100` or
    /// `oversold >= overbought`.
    pub fn new(params: MfiParams) -> Result<Self, ParamError> {
        let oversold = within("oversold", params.oversold, 0.0, 100.0)?;
        let overbought = within("overbought", params.overbought, 0.0, 100.0)?;
        below("oversold", oversold, "overbought", overbought)?;
        Ok(Self { mfi: Mfi::new(params.period)?, zones: ZoneExit::new(oversold, overbought) })
    }
}

impl Strategy for MfiReversal {
    fn next(&mut self, bar: &Bar) -> Signal {
        self.zones.update(self.mfi.next(*bar))
    }

    fn reset(&mut self) {
        self.mfi.reset();
        self.zones.reset();
    }

    fn warmup(&self) -> usize {
        self.mfi.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        self.zones.evidence("mfi")
    }
}

/// Parameters of `obv_trend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObvParams {
    /// Period of the SMA of the OBV (>= 1).
    pub period: usize,
}

impl Default for ObvParams {
    fn default() -> Self {
        Self { period: 20 }
    }
}

/// `obv_trend`: the OBV crossing its moving average.
#[derive(Debug, Clone)]
pub struct ObvTrend {
    obv: Obv,
    average: Sma,
    crossing: Crossing,
    /// OBV and its average on the latest bar.
    last: Option<[f64; 2]>,
}

impl ObvTrend {
    /// A new `obv_trend`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(params: ObvParams) -> Result<Self, ParamError> {
        Ok(Self { obv: Obv::new(), average: Sma::new(params.period)?, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for ObvTrend {
    fn next(&mut self, bar: &Bar) -> Signal {
        self.last = self.obv.next(*bar).and_then(|obv| self.average.next(obv).map(|avg| [obv, avg]));
        let diff = self.last.map(|[obv, avg]| obv - avg);
        on_cross(self.crossing.update(diff))
    }

    fn reset(&mut self) {
        self.obv.reset();
        self.average.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.obv.lookback() + self.average.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["obv", "average"], self.last)
    }
}

/// Parameters of `volume_breakout`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeBreakoutParams {
    /// Bars whose highest high the close must exceed (>= 1).
    pub period: usize,
    /// Bars whose mean volume the volume is compared with (>= 1).
    pub volume_period: usize,
    /// How many times the mean volume the bar's volume must exceed (> 0).
    pub multiplier: f64,
    /// Bars whose lowest low a close must undercut to sell (>= 1).
    pub exit: usize,
}

impl Default for VolumeBreakoutParams {
    fn default() -> Self {
        Self { period: 20, volume_period: 20, multiplier: 1.2, exit: 10 }
    }
}

/// `volume_breakout`: a channel breakout confirmed by volume, with a channel exit.
#[derive(Debug, Clone)]
pub struct VolumeBreakout {
    multiplier: f64,
    entry: Donchian,
    exit: Donchian,
    volume: Sma,
    /// Highest high of the previous `period` bars.
    high: Option<f64>,
    /// Mean volume of the previous `volume_period` bars.
    mean_volume: Option<f64>,
    /// Lowest low of the previous `exit` bars.
    low: Option<f64>,
    buy: Edge,
    sell: Edge,
    /// Close, `high`, `low`, volume and `mean_volume` (NaN while missing) on the latest bar.
    last: Option<[f64; 5]>,
}

impl VolumeBreakout {
    /// A new `volume_breakout`.
    ///
    /// # Errors
    /// [`ParamError`] when a period is 0 or `multiplier` is not a positive number.
    pub fn new(params: VolumeBreakoutParams) -> Result<Self, ParamError> {
        Ok(Self {
            multiplier: positive("multiplier", params.multiplier)?,
            entry: Donchian::new(length("period", params.period, 1)?)?,
            exit: Donchian::new(length("exit", params.exit, 1)?)?,
            volume: Sma::new(length("volume_period", params.volume_period, 1)?)?,
            high: None,
            mean_volume: None,
            low: None,
            buy: Edge::default(),
            sell: Edge::default(),
            last: None,
        })
    }
}

impl Strategy for VolumeBreakout {
    fn next(&mut self, bar: &Bar) -> Signal {
        let breakout =
            self.high.zip(self.mean_volume).map(|(high, mean)| bar.close > high && bar.volume > self.multiplier * mean);
        self.last = (breakout.is_some() || self.low.is_some()).then(|| {
            let missing = f64::NAN;
            let (high, low) = (self.high.unwrap_or(missing), self.low.unwrap_or(missing));
            // The volume only with the mean it is compared with.
            let (volume, mean) = self.mean_volume.map_or((missing, missing), |mean| (bar.volume, mean));
            [bar.close, high, low, volume, mean]
        });
        let buy = self.buy.update(breakout);
        let sell = self.sell.update(self.low.map(|low| bar.close < low));
        self.high = self.entry.next(*bar).map(|c| c.upper);
        self.low = self.exit.next(*bar).map(|c| c.lower);
        self.mean_volume = self.volume.next(bar.volume);
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
        self.volume.reset();
        self.high = None;
        self.mean_volume = None;
        self.low = None;
        self.buy.reset();
        self.sell.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        let entry = self.entry.lookback().max(self.volume.lookback()) + 1;
        entry.min(self.exit.lookback() + 1) + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "upper", "lower", "volume", "mean_volume"], self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, run, with_volume};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    /// (close, volume)
    const SERIES: [(f64, f64); 14] = [
        (10.0, 100.0),
        (10.5, 120.0),
        (10.2, 80.0),
        (9.8, 150.0),
        (9.5, 90.0),
        (9.9, 200.0),
        (10.6, 300.0),
        (10.8, 100.0),
        (11.2, 250.0),
        (11.0, 90.0),
        (10.4, 180.0),
        (10.1, 160.0),
        (10.3, 60.0),
        (10.9, 220.0),
    ];

    #[test]
    fn mfi_leaves_its_zones() {
        let mut s = MfiReversal::new(MfiParams { period: 3, oversold: 20.0, overbought: 80.0 }).unwrap();
        assert_eq!(s.warmup(), 4);
        // MFI(3) from bar 3: 35.5, 0, 46.0 (Buy), 85.8, 100, 100, 79.7 (Sell), 49.5, 0, 15.1,
        // 65.1 (Buy).
        let got = run(&mut s, &with_volume(&SERIES));
        assert_eq!(got, vec![Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Sell, Hold, Hold, Hold, Buy]);
    }

    #[test]
    fn obv_crosses_its_average() {
        let mut s = ObvTrend::new(ObvParams { period: 3 }).unwrap();
        assert_eq!(s.warmup(), 3);
        // OBV/SMA(3): bar 4 -100/10, bar 5 100/-3.3 (Buy), bar 9 660/636.7, bar 10 480/630
        // (Sell), bar 12 380/393.3, bar 13 600/433.3 (Buy).
        let got = run(&mut s, &with_volume(&SERIES));
        assert_eq!(got, vec![Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Buy]);
    }

    #[test]
    fn volume_confirms_the_breakout() {
        let params = VolumeBreakoutParams { period: 3, volume_period: 3, multiplier: 1.5, exit: 2 };
        let mut s = VolumeBreakout::new(params).unwrap();
        assert_eq!(s.warmup(), 3);
        // Bar 3: 9.8 below the previous two lows (10.5, 10.2): Sell. Bar 6: 10.6 above the
        // previous three highs (max 9.9) on 300 > 1.5 * 146.7: Buy. Bar 8: 11.2 is a new
        // high but 250 <= 1.5 * 200: no Buy. Bar 10: 10.4 below 11.0: Sell. Bar 13: 10.9
        // above 10.4 on 220 > 1.5 * 133.3: Buy.
        let got = run(&mut s, &with_volume(&SERIES));
        assert_eq!(got, vec![Hold, Hold, Hold, Sell, Hold, Hold, Buy, Hold, Hold, Hold, Sell, Hold, Hold, Buy]);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(MfiReversal::new(MfiParams { oversold: 80.0, overbought: 20.0, period: 14 }).is_err());
        assert!(ObvTrend::new(ObvParams { period: 0 }).is_err());
        let p = VolumeBreakoutParams::default();
        assert!(VolumeBreakout::new(VolumeBreakoutParams { multiplier: 0.0, ..p }).is_err());
        assert!(VolumeBreakout::new(VolumeBreakoutParams { volume_period: 0, ..p }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = with_volume(&SERIES);
        assert_reset_equals_fresh(|| MfiReversal::new(MfiParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(|| ObvTrend::new(ObvParams { period: 3 }).unwrap(), &bars);
        let params = VolumeBreakoutParams { period: 3, volume_period: 3, multiplier: 1.5, exit: 2 };
        assert_reset_equals_fresh(|| VolumeBreakout::new(params).unwrap(), &bars);
    }
}
