//! VAR, the population variance of the last `period` values, as TA-Lib 0.8
//! computes it: accurately, so that a flat window gives exactly 0.
//!
//! The running sums are kept on the values minus a shift taken from the window
//! itself (`sum(x - k)`, `sum((x - k)^2)`), and every `period` inputs the shift
//! moves to the newest value and the sums are recomputed from the window: O(1)
//! amortised, and free of the cancellation of the textbook `mean(x^2) -
//! mean(x)^2` on raw prices (TA-Lib 0.4's formula, whose rounding noise on a flat
//! stretch becomes a visible standard deviation once a square root is taken).

use super::{Indicator, at_least, batch};
use crate::error::ParamError;

/// TA-Lib's tolerance for "zero or negative" (`TA_EPSILON` in TA-Lib 0.8).
pub(crate) const EPSILON: f64 = 1e-14;

/// Running mean and variance of the last `period` values.
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    period: usize,
    window: Vec<f64>,
    slot: usize,
    filled: usize,
    since_rebase: usize,
    shift: f64,
    sum: f64,
    sum_sq: f64,
    /// `1 / period`: the means are the sums times this.
    inv: f64,
}

impl Moments {
    pub(crate) fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            window: vec![0.0; period],
            slot: 0,
            filled: 0,
            since_rebase: 0,
            shift: 0.0,
            sum: 0.0,
            sum_sq: 0.0,
            inv: 1.0 / period as f64,
        }
    }

    /// Adds `value`; once `period` values are in, returns `(mean, variance)`.
    #[inline]
    pub(crate) fn next(&mut self, value: f64) -> Option<(f64, f64)> {
        if self.filled < self.period {
            return self.fill(value);
        }
        let slot = self.slot;
        let leaving = std::mem::replace(&mut self.window[slot], value);
        self.slot = if slot + 1 == self.period { 0 } else { slot + 1 };
        self.since_rebase += 1;
        if self.since_rebase >= self.period {
            self.rebase(value);
        } else {
            let (d_in, d_out) = (value - self.shift, leaving - self.shift);
            self.sum += d_in - d_out;
            self.sum_sq += d_in * d_in - d_out * d_out;
        }
        Some(mean_variance(self.shift, self.sum, self.sum_sq, self.inv))
    }

    /// [`Moments::next`] while the window fills (shifted by the first value).
    fn fill(&mut self, value: f64) -> Option<(f64, f64)> {
        if self.filled == 0 {
            self.shift = value;
        }
        self.window[self.slot] = value;
        self.slot = if self.slot + 1 == self.period { 0 } else { self.slot + 1 };
        self.filled += 1;
        let d = value - self.shift;
        self.sum += d;
        self.sum_sq += d * d;
        (self.filled == self.period).then(|| mean_variance(self.shift, self.sum, self.sum_sq, self.inv))
    }

    /// Moves the shift to `shift` and recomputes the sums from the window.
    fn rebase(&mut self, shift: f64) {
        self.since_rebase = 0;
        self.shift = shift;
        self.sum = 0.0;
        self.sum_sq = 0.0;
        for &x in &self.window {
            let d = x - shift;
            self.sum += d;
            self.sum_sq += d * d;
        }
    }

    /// The standard deviation of a variance, 0 when TA-Lib considers the
    /// variance zero (below 1e-14).
    #[inline]
    pub(crate) fn deviation(variance: f64) -> f64 {
        // Both sides computed, then selected: no branch to mispredict, and
        // batch loops vectorise.
        let root = variance.sqrt();
        if variance < EPSILON { 0.0 } else { root }
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.period);
    }
}

/// `(mean, variance)` from the shifted sums of a window (`inv` is
/// `1 / period`).
#[inline]
pub(crate) fn mean_variance(shift: f64, sum: f64, sum_sq: f64, inv: f64) -> (f64, f64) {
    let mean_d = sum * inv;
    let variance = sum_sq * inv - mean_d * mean_d;
    // Rounding can leave a flat window slightly negative (NaN stays NaN).
    let variance = if variance < 0.0 { 0.0 } else { variance };
    (shift + mean_d, variance)
}

