//! ATR, Wilder's average true range, seeded as TA-Lib seeds it.
//!
//! The first bar has no true range (no previous close). The first output, at
//! bar `period`, is the mean of the true ranges of bars `1..=period` (their sum
//! times `1 / period`); each later one is
//! `atr_prev * ((period - 1) / period) + tr * (1 / period)`, TA-Lib's
//! `(atr_prev * (period - 1) + tr) / period` with reciprocal multiplication (see
//! [`super::Wilder`]). With `period == 1` the output is the true range itself.

use super::segmented::{self, Pack, Real, Recurrence};
use super::trange::true_range;
use super::{Indicator, Wilder, at_least, hlc_len, nan_column};
use crate::bar::Bar;
use crate::error::ParamError;

/// Streaming average true range.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    seen: usize,
    value: f64,
    wilder: Wilder,
}

impl Atr {
    /// A new ATR over `period` true ranges.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, prev_close: None, seen: 0, value: 0.0, wilder: Wilder::new(period) })
    }
}

impl Indicator for Atr {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let tr = true_range(&bar, self.prev_close.replace(bar.close)?);
        if self.period == 1 {
            return Some(tr);
        }
        if self.seen < self.period {
            // Seeding: sum the first `period` true ranges, then take their mean.
            self.seen += 1;
            self.value += tr;
            if self.seen < self.period {
                return None;
            }
            self.value *= self.wilder.add;
        } else {
            self.value = self.wilder.step(self.value, tr);
        }
        Some(self.value)
    }

    fn reset(&mut self) {
        self.prev_close = None;
        self.seen = 0;
        self.value = 0.0;
    }

    fn lookback(&self) -> usize {
        self.period
    }
}

/// The ATR of `bars`, one output per bar, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn atr(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    smoothed_ranges(BarRows(bars), bars.len(), period)
}

/// The ATR of bars given as three columns (TA-Lib's layout), one output per
/// bar, `NAN` during the first `period`; equal to [`atr`] on the same bars.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0; [`ParamError::Spec`] when the
/// columns differ in length.
pub fn atr_hlc(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    let len = hlc_len(high, low, close)?;
    smoothed_ranges(ColumnRows { high, low, close }, len, period)
}

/// `Atr::next` unrolled over the `len` bars of `rows`: the same operations in
/// the same order, so the output is bit-identical.
fn smoothed_ranges<R: HlcRows>(rows: R, len: usize, period: usize) -> Result<Vec<f64>, ParamError> {
    let atr = Atr::new(period)?;
    let mut out = nan_column(len, period);
    if len <= period {
        return Ok(out);
    }
    let ranges = TrueRanges { rows, wilder: atr.wilder };
    if period == 1 {
        let window = ranges.window(1, len - 1);
        for (t, cell) in out[1..].iter_mut().enumerate() {
            *cell = TrueRanges::<R>::range(window, t);
        }
        return Ok(out);
    }
    let seed = ranges.window(1, period);
    let value = (0..period).fold(0.0, |sum, t| sum + TrueRanges::<R>::range(seed, t)) * atr.wilder.add;
    out[period] = value;
    let warmup = segmented::warmup_for(atr.wilder.keep);
    segmented::run::<_, 1, 1, 2>(&ranges, warmup, [value], period + 1, [&mut out[period + 1..]]);
    Ok(out)
}

/// Bars as the batch forms of ATR and ADX read them: a high, low and close per
/// position, from a slice of [`Bar`] or from three columns.
pub(crate) trait HlcRows: Sync {
    /// The rows of a run of positions.
    type Window<'w>: Copy
    where
        Self: 'w;

    /// Rows `from..from + len`.
    fn window(&self, from: usize, len: usize) -> Self::Window<'_>;

    /// The high of row `t` of `window`.
    fn high(window: Self::Window<'_>, t: usize) -> f64;

    /// The low of row `t` of `window`.
    fn low(window: Self::Window<'_>, t: usize) -> f64;

    /// The close of row `t` of `window`.
    fn close(window: Self::Window<'_>, t: usize) -> f64;

    /// Rows `from..from + len` as `[highs, lows, closes]` columns: borrowed
    /// when the rows are columns, else gathered into `scratch`.
    fn columns<'a>(&'a self, from: usize, len: usize, scratch: &'a mut [Vec<f64>; 3]) -> [&'a [f64]; 3];
}

/// Rows of a bar slice.
pub(crate) struct BarRows<'a>(pub(crate) &'a [Bar]);

impl HlcRows for BarRows<'_> {
    type Window<'w>
        = &'w [Bar]
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> &[Bar] {
        &self.0[from..from + len]
    }

    #[inline(always)]
    fn high(bars: &[Bar], t: usize) -> f64 {
        bars[t].high
    }

    #[inline(always)]
    fn low(bars: &[Bar], t: usize) -> f64 {
        bars[t].low
    }

    #[inline(always)]
    fn close(bars: &[Bar], t: usize) -> f64 {
        bars[t].close
    }

