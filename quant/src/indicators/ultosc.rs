//! ULTOSC, Williams' ultimate oscillator, as TA-Lib computes it.

use super::{Indicator, at_least, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// Running sums of buying pressure and true range over one window length.
#[derive(Debug, Clone, Copy)]
struct Window {
    len: usize,
    pressure: f64,
    range: f64,
    /// Terms in the window with a non-zero true range.
    moving: usize,
}

impl Window {
    fn new(len: usize) -> Self {
        Self { len, pressure: 0.0, range: 0.0, moving: 0 }
    }

    fn ratio(&self) -> Option<f64> {
        (self.range != 0.0).then(|| self.pressure / self.range)
    }
}

/// Streaming ultimate oscillator.
///
/// For each bar after the first, buying pressure is `close - min(low, prev_close)`
/// and true range `max(high - low, |high - prev_close|, |low - prev_close|)`. With
/// the three periods sorted (TA-Lib sorts them, so the order given does not
/// matter) and `avg_n = sum(pressure) / sum(range)` over the last `n` bars, the
/// output is `100 * (4 avg_short + 2 avg_mid + avg_long) / 7`; an average over a
/// window without range counts 0. The sums are running sums over a ring buffer
/// (in TA-Lib's order: add the new bar, then drop the oldest after the output),
/// reset to exactly zero whenever a window holds no range at all.
#[derive(Debug, Clone)]
pub struct Ultosc {
    windows: [Window; 3],
    terms: Vec<(f64, f64)>,
    slot: usize,
    count: usize,
    prev_close: Option<f64>,
}

impl Ultosc {
    /// A new ULTOSC; TA-Lib's defaults are `(7, 14, 28)`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is 0.
    pub fn new(period1: usize, period2: usize, period3: usize) -> Result<Self, ParamError> {
        let mut periods = [
            at_least("timeperiod1", period1, 1)?,
            at_least("timeperiod2", period2, 1)?,
            at_least("timeperiod3", period3, 1)?,
        ];
        periods.sort_unstable();
        Ok(Self {
            windows: periods.map(Window::new),
            terms: vec![(0.0, 0.0); periods[2]],
            slot: 0,
            count: 0,
            prev_close: None,
        })
    }
}

impl Indicator for Ultosc {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let prev_close = self.prev_close.replace(bar.close)?;
        let true_low = if bar.low < prev_close { bar.low } else { prev_close };
        let pressure = bar.close - true_low;
        let mut range = bar.high - bar.low;
        for gap in [(prev_close - bar.high).abs(), (prev_close - bar.low).abs()] {
            if gap > range {
                range = gap;
            }
        }
        let capacity = self.terms.len();
        self.terms[self.slot] = (pressure, range);
        self.count = (self.count + 1).min(capacity);
        for window in &mut self.windows {
            window.pressure += pressure;
            window.range += range;
            window.moving += usize::from(range != 0.0);
            if window.moving == 0 {
                window.pressure = 0.0;
                window.range = 0.0;
            }
        }
        let output = (self.count == capacity).then(|| {
            let [short, mid, long] = self.windows.map(|w| w.ratio());
            let mut sum = 0.0;
            if let Some(r) = short {
                sum += 4.0 * r;
            }
            if let Some(r) = mid {
                sum += 2.0 * r;
            }
            if let Some(r) = long {
                sum += r;
            }
            100.0 * (sum / 7.0)
        });
        // Drop the oldest term of every full window, ready for the next bar.
        for window in &mut self.windows {
            if self.count >= window.len {
                let (old_pressure, old_range) = self.terms[(self.slot + capacity + 1 - window.len) % capacity];
                window.pressure -= old_pressure;
                window.range -= old_range;
                window.moving -= usize::from(old_range != 0.0);
                if window.moving == 0 {
                    window.pressure = 0.0;
                    window.range = 0.0;
                }
            }
        }
        self.slot = (self.slot + 1) % capacity;
        output
    }

    fn reset(&mut self) {
        self.windows = self.windows.map(|w| Window::new(w.len));
        self.terms.fill((0.0, 0.0));
        self.slot = 0;
        self.count = 0;
        self.prev_close = None;
    }

    fn lookback(&self) -> usize {
        self.terms.len()
    }
}

/// The ULTOSC of `bars`, one output per bar, `NAN` during the first
/// `max(period1, period2, period3)`.
///
/// # Errors
/// [`ParamError::TooSmall`] when a period is 0.
pub fn ultosc(bars: &[Bar], period1: usize, period2: usize, period3: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Ultosc::new(period1, period2, period3)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    fn sample() -> Vec<Bar> {
        (0..50).map(f64::from).map(|x| 50.0 + (x * 0.4).sin() * 3.0).map(|m| bar(m + 0.8, m - 0.6, m + 0.3)).collect()
    }

    #[test]
    fn matches_the_definition_with_equal_periods() {
        let bars = [bar(10.0, 8.0, 9.0), bar(11.0, 9.5, 10.5), bar(10.0, 7.0, 8.0)];
        let out = ultosc(&bars, 1, 1, 1).unwrap();
        assert!(out[0].is_nan());
        // Bar 1: pressure 10.5 - 9 = 1.5, range max(1.5, 2, 0.5) = 2.
        assert!((out[1] - 100.0 * 0.75).abs() < 1e-12);
        // Bar 2: pressure 8 - 7 = 1, range max(3, 0.5, 3.5) = 3.5.
        assert!((out[2] - 100.0 / 3.5).abs() < 1e-12);
    }

    #[test]
    fn period_order_does_not_matter_and_flat_reads_zero() {
        let bars = sample();
        assert_eq!(
            format!("{:?}", ultosc(&bars, 28, 7, 14).unwrap()),
            format!("{:?}", ultosc(&bars, 7, 14, 28).unwrap())
        );
        assert_eq!(ultosc(&bars, 2, 14, 3).unwrap().iter().take_while(|v| v.is_nan()).count(), 14);
        let mut bars: Vec<Bar> = [1.1, 1.3, 1.7, 1.2, 1.9, 2.3].iter().map(|&p| bar(p, p, p)).collect();
        bars.extend(vec![bar(2.3, 2.3, 2.3); 6]);
        let out = ultosc(&bars, 1, 2, 3).unwrap();
        assert!(out[8..].iter().all(|&v| v == 0.0), "{out:?}");
    }

    #[test]
    fn reset_matches_a_fresh_instance() {
        let bars = sample();
        let mut u = Ultosc::new(3, 5, 8).unwrap();
        for b in &bars[..13] {
            u.next(*b);
        }
        u.reset();
        assert_eq!(format!("{:?}", batch(u, &bars)), format!("{:?}", ultosc(&bars, 3, 5, 8).unwrap()));
        assert!(Ultosc::new(0, 14, 28).is_err());
    }
}
