//! DEMA, Mulloy's double exponential moving average: `2 * EMA(x) - EMA(EMA(x))`.

use super::{Ema, Indicator, at_least, batch};
use crate::error::ParamError;

/// Streaming double EMA.
///
/// Both EMAs use `k = 2 / (period + 1)` and are seeded as TA-Lib seeds them (the
/// mean of their first `period` inputs); the second EMA runs over the first one's
/// outputs, so the first output comes after `2 * (period - 1)` inputs. With
/// `period == 1` the output is the input, as in TA-Lib.
#[derive(Debug, Clone)]
pub struct Dema {
    period: usize,
    first: Ema,
    second: Ema,
}

impl Dema {
    /// A new DEMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, first: Ema::new(period)?, second: Ema::new(period)? })
    }
}

impl Indicator for Dema {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        if self.period == 1 {
            return Some(value);
        }
        let e1 = self.first.next(value)?;
        let e2 = self.second.next(e1)?;
        Some(2.0 * e1 - e2)
    }

    fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
    }

    fn lookback(&self) -> usize {
        2 * (self.period - 1)
    }
}

/// The DEMA of `values`, one output per input, `NAN` during the first
/// `2 * (period - 1)`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn dema(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Dema::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::ema;

    #[test]
    fn is_twice_the_ema_minus_the_ema_of_the_ema() {
        let values: Vec<f64> = (0..120).map(|i| 20.0 + (i as f64 * 0.3).sin() * 3.0 + i as f64 * 0.1).collect();
        let e1 = ema(&values, 5).unwrap();
        let e2_tail = ema(&e1[4..], 5).unwrap();
        let got = dema(&values, 5).unwrap();
        assert_eq!(Dema::new(5).unwrap().lookback(), 8);
        for i in 0..values.len() {
            if i < 8 {
                assert!(got[i].is_nan(), "index {i}");
            } else {
                let want = 2.0 * e1[i] - e2_tail[i - 4];
                assert!((got[i] - want).abs() <= 1e-12 * want.abs(), "index {i}");
            }
        }
    }

    #[test]
    fn period_one_copies_the_input() {
        assert_eq!(dema(&[0.1, 0.3, 0.7], 1).unwrap(), vec![0.1, 0.3, 0.7]);
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..40).map(|i| (i as f64).sqrt()).collect();
        let mut used = Dema::new(4).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", dema(&values, 4).unwrap()));
        assert!(Dema::new(0).is_err());
    }
}
