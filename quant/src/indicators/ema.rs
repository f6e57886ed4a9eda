//! EMA, the exponential moving average, seeded as TA-Lib seeds it.

use super::segmented::{self, Pack, Real, Recurrence};
use super::{Indicator, at_least, nan_column};
use crate::error::ParamError;

/// Streaming exponential moving average with smoothing `k = 2 / (period + 1)`.
///
/// Seeding follows TA-Lib's default: the first output (after `period` inputs) is
/// the simple mean of those inputs; each later output is
/// `prev * (1 - k) + k * value`, with `1 - k` precomputed.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    smoothing: Smoothing,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

/// One EMA step with both factors precomputed: `prev * keep + k * x`, with
/// `keep = 1 - k`.
///
/// TA-Lib writes the step as `prev + k * (x - prev)`, a subtraction,
/// multiplication and addition in a row on the value carried from step to
/// step. Here only `prev * keep` and the addition depend on the previous value
/// (`k * x` is computed beside them), which halves the carried chain. The two
/// forms agree to within a few ulp; every EMA in the crate (streaming and batch,
/// and so DEMA, TEMA, TRIX, PPO, MACD, Keltner) uses this one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Smoothing {
    k: f64,
    keep: f64,
}

impl Smoothing {
    fn new(k: f64) -> Self {
        Self { k, keep: 1.0 - k }
    }

    /// One step from `prev` with the input `x` (on `f64`, or on the lanes of
    /// a batch loop).
    #[inline(always)]
    pub(crate) fn step<T: Real>(self, prev: T, x: T) -> T {
        prev * T::from(self.keep) + T::from(self.k) * x
    }

    /// How much of a difference between two states survives one step.
    pub(crate) fn decay(self) -> f64 {
        self.keep
    }
}

impl Ema {
    /// A new EMA over `period` values.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self::with_k(period, 2.0 / (period as f64 + 1.0)))
    }

    /// An EMA with an explicit smoothing factor (TA-Lib's MACDFIX uses 0.15 and
    /// 0.075); the seed is still the mean of the first `period` inputs.
    #[must_use]
    pub fn with_k(period: usize, k: f64) -> Self {
        Self { period: period.max(1), smoothing: Smoothing::new(k), seen: 0, seed_sum: 0.0, value: f64::NAN }
    }

    /// The first output from the first `period` inputs, as [`Indicator::next`]
    /// computes it (batch fast paths continue with [`Ema::smoothing`]).
    pub(crate) fn seed(&self, first: &[f64]) -> f64 {
        self.seed_from_sum(first.iter().fold(0.0, |sum, &v| sum + v))
    }

    /// The first output from the sum of the first `period` inputs.
    pub(crate) fn seed_from_sum(&self, sum: f64) -> f64 {
        sum / self.period as f64
    }

    /// The number of inputs averaged by the seed.
    pub(crate) fn period(&self) -> usize {
        self.period
    }

    /// The smoothing factor.
    #[must_use]
    pub fn k(&self) -> f64 {
        self.smoothing.k
    }

    /// The step every output after the first is computed with.
    pub(crate) fn smoothing(&self) -> Smoothing {
        self.smoothing
    }
}

impl Indicator for Ema {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        if self.seen < self.period {
            self.seen += 1;
            self.seed_sum += value;
            if self.seen < self.period {
                return None;
            }
            self.value = self.seed_sum / self.period as f64;
        } else {
            self.value = self.smoothing.step(self.value, value);
        }
        Some(self.value)
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.seed_sum = 0.0;
        self.value = f64::NAN;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// The EMA of `values`, one output per input, `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn ema(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    let ema = Ema::new(period)?;
    let mut out = nan_column(values.len(), period - 1);
    if values.len() < period {
        return Ok(out);
    }
    let seed = ema.seed(&values[..period]);
    out[period - 1] = seed;
    let smoothing = ema.smoothing;
    let warmup = segmented::warmup_for(smoothing.decay());
    let kernel = EmaOver { values, smoothing };
    segmented::run::<_, 1, 1, 4>(&kernel, warmup, [seed], period, [&mut out[period..]]);
    Ok(out)
}

/// The EMA after its seed as a [`Recurrence`] over `values`: the same step as
/// [`Ema::next`], so the same bits.
struct EmaOver<'a> {
    values: &'a [f64],
    smoothing: Smoothing,
}

impl Recurrence<1, 1> for EmaOver<'_> {
    type Window<'w>
        = &'w [f64]
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> &[f64] {
        &self.values[from..from + len]
    }

    #[inline(always)]
    fn step<const L: usize>(&self, state: &mut [Pack<L>; 1], values: &[&[f64]; L], t: usize) -> [Pack<L>; 1] {
        state[0] = self.smoothing.step(state[0], Pack::from_fn(|l| values[l][t]));
        *state
    }

    fn guess(&self, values: &[f64]) -> [f64; 1] {
        [values.first().copied().unwrap_or(0.0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_with_the_mean_then_smooths() {
        let out = ema(&[1.0, 2.0, 3.0, 4.0, 10.0], 3).unwrap();
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2], 2.0);
        assert_eq!(out[3], 2.0 * 0.5 + 0.5 * 4.0);
        assert_eq!(out[4], 3.0 * 0.5 + 0.5 * 10.0);
    }

    #[test]
    fn period_one_follows_the_input() {
        assert_eq!(ema(&[5.0, 7.0, 1.0], 1).unwrap(), vec![5.0, 7.0, 1.0]);
    }
}
