//! TRANGE, Wilder's true range: the bar's range extended to the previous close,
//! `max(high - low, |high - prev_close|, |low - prev_close|)`.
//!
//! As in TA-Lib, the first bar has no previous close and gives no output.

use super::{Indicator, batch};
use crate::bar::Bar;

/// The true range of `bar` given the previous close, compared in TA-Lib's order.
pub(crate) fn true_range(bar: &Bar, prev_close: f64) -> f64 {
    true_range_hl(bar.high, bar.low, prev_close)
}

/// [`true_range`] from the bar's high and low.
#[inline]
pub(crate) fn true_range_hl(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let to_high = (prev_close - high).abs();
    if to_high > greatest {
        greatest = to_high;
    }
    let to_low = (prev_close - low).abs();
    if to_low > greatest {
        greatest = to_low;
    }
    greatest
}

/// Streaming true range; the first output is at the second bar.
#[derive(Debug, Clone, Default)]
pub struct Trange {
    prev_close: Option<f64>,
}

impl Trange {
    /// A new true range.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Trange {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let prev_close = self.prev_close.replace(bar.close)?;
        Some(true_range(&bar, prev_close))
    }

    fn reset(&mut self) {
        self.prev_close = None;
    }

    fn lookback(&self) -> usize {
        1
    }
}

/// The true range of each bar, `NAN` for the first.
#[must_use]
pub fn trange(bars: &[Bar]) -> Vec<f64> {
    batch(Trange::new(), bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    #[test]
    fn extends_the_range_to_the_previous_close() {
        let bars = [bar(11.0, 9.0, 10.0), bar(12.0, 10.5, 11.0), bar(9.0, 8.0, 8.5), bar(8.5, 8.5, 8.5)];
        let out = trange(&bars);
        assert!(out[0].is_nan());
        assert_eq!(&out[1..], &[2.0, 3.0, 0.0]);
    }

    #[test]
    fn reset_forgets_the_previous_close() {
        let mut t = Trange::new();
        t.next(bar(11.0, 9.0, 10.0));
        t.reset();
        assert_eq!(t.next(bar(12.0, 10.5, 11.0)), None);
        assert_eq!(t.lookback(), 1);
    }
}
