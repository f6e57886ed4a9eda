//! SMA, the simple moving average: the arithmetic mean of the last `period` values.

use super::blocks::for_each_span;
use super::{Indicator, at_least, nan_column};
use crate::error::ParamError;

/// Streaming simple moving average over a ring buffer of the last `period` inputs.
///
/// The running sum adds the new value and subtracts the one leaving the window,
/// as TA-Lib does, so each update is O(1); the mean is the sum times
/// `1 / period` (TA-Lib's division by the period as the multiplication the
/// shipped TA-Lib binary, built with reciprocal math, performs).
///
/// Every [`resum_every`]`(period)` outputs (the first output included) the sum
/// is recomputed from the window, oldest value first, instead of updated. That
/// costs at most a quarter of an addition per update and bounds the rounding a
/// running sum accumulates over millions of bars; it also makes the outputs
/// between two re-summations independent of everything before, which lets the
/// batch form compute them in parallel blocks with the same bits.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: Vec<f64>,
    slot: usize,
    filled: usize,
    sum: f64,
    inv: f64,
    /// Outputs since the sum was last recomputed from the window.
    since_resum: usize,
    resum: usize,
}

/// How many outputs apart the SMA recomputes its sum from the window: at least
/// 1,024, and four windows, so re-adding costs at most a quarter of an
/// addition per output.
#[must_use]
pub(crate) fn resum_every(period: usize) -> usize {
    period.saturating_mul(4).max(1024)
}

impl Sma {
    /// A new SMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self {
            period,
            window: vec![0.0; period],
            slot: 0,
            filled: 0,
            sum: 0.0,
            inv: 1.0 / period as f64,
            since_resum: 0,
            resum: resum_every(period),
        })
    }
}

impl Sma {
    /// Recomputes the sum from the window, oldest value first (the ring holds
    /// it oldest first from `slot` on). Rare and out of line, so that `next`
    /// stays small enough to inline into its callers.
    #[cold]
    #[inline(never)]
    fn resum_window(&mut self) {
        self.since_resum = 0;
        let (newer, older) = self.window.split_at(self.slot);
        self.sum = older.iter().chain(newer).fold(0.0, |sum, &v| sum + v);
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
            self.since_resum += 1;
            if self.since_resum == self.resum {
                self.resum_window();
            } else {
                self.sum += value - leaving;
            }
        }
        Some(self.sum * self.inv)
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.filled = 0;
        self.sum = 0.0;
        self.since_resum = 0;
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
    let mut out = nan_column(values.len(), period - 1);
    if values.len() >= period {
        sma_into(values, period, &mut out[period - 1..]);
    }
    Ok(out)
}

/// Writes the SMA of `values` from the `period`-th value on into `out`, which
/// holds exactly `values.len() - period + 1` cells (no warm-up cells). `period`
/// must be at least 1 and at most `values.len()`.
///
/// The streaming algorithm unrolled over the slice: the same sums in the same
/// order (so the output is bit-identical), without the ring buffer, in blocks
/// of [`resum_every`] outputs that start from a fresh sum of their window and
/// may run on several threads ([`for_each_span`]).
pub(crate) fn sma_into(values: &[f64], period: usize, out: &mut [f64]) {
    debug_assert!(period >= 1 && out.len() + period == values.len() + 1, "bad SMA output size");
    let inv = 1.0 / period as f64;
    let resum = resum_every(period);
    for_each_span([out], resum, |start, [span]| {
        for (b, block) in span.chunks_mut(resum).enumerate() {
            // Output `j` averages `values[j..j + period]`.
            let first = start + b * resum;
            let mut sum = values[first..first + period].iter().fold(0.0, |sum, &v| sum + v);
            let (head, rest) = block.split_at_mut(1);
            head[0] = sum * inv;
            let entering = &values[first + period..];
            let leaving = &values[first..];
            for ((cell, &value), &left) in rest.iter_mut().zip(entering).zip(leaving) {
                sum += value - left;
                *cell = sum * inv;
            }
        }
    });
}

#[cfg(test)]
mod tests {

    /// Streaming over the same values, every output.
    fn streamed(values: &[f64], period: usize) -> Vec<f64> {
        let mut sma = Sma::new(period).unwrap();
        values.iter().map(|&v| sma.next(v).unwrap_or(f64::NAN)).collect()
    }

    #[test]
    fn batch_blocks_equal_streaming_bit_for_bit_across_re_summations() {
        // Long enough for several re-summations and for the parallel spans,
        // with magnitudes that make a running sum's rounding visible.
        let values: Vec<f64> =
            (0..70_000).map(|i| 1e6 * (i as f64 * 0.001).sin() + (i as f64 * 0.37).cos() * 1e-3).collect();
        for period in [1, 3, 20, 300, 1_000] {
            let batch = sma(&values, period).unwrap();
            let stream = streamed(&values, period);
            let same = batch.iter().zip(&stream).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "period {period}");
        }
    }

    #[test]
    fn re_summation_restarts_the_sum_from_the_window() {
        // A running sum loses the small values next to huge ones and never gets
        // them back; the re-summation after the huge values have left does.
        let period = 2;
        let mut values = vec![1e17, -1e17];
        values.extend((0..3 * resum_every(period)).map(|i| 0.5 + (i % 3) as f64));
        let out = sma(&values, period).unwrap();
        let last = values.len() - 1;
        let exact = (values[last - 1] + values[last]) / 2.0;
        assert_eq!(out[last], exact);
    }

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
