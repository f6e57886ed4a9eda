//! MACD, the moving average convergence/divergence, seeded as TA-Lib seeds it.

use super::ema::Smoothing;
use super::segmented::{self, Pack, Real, Recurrence};
use super::{Ema, Indicator, Outputs, at_least, nan_column};
use crate::error::ParamError;

/// One MACD output: the MACD line, its signal line and their difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdOutput {
    /// Fast EMA minus slow EMA.
    pub macd: f64,
    /// EMA of the MACD line.
    pub signal: f64,
    /// `macd - signal`.
    pub hist: f64,
}

impl Outputs for MacdOutput {
    const NAMES: &'static [&'static str] = &["macd", "macdsignal", "macdhist"];
    fn write(&self, out: &mut [f64]) {
        out[0] = self.macd;
        out[1] = self.signal;
        out[2] = self.hist;
    }
}

/// Streaming MACD(fast, slow, signal).
///
/// TA-Lib seeds both price EMAs so that their seed windows end on the same bar:
/// the slow EMA starts from the mean of the first `slow` inputs and the fast EMA
/// from the mean of the `fast` inputs that end that window (the first
/// `slow - fast` inputs never reach it). So the fast EMA here simply skips the
/// first `slow - fast` inputs. The signal EMA is seeded with the mean of the
/// first `signal` MACD values. If `slow < fast` the two are swapped, as in TA-Lib.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    skip: usize,
    skipped: usize,
}

impl Macd {
    /// A new MACD; TA-Lib's defaults are `(12, 26, 9)`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `fast` or `slow` is below 2 or `signal` is 0.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, ParamError> {
        let fast = at_least("fastperiod", fast, 2)?;
        let slow = at_least("slowperiod", slow, 2)?;
        let signal = at_least("signalperiod", signal, 1)?;
        let (fast, slow) = if slow < fast { (slow, fast) } else { (fast, slow) };
        Ok(Self {
            fast: Ema::new(fast)?,
            slow: Ema::new(slow)?,
            signal: Ema::new(signal)?,
            skip: slow - fast,
            skipped: 0,
        })
    }
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdOutput;

    fn next(&mut self, value: f64) -> Option<MacdOutput> {
        let slow = self.slow.next(value);
        let fast = if self.skipped < self.skip {
            self.skipped += 1;
            None
        } else {
            self.fast.next(value)
        };
        let macd = fast? - slow?;
        let signal = self.signal.next(macd)?;
        Some(MacdOutput { macd, signal, hist: macd - signal })
    }

    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
        self.skipped = 0;
    }

    fn lookback(&self) -> usize {
        self.slow.lookback() + self.signal.lookback()
    }
}

/// The three MACD columns, `(macd, macdsignal, macdhist)`.
pub type MacdColumns = (Vec<f64>, Vec<f64>, Vec<f64>);

/// The MACD of `values` as `(macd, macdsignal, macdhist)`, each one output per
/// input with `NAN` during the first `slow - 1 + signal - 1`.
///
/// # Errors
/// As [`Macd::new`].
pub fn macd(values: &[f64], fast: usize, slow: usize, signal: usize) -> Result<MacdColumns, ParamError> {
    // The streaming algorithm unrolled over the slice, all three EMAs in one
    // pass: the same operations in the same order, so bit-identical output.
    let m = Macd::new(fast, slow, signal)?;
    let (slow_n, signal_n) = (m.slow.period(), m.signal.period());
    let len = values.len();
    let warmup = slow_n - 1 + signal_n - 1;
    let (mut line, mut sig, mut hist) = (nan_column(len, warmup), nan_column(len, warmup), nan_column(len, warmup));
    // The signal EMA's seed is the mean of the first `signal` MACD values, so
    // the first output is at `seed_end - 1`.
    let seed_end = slow_n + signal_n - 1;
    if len < seed_end {
        return Ok((line, sig, hist));
    }
    let kernel = MacdOver { values, fast: m.fast.smoothing(), slow: m.slow.smoothing(), signal: m.signal.smoothing() };
    let mut state = [m.fast.seed(&values[m.skip..slow_n]), m.slow.seed(&values[..slow_n]), 0.0];
    let mut seed_sum = 0.0;
    for (i, &x) in values.iter().enumerate().take(seed_end).skip(slow_n - 1) {
        if i >= slow_n {
            kernel.lines(&mut state, x);
        }
        seed_sum += state[0] - state[1];
    }
    state[2] = m.signal.seed_from_sum(seed_sum);
    let first = state[0] - state[1];
    (line[warmup], sig[warmup], hist[warmup]) = (first, state[2], first - state[2]);
    // The signal's state forgets once the lines have.
    let lines_warmup = segmented::warmup_for(kernel.fast.decay().max(kernel.slow.decay()));
    let warmup_all = lines_warmup.zip(segmented::warmup_for(kernel.signal.decay())).map(|(a, b)| a + b);
    let columns = [&mut line[seed_end..], &mut sig[seed_end..], &mut hist[seed_end..]];
    segmented::run::<_, 3, 3, 2>(&kernel, warmup_all, state, seed_end, columns);
    Ok((line, sig, hist))
}