    fn columns<'a>(&'a self, from: usize, len: usize, scratch: &'a mut [Vec<f64>; 3]) -> [&'a [f64]; 3] {
        let bars = self.window(from, len);
        let [high, low, close] = scratch;
        for column in [&mut *high, &mut *low, &mut *close] {
            column.resize(len, 0.0);
        }
        let cells = high.iter_mut().zip(low.iter_mut()).zip(close.iter_mut());
        for (((h, l), c), bar) in cells.zip(bars) {
            (*h, *l, *c) = (bar.high, bar.low, bar.close);
        }
        [high, low, close]
    }
}

/// Rows of three columns of the same length.
pub(crate) struct ColumnRows<'a> {
    pub(crate) high: &'a [f64],
    pub(crate) low: &'a [f64],
    pub(crate) close: &'a [f64],
}

impl HlcRows for ColumnRows<'_> {
    type Window<'w>
        = (&'w [f64], &'w [f64], &'w [f64])
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> Self::Window<'_> {
        let to = from + len;
        (&self.high[from..to], &self.low[from..to], &self.close[from..to])
    }

    #[inline(always)]
    fn high(window: (&[f64], &[f64], &[f64]), t: usize) -> f64 {
        window.0[t]
    }

    #[inline(always)]
    fn low(window: (&[f64], &[f64], &[f64]), t: usize) -> f64 {
        window.1[t]
    }

    #[inline(always)]
    fn close(window: (&[f64], &[f64], &[f64]), t: usize) -> f64 {
        window.2[t]
    }

    fn columns<'a>(&'a self, from: usize, len: usize, _: &'a mut [Vec<f64>; 3]) -> [&'a [f64]; 3] {
        let (high, low, close) = self.window(from, len);
        [high, low, close]
    }
}

/// The true range from a bar's high and low and the previous close: the
/// comparisons of `trange::true_range_hl`, as selects (on `f64` or lanes).
#[inline(always)]
fn true_range_of<T: Real>(high: T, low: T, prev_close: T) -> T {
    let greatest = high - low;
    let to_high = (prev_close - high).abs();
    let greatest = T::select(to_high.greater(greatest), to_high, greatest);
    let to_low = (prev_close - low).abs();
    T::select(to_low.greater(greatest), to_low, greatest)
}

/// The ATR after its seed as a [`Recurrence`] over the true ranges of `rows`.
struct TrueRanges<R> {
    rows: R,
    wilder: Wilder,
}

impl<R: HlcRows> TrueRanges<R> {
    /// The true ranges at position `t` of each lane's window (a window starts
    /// one row early, at the previous close).
    #[inline(always)]
    fn ranges<const L: usize>(windows: &[R::Window<'_>; L], t: usize) -> Pack<L> {
        let high = Pack::from_fn(|l| R::high(windows[l], t + 1));
        let low = Pack::from_fn(|l| R::low(windows[l], t + 1));
        let prev_close = Pack::from_fn(|l| R::close(windows[l], t));
        true_range_of(high, low, prev_close)
    }

    /// The true range at position `t` of `window`.
    fn range(window: R::Window<'_>, t: usize) -> f64 {
        Self::ranges(&[window], t).0[0]
    }
}

impl<R: HlcRows> Recurrence<1, 1> for TrueRanges<R> {
    type Window<'w>
        = R::Window<'w>
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> Self::Window<'_> {
        self.rows.window(from - 1, len + 1)
    }

    #[inline(always)]
    fn step<const L: usize>(
        &self,
        state: &mut [Pack<L>; 1],
        windows: &[Self::Window<'_>; L],
        t: usize,
    ) -> [Pack<L>; 1] {
        state[0] = self.wilder.step(state[0], Self::ranges(windows, t));
        *state
    }

    fn guess(&self, window: Self::Window<'_>) -> [f64; 1] {
        // The first row's own range (the window starts one row early).
        [R::high(window, 0) - R::low(window, 0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::batch;
    use crate::indicators::trange;

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 50.0 + (i as f64 * 0.5).sin() * 4.0;
                Bar {
                    ts: i as i64 * 60,
                    open: c - 0.3,
                    high: c + 1.0 + (i % 3) as f64,
                    low: c - 1.0,
                    close: c,
                    volume: 10.0,
                }
            })
            .collect()
    }

    #[test]
    fn seeds_with_the_mean_then_smooths_like_wilder() {
        let bars = bars(40);
        let tr = trange(&bars);
        let got = atr(&bars, 5).unwrap();
        assert!(got[..5].iter().all(|v| v.is_nan()));
        let mut want = tr[1..=5].iter().sum::<f64>() / 5.0;
        assert!((got[5] - want).abs() < 1e-12);
        for i in 6..bars.len() {
            want = (want * 4.0 + tr[i]) / 5.0;
            assert!((got[i] - want).abs() < 1e-9, "index {i}");
        }
    }

    #[test]
    fn period_one_is_the_true_range_and_flat_bars_give_zero() {
        let bars = bars(10);
        let (a, t) = (atr(&bars, 1).unwrap(), trange(&bars));
        assert_eq!(format!("{a:?}"), format!("{t:?}"));
        let flat = vec![Bar { ts: 0, open: 5.0, high: 5.0, low: 5.0, close: 5.0, volume: 0.0 }; 6];
        assert!(atr(&flat, 3).unwrap()[3..].iter().all(|&v| v == 0.0));
        assert!(Atr::new(0).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars = bars(30);
        let mut used = Atr::new(4).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &bars)), format!("{:?}", atr(&bars, 4).unwrap()));
    }
}
