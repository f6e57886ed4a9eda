//! LINEARREG: the least-squares line through the last `period` values, evaluated
//! at the newest one, as TA-Lib's `LINEARREG` does.
//!
//! With `x = 0..period` (oldest to newest), `Sx = p(p-1)/2`, `Sxx = p(p-1)(2p-1)/6`:
//! `m = (p * Sxy - Sx * Sy) / (p * Sxx - Sx^2)`, `b = (Sy - m * Sx) / p`.

use super::{Indicator, at_least, batch};
use crate::error::ParamError;

/// Streaming linear regression end point.
///
/// `Sy` and `Sxy` are updated in O(1) per input (every value's `x` drops by one
/// when a new value arrives) and recomputed from the window every `period`
/// inputs, which bounds the drift of the running sums at O(1) amortised cost.
#[derive(Debug, Clone)]
pub struct Linearreg {
    period: usize,
    window: Vec<f64>,
    /// Where the next value goes; once full, also the oldest value.
    slot: usize,
    filled: usize,
    since_refresh: usize,
    sum_y: f64,
    sum_xy: f64,
}

impl Linearreg {
    /// A new regression over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2 (TA-Lib's minimum).
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 2)?;
        Ok(Self { period, window: vec![0.0; period], slot: 0, filled: 0, since_refresh: 0, sum_y: 0.0, sum_xy: 0.0 })
    }

    fn refresh(&mut self) {
        self.sum_y = 0.0;
        self.sum_xy = 0.0;
        for x in 0..self.period {
            let y = self.window[(self.slot + x) % self.period];
            self.sum_y += y;
            self.sum_xy += x as f64 * y;
        }
        self.since_refresh = 0;
    }
}

impl Indicator for Linearreg {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let p = self.period as f64;
        if self.filled < self.period {
            self.sum_xy += self.filled as f64 * value;
            self.sum_y += value;
            self.window[self.slot] = value;
            self.slot = (self.slot + 1) % self.period;
            self.filled += 1;
            if self.filled < self.period {
                return None;
            }
        } else {
            let leaving = std::mem::replace(&mut self.window[self.slot], value);
            self.slot = (self.slot + 1) % self.period;
            self.since_refresh += 1;
            if self.since_refresh >= self.period {
                self.refresh();
            } else {
                // Every remaining value's x drops by one; the new one enters at p - 1.
                self.sum_y -= leaving;
                self.sum_xy -= self.sum_y;
                self.sum_xy += (p - 1.0) * value;
                self.sum_y += value;
            }
        }
        let sum_x = p * (p - 1.0) * 0.5;
        let sum_xx = p * (p - 1.0) * (2.0 * p - 1.0) / 6.0;
        let m = (p * self.sum_xy - sum_x * self.sum_y) / (p * sum_xx - sum_x * sum_x);
        let b = (self.sum_y - m * sum_x) / p;
        Some(b + m * (p - 1.0))
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.filled = 0;
        self.since_refresh = 0;
        self.sum_y = 0.0;
        self.sum_xy = 0.0;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The regression end points of `values`, one output per input, `NAN` during the
/// first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn linearreg(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Linearreg::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ordinary least squares on each window, centred for accuracy.
    fn naive(values: &[f64], period: usize) -> Vec<f64> {
        (0..values.len())
            .map(|i| {
                if i + 1 < period {
                    return f64::NAN;
                }
                let w = &values[i + 1 - period..=i];
                let xm = (period - 1) as f64 / 2.0;
                let ym = w.iter().sum::<f64>() / period as f64;
                let (mut sxy, mut sxx) = (0.0, 0.0);
                for (x, y) in w.iter().enumerate() {
                    sxy += (x as f64 - xm) * (y - ym);
                    sxx += (x as f64 - xm).powi(2);
                }
                ym + sxy / sxx * ((period - 1) as f64 - xm)
            })
            .collect()
    }

    #[test]
    fn matches_least_squares_on_each_window() {
        let values: Vec<f64> = (0..500).map(|i| 100.0 + (i as f64 * 0.13).sin() * 9.0 + (i % 5) as f64).collect();
        for period in [2, 3, 14, 50] {
            let got = linearreg(&values, period).unwrap();
            for (i, (g, w)) in got.iter().zip(naive(&values, period)).enumerate() {
                assert_eq!(g.is_nan(), w.is_nan(), "period {period}, index {i}");
                if !w.is_nan() {
                    assert!((g - w).abs() <= 1e-9 * w.abs(), "period {period}, index {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn a_line_is_reproduced_and_period_two_is_the_input() {
        let line: Vec<f64> = (0..20).map(|i| 3.0 + 0.5 * i as f64).collect();
        let got = linearreg(&line, 5).unwrap();
        assert!(got[4..].iter().zip(&line[4..]).all(|(g, w)| (g - w).abs() < 1e-12));
        let out = linearreg(&[1.0, 4.0, 2.0], 2).unwrap();
        assert!((out[1] - 4.0).abs() < 1e-12 && (out[2] - 2.0).abs() < 1e-12);
        assert!(Linearreg::new(1).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..30).map(|i| (i as f64).sin()).collect();
        let mut used = Linearreg::new(4).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", linearreg(&values, 4).unwrap()));
    }
}
