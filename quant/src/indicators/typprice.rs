//! TYPPRICE, the typical price of a bar: `(high + low + close) / 3`.

use super::{Indicator, batch};
use crate::bar::Bar;

/// Streaming typical price; no warm-up.
#[derive(Debug, Clone, Default)]
pub struct Typprice;

impl Typprice {
    /// A new typical price.
    #[must_use]
    pub fn new() -> Self {
        Self
    }

    /// The typical price of one bar, summed in TA-Lib's order.
    #[must_use]
    pub fn of(bar: &Bar) -> f64 {
        (bar.high + bar.low + bar.close) / 3.0
    }
}

impl Indicator for Typprice {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        Some(Self::of(&bar))
    }

    fn reset(&mut self) {}

    fn lookback(&self) -> usize {
        0
    }
}

/// The typical price of each bar.
#[must_use]
pub fn typprice(bars: &[Bar]) -> Vec<f64> {
    batch(Typprice, bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_high_low_and_close() {
        let bar = Bar { ts: 0, open: 10.0, high: 12.0, low: 9.0, close: 12.0, volume: 5.0 };
        let flat = Bar { high: 10.0, low: 10.0, close: 10.0, ..bar };
        assert_eq!(typprice(&[bar, flat]), vec![11.0, 10.0]);
        let mut t = Typprice::new();
        t.reset();
        assert_eq!((t.next(bar), t.lookback()), (Some(11.0), 0));
    }
}