/// The shifted sums [`Moments::next`] keeps, unrolled over `values` for
/// outputs `start..start + n`, where `n` is the length of the three output
/// slices (output `j` describes `values[j..j + period]`; `start` is a multiple
/// of `period`): writes each output's shift, sum and sum of squares, with the
/// same operations in the same order (so the same bits); [`mean_variance`] of
/// them is the output. The streaming form rebases at every output whose index
/// is a multiple of `period`, and its ring then holds exactly that output's
/// window in input order, so the rebase sums that window, shifted by its
/// newest value (by the very first value for output 0). Each block of
/// `period` outputs therefore depends only on its inputs, and any run of
/// blocks can be computed on its own.
pub(crate) fn sums_into(values: &[f64], period: usize, start: usize, [shifts, sums, squares]: [&mut [f64]; 3]) {
    let period = period.max(1);
    let count = shifts.len();
    debug_assert!(sums.len() == count && squares.len() == count, "columns differ in length");
    debug_assert!(start.is_multiple_of(period) && start + count + period <= values.len() + 1, "bad span");
    let blocks = shifts.chunks_mut(period).zip(sums.chunks_mut(period)).zip(squares.chunks_mut(period));
    for (b, ((shifts, sums), squares)) in blocks.enumerate() {
        let first = start + b * period;
        let shift = if first == 0 { values[0] } else { values[first + period - 1] };
        let (mut sum, mut sum_sq) = values[first..first + period].iter().fold((0.0, 0.0), |(sum, sum_sq), &x| {
            let d = x - shift;
            (sum + d, sum_sq + d * d)
        });
        shifts.fill(shift);
        (sums[0], squares[0]) = (sum, sum_sq);
        let n = sums.len();
        let entering = &values[first + period..first + period + n - 1];
        let leaving = &values[first..first + n - 1];
        let cells = sums[1..].iter_mut().zip(squares[1..].iter_mut());
        for ((s, s2), (&x, &out)) in cells.zip(entering.iter().zip(leaving)) {
            let (d_in, d_out) = (x - shift, out - shift);
            sum += d_in - d_out;
            sum_sq += d_in * d_in - d_out * d_out;
            (*s, *s2) = (sum, sum_sq);
        }
    }
}

/// Streaming population variance.
///
/// TA-Lib's `VAR` takes an `nbdev` parameter and ignores it: the output is the
/// plain variance. [`Var::new`] takes it for parity and ignores it likewise.
#[derive(Debug, Clone)]
pub struct Var {
    moments: Moments,
}

impl Var {
    /// A new variance over `period` values; `nbdev` is accepted and ignored, as in
    /// TA-Lib.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0; [`ParamError::OutOfRange`]
    /// when `nbdev` is not finite.
    pub fn new(period: usize, nbdev: f64) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        finite("nbdev", nbdev)?;
        Ok(Self { moments: Moments::new(period) })
    }
}

/// Checks that a real parameter is finite.
pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParamError::OutOfRange { name, min: f64::MIN, max: f64::MAX, value })
    }
}

impl Indicator for Var {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        self.moments.next(value).map(|(_, variance)| variance)
    }

    fn reset(&mut self) {
        self.moments.reset();
    }

    fn lookback(&self) -> usize {
        self.moments.period - 1
    }
}

/// The variance of `values`, one output per input, `NAN` during the first
/// `period - 1`.
///
/// # Errors
/// As [`Var::new`].
pub fn var(values: &[f64], period: usize, nbdev: f64) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Var::new(period, nbdev)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(values: &[f64], period: usize) -> Vec<f64> {
        (0..values.len())
            .map(|i| {
                if i + 1 < period {
                    return f64::NAN;
                }
                let w = &values[i + 1 - period..=i];
                let mean = w.iter().sum::<f64>() / period as f64;
                w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / period as f64
            })
            .collect()
    }

    #[test]
    fn matches_the_two_pass_population_variance() {
        let values: Vec<f64> = (0..200).map(|i| 10.0 + (i as f64 * 0.7).sin() * 2.0).collect();
        for period in [1, 2, 5, 20] {
            let got = var(&values, period, 1.0).unwrap();
            for (i, (g, w)) in got.iter().zip(naive(&values, period)).enumerate() {
                assert_eq!(g.is_nan(), w.is_nan(), "period {period}, index {i}");
                if !w.is_nan() {
                    assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "period {period}, index {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn nbdev_is_ignored_like_talib_and_period_one_is_zero() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 4.0];
        assert_eq!(var(&values, 5, 1.0).unwrap()[4..], var(&values, 5, 2.0).unwrap()[4..]);
        assert_eq!(var(&values, 5, 1.0).unwrap()[4], 2.0);
        assert!(var(&values, 1, 1.0).unwrap().iter().all(|&v| v == 0.0));
        assert!(Var::new(0, 1.0).is_err());
        assert!(matches!(Var::new(5, f64::NAN), Err(ParamError::OutOfRange { .. })));
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..30).map(|i| (i as f64).sin()).collect();
        let mut used = Var::new(4, 1.0).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", var(&values, 4, 1.0).unwrap()));
    }
}
