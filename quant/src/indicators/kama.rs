//! KAMA, Kaufman's adaptive moving average, with TA-Lib's constants and seeding.
//!
//! Over the last `period` one-bar changes, the efficiency ratio is
//! `ER = |x[t] - x[t - period]| / sum |x[i] - x[i - 1]|`; the smoothing constant
//! is `sc = (ER * (2/3 - 2/31) + 2/31)^2` (fastest 2, slowest 30), and
//! `kama = kama_prev + sc * (x - kama_prev)`.
//!
//! TA-Lib conventions kept here: the first output is at index `period` and uses
//! the previous input as `kama_prev`; ER is taken as 1 when the sum of changes is
//! (nearly) zero or not greater than the *signed* net change (so a rising market
//! with no noise is fully efficient); `period == 1` copies the input.

use super::{Indicator, at_least, batch};
use crate::error::ParamError;

/// TA-Lib's tolerance for "zero" (`TA_EPSILON` in TA-Lib 0.8).
const EPSILON: f64 = 1e-14;
const SLOWEST: f64 = 2.0 / 31.0;
const SPREAD: f64 = 2.0 / 3.0 - SLOWEST;

/// Streaming KAMA over a ring buffer of the last `period + 1` inputs.
#[derive(Debug, Clone)]
pub struct Kama {
    period: usize,
    window: Vec<f64>,
    /// Index of the oldest value once the window is full.
    slot: usize,
    seen: usize,
    noise: f64,
    value: f64,
}

impl Kama {
    /// A new KAMA over `period` changes.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, window: vec![0.0; period + 1], slot: 0, seen: 0, noise: 0.0, value: f64::NAN })
    }
}

impl Indicator for Kama {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        if self.period == 1 {
            return Some(value);
        }
        let len = self.window.len();
        let newest = (self.slot + len - 1) % len;
        if self.seen <= self.period {
            // Filling the window: `slot` stays at the oldest value (index 0).
            if self.seen > 0 {
                self.noise += (self.window[self.seen - 1] - value).abs();
            }
            self.window[self.seen] = value;
            self.seen += 1;
            if self.seen <= self.period {
                return None;
            }
            self.value = self.window[self.period - 1];
        } else {
            let dropped = self.window[self.slot];
            let oldest = self.window[(self.slot + 1) % len];
            self.noise -= (dropped - oldest).abs();
            self.noise += (value - self.window[newest]).abs();
            self.window[self.slot] = value;
            self.slot = (self.slot + 1) % len;
        }
        let oldest = self.window[self.slot];
        let change = value - oldest;
        let ratio = if self.noise <= change || self.noise.abs() < EPSILON { 1.0 } else { (change / self.noise).abs() };
        let sc = ratio * SPREAD + SLOWEST;
        let sc = sc * sc;
        self.value += (value - self.value) * sc;
        Some(self.value)
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.seen = 0;
        self.noise = 0.0;
        self.value = f64::NAN;
    }

    fn lookback(&self) -> usize {
        if self.period == 1 { 0 } else { self.period }
    }
}

/// The KAMA of `values`, one output per input, `NAN` during the first `period`
/// (none when `period == 1`).
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn kama(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Kama::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, recomputing the noise over the window at every step.
    fn naive(values: &[f64], period: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        let mut prev = f64::NAN;
        for t in period..values.len() {
            if t == period {
                prev = values[t - 1];
            }
            let noise: f64 = (t + 1 - period..=t).map(|i| (values[i] - values[i - 1]).abs()).sum();
            let change = values[t] - values[t - period];
            let er = if noise <= change || noise.abs() < EPSILON { 1.0 } else { (change / noise).abs() };
            let sc = (er * SPREAD + SLOWEST).powi(2);
            prev += (values[t] - prev) * sc;
            out[t] = prev;
        }
        out
    }

    #[test]
    fn matches_the_definition() {
        let values: Vec<f64> = (0..200).map(|i| 100.0 + (i as f64 * 0.17).sin() * 4.0 + (i % 7) as f64).collect();
        for period in [2, 3, 10, 30] {
            let got = kama(&values, period).unwrap();
            for (i, (g, w)) in got.iter().zip(naive(&values, period)).enumerate() {
                assert_eq!(g.is_nan(), w.is_nan(), "period {period}, index {i}");
                if !w.is_nan() {
                    assert!((g - w).abs() <= 1e-9 * w.abs(), "period {period}, index {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn flat_input_stays_flat_and_period_one_copies() {
        let got = kama(&[5.0; 12], 4).unwrap();
        assert!(got[..4].iter().all(|v| v.is_nan()));
        assert!(got[4..].iter().all(|&v| v == 5.0));
        assert_eq!(kama(&[0.1, 0.3], 1).unwrap(), vec![0.1, 0.3]);
        assert!(Kama::new(0).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..40).map(|i| 5.0 + (i as f64).sin()).collect();
        let mut used = Kama::new(5).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", kama(&values, 5).unwrap()));
    }
}
