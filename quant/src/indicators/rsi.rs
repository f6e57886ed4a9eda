//! RSI (Wilder's relative strength index) and CMO (Chande momentum oscillator),
//! both built on Wilder-smoothed average gains and losses, as TA-Lib computes them.

use super::segmented::{self, Pack, Real, Recurrence};
use super::{Indicator, Wilder, at_least, batch, nan_column};
use crate::error::ParamError;

/// Wilder's average gain and loss over `period` price changes.
///
/// The first averages are the plain means of the first `period` changes (so
/// `period + 1` inputs); each later one is `prev * ((period - 1) / period) +
/// change * (1 / period)` with both factors precomputed: TA-Lib's
/// `(prev * (period - 1) + change) / period` with the division by the period
/// turned into multiplications, as the shipped TA-Lib binary (built with
/// reciprocal math) does. Results agree with TA-Lib to a few ulp.
#[derive(Debug, Clone)]
struct WilderGainLoss {
    period: usize,
    seen: usize,
    prev: f64,
    gain: f64,
    loss: f64,
    wilder: Wilder,
}

/// A price change split into `(gain, loss)`, both non-negative: exactly one of
/// them is the change's magnitude, the other 0 (a NaN change is a NaN gain).
#[inline(always)]
fn split<T: Real>(change: T) -> (T, T) {
    let zero = T::from(0.0);
    let falling = change.less(zero);
    (T::select(falling, zero, change), T::select(falling, -change, zero))
}

impl WilderGainLoss {
    fn new(period: usize) -> Self {
        Self { period, seen: 0, prev: f64::NAN, gain: 0.0, loss: 0.0, wilder: Wilder::new(period) }
    }

    /// Consumes one value; returns `(average gain, average loss)` once warmed up.
    fn next(&mut self, value: f64) -> Option<(f64, f64)> {
        let (up, down) = split(value - self.prev);
        self.prev = value;
        if self.seen <= self.period {
            self.seen += 1;
            if self.seen == 1 {
                return None;
            }
            self.gain += up;
            self.loss += down;
            if self.seen <= self.period {
                return None;
            }
            self.gain *= self.wilder.add;
            self.loss *= self.wilder.add;
        } else {
            self.gain = self.wilder.step(self.gain, up);
            self.loss = self.wilder.step(self.loss, down);
        }
        Some((self.gain, self.loss))
    }

    fn reset(&mut self) {
        *self = Self::new(self.period);
    }
}

/// Streaming RSI: `100 * gain / (gain + loss)` on Wilder's averages.
///
/// A window without any change (gain and loss both zero) gives 0, as in TA-Lib.
#[derive(Debug, Clone)]
pub struct Rsi {
    core: WilderGainLoss,
}

impl Rsi {
    /// A new RSI over `period` changes (TA-Lib's range starts at 2).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { core: WilderGainLoss::new(at_least("period", period, 2)?) })
    }
}

impl Indicator for Rsi {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let (gain, loss) = self.core.next(value)?;
        Some(rsi_of(gain, loss))
    }

    fn reset(&mut self) {
        self.core.reset();
    }

    fn lookback(&self) -> usize {
        self.core.period
    }
}

/// The RSI of `values`, one output per input, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn rsi(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    // `WilderGainLoss` unrolled over the slice: the same operations in the same
    // order, so the output is bit-identical to the streaming RSI's.
    let period = Rsi::new(period)?.core.period;
    let mut out = nan_column(values.len(), period);
    if values.len() <= period {
        return Ok(out);
    }
    let wilder = Wilder::new(period);
    let (mut gain, mut loss) = (0.0, 0.0);
    for pair in values[..=period].windows(2) {
        let (up, down) = split(pair[1] - pair[0]);
        gain += up;
        loss += down;
    }
    gain *= wilder.add;
    loss *= wilder.add;
    out[period] = rsi_of(gain, loss);
    let kernel = RsiOver { values, wilder };
    let warmup = segmented::warmup_for(wilder.keep);
    let state = [values[period], gain, loss];
    segmented::run::<_, 3, 1, 2>(&kernel, warmup, state, period + 1, [&mut out[period + 1..]]);
    Ok(out)
}

/// The RSI from Wilder's average gain and loss; 0 when both are 0.
#[inline(always)]
fn rsi_of<T: Real>(gain: T, loss: T) -> T {
    let total = gain + loss;
    T::select(total.equals(T::from(0.0)), T::from(0.0), T::from(100.0) * (gain / total))
}

