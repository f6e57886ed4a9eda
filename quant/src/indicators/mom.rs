//! MOM (momentum) and ROC (rate of change): today's value against the value
//! `period` inputs ago, as TA-Lib computes them.

use super::{Indicator, at_least, batch};
use crate::error::ParamError;

/// The input `period` steps back, from a ring buffer of the last `period` inputs.
#[derive(Debug, Clone)]
struct Lag {
    window: Vec<f64>,
    slot: usize,
    filled: bool,
}

impl Lag {
    fn new(period: usize) -> Self {
        Self { window: vec![0.0; period], slot: 0, filled: false }
    }

    /// Stores `value`; returns the value `period` inputs before it, once there is one.
    fn next(&mut self, value: f64) -> Option<f64> {
        let past = std::mem::replace(&mut self.window[self.slot], value);
        let past = self.filled.then_some(past);
        self.slot += 1;
        if self.slot == self.window.len() {
            self.slot = 0;
            self.filled = true;
        }
        past
    }

    fn reset(&mut self) {
        self.window.fill(0.0);
        self.slot = 0;
        self.filled = false;
    }
}

/// Streaming momentum: `value - value[period ago]`.
#[derive(Debug, Clone)]
pub struct Mom {
    lag: Lag,
}

impl Mom {
    /// A new MOM over `period` inputs (TA-Lib's default is 10).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { lag: Lag::new(at_least("period", period, 1)?) })
    }
}

impl Indicator for Mom {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        Some(value - self.lag.next(value)?)
    }

    fn reset(&mut self) {
        self.lag.reset();
    }

    fn lookback(&self) -> usize {
        self.lag.window.len()
    }
}

/// The MOM of `values`, one output per input, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn mom(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Mom::new(period)?, values))
}

/// Streaming rate of change in percent: `(value / value[period ago] - 1) * 100`;
/// 0 when the past value is 0, as in TA-Lib.
#[derive(Debug, Clone)]
pub struct Roc {
    lag: Lag,
}

impl Roc {
    /// A new ROC over `period` inputs (TA-Lib's default is 10).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { lag: Lag::new(at_least("period", period, 1)?) })
    }
}

impl Indicator for Roc {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let past = self.lag.next(value)?;
        Some(if past == 0.0 { 0.0 } else { ((value / past) - 1.0) * 100.0 })
    }

    fn reset(&mut self) {
        self.lag.reset();
    }

    fn lookback(&self) -> usize {
        self.lag.window.len()
    }
}

/// The ROC of `values`, one output per input, `NAN` during the first `period`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is 0.
pub fn roc(values: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Roc::new(period)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_with_the_value_period_ago() {
        let values = [10.0, 11.0, 12.5, 10.0, 0.0, 4.0];
        let m = mom(&values, 2).unwrap();
        assert!(m[0].is_nan() && m[1].is_nan());
        assert_eq!(m[2..], [2.5, -1.0, -12.5, -6.0]);
        let r = roc(&values, 1).unwrap();
        assert!(r[0].is_nan());
        assert!((r[1] - 10.0).abs() < 1e-12);
        assert_eq!(r[4], -100.0);
        assert_eq!(r[5], 0.0, "a zero base gives 0, as in TA-Lib");
    }

    #[test]
    fn reset_and_parameters() {
        let values: Vec<f64> = (0..20).map(|i| f64::from(i).sin() + 3.0).collect();
        let mut m = Mom::new(3).unwrap();
        let mut r = Roc::new(3).unwrap();
        for &v in &values[..5] {
            m.next(v);
            r.next(v);
        }
        m.reset();
        r.reset();
        assert_eq!(format!("{:?}", batch(m, &values)), format!("{:?}", mom(&values, 3).unwrap()));
        assert_eq!(format!("{:?}", batch(r, &values)), format!("{:?}", roc(&values, 3).unwrap()));
        assert!(Mom::new(0).is_err() && Roc::new(0).is_err());
        assert_eq!(Roc::new(10).unwrap().lookback(), 10);
    }
}
