//! TRIX: the one-bar rate of change, in percent, of a triple-smoothed EMA.

use super::{Ema, Indicator, at_least, batch};
use crate::error::ParamError;

/// Streaming TRIX: `100 * (e3 / e3_prev - 1)` where `e3 = EMA(EMA(EMA(x)))`.
///
/// The EMAs are seeded as TA-Lib seeds them, so the first output comes after
/// `3 * (period - 1) + 1` inputs. A previous value of exactly 0 gives 0, as
/// TA-Lib's rate of change does.
#[derive(Debug, Clone)]
pub struct Trix {
    period: usize,
    emas: [Ema; 3],
    prev: Option<f64>,
}

impl Trix {
    /// A new TRIX over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, emas: [Ema::new(period)?, Ema::new(period)?, Ema::new(period)?], prev: None })
    }
}

impl Indicator for Trix {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let smoothed = if self.period == 1 {
            value
        } else {
            let e1 = self.emas[0].next(value)?;
            let e2 = self.emas[1].next(e1)?;
            self.emas[2].next(e2)?
        };
        let prev = self.prev.replace(smoothed)?;
        Some(if prev == 0.0 { 0.0 } else { (smoothed / prev - 1.0) * 100.0 })
    }

    fn reset(&mut self) {
        self.emas.iter_mut().for_each(Indicator::reset);
        self.prev = None;
    }

    fn lookback(&self) -> usize {
        3 * (self.period - 1) + 1
    }
}

/// The TRIX of `values`, one output per input, `NAN` during the first
/// `3 * (period - 1) + 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn trix(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Trix::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_one_is_the_percent_change() {
        let out = trix(&[2.0, 3.0, 1.5, 0.0, 4.0], 1).unwrap();
        assert!(out[0].is_nan());
        assert_eq!(&out[1..], &[50.0, -50.0, -100.0, 0.0]);
    }

    #[test]
    fn lookback_matches_the_first_output() {
        let values: Vec<f64> = (0..60).map(|i| 10.0 + i as f64).collect();
        let t = Trix::new(5).unwrap();
        assert_eq!(t.lookback(), 13);
        let out = batch(t, &values);
        assert!(out[12].is_nan() && out[13].is_finite());
        assert!(Trix::new(0).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..40).map(|i| 5.0 + (i as f64).sin()).collect();
        let mut used = Trix::new(3).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", trix(&values, 3).unwrap()));
    }
}
