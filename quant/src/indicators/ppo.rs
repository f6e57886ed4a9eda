//! PPO, the percentage price oscillator: `100 * (fast MA - slow MA) / slow MA`.
//!
//! As in TA-Lib: the periods are swapped when `fast > slow`; both averages run
//! from the first input independently (each with its own seeding); the output is
//! 0 where the slow average is within 1e-14 of zero. TA-Lib 0.8's default
//! `matype` is 1 (EMA); TA-Lib 0.4 used 0 (SMA).

use super::bbands::AnyMa;
use super::{Indicator, MaType, at_least, batch};
use crate::error::ParamError;

/// TA-Lib's tolerance for "zero" (`TA_EPSILON` in TA-Lib 0.8).
const EPSILON: f64 = 1e-14;

/// Streaming percentage price oscillator.
#[derive(Debug, Clone)]
pub struct Ppo {
    fast: AnyMa,
    slow: AnyMa,
}

impl Ppo {
    /// A new PPO of a `fast` and a `slow` moving average of type `matype`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is below 2 (TA-Lib's minimum).
    pub fn new(fast: usize, slow: usize, matype: MaType) -> Result<Self, ParamError> {
        let fast = at_least("fastperiod", fast, 2)?;
        let slow = at_least("slowperiod", slow, 2)?;
        let (fast, slow) = if slow < fast { (slow, fast) } else { (fast, slow) };
        Ok(Self { fast: AnyMa::new(matype, fast)?, slow: AnyMa::new(matype, slow)? })
    }
}

impl Indicator for Ppo {
    type Input = f64;
    type Output = f64;

    fn next(&mut self, value: f64) -> Option<f64> {
        let fast = self.fast.next(value);
        let slow = self.slow.next(value)?;
        let fast = fast?;
        Some(if slow.abs() < EPSILON { 0.0 } else { (fast - slow) / slow * 100.0 })
    }

    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
    }

    fn lookback(&self) -> usize {
        self.slow.lookback().max(self.fast.lookback())
    }
}

/// The PPO of `values`, one output per input, `NAN` during the slow average's
/// warm-up.
///
/// # Errors
/// As [`Ppo::new`].
pub fn ppo(values: &[f64], fast: usize, slow: usize, matype: MaType) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Ppo::new(fast, slow, matype)?, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{ema, sma};

    #[test]
    fn is_the_percent_gap_between_the_averages() {
        let values: Vec<f64> = (0..50).map(|i| 20.0 + (i as f64 * 0.3).sin() * 2.0).collect();
        let (f, s) = (sma(&values, 3).unwrap(), sma(&values, 7).unwrap());
        let got = ppo(&values, 7, 3, MaType::Sma).unwrap();
        assert!(got[..6].iter().all(|v| v.is_nan()));
        for i in 6..values.len() {
            assert_eq!(got[i], (f[i] - s[i]) / s[i] * 100.0);
        }
        let (f, s) = (ema(&values, 2).unwrap(), ema(&values, 4).unwrap());
        assert_eq!(ppo(&values, 2, 4, MaType::Ema).unwrap()[9], (f[9] - s[9]) / s[9] * 100.0);
    }

    #[test]
    fn a_zero_slow_average_gives_zero_and_equal_periods_give_zero() {
        assert!(ppo(&[0.0; 6], 2, 3, MaType::Sma).unwrap()[2..].iter().all(|&v| v == 0.0));
        assert!(ppo(&[1.0, 3.0, 2.0, 5.0], 2, 2, MaType::Sma).unwrap()[1..].iter().all(|&v| v == 0.0));
        assert!(Ppo::new(1, 3, MaType::Sma).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..30).map(|i| 3.0 + (i as f64).sin()).collect();
        let mut used = Ppo::new(3, 5, MaType::Kama).unwrap();
        for &v in &values {
            used.next(v);
        }
        used.reset();
        assert_eq!(format!("{:?}", batch(used, &values)), format!("{:?}", ppo(&values, 3, 5, MaType::Kama).unwrap()));
    }
}
