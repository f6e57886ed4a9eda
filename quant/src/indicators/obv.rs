//! OBV, Granville's on-balance volume, as TA-Lib computes it.

use super::{Indicator, batch};
use crate::bar::Bar;

/// Streaming on-balance volume: a running total that adds the bar's volume when
/// the close rose, subtracts it when the close fell and keeps it otherwise.
///
/// TA-Lib starts the total at the first bar's volume (not at 0), so there is no
/// warm-up: the first output is that volume.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    total: f64,
    prev_close: Option<f64>,
}

impl Obv {
    /// A new OBV.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Obv {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        match self.prev_close.replace(bar.close) {
            None => self.total = bar.volume,
            Some(prev) if bar.close > prev => self.total += bar.volume,
            Some(prev) if bar.close < prev => self.total -= bar.volume,
            Some(_) => {}
        }
        Some(self.total)
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    fn lookback(&self) -> usize {
        0
    }
}

/// The OBV of `bars`, one output per bar (no warm-up).
#[must_use]
pub fn obv(bars: &[Bar]) -> Vec<f64> {
    batch(Obv::new(), bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(close: f64, volume: f64) -> Bar {
        Bar { ts: 0, open: close, high: close, low: close, close, volume }
    }

    #[test]
    fn starts_from_the_first_volume_as_in_talib() {
        let bars = [bar(1.0, 10.0), bar(2.0, 20.0), bar(2.0, 30.0), bar(1.0, 40.0), bar(3.0, 50.0)];
        assert_eq!(obv(&bars), vec![10.0, 30.0, 30.0, -10.0, 40.0]);
        let mut o = Obv::new();
        o.next(bars[0]);
        o.next(bars[1]);
        o.reset();
        assert_eq!(batch(o, &bars), obv(&bars));
        assert_eq!(Obv::new().lookback(), 0);
    }
}
