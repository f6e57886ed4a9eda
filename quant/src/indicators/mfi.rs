//! MFI, the money flow index, as TA-Lib computes it.

use super::extremum::is_flat;
use super::{Indicator, at_least, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// Streaming MFI: `100 * positive / (positive + negative)` money flow over the
/// last `period` bars.
///
/// Money flow is `typical price * volume`, with `typical = (high + low + close) / 3`;
/// it counts as positive when the typical price rose from the previous bar,
/// negative when it fell, and not at all when it did not move (relative to the
/// price level, TA-Lib's scale-aware test). The sums are running sums over a ring
/// buffer; when a whole window has carried no money flow they are set back to
/// exactly zero (the output is then 0), and the positive share is clamped into
/// `[0, total]` against rounding drift, as in TA-Lib.
#[derive(Debug, Clone)]
pub struct Mfi {
    period: usize,
    positive: Vec<f64>,
    negative: Vec<f64>,
    slot: usize,
    filled: usize,
    positive_sum: f64,
    negative_sum: f64,
    idle_run: usize,
    prev_typical: Option<f64>,
}

impl Mfi {
    /// A new MFI over `period` bars (TA-Lib's range starts at 2; default 14).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 2)?;
        Ok(Self {
            period,
            positive: vec![0.0; period],
            negative: vec![0.0; period],
            slot: 0,
            filled: 0,
            positive_sum: 0.0,
            negative_sum: 0.0,
            idle_run: 0,
            prev_typical: None,
        })
    }
}

impl Indicator for Mfi {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let typical = (bar.high + bar.low + bar.close) / 3.0;
        let prev = self.prev_typical.replace(typical)?;
        if self.filled == self.period {
            self.positive_sum -= self.positive[self.slot];
            self.negative_sum -= self.negative[self.slot];
        }
        let change = typical - prev;
        let flow = if is_flat(change, typical.abs() + prev.abs()) { 0.0 } else { typical * bar.volume };
        let (up, down) = if change < 0.0 { (0.0, flow) } else { (flow, 0.0) };
        self.positive[self.slot] = up;
        self.negative[self.slot] = down;
        self.positive_sum += up;
        self.negative_sum += down;
        self.idle_run = if flow == 0.0 { (self.idle_run + 1).min(self.period) } else { 0 };
        if self.idle_run == self.period {
            self.positive_sum = 0.0;
            self.negative_sum = 0.0;
        }
        self.slot = (self.slot + 1) % self.period;
        if self.filled < self.period {
            self.filled += 1;
            if self.filled < self.period {
                return None;
            }
        }
        let total = self.positive_sum + self.negative_sum;
        let positive = if self.positive_sum < 0.0 {
            0.0
        } else if self.positive_sum > total {
            total
        } else {
            self.positive_sum
        };
        Some(if total <= 0.0 { 0.0 } else { 100.0 * (positive / total) })
    }

    fn reset(&mut self) {
        self.positive.fill(0.0);
        self.negative.fill(0.0);
        self.slot = 0;
        self.filled = 0;
        self.positive_sum = 0.0;
        self.negative_sum = 0.0;
        self.idle_run = 0;
        self.prev_typical = None;
    }

    fn lookback(&self) -> usize {
        self.period
    }
}

/// The MFI of `bars`, one output per bar, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn mfi(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Mfi::new(period)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(price: f64, volume: f64) -> Bar {
        Bar { ts: 0, open: price, high: price, low: price, close: price, volume }
    }

    #[test]
    fn splits_money_flow_by_direction() {
        let bars = [bar(10.0, 1.0), bar(11.0, 2.0), bar(9.0, 3.0), bar(12.0, 1.0)];
        let out = mfi(&bars, 2).unwrap();
        assert!(out[0].is_nan() && out[1].is_nan());
        assert!((out[2] - 100.0 * 22.0 / (22.0 + 27.0)).abs() < 1e-12);
        assert!((out[3] - 100.0 * 12.0 / (12.0 + 27.0)).abs() < 1e-12);
    }

    #[test]
    fn no_movement_or_no_volume_reads_zero() {
        let flat = vec![bar(5.0, 100.0); 6];
        assert!(mfi(&flat, 2).unwrap()[2..].iter().all(|&v| v == 0.0));
        let dry: Vec<Bar> = (0..6).map(|i| bar(5.0 + f64::from(i), 0.0)).collect();
        assert!(mfi(&dry, 2).unwrap()[2..].iter().all(|&v| v == 0.0));
        // A window that went quiet after moving is exactly zero, not residue.
        let mut bars: Vec<Bar> = [1.1, 1.3, 1.7, 1.2, 1.9].iter().map(|&p| bar(p, 3.0)).collect();
        bars.extend(vec![bar(2.3, 3.0); 5]);
        let out = mfi(&bars, 2).unwrap();
        assert!(out[7..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn reset_matches_a_fresh_instance() {
        let bars: Vec<Bar> = (0..30).map(|i| bar(10.0 + (f64::from(i) * 0.7).sin(), 5.0 + f64::from(i % 4))).collect();
        let mut m = Mfi::new(5).unwrap();
        for b in &bars[..11] {
            m.next(*b);
        }
        m.reset();
        assert_eq!(format!("{:?}", batch(m, &bars)), format!("{:?}", mfi(&bars, 5).unwrap()));
        assert!(Mfi::new(1).is_err());
    }
}