/// The RSI after its seed as a [`Recurrence`] over `values`, with the state
/// `[previous value, average gain, average loss]`: the same steps as
/// [`Rsi::next`]. (The previous value is carried rather than re-read so that
/// each step loads one value per lane; it is exact after one step, so it
/// never delays the merging of speculative runs.)
struct RsiOver<'a> {
    values: &'a [f64],
    wilder: Wilder,
}

impl Recurrence<3, 1> for RsiOver<'_> {
    /// The values from the one before the first position.
    type Window<'w>
        = &'w [f64]
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> &[f64] {
        &self.values[from - 1..from + len]
    }

    #[inline(always)]
    fn step<const L: usize>(&self, state: &mut [Pack<L>; 3], values: &[&[f64]; L], t: usize) -> [Pack<L>; 1] {
        let value = Pack::from_fn(|l| values[l][t + 1]);
        let (up, down) = split(value - state[0]);
        state[0] = value;
        state[1] = self.wilder.step(state[1], up);
        state[2] = self.wilder.step(state[2], down);
        [rsi_of(state[1], state[2])]
    }

    fn guess(&self, values: &[f64]) -> [f64; 3] {
        [values[0], 0.0, 0.0]
    }
}

/// Streaming CMO: `100 * (gain - loss) / (gain + loss)`.
///
/// TA-Lib's CMO uses Wilder-smoothed gains and losses, exactly like its RSI,
/// rather than Chande's plain sums over the window; this follows TA-Lib.
#[derive(Debug, Clone)]
pub struct Cmo {
    core: WilderGainLoss,
}

impl Cmo {
    /// A new CMO over `period` changes (TA-Lib's range starts at 2).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { core: WilderGainLoss::new(at_least("period", period, 2)?) })
    }
}

impl Indicator for Cmo {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let (gain, loss) = self.core.next(value)?;
        let total = gain + loss;
        Some(if total == 0.0 { 0.0 } else { 100.0 * ((gain - loss) / total) })
    }

    fn reset(&mut self) {
        self.core.reset();
    }

    fn lookback(&self) -> usize {
        self.core.period
    }
}

/// The CMO of `values`, one output per input, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn cmo(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Cmo::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_with_plain_means_then_smooths() {
        // Changes: +1, -2, +3, then +1: gains (1+3)/3, losses 2/3.
        let out = rsi(&[10.0, 11.0, 9.0, 12.0, 13.0], 3).unwrap();
        assert!(out[..3].iter().all(|v| v.is_nan()));
        assert!((out[3] - 100.0 * (4.0 / 3.0) / 2.0).abs() < 1e-12);
        let (gain, loss) = ((4.0 / 3.0 * 2.0 + 1.0) / 3.0, (2.0 / 3.0 * 2.0) / 3.0);
        assert!((out[4] - 100.0 * gain / (gain + loss)).abs() < 1e-12);
        let c = cmo(&[10.0, 11.0, 9.0, 12.0, 13.0], 3).unwrap();
        assert!((c[4] - 100.0 * (gain - loss) / (gain + loss)).abs() < 1e-12);
    }

    #[test]
    fn no_losses_reads_100_and_no_changes_reads_0() {
        let rising: Vec<f64> = (0..10).map(f64::from).collect();
        assert!(rsi(&rising, 2).unwrap()[2..].iter().all(|&v| v == 100.0));
        assert!(cmo(&rising, 2).unwrap()[2..].iter().all(|&v| v == 100.0));
        let flat = [5.0; 6];
        assert!(rsi(&flat, 2).unwrap()[2..].iter().all(|&v| v == 0.0));
        assert!(cmo(&flat, 2).unwrap()[2..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn reset_matches_a_fresh_instance() {
        let values: Vec<f64> = (0..40).map(|i| 100.0 + (f64::from(i) * 0.7).sin()).collect();
        let mut r = Rsi::new(5).unwrap();
        for &v in &values[..17] {
            r.next(v);
        }
        r.reset();
        assert_eq!(format!("{:?}", batch(r, &values)), format!("{:?}", rsi(&values, 5).unwrap()));
        let mut c = Cmo::new(5).unwrap();
        c.next(3.0);
        c.reset();
        assert_eq!(format!("{:?}", batch(c, &values)), format!("{:?}", cmo(&values, 5).unwrap()));
    }

    #[test]
    fn period_below_two_is_an_error() {
        assert_eq!(Rsi::new(1).unwrap_err(), ParamError::TooSmall { name: "period", min: 2, value: 1 });
        assert!(Cmo::new(0).is_err());
    }
}
