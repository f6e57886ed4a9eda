//! MEDPRICE, the median price of a bar: `(high + low) / 2`.

use super::{Indicator, batch};
use crate::bar::Bar;

/// Streaming median price; no warm-up.
#[derive(Debug, Clone, Default)]
pub struct Medprice;

impl Medprice {
    /// A new median price.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

impl Indicator for Medprice {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        Some((bar.high + bar.low) / 2.0)
    }

    fn reset(&mut self) {}

    fn lookback(&self) -> usize {
        0
    }
}

/// The median price of each bar.
#[must_use]
pub fn medprice(bars: &[Bar]) -> Vec<f64> {
    batch(Medprice, bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_midpoint_of_the_range() {
        let bar = Bar { ts: 0, open: 10.0, high: 12.0, low: 9.0, close: 11.0, volume: 5.0 };
        let flat = Bar { high: 10.0, low: 10.0, ..bar };
        assert_eq!(medprice(&[bar, flat]), vec![10.5, 10.0]);
        let mut m = Medprice::new();
        m.reset();
        assert_eq!((m.next(bar), m.lookback()), (Some(10.5), 0));
    }
}
