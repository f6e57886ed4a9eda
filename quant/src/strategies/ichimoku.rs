//! `ichimoku`: with the cloud at the current bar (top and bottom of the two
//! leading spans, see [`Ichimoku`]), `Buy` on the bar where "close above the
//! cloud top and tenkan above kijun" becomes true (it did not hold on the
//! previous bar), `Sell` on the bar where "close below the cloud bottom"
//! becomes true. Defaults `tenkan_period = 9`, `kijun_period = 26`,
//! `senkou_b_period = 52`, `displacement = 26`; warm-up
//! `max(periods) + displacement` bars (78 with the defaults).
//!
//! The cloud is the one [`Ichimoku`] reports at the current bar (spans computed
//! `displacement` bars earlier), so no future bar is used.
//!
//! Evidence: `close`, `tenkan`, `kijun`, `senkou_a` and `senkou_b` (the cloud).

use serde::{Deserialize, Serialize};

use super::common::{Edge, evidence};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Ichimoku, Indicator};
use crate::strategy::{Signal, Strategy};

/// Parameters of `ichimoku`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IchimokuParams {
    /// Window of the conversion line (>= 1).
    pub tenkan_period: usize,
    /// Window of the base line (>= 1).
    pub kijun_period: usize,
    /// Window of leading span B (>= 1).
    pub senkou_b_period: usize,
    /// Bars the leading spans are shifted forward (0 = unshifted).
    pub displacement: usize,
}

impl Default for IchimokuParams {
    fn default() -> Self {
        Self { tenkan_period: 9, kijun_period: 26, senkou_b_period: 52, displacement: 26 }
    }
}

/// `ichimoku`: buy a close above the cloud confirmed by tenkan over kijun, sell
/// a close below the cloud.
#[derive(Debug, Clone)]
pub struct IchimokuCloud {
    ichimoku: Ichimoku,
    above: Edge,
    below: Edge,
    /// Close and lines on the latest bar.
    last: Option<[f64; 5]>,
}

impl IchimokuCloud {
    /// A new `ichimoku`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is 0.
    pub fn new(params: IchimokuParams) -> Result<Self, ParamError> {
        let p = params;
        let ichimoku = Ichimoku::new(p.tenkan_period, p.kijun_period, p.senkou_b_period, p.displacement)?;
        Ok(Self { ichimoku, above: Edge::default(), below: Edge::default(), last: None })
    }
}

impl Strategy for IchimokuCloud {
    fn next(&mut self, bar: &Bar) -> Signal {
        let value = self.ichimoku.next(*bar);
        let close = bar.close;
        self.last = value.map(|v| [close, v.tenkan, v.kijun, v.senkou_a, v.senkou_b]);
        let top = value.map(|v| v.senkou_a.max(v.senkou_b));
        let bottom = value.map(|v| v.senkou_a.min(v.senkou_b));
        let buy = self.above.update(value.zip(top).map(|(v, top)| close > top && v.tenkan > v.kijun));
        let sell = self.below.update(bottom.map(|bottom| close < bottom));
        match (buy, sell) {
            (true, _) => Signal::Buy,
            (_, true) => Signal::Sell,
            _ => Signal::Hold,
        }
    }

    fn reset(&mut self) {
        self.ichimoku.reset();
        self.above.reset();
        self.below.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.ichimoku.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["close", "tenkan", "kijun", "senkou_a", "senkou_b"], self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, run, zigzag};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    #[test]
    fn ichimoku_trades_the_cloud() {
        let mut s = IchimokuCloud::new(IchimokuParams {
            tenkan_period: 2,
            kijun_period: 3,
            senkou_b_period: 4,
            displacement: 2,
        })
        .unwrap();
        assert_eq!(s.warmup(), 6);
        // Bar 7: close 17 above the cloud (15.88, 16.50) with tenkan 16.25 > kijun 16.00
        // (Buy); bar 12: tenkan = kijun, the condition lapses; bar 13: close 19 below the
        // cloud (21.38, 20.25) (Sell).
        let got = run(&mut s, &zigzag());
        assert_eq!(
            got,
            vec![Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold]
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert!(IchimokuCloud::new(IchimokuParams { kijun_period: 0, ..IchimokuParams::default() }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        assert_reset_equals_fresh(|| IchimokuCloud::new(IchimokuParams::default()).unwrap(), &zigzag());
    }
}
