//! Ichimoku Kinko Hyo (not in TA-Lib). With `mid(n) = (highest high + lowest
//! low) / 2` over the last `n` bars (including the current one):
//!
//! - `tenkan = mid(tenkan_period)` (conversion line, default 9),
//! - `kijun = mid(kijun_period)` (base line, default 26),
//! - leading span A `= (tenkan + kijun) / 2`,
//! - leading span B `= mid(senkou_b_period)` (default 52),
//! - `chikou` (lagging span) `= close`.
//!
//! Displacement in a streaming indicator, which can only emit values at the
//! current bar and never looks ahead: charts draw the leading spans
//! `displacement` bars (default 26) ahead of the bar that computed them, and the
//! lagging span `displacement` bars behind. Here
//!
//! - `senkou_a` and `senkou_b` are the cloud **at the current bar**: the spans
//!   computed `displacement` bars ago (what a chart shows above/below the current
//!   candle, and what "price above the cloud" rules compare with);
//! - `chikou` is the current close, the value a chart draws `displacement` bars
//!   back (the lagging span at the current bar would need future closes).
//!
//! Every output waits for the slowest: the first is at bar
//! `max(periods) - 1 + displacement` (77 with the defaults). TradingView draws
//! the spans `displacement - 1` bars ahead; pass 25 to match it.

use std::collections::VecDeque;

use super::donchian::Extremes;
use super::{Indicator, Outputs, at_least, batch_columns};
use crate::bar::Bar;
use crate::error::ParamError;

/// One Ichimoku output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IchimokuValue {
    /// Conversion line.
    pub tenkan: f64,
    /// Base line.
    pub kijun: f64,
    /// Leading span A at the current bar (computed `displacement` bars ago).
    pub senkou_a: f64,
    /// Leading span B at the current bar (computed `displacement` bars ago).
    pub senkou_b: f64,
    /// Lagging span: the current close, drawn `displacement` bars back.
    pub chikou: f64,
}

impl Outputs for IchimokuValue {
    const NAMES: &'static [&'static str] = &["tenkan", "kijun", "senkou_a", "senkou_b", "chikou"];
    fn write(&self, out: &mut [f64]) {
        out[..5].copy_from_slice(&[self.tenkan, self.kijun, self.senkou_a, self.senkou_b, self.chikou]);
    }
}

/// Columns of [`ichimoku`], one value per bar each.
#[derive(Debug, Clone, PartialEq)]
pub struct IchimokuSeries {
    /// Conversion line.
    pub tenkan: Vec<f64>,
    /// Base line.
    pub kijun: Vec<f64>,
    /// Leading span A at each bar.
    pub senkou_a: Vec<f64>,
    /// Leading span B at each bar.
    pub senkou_b: Vec<f64>,
    /// Lagging span (the close).
    pub chikou: Vec<f64>,
}

/// Streaming Ichimoku.
#[derive(Debug, Clone)]
pub struct Ichimoku {
    lookback: usize,
    displacement: usize,
    seen: usize,
    tenkan: Extremes,
    kijun: Extremes,
    span_b: Extremes,
    /// Spans computed at the last `displacement + 1` bars, oldest first.
    spans: VecDeque<(f64, f64)>,
}

fn mid(extremes: Option<(f64, f64)>) -> f64 {
    extremes.map_or(f64::NAN, |(high, low)| (high + low) / 2.0)
}

impl Ichimoku {
    /// Ichimoku with the three window lengths and the displacement (traditionally
    /// 9, 26, 52 and 26). A displacement of 0 emits the spans unshifted.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a window length is 0.
    pub fn new(
        tenkan_period: usize,
        kijun_period: usize,
        senkou_b_period: usize,
        displacement: usize,
    ) -> Result<Self, ParamError> {
        let longest = at_least("tenkan_period", tenkan_period, 1)?
            .max(at_least("kijun_period", kijun_period, 1)?)
            .max(at_least("senkou_b_period", senkou_b_period, 1)?);
        Ok(Self {
            lookback: longest - 1 + displacement,
            displacement,
            seen: 0,
            tenkan: Extremes::new(tenkan_period),
            kijun: Extremes::new(kijun_period),
            span_b: Extremes::new(senkou_b_period),
            spans: VecDeque::with_capacity(displacement + 1),
        })
    }
}

impl Indicator for Ichimoku {
    type Input = Bar;
    type Output = IchimokuValue;

