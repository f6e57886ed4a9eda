//! WMA, the linearly weighted moving average: the newest of the last `period`
//! values weighs `period`, the oldest weighs 1, divided by the sum of the weights
//! `period * (period + 1) / 2`.

use super::{Indicator, at_least, batch};
use crate::error::ParamError;

/// Streaming weighted moving average in O(1) per input.
///
/// Keeps the weighted sum and the plain sum of the window: when a value enters
/// with weight `period`, every older value loses one unit of weight, which is
/// subtracting the plain sum; the value leaving the window then leaves the plain
/// sum. This is TA-Lib's scheme, so the rounding matches TA-Lib's.
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    divider: f64,
    window: Vec<f64>,
    slot: usize,
    filled: usize,
    weighted: f64,
    plain: f64,
}

impl Wma {
    /// A new WMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        let p = period as f64;
        Ok(Self {
            period,
            divider: p * (p + 1.0) / 2.0,
            window: vec![0.0; period],
            slot: 0,
            filled: 0,
            weighted: 0.0,
            plain: 0.0,
        })
    }
}

impl Indicator for Wma {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        if self.filled < self.period {
            // Warm-up: the k-th value (1-based) enters with weight k.
            self.filled += 1;
            self.window[self.slot] = value;
            self.slot = (self.slot + 1) % self.period;
            self.plain += value;
            self.weighted += value * self.filled as f64;
            if self.filled < self.period {
                return None;
            }
        } else {
            let leaving = std::mem::replace(&mut self.window[self.slot], value);
            self.slot = (self.slot + 1) % self.period;
            self.plain += value;
            self.plain -= leaving;
            self.weighted += value * self.period as f64;
        }
        let out = self.weighted / self.divider;
        // Age the window by one step for the next input.
        self.weighted -= self.plain;
        Some(out)
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.filled = 0;
        self.weighted = 0.0;
        self.plain = 0.0;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The WMA of `values`, one output per input, `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn wma(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Wma::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(values: &[f64], period: usize) -> Vec<f64> {
        let divider = (period * (period + 1) / 2) as f64;
        (0..values.len())
            .map(|i| {
                if i + 1 < period {
                    return f64::NAN;
                }
                let window = &values[i + 1 - period..=i];
                window.iter().enumerate().map(|(k, v)| v * (k + 1) as f64).sum::<f64>() / divider
            })
            .collect()
    }

    #[test]
    fn matches_the_naive_weighted_mean() {
        let values: Vec<f64> = (0..300).map(|i| 50.0 + (i as f64 * 0.21).cos() * 7.0).collect();
        for period in [1, 2, 3, 10, 30, 300, 301] {
            let got = wma(&values, period).unwrap();
            for (i, (g, w)) in got.iter().zip(naive(&values, period)).enumerate() {
                assert_eq!(g.is_nan(), w.is_nan(), "period {period}, index {i}");
                if !w.is_nan() {
                    assert!((g - w).abs() <= 1e-9 * w.abs(), "period {period}, index {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn small_example_and_period_one() {
        let out = wma(&[1.0, 2.0, 3.0, 4.0], 3).unwrap();
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2], (1.0 + 4.0 + 9.0) / 6.0);
        assert_eq!(out[3], (2.0 + 6.0 + 12.0) / 6.0);
        assert_eq!(wma(&[5.0, 7.0, 1.0], 1).unwrap(), vec![5.0, 7.0, 1.0]);
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let mut used = Wma::new(3).unwrap();
        for v in values {
            used.next(v);
        }
        used.reset();
        let fresh = Wma::new(3).unwrap();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", batch(fresh, &values)));
    }

    #[test]
    fn zero_period_is_an_error() {
        assert_eq!(Wma::new(0).unwrap_err(), ParamError::TooSmall { name: "period", min: 1, value: 0 });
    }
}
