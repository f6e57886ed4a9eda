//! ATR, Wilder's average true range, seeded as TA-Lib seeds it.
//!
//! The first bar has no true range (no previous close). The first output, at
//! bar `period`, is the mean of the true ranges of bars `1..=period` (their sum
//! times `1 / period`); each later one is
//! `atr_prev * ((period - 1) / period) + tr * (1 / period)`, TA-Lib's
//! `(atr_prev * (period - 1) + tr) / period` with reciprocal multiplication (see
//! [`super::Wilder`]). With `period == 1` the output is the true range itself.

use super::trange::{true_range, true_range_hl};
use super::{Indicator, Wilder, at_least, hlc_len, warmup_column};
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
    let ranges = bars.windows(2).map(|pair| true_range(&pair[1], pair[0].close));
    atr_from_ranges(bars.len(), ranges, period)
}

/// The ATR of bars given as three columns (TA-Lib's layout), one output per
/// bar, `NAN` during the first `period`; equal to [`atr`] on the same bars.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0; [`ParamError::Spec`] when the
/// columns differ in length.
pub fn atr_hlc(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    let len = hlc_len(high, low, close)?;
    let (high, low, close) = (&high[..len], &low[..len], &close[..len]);
    let ranges = high.iter().zip(low).skip(1).zip(close).map(|((&h, &l), &c)| true_range_hl(h, l, c));
    atr_from_ranges(len, ranges, period)
}

/// `Atr::next` unrolled over the true ranges of bars `1..len`: the same
/// operations in the same order, so the output is bit-identical.
fn atr_from_ranges(len: usize, ranges: impl Iterator<Item = f64>, period: usize) -> Result<Vec<f64>, ParamError> {
    let atr = Atr::new(period)?;
    let mut out = warmup_column(len, period);
    if len <= period {
        return Ok(out);
    }
    if period == 1 {
        out.extend(ranges);
        return Ok(out);
    }
    let wilder = atr.wilder;
    let mut ranges = ranges;
    let mut value = ranges.by_ref().take(period).fold(0.0, |sum, tr| sum + tr);
    value *= wilder.add;
    out.push(value);
    out.extend(ranges.map(|tr| {
        value = wilder.step(value, tr);
        value
    }));
    Ok(out)
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