    fn next(&mut self, bar: Bar) -> Option<IchimokuValue> {
        let tenkan = mid(self.tenkan.next(bar.high, bar.low));
        let kijun = mid(self.kijun.next(bar.high, bar.low));
        let span_b = mid(self.span_b.next(bar.high, bar.low));
        self.spans.push_back(((tenkan + kijun) / 2.0, span_b));
        let (senkou_a, senkou_b) =
            if self.spans.len() > self.displacement { self.spans.pop_front()? } else { (f64::NAN, f64::NAN) };
        self.seen += 1;
        if self.seen <= self.lookback {
            return None;
        }
        Some(IchimokuValue { tenkan, kijun, senkou_a, senkou_b, chikou: bar.close })
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.tenkan.reset();
        self.kijun.reset();
        self.span_b.reset();
        self.spans.clear();
    }

    fn lookback(&self) -> usize {
        self.lookback
    }
}

/// Ichimoku of `bars`, one value per bar in each column, `NAN` during warm-up.
///
/// # Errors
/// As [`Ichimoku::new`].
pub fn ichimoku(
    bars: &[Bar],
    tenkan_period: usize,
    kijun_period: usize,
    senkou_b_period: usize,
    displacement: usize,
) -> Result<IchimokuSeries, ParamError> {
    let indicator = Ichimoku::new(tenkan_period, kijun_period, senkou_b_period, displacement)?;
    let mut columns = batch_columns(indicator, bars).into_iter();
    let mut column = || columns.next().unwrap_or_default();
    Ok(IchimokuSeries { tenkan: column(), kijun: column(), senkou_a: column(), senkou_b: column(), chikou: column() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 25.0 + (i as f64 * 0.07).sin() * 6.0 + ((i * 5) % 9) as f64 * 0.2;
                let spread = 0.2 + (i % 3) as f64 * 0.4;
                Bar { ts: i as i64, open: c, high: c + spread, low: c - spread, close: c, volume: 1.0 }
            })
            .collect()
    }

    /// `mid(n)` at bar `i`, by scanning the window.
    fn mid_at(bars: &[Bar], i: usize, n: usize) -> f64 {
        let w = &bars[i + 1 - n..=i];
        (w.iter().map(|b| b.high).fold(f64::MIN, f64::max) + w.iter().map(|b| b.low).fold(f64::MAX, f64::min)) / 2.0
    }

    #[test]
    fn matches_the_window_definitions_and_displacement() {
        let bars = bars(260);
        for (t, k, b, d) in [(9, 26, 52, 26), (3, 5, 8, 0), (2, 1, 4, 3), (1, 1, 1, 1)] {
            let got = ichimoku(&bars, t, k, b, d).unwrap();
            let lookback = t.max(k).max(b) - 1 + d;
            for i in 0..bars.len() {
                let row = [got.tenkan[i], got.kijun[i], got.senkou_a[i], got.senkou_b[i], got.chikou[i]];
                if i < lookback {
                    assert!(row.iter().all(|v| v.is_nan()), "{t}/{k}/{b}/{d}, index {i}");
                    continue;
                }
                let j = i - d;
                let want = [
                    mid_at(&bars, i, t),
                    mid_at(&bars, i, k),
                    (mid_at(&bars, j, t) + mid_at(&bars, j, k)) / 2.0,
                    mid_at(&bars, j, b),
                    bars[i].close,
                ];
                assert_eq!(format!("{row:?}"), format!("{want:?}"), "{t}/{k}/{b}/{d}, index {i}");
            }
        }
    }

    #[test]
    fn zero_range_bars_give_flat_lines() {
        let flat = vec![Bar { ts: 0, open: 4.0, high: 4.0, low: 4.0, close: 4.0, volume: 0.0 }; 8];
        let got = ichimoku(&flat, 2, 3, 4, 2).unwrap();
        assert_eq!([got.tenkan[7], got.kijun[7], got.senkou_a[7], got.senkou_b[7], got.chikou[7]], [4.0; 5]);
        assert!(Ichimoku::new(9, 0, 52, 26).is_err());
        assert_eq!(Ichimoku::new(9, 26, 52, 26).unwrap().lookback(), 77);
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars = bars(80);
        let mut used = Ichimoku::new(3, 6, 12, 4).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        let fresh = Ichimoku::new(3, 6, 12, 4).unwrap();
        assert_eq!(format!("{:?}", batch_columns(used, &bars)), format!("{:?}", batch_columns(fresh, &bars)));
    }
}
