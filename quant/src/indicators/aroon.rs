//! AROON and AROONOSC: how recently the window's high and low were set, as
//! TA-Lib computes them (a window of `period + 1` bars, ties to the latest bar).

use super::extremum::Extremum;
use super::{Indicator, Outputs, at_least, batch, batch_columns};
use crate::bar::Bar;
use crate::error::ParamError;

/// Positions of the highest high and lowest low over the last `period + 1` bars.
#[derive(Debug, Clone)]
struct Recency {
    period: usize,
    highs: Extremum,
    lows: Extremum,
    index: usize,
}

impl Recency {
    fn new(period: usize) -> Self {
        Self { period, highs: Extremum::max(period + 1), lows: Extremum::min(period + 1), index: 0 }
    }

    /// Bars since the highest high and since the lowest low (ties count from
    /// the latest), once warmed up; NaN while a NaN price is in the window.
    fn next(&mut self, bar: Bar) -> Option<(f64, f64)> {
        let (high_at, high) = self.highs.push(self.index, bar.high);
        let (low_at, low) = self.lows.push(self.index, bar.low);
        let today = self.index;
        self.index += 1;
        if today < self.period {
            return None;
        }
        let since = |at: usize, extreme: f64| if extreme.is_nan() { f64::NAN } else { (today - at) as f64 };
        Some((since(high_at, high), since(low_at, low)))
    }

    fn reset(&mut self) {
        self.highs.clear();
        self.lows.clear();
        self.index = 0;
    }
}

/// One AROON output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AroonOutput {
    /// `100 * (period - bars since the lowest low) / period`.
    pub down: f64,
    /// `100 * (period - bars since the highest high) / period`.
    pub up: f64,
}

impl Outputs for AroonOutput {
    const NAMES: &'static [&'static str] = &["aroondown", "aroonup"];
    fn write(&self, out: &mut [f64]) {
        out[0] = self.down;
        out[1] = self.up;
    }
}

/// Streaming AROON: Aroon down and up over the last `period + 1` bars, from 100
/// (the extreme is today) to 0 (it is `period` bars old).
#[derive(Debug, Clone)]
pub struct Aroon {
    core: Recency,
}

impl Aroon {
    /// A new AROON over `period` bars (TA-Lib's range starts at 2; default 14).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { core: Recency::new(at_least("period", period, 2)?) })
    }
}

impl Indicator for Aroon {
    type Input = Bar;
    type Output = AroonOutput;

    fn next(&mut self, bar: Bar) -> Option<AroonOutput> {
        let (since_high, since_low) = self.core.next(bar)?;
        let n = self.core.period as f64;
        let factor = 100.0 / n;
        Some(AroonOutput { down: factor * (n - since_low), up: factor * (n - since_high) })
    }

    fn reset(&mut self) {
        self.core.reset();
    }

    fn lookback(&self) -> usize {
        self.core.period
    }
}

/// The AROON of `bars` as `(aroondown, aroonup)`, one output per bar, `NAN`
/// during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn aroon(bars: &[Bar], period: usize) -> Result<(Vec<f64>, Vec<f64>), ParamError> {
    let mut columns = batch_columns(Aroon::new(period)?, bars).into_iter();
    let mut column = || columns.next().unwrap_or_default();
    Ok((column(), column()))
}

/// Streaming Aroon oscillator: Aroon up minus Aroon down, from -100 to 100.
#[derive(Debug, Clone)]
pub struct AroonOsc {
    core: Recency,
}

impl AroonOsc {
    /// A new AROONOSC over `period` bars (TA-Lib's range starts at 2; default 14).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { core: Recency::new(at_least("period", period, 2)?) })
    }
}

impl Indicator for AroonOsc {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let (since_high, since_low) = self.core.next(bar)?;
        Some((100.0 / self.core.period as f64) * (since_low - since_high))
    }

    fn reset(&mut self) {
        self.core.reset();
    }

    fn lookback(&self) -> usize {
        self.core.period
    }
}

/// The AROONOSC of `bars`, one output per bar, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn aroonosc(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(AroonOsc::new(period)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64) -> Bar {
        Bar { ts: 0, open: low, high, low, close: low, volume: 1.0 }
    }

    #[test]
    fn ties_count_from_the_latest_bar_as_in_talib() {
        // TA-Lib gives down [100, 66.7, 100, 100, 66.7, 33.3], up [66.7, 33.3, 0, 0, 100, 100].
        let highs = [1.0, 3.0, 3.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0];
        let lows = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let bars: Vec<Bar> = highs.iter().zip(&lows).map(|(&h, &l)| bar(h, l)).collect();
        let (down, up) = aroon(&bars, 3).unwrap();
        let third = 100.0 / 3.0;
        let want_down = [100.0, 2.0 * third, 100.0, 100.0, 2.0 * third, third];
        let want_up = [2.0 * third, third, 0.0, 0.0, 100.0, 100.0];
        assert!(down[..3].iter().chain(&up[..3]).all(|v| v.is_nan()));
        for i in 0..6 {
            assert!((down[i + 3] - want_down[i]).abs() < 1e-12, "down {i}");
            assert!((up[i + 3] - want_up[i]).abs() < 1e-12, "up {i}");
        }
        let osc = aroonosc(&bars, 3).unwrap();
        for i in 3..9 {
            assert!((osc[i] - (up[i] - down[i])).abs() < 1e-12);
        }
    }

    #[test]
    fn flat_bars_read_100_and_reset_restarts() {
        let flat = vec![bar(5.0, 5.0); 6];
        let (down, up) = aroon(&flat, 2).unwrap();
        assert!(down[2..].iter().chain(&up[2..]).all(|&v| v == 100.0));
        assert!(aroonosc(&flat, 2).unwrap()[2..].iter().all(|&v| v == 0.0));
        let bars: Vec<Bar> = (0..30).map(|i| f64::from(i).sin()).map(|x| bar(x + 2.0, x)).collect();
        let mut a = AroonOsc::new(4).unwrap();
        for b in &bars[..9] {
            a.next(*b);
        }
        a.reset();
        assert_eq!(format!("{:?}", batch(a, &bars)), format!("{:?}", aroonosc(&bars, 4).unwrap()));
        assert!(Aroon::new(1).is_err() && AroonOsc::new(1).is_err());
    }
}
