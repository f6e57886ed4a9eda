//! AD (Chaikin's accumulation/distribution line) and ADOSC (the Chaikin
//! oscillator on it), as TA-Lib computes them.

use super::{Indicator, at_least, batch};
use crate::bar::Bar;
use crate::error::ParamError;

/// Adds one bar's money flow to the AD line: volume weighted by where the close
/// sits in the bar's range, `((close - low) - (high - close)) / (high - low)`; a
/// bar without range adds nothing.
fn accumulate(line: f64, bar: &Bar) -> f64 {
    let range = bar.high - bar.low;
    if range > 0.0 { line + (((bar.close - bar.low) - (bar.high - bar.close)) / range) * bar.volume } else { line }
}

/// Streaming accumulation/distribution line, starting from 0 before the first
/// bar (so the first output is that bar's own flow); no warm-up.
#[derive(Debug, Clone, Default)]
pub struct Ad {
    line: f64,
}

impl Ad {
    /// A new AD line.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Ad {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        self.line = accumulate(self.line, &bar);
        Some(self.line)
    }

    fn reset(&mut self) {
        self.line = 0.0;
    }

    fn lookback(&self) -> usize {
        0
    }
}

/// The AD line of `bars`, one output per bar (no warm-up).
#[must_use]
pub fn ad(bars: &[Bar]) -> Vec<f64> {
    batch(Ad::new(), bars)
}

/// Streaming Chaikin oscillator: EMA(`fast`) minus EMA(`slow`) of the AD line.
///
/// TA-Lib seeds both EMAs with the first AD value (not with a mean) and runs
/// them as `k * ad + (1 - k) * prev` from the second bar on; the first output
/// comes after `max(fast, slow) - 1` bars. The periods are not reordered: a
/// "fast" period longer than the "slow" one just flips the sign.
#[derive(Debug, Clone)]
pub struct AdOsc {
    line: f64,
    fast_k: f64,
    slow_k: f64,
    fast: f64,
    slow: f64,
    seen: usize,
    lookback: usize,
}

impl AdOsc {
    /// A new ADOSC; TA-Lib's defaults are `(3, 10)`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is below 2.
    pub fn new(fast: usize, slow: usize) -> Result<Self, ParamError> {
        let fast = at_least("fastperiod", fast, 2)?;
        let slow = at_least("slowperiod", slow, 2)?;
        Ok(Self {
            line: 0.0,
            fast_k: 2.0 / (fast as f64 + 1.0),
            slow_k: 2.0 / (slow as f64 + 1.0),
            fast: 0.0,
            slow: 0.0,
            seen: 0,
            lookback: fast.max(slow) - 1,
        })
    }
}

impl Indicator for AdOsc {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        self.line = accumulate(self.line, &bar);
        if self.seen == 0 {
            self.fast = self.line;
            self.slow = self.line;
        } else {
            self.fast = self.fast_k * self.line + (1.0 - self.fast_k) * self.fast;
            self.slow = self.slow_k * self.line + (1.0 - self.slow_k) * self.slow;
        }
        if self.seen < self.lookback {
            self.seen += 1;
            return None;
        }
        Some(self.fast - self.slow)
    }

    fn reset(&mut self) {
        self.line = 0.0;
        self.fast = 0.0;
        self.slow = 0.0;
        self.seen = 0;
    }

    fn lookback(&self) -> usize {
        self.lookback
    }
}

/// The ADOSC of `bars`, one output per bar, `NAN` during the first `max(fast, slow) - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when a period is below 2.
pub fn adosc(bars: &[Bar], fast: usize, slow: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(AdOsc::new(fast, slow)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64, volume: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume }
    }

    fn sample() -> Vec<Bar> {
        (0..40)
            .map(f64::from)
            .map(|x| (20.0 + (x * 0.5).sin(), 100.0 + (x * 1.3).cos() * 50.0))
            .map(|(m, v)| bar(m + 0.5, m - 0.5, m + (m * 7.0).sin() * 0.5, v))
            .collect()
    }

    #[test]
    fn ad_weights_volume_by_close_location() {
        let bars = [bar(10.0, 8.0, 10.0, 100.0), bar(10.0, 8.0, 8.5, 40.0), bar(9.0, 9.0, 9.0, 1e6)];
        assert_eq!(ad(&bars), vec![100.0, 100.0 - 0.5 * 40.0, 80.0], "a bar without range adds nothing");
    }

    #[test]
    fn adosc_seeds_both_emas_with_the_first_ad_value() {
        let bars = sample();
        let line = ad(&bars);
        let (kf, ks) = (2.0 / 4.0, 2.0 / 11.0);
        let (mut fast, mut slow) = (line[0], line[0]);
        let out = adosc(&bars, 3, 10).unwrap();
        assert!(out[..9].iter().all(|v| v.is_nan()));
        for i in 1..bars.len() {
            fast = kf * line[i] + (1.0 - kf) * fast;
            slow = ks * line[i] + (1.0 - ks) * slow;
            if i >= 9 {
                assert_eq!(out[i], fast - slow);
            }
        }
        let swapped = adosc(&bars, 10, 3).unwrap();
        assert!((swapped[20] + out[20]).abs() < 1e-9);
    }

    #[test]
    fn reset_and_parameters() {
        let bars = sample();
        let mut a = AdOsc::new(3, 10).unwrap();
        let mut d = Ad::new();
        for b in &bars[..15] {
            a.next(*b);
            d.next(*b);
        }
        a.reset();
        d.reset();
        assert_eq!(format!("{:?}", batch(a, &bars)), format!("{:?}", adosc(&bars, 3, 10).unwrap()));
        assert_eq!(batch(d, &bars), ad(&bars));
        assert!(AdOsc::new(1, 10).is_err() && AdOsc::new(3, 1).is_err());
    }
}
