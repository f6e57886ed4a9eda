//! NATR, the normalised average true range: `100 * ATR / close`, with TA-Lib's
//! ATR and TA-Lib's guard (0 when the close is within 1e-14 of zero).

use super::{Atr, Indicator, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// TA-Lib's tolerance for "zero" (`TA_EPSILON` in TA-Lib 0.8).
const EPSILON: f64 = 1e-14;

/// Streaming normalised ATR.
#[derive(Debug, Clone)]
pub struct Natr {
    atr: Atr,
}

impl Natr {
    /// A new NATR over `period` true ranges.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { atr: Atr::new(period)? })
    }
}

impl Indicator for Natr {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let atr = self.atr.next(bar)?;
        Some(if bar.close.abs() < EPSILON { 0.0 } else { (atr / bar.close) * 100.0 })
    }

    fn reset(&mut self) {
        self.atr.reset();
    }

    fn lookback(&self) -> usize {
        self.atr.lookback()
    }
}

/// The NATR of `bars`, one output per bar, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn natr(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Natr::new(period)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::atr;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    #[test]
    fn is_the_atr_in_percent_of_the_close() {
        let bars = [bar(11.0, 9.0, 10.0), bar(12.0, 10.0, 11.0), bar(13.0, 11.0, 12.0), bar(12.0, 11.0, 11.5)];
        let (n, a) = (natr(&bars, 2).unwrap(), atr(&bars, 2).unwrap());
        assert!(n[..2].iter().all(|v| v.is_nan()));
        for i in 2..4 {
            assert_eq!(n[i], a[i] / bars[i].close * 100.0);
        }
    }

    #[test]
    fn a_zero_close_gives_zero_like_talib() {
        let bars = [bar(1.0, 0.0, 0.5), bar(1.0, 0.0, 0.0), bar(1.0, 0.0, 0.0)];
        assert_eq!(natr(&bars, 1).unwrap()[1..], [0.0, 0.0]);
        assert!(Natr::new(0).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars: Vec<Bar> = (0..20).map(|i| bar(10.0 + i as f64, 9.0, 9.5 + i as f64 * 0.5)).collect();
        let mut used = Natr::new(3).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &bars)), format!("{:?}", natr(&bars, 3).unwrap()));
    }
}
