//! TEMA, Mulloy's triple exponential moving average:
//! `3 * EMA(x) - 3 * EMA(EMA(x)) + EMA(EMA(EMA(x)))`.

use super::{Ema, Indicator, at_least, batch};
use crate::error::ParamError;

/// Streaming triple EMA.
///
/// Three chained EMAs with `k = 2 / (period + 1)`, each seeded with the mean of
/// its first `period` inputs as TA-Lib does; the first output comes after
/// `3 * (period - 1)` inputs. With `period == 1` the output is the input.
#[derive(Debug, Clone)]
pub struct Tema {
    period: usize,
    first: Ema,
    second: Ema,
    third: Ema,
}

impl Tema {
    /// A new TEMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, first: Ema::new(period)?, second: Ema::new(period)?, third: Ema::new(period)? })
    }
}

impl Indicator for Tema {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        if self.period == 1 {
            return Some(value);
        }
        let e1 = self.first.next(value)?;
        let e2 = self.second.next(e1)?;
        let e3 = self.third.next(e2)?;
        Some(e3 + (3.0 * e1 - 3.0 * e2))
    }

    fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
        self.third.reset();
    }

    fn lookback(&self) -> usize {
        3 * (self.period - 1)
    }
}

/// The TEMA of `values`, one output per input, `NAN` during the first
/// `3 * (period - 1)`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn tema(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Tema::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::ema;

    #[test]
    fn combines_three_chained_emas() {
        let values: Vec<f64> = (0..150).map(|i| 20.0 + (i as f64 * 0.3).sin() * 3.0 + i as f64 * 0.1).collect();
        let p = 4;
        let e1 = ema(&values, p).unwrap();
        let e2 = ema(&e1[p - 1..], p).unwrap();
        let e3 = ema(&e2[p - 1..], p).unwrap();
        let got = tema(&values, p).unwrap();
        for i in 0..values.len() {
            if i < 3 * (p - 1) {
                assert!(got[i].is_nan(), "index {i}");
            } else {
                let (a, b, c) = (e1[i], e2[i - (p - 1)], e3[i - 2 * (p - 1)]);
                let want = 3.0 * a - 3.0 * b + c;
                assert!((got[i] - want).abs() <= 1e-12 * want.abs(), "index {i}");
            }
        }
    }

    #[test]
    fn period_one_copies_the_input() {
        assert_eq!(tema(&[0.1, 0.3, 0.7], 1).unwrap(), vec![0.1, 0.3, 0.7]);
        assert!(Tema::new(0).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..40).map(|i| (i as f64).sqrt()).collect();
        let mut used = Tema::new(3).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", tema(&values, 3).unwrap()));
    }
}
