//! Donchian channels (not in TA-Lib): over the last `period` bars, including the
//! current one,
//!
//! - `upperband = max(high)`,
//! - `lowerband = min(low)`,
//! - `middleband = (upperband + lowerband) / 2`.
//!
//! The first output is at bar `period - 1`. Outputs are named like BBANDS'.

use super::bbands::three;
use super::extremum::Extremum;
use super::{BandColumns, Bands, Indicator, at_least, batch_columns};
use crate::bar::Bar;
use crate::error::ParamError;

/// The highest high and lowest low of the last `period` bars (two
/// [`Extremum`] deques: O(1) amortised per bar). A NaN high or low makes the
/// outputs NaN for as long as it stays in the window.
#[derive(Debug, Clone)]
pub(crate) struct Extremes {
    period: usize,
    count: usize,
    highs: Extremum,
    lows: Extremum,
}

impl Extremes {
    pub(crate) fn new(period: usize) -> Self {
        let period = period.max(1);
        Self { period, count: 0, highs: Extremum::max(period), lows: Extremum::min(period) }
    }

    /// Adds a bar's high and low; returns `(highest, lowest)` once the window is full.
    pub(crate) fn next(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        let index = self.count;
        self.count += 1;
        let (_, highest) = self.highs.push(index, high);
        let (_, lowest) = self.lows.push(index, low);
        (self.count >= self.period).then_some((highest, lowest))
    }

    pub(crate) fn reset(&mut self) {
        self.count = 0;
        self.highs.clear();
        self.lows.clear();
    }
}

/// Streaming Donchian channels.
#[derive(Debug, Clone)]
pub struct Donchian {
    period: usize,
    extremes: Extremes,
}

impl Donchian {
    /// Channels over `period` bars (commonly 20).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = at_least("period", period, 1)?;
        Ok(Self { period, extremes: Extremes::new(period) })
    }
}

impl Indicator for Donchian {
    type Input = Bar;
    type Output = Bands;

    fn next(&mut self, bar: Bar) -> Option<Bands> {
        let (upper, lower) = self.extremes.next(bar.high, bar.low)?;
        Some(Bands { upper, middle: (upper + lower) / 2.0, lower })
    }

    fn reset(&mut self) {
        self.extremes.reset();
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// Donchian channels of `bars`: `(upper, middle, lower)`, each one output per
/// bar with `NAN` during the first `period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn donchian(bars: &[Bar], period: usize) -> Result<BandColumns, ParamError> {
    Ok(three(batch_columns(Donchian::new(period)?, bars)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 30.0 + (i as f64 * 0.37).sin() * 5.0 + ((i * 7) % 11) as f64 * 0.3;
                let spread = (i % 4) as f64 * 0.5;
                Bar { ts: i as i64, open: c, high: c + spread, low: c - spread, close: c, volume: 1.0 }
            })
            .collect()
    }

    /// The O(n * period) definition.
    fn naive(bars: &[Bar], period: usize) -> Vec<[f64; 3]> {
        (0..bars.len())
            .map(|i| {
                if i + 1 < period {
                    return [f64::NAN; 3];
                }
                let w = &bars[i + 1 - period..=i];
                let hi = w.iter().map(|b| b.high).fold(f64::MIN, f64::max);
                let lo = w.iter().map(|b| b.low).fold(f64::MAX, f64::min);
                [hi, (hi + lo) / 2.0, lo]
            })
            .collect()
    }

    #[test]
    fn matches_the_naive_window_extremes() {
        let bars = bars(300);
        for period in [1, 2, 5, 20, 299, 300, 301] {
            let (u, m, l) = donchian(&bars, period).unwrap();
            for (i, want) in naive(&bars, period).into_iter().enumerate() {
                let got = [u[i], m[i], l[i]];
                assert_eq!(format!("{got:?}"), format!("{want:?}"), "period {period}, index {i}");
            }
        }
    }

    #[test]
    fn zero_range_bars_collapse_the_channel() {
        let flat = vec![Bar { ts: 0, open: 4.0, high: 4.0, low: 4.0, close: 4.0, volume: 0.0 }; 5];
        let (u, m, l) = donchian(&flat, 3).unwrap();
        assert_eq!((u[4], m[4], l[4]), (4.0, 4.0, 4.0));
        assert!(Donchian::new(0).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars = bars(50);
        let mut used = Donchian::new(7).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        let fresh = Donchian::new(7).unwrap();
        assert_eq!(format!("{:?}", batch_columns(used, &bars)), format!("{:?}", batch_columns(fresh, &bars)));
    }
}
