//! SAR, Wilder's parabolic stop and reverse, with TA-Lib's start.
//!
//! Start (TA-Lib's choice): the first bar is consumed. The initial direction is
//! short when the second bar shows a positive minus directional movement
//! (`low[0] - low[1] > 0` and greater than `high[1] - high[0]`), long otherwise;
//! the initial SAR is the first bar's low (long) or high (short) and the initial
//! extreme point the second bar's high (long) or low (short).
//!
//! Each bar: if the bar penetrates the SAR, the position reverses, the SAR jumps
//! to the extreme point (kept outside the last two bars' range) and the
//! acceleration restarts; otherwise a new extreme raises the acceleration by
//! `acceleration` up to `maximum`. The SAR for the next bar is
//! `sar + af * (ep - sar)`, never inside the last two bars' range. An
//! `acceleration` above `maximum` is lowered to `maximum`, as TA-Lib does.

use super::var::finite;
use super::{Indicator, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// Streaming parabolic SAR; the first output is at the second bar.
#[derive(Debug, Clone)]
pub struct Sar {
    acceleration: f64,
    maximum: f64,
    /// High and low of the previous bar.
    prev: Option<(f64, f64)>,
    started: bool,
    is_long: bool,
    af: f64,
    ep: f64,
    sar: f64,
}

impl Sar {
    /// A new SAR with the acceleration step and its maximum (TA-Lib: 0.02, 0.2).
    ///
    /// # Errors
    /// [`ParamError::OutOfRange`] when a parameter is negative or not finite.
    pub fn new(acceleration: f64, maximum: f64) -> Result<Self, ParamError> {
        let check = |name, v: f64| {
            if v >= 0.0 {
                finite(name, v)
            } else {
                Err(ParamError::OutOfRange { name, min: 0.0, max: f64::MAX, value: v })
            }
        };
        let maximum = check("maximum", maximum)?;
        let acceleration = check("acceleration", acceleration)?.min(maximum);
        Ok(Self {
            acceleration,
            maximum,
            prev: None,
            started: false,
            is_long: true,
            af: acceleration,
            ep: 0.0,
            sar: 0.0,
        })
    }

    /// One step of the SAR for a bar (`high`, `low`) after a bar (`prev_high`,
    /// `prev_low`); returns the SAR for this bar.
    fn step(&mut self, high: f64, low: f64, prev_high: f64, prev_low: f64) -> f64 {
        let out;
        if self.is_long {
            if low <= self.sar {
                self.is_long = false;
                out = self.ep.max(prev_high).max(high);
                self.af = self.acceleration;
                self.ep = low;
                self.sar = (out + self.af * (self.ep - out)).max(prev_high).max(high);
            } else {
                out = self.sar;
                if high > self.ep {
                    self.ep = high;
                    self.af = (self.af + self.acceleration).min(self.maximum);
                }
                self.sar = (self.sar + self.af * (self.ep - self.sar)).min(prev_low).min(low);
            }
        } else if high >= self.sar {
            self.is_long = true;
            out = self.ep.min(prev_low).min(low);
            self.af = self.acceleration;
            self.ep = high;
            self.sar = (out + self.af * (self.ep - out)).min(prev_low).min(low);
        } else {
            out = self.sar;
            if low < self.ep {
                self.ep = low;
                self.af = (self.af + self.acceleration).min(self.maximum);
            }
            self.sar = (self.sar + self.af * (self.ep - self.sar)).max(prev_high).max(high);
        }
        out
    }
}

impl Indicator for Sar {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let (prev_high, prev_low) = self.prev.replace((bar.high, bar.low))?;
        if self.started {
            return Some(self.step(bar.high, bar.low, prev_high, prev_low));
        }
        self.started = true;
        let up = bar.high - prev_high;
        let down = prev_low - bar.low;
        self.is_long = !(down > 0.0 && up < down);
        (self.ep, self.sar) = if self.is_long { (bar.high, prev_low) } else { (bar.low, prev_high) };
        // TA-Lib treats the second bar as its own predecessor for the range checks.
        Some(self.step(bar.high, bar.low, bar.high, bar.low))
    }

    fn reset(&mut self) {
        self.prev = None;
        self.started = false;
        self.is_long = true;
        self.af = self.acceleration;
        self.ep = 0.0;
        self.sar = 0.0;
    }

    fn lookback(&self) -> usize {
        1
    }
}

/// The parabolic SAR of `bars`, `NAN` for the first bar.
///
/// # Errors
/// As [`Sar::new`].
pub fn sar(bars: &[Bar], acceleration: f64, maximum: f64) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Sar::new(acceleration, maximum)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64) -> Bar {
        Bar { ts: 0, open: low, high, low, close: high, volume: 1.0 }
    }

    #[test]
    fn a_steady_rise_trails_below_the_lows() {
        let bars: Vec<Bar> = (0..10).map(|i| bar(11.0 + i as f64, 10.0 + i as f64)).collect();
        let out = sar(&bars, 0.02, 0.2).unwrap();
        assert!(out[0].is_nan());
        assert_eq!(out[1], 10.0);
        for i in 2..10 {
            assert!(out[i] > out[i - 1] && out[i] <= bars[i - 1].low, "index {i}: {}", out[i]);
        }
    }

    #[test]
    fn a_down_move_starts_short_and_a_reversal_flips() {
        let bars = [bar(10.0, 9.0), bar(9.5, 8.0), bar(9.0, 7.5), bar(12.0, 9.5)];
        let out = sar(&bars, 0.02, 0.2).unwrap();
        assert_eq!(out[1], 10.0);
        // The fourth bar's high crosses the SAR: it reverses to the extreme point.
        assert_eq!(out[3], 7.5);
    }

    #[test]
    fn zero_range_bars_and_clamped_acceleration() {
        let flat = [bar(5.0, 5.0); 6];
        assert!(sar(&flat, 0.02, 0.2).unwrap()[1..].iter().all(|v| v.is_finite()));
        let a = sar(&flat, 0.5, 0.2).unwrap();
        let b = sar(&flat, 0.2, 0.2).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(Sar::new(-0.1, 0.2).is_err() && Sar::new(0.02, f64::NAN).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars: Vec<Bar> =
            (0..40).map(|i| bar(10.0 + (i as f64 * 0.4).sin() * 3.0, 8.0 + (i as f64 * 0.4).sin() * 3.0)).collect();
        let mut used = Sar::new(0.02, 0.2).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &bars)), format!("{:?}", sar(&bars, 0.02, 0.2).unwrap()));
    }
}
