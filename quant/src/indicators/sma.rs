//! SMA, the simple moving average: the arithmetic mean of the last `period` values.

use super::{Indicator, at_least, warmup_column};
use crate::error::ParamError;

/// Streaming simple moving average over a ring buffer of the last `period` inputs.
///
/// The running sum adds the new value and subtracts the one leaving the window,
/// as TA-Lib does, so each update is O(1); the mean is the sum times
/// `1 / period` (TA-Lib's division by the period as the multiplication the
/// shipped TA-Lib binary, built with reciprocal math, performs).
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: Vec<f64>,
    slot: usize,
    filled: usize,
    sum: f64,
    inv: f64,
}

impl Sma {
    /// A new SMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, window: vec![0.0; period], slot: 0, filled: 0, sum: 0.0, inv: 1.0 / period as f64 })
    }
}

impl Indicator for Sma {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let leaving = std::mem::replace(&mut self.window[self.slot], value);
        self.slot += 1;
        if self.slot == self.period {
            self.slot = 0;
        }
        if self.filled < self.period {
            self.filled += 1;
            self.sum += value;
            if self.filled < self.period {
                return None;
            }
        } else {
            self.sum += value - leaving;
        }
        Some(self.sum * self.inv)
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.filled = 0;
        self.sum = 0.0;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The SMA of `values`, one output per input, `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn sma(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    let period = at_least("period", period, 1)?;
    let mut out = warmup_column(values.len(), period - 1);
    sma_push(values, period, &mut out);
    Ok(out)
}

/// Pushes onto `out` the SMA of `values` from the `period`-th value on (no
/// warm-up cells; nothing when there are fewer than `period` values). `period`
/// must be at least 1.
///
/// The streaming algorithm unrolled over the slice: the same sums in the same
/// order (so the output is bit-identical), without the ring buffer.
pub(crate) fn sma_push(values: &[f64], period: usize, out: &mut Vec<f64>) {
    if values.len() < period || period == 0 {
        return;
    }
    let inv = 1.0 / period as f64;
    let mut sum = values[..period].iter().fold(0.0, |sum, &v| sum + v);
    out.push(sum * inv);
    out.extend(values[period..].iter().zip(values).map(|(&value, &leaving)| {
        sum += value - leaving;
        sum * inv
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(values: &[f64], period: usize) -> Vec<f64> {
        (0..values.len())
            .map(
                |i| {
                    if i + 1 < period {
                        f64::NAN
                    } else {
                        values[i + 1 - period..=i].iter().sum::<f64>() / period as f64
                    }
                },
            )
            .collect()
    }

    #[test]
    fn matches_the_naive_mean_after_warm_up() {
        let values: Vec<f64> = (0..200).map(|i| 100.0 + (i as f64 * 0.37).sin() * 5.0).collect();
        for period in [1, 2, 5, 20, 199, 200, 201] {
            let got = sma(&values, period).unwrap();
            let want = naive(&values, period);
            assert_eq!(got.len(), values.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                if w.is_nan() {
                    assert!(g.is_nan(), "period {period}, index {i}: expected warm-up, got {g}");
                } else {
                    assert!((g - w).abs() <= 1e-9 * w.abs(), "period {period}, index {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn reset_forgets_history() {
        let mut s = Sma::new(3).unwrap();
        for v in [1.0, 2.0, 3.0] {
            s.next(v);
        }
        s.reset();
        assert_eq!(s.next(10.0), None);
        assert_eq!(s.next(20.0), None);
        assert_eq!(s.next(30.0), Some(20.0));
        assert_eq!(s.lookback(), 2);
    }

    #[test]
    fn zero_period_is_an_error_not_a_panic() {
        assert_eq!(Sma::new(0).unwrap_err(), ParamError::TooSmall { name: "period", min: 1, value: 0 });
    }
}
