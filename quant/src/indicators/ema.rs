//! EMA, the exponential moving average, seeded as TA-Lib seeds it.

use super::{Indicator, at_least, warmup_column};
use crate::error::ParamError;

/// Streaming exponential moving average with smoothing `k = 2 / (period + 1)`.
///
/// Seeding follows TA-Lib's default: the first output (after `period` inputs) is
/// the simple mean of those inputs; each later output is
/// `prev + k * (value - prev)`.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    seed_sum: f64,
    value: f64,
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
        Self { period: period.max(1), k, seen: 0, seed_sum: 0.0, value: f64::NAN }
    }

    /// The first output from the first `period` inputs, as [`Indicator::next`]
    /// computes it (batch fast paths continue with `value += k * (x - value)`).
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
        self.k
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
            self.value += self.k * (value - self.value);
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
    let mut out = warmup_column(values.len(), period - 1);
    if values.len() < period {
        return Ok(out);
    }
    let mut value = ema.seed(&values[..period]);
    out.push(value);
    let k = ema.k;
    out.extend(values[period..].iter().map(|&x| {
        value += k * (x - value);
        value
    }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_with_the_mean_then_smooths() {
        let out = ema(&[1.0, 2.0, 3.0, 4.0, 10.0], 3).unwrap();
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2], 2.0);
        assert_eq!(out[3], 2.0 + 0.5 * (4.0 - 2.0));
        assert_eq!(out[4], 3.0 + 0.5 * (10.0 - 3.0));
    }

    #[test]
    fn period_one_follows_the_input() {
        assert_eq!(ema(&[5.0, 7.0, 1.0], 1).unwrap(), vec![5.0, 7.0, 1.0]);
    }
}
