//! STDDEV, the population standard deviation of the last `period` values times
//! `nbdev`, as TA-Lib computes it: the square root of [`super::Var`]'s variance,
//! and exactly 0 where that variance is below TA-Lib's epsilon (1e-14).

use super::var::{Moments, finite};
use super::{Indicator, at_least, batch};
use crate::error::ParamError;

/// Streaming standard deviation.
#[derive(Debug, Clone)]
pub struct Stddev {
    period: usize,
    nbdev: f64,
    moments: Moments,
}

impl Stddev {
    /// A new standard deviation over `period` values, multiplied by `nbdev`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2 (TA-Lib's minimum);
    /// [`ParamError::OutOfRange`] when `nbdev` is not finite.
    pub fn new(period: usize, nbdev: f64) -> Result<Self, ParamError> {
        let period = at_least("period", period, 2)?;
        let nbdev = finite("nbdev", nbdev)?;
        Ok(Self { period, nbdev, moments: Moments::new(period) })
    }
}

impl Indicator for Stddev {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let (_, variance) = self.moments.next(value)?;
        let deviation = Moments::deviation(variance);
        Some(if deviation == 0.0 { 0.0 } else { deviation * self.nbdev })
    }

    fn reset(&mut self) {
        self.moments.reset();
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The standard deviation of `values` times `nbdev`, one output per input, `NAN`
/// during the first `period - 1`.
///
/// # Errors
/// As [`Stddev::new`].
pub fn stddev(values: &[f64], period: usize, nbdev: f64) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Stddev::new(period, nbdev)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_scaled_root_of_the_population_variance() {
        let out = stddev(&[1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0], 5, 2.0).unwrap();
        assert!(out[..4].iter().all(|v| v.is_nan()));
        assert!((out[4] - 2.0 * 2f64.sqrt()).abs() < 1e-12);
        assert!((out[5] - 2.0 * 1.04f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn flat_windows_give_exactly_zero() {
        let values = [4.0; 6];
        assert!(stddev(&values, 3, -1.5).unwrap()[2..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(Stddev::new(1, 1.0).unwrap_err(), ParamError::TooSmall { name: "period", min: 2, value: 1 });
        assert!(Stddev::new(5, f64::INFINITY).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..30).map(|i| (i as f64).sin()).collect();
        let mut used = Stddev::new(4, 2.0).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", stddev(&values, 4, 2.0).unwrap()));
    }
}
