//! CCI, Lambert's commodity channel index, as TA-Lib computes it.

use super::extremum::is_flat;
use super::{Indicator, at_least, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// Streaming CCI: `(tp - mean) / (0.015 * mean_deviation)` over the last
/// `period` typical prices `tp = (high + low + close) / 3`.
///
/// The mean deviation needs the distance of every value in the window to the
/// current mean, so each update is O(`period`) (constant in the number of bars);
/// the sums run over the ring buffer in TA-Lib's order, so the rounding matches.
/// When the price is at the mean or the window is flat (relative to the price
/// level, TA-Lib's scale-aware test), the output is 0.
#[derive(Debug, Clone)]
pub struct Cci {
    period: usize,
    window: Vec<f64>,
    slot: usize,
    filled: usize,
}

impl Cci {
    /// A new CCI over `period` bars (TA-Lib's range starts at 2; default 14).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 2)?;
        Ok(Self { period, window: vec![0.0; period], slot: 0, filled: 0 })
    }
}

impl Indicator for Cci {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let typical = (bar.high + bar.low + bar.close) / 3.0;
        self.window[self.slot] = typical;
        self.slot = (self.slot + 1) % self.period;
        if self.filled < self.period {
            self.filled += 1;
            if self.filled < self.period {
                return None;
            }
        }
        let n = self.period as f64;
        let mean = self.window.iter().fold(0.0, |sum, &v| sum + v) / n;
        let deviation = self.window.iter().fold(0.0, |sum, &v| sum + (v - mean).abs()) / n;
        let offset = typical - mean;
        let scale = mean.abs();
        Some(if is_flat(offset, scale) || is_flat(deviation, scale) { 0.0 } else { offset / (0.015 * deviation) })
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.filled = 0;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The CCI of `bars`, one output per bar, `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn cci(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Cci::new(period)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    #[test]
    fn matches_the_definition() {
        let bars = [bar(3.0, 3.0, 3.0), bar(6.0, 6.0, 6.0), bar(9.0, 9.0, 9.0)];
        let out = cci(&bars, 3).unwrap();
        assert!(out[0].is_nan() && out[1].is_nan());
        // Mean 6, mean deviation 2: (9 - 6) / (0.015 * 2) = 100.
        assert!((out[2] - 100.0).abs() < 1e-9);
    }

    #[test]
    fn flat_windows_and_prices_at_the_mean_read_zero() {
        let flat = vec![bar(5.0, 5.0, 5.0); 6];
        assert!(cci(&flat, 3).unwrap()[2..].iter().all(|&v| v == 0.0));
        let at_mean = [bar(4.0, 4.0, 4.0), bar(6.0, 6.0, 6.0), bar(5.0, 5.0, 5.0)];
        assert_eq!(cci(&at_mean, 3).unwrap()[2], 0.0);
        // Flatness is relative to the price level: tiny prices still work.
        let tiny: Vec<Bar> = [3.0, 6.0, 9.0].iter().map(|&v| bar(v * 1e-12, v * 1e-12, v * 1e-12)).collect();
        assert!((cci(&tiny, 3).unwrap()[2] - 100.0).abs() < 1e-6);
    }

    #[test]
    fn reset_matches_a_fresh_instance() {
        let bars: Vec<Bar> = (0..30).map(|i| f64::from(i).sin() + 10.0).map(|x| bar(x + 0.5, x - 0.5, x)).collect();
        let mut c = Cci::new(5).unwrap();
        for b in &bars[..9] {
            c.next(*b);
        }
        c.reset();
        assert_eq!(format!("{:?}", batch(c, &bars)), format!("{:?}", cci(&bars, 5).unwrap()));
        assert!(Cci::new(1).is_err());
    }
}