/// MACD after its seeds as a [`Recurrence`] over `values`, with the state
/// `[fast EMA, slow EMA, signal EMA]`: the same steps as [`Macd::next`].
struct MacdOver<'a> {
    values: &'a [f64],
    fast: Smoothing,
    slow: Smoothing,
    signal: Smoothing,
}

impl MacdOver<'_> {
    /// Advances the two price EMAs over the input `x`.
    #[inline(always)]
    fn lines<T: Real>(&self, state: &mut [T; 3], x: T) {
        state[1] = self.slow.step(state[1], x);
        state[0] = self.fast.step(state[0], x);
    }
}

impl Recurrence<3, 3> for MacdOver<'_> {
    type Window<'w>
        = &'w [f64]
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> &[f64] {
        &self.values[from..from + len]
    }

    #[inline(always)]
    fn step<const L: usize>(&self, state: &mut [Pack<L>; 3], values: &[&[f64]; L], t: usize) -> [Pack<L>; 3] {
        self.lines(state, Pack::from_fn(|l| values[l][t]));
        let macd = state[0] - state[1];
        state[2] = self.signal.step(state[2], macd);
        [macd, state[2], macd - state[2]]
    }

    fn guess(&self, values: &[f64]) -> [f64; 3] {
        let x = values.first().copied().unwrap_or(0.0);
        [x, x, 0.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::ema;

    #[test]
    fn fast_ema_is_seeded_on_the_slow_window_end() {
        let values: Vec<f64> = (0..60).map(|i| 50.0 + (f64::from(i) * 0.3).sin() * 4.0 + f64::from(i) * 0.1).collect();
        let (line, signal, hist) = macd(&values, 3, 7, 4).unwrap();
        let slow = ema(&values, 7).unwrap();
        let fast = ema(&values[4..], 3).unwrap();
        let lines: Vec<f64> = (6..values.len()).map(|i| fast[i - 4] - slow[i]).collect();
        let sig = ema(&lines, 4).unwrap();
        assert!(line[..9].iter().all(|v| v.is_nan()));
        for i in 9..values.len() {
            assert_eq!(line[i], lines[i - 6]);
            assert_eq!(signal[i], sig[i - 6]);
            assert_eq!(hist[i], line[i] - signal[i]);
        }
    }

    #[test]
    fn swapped_periods_and_reset() {
        let values: Vec<f64> = (0..50).map(|i| 10.0 + (f64::from(i) * 0.5).cos()).collect();
        assert_eq!(macd(&values, 26, 12, 9).unwrap().0[40], macd(&values, 12, 26, 9).unwrap().0[40]);
        let mut m = Macd::new(5, 9, 3).unwrap();
        assert_eq!(m.lookback(), 10);
        for &v in &values[..20] {
            m.next(v);
        }
        m.reset();
        let again: Vec<f64> = values.iter().map(|&v| m.next(v).map_or(f64::NAN, |o| o.hist)).collect();
        let (_, _, hist) = macd(&values, 5, 9, 3).unwrap();
        assert_eq!(format!("{again:?}"), format!("{hist:?}"));
    }

    #[test]
    fn bad_periods_are_errors() {
        assert!(matches!(Macd::new(1, 26, 9), Err(ParamError::TooSmall { name: "fastperiod", .. })));
        assert!(matches!(Macd::new(12, 26, 0), Err(ParamError::TooSmall { name: "signalperiod", .. })));
    }
}
