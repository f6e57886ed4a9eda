//! Simple moving average: the arithmetic mean of the last `period` values.

use crate::error::ParamError;

/// Streaming simple moving average over a ring buffer of the last `period` inputs.
///
/// The running sum is updated by adding the new value and subtracting the one
/// that leaves the window, as TA-Lib does, so each update is O(1).
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: Vec<f64>,
    next_slot: usize,
    filled: usize,
    sum: f64,
}

impl Sma {
    /// A new SMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        if period == 0 {
            return Err(ParamError::TooSmall { name: "period", min: 1, value: period });
        }
        Ok(Self { period, window: vec![0.0; period], next_slot: 0, filled: 0, sum: 0.0 })
    }

    /// The number of inputs consumed before the first output.
    #[must_use]
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Feeds one value; returns the average once `period` values have been seen.
    pub fn next(&mut self, value: f64) -> Option<f64> {
        let leaving = std::mem::replace(&mut self.window[self.next_slot], value);
        self.next_slot = (self.next_slot + 1) % self.period;
        if self.filled < self.period {
            self.filled += 1;
            self.sum += value;
        } else {
            self.sum += value - leaving;
        }
        (self.filled == self.period).then(|| self.sum / self.period as f64)
    }

    /// Forgets every input, as if newly created.
    pub fn reset(&mut self) {
        self.window.fill(0.0);
        self.next_slot = 0;
        self.filled = 0;
        self.sum = 0.0;
    }
}

/// The SMA of `values`, one output per input, `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn sma(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    let mut state = Sma::new(period)?;
    Ok(values.iter().map(|&v| state.next(v).unwrap_or(f64::NAN)).collect())
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
