//! WILLR, Williams' %R, as TA-Lib computes it.

use super::extremum::{Extremum, is_flat};
use super::{Indicator, at_least, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// Streaming Williams' %R: `-100 * (highest - close) / (highest - lowest)` over
/// the last `period` bars, from 0 (close at the high) to -100 (at the low).
/// A flat range gives 0, as in TA-Lib.
#[derive(Debug, Clone)]
pub struct Willr {
    period: usize,
    highs: Extremum,
    lows: Extremum,
    index: usize,
}

impl Willr {
    /// A new %R over `period` bars (TA-Lib's range starts at 2; default 14).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 2)?;
        Ok(Self { period, highs: Extremum::max(period), lows: Extremum::min(period), index: 0 })
    }
}

impl Indicator for Willr {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let (_, highest) = self.highs.push(self.index, bar.high);
        let (_, lowest) = self.lows.push(self.index, bar.low);
        self.index += 1;
        if self.index < self.period {
            return None;
        }
        let range = highest - lowest;
        Some(if is_flat(range, highest.abs() + lowest.abs()) { 0.0 } else { (highest - bar.close) / (range / -100.0) })
    }

    fn reset(&mut self) {
        self.highs.clear();
        self.lows.clear();
        self.index = 0;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The %R of `bars`, one output per bar, `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn willr(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Willr::new(period)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    #[test]
    fn ranges_from_zero_to_minus_100() {
        let bars = [bar(10.0, 8.0, 9.0), bar(12.0, 9.0, 12.0), bar(11.0, 7.0, 7.0), bar(11.0, 9.0, 10.0)];
        let out = willr(&bars, 2).unwrap();
        assert!(out[0].is_nan());
        assert_eq!(out[1], 0.0);
        assert_eq!(out[2], -100.0);
        assert!((out[3] - -25.0).abs() < 1e-12);
    }

    #[test]
    fn flat_range_reads_zero_and_reset_restarts() {
        let flat = vec![bar(5.0, 5.0, 5.0); 5];
        assert!(willr(&flat, 3).unwrap()[2..].iter().all(|&v| v == 0.0));
        let bars: Vec<Bar> = (0..30).map(|i| f64::from(i).cos() + 10.0).map(|x| bar(x + 0.5, x - 0.7, x)).collect();
        let mut w = Willr::new(4).unwrap();
        for b in &bars[..7] {
            w.next(*b);
        }
        w.reset();
        assert_eq!(format!("{:?}", batch(w, &bars)), format!("{:?}", willr(&bars, 4).unwrap()));
        assert!(Willr::new(1).is_err());
    }
}
