//! MACD crossovers, on the TA-Lib-seeded [`Macd`] of the closes.
//!
//! - `macd_signal_cross`: `Buy` on the bar where the MACD line crosses above its
//!   signal line (`macd - signal` goes from `<= 0` to `> 0`), `Sell` where it
//!   crosses below (from `>= 0` to `< 0`). Defaults `fast = 12`, `slow = 26`,
//!   `signal = 9`; warm-up `slow + signal - 1` bars.
//! - `macd_zero_cross`: `Buy` on the bar where the MACD line (`EMA(fast) -
//!   EMA(slow)`) crosses above 0, `Sell` where it crosses below 0. Defaults
//!   `fast = 12`, `slow = 26`; warm-up `slow` bars.
//!
//! Evidence: `macd` and `signal` (the signal line) for `macd_signal_cross`,
//! `macd` alone for `macd_zero_cross`.
//!
//! Both need the compared values on two consecutive bars, and require
//! `2 <= fast < slow` (TA-Lib would silently swap them; a swapped pair is refused
//! here as a likely mistake).

use serde::{Deserialize, Serialize};

use super::common::{Crossing, below, evidence, length, on_cross};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Indicator, Macd};
use crate::strategy::{Signal, Strategy};

/// Parameters of `macd_signal_cross`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacdSignalParams {
    /// Period of the fast EMA (>= 2).
    pub fast: usize,
    /// Period of the slow EMA; must exceed `fast`.
    pub slow: usize,
    /// Period of the signal EMA of the MACD line (>= 1).
    pub signal: usize,
}

impl Default for MacdSignalParams {
    fn default() -> Self {
        Self { fast: 12, slow: 26, signal: 9 }
    }
}

/// Parameters of `macd_zero_cross`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacdZeroParams {
    /// Period of the fast EMA (>= 2).
    pub fast: usize,
    /// Period of the slow EMA; must exceed `fast`.
    pub slow: usize,
}

impl Default for MacdZeroParams {
    fn default() -> Self {
        Self { fast: 12, slow: 26 }
    }
}

/// A MACD crossover: of the signal line, or of zero.
#[derive(Debug, Clone)]
pub struct MacdCross {
    macd: Macd,
    /// Compare the MACD line with 0 rather than with its signal line.
    to_zero: bool,
    crossing: Crossing,
    /// MACD and signal line on the latest bar.
    last: Option<[f64; 2]>,
}

impl MacdCross {
    /// `macd_signal_cross`.
    ///
    /// # Errors
    /// [`ParamError`] when `fast < 2`, `signal < 1` or `fast >= slow`.
    pub fn signal_cross(params: MacdSignalParams) -> Result<Self, ParamError> {
        Self::build(params.fast, params.slow, params.signal, false)
    }

    /// `macd_zero_cross`.
    ///
    /// # Errors
    /// [`ParamError`] when `fast < 2` or `fast >= slow`.
    pub fn zero_cross(params: MacdZeroParams) -> Result<Self, ParamError> {
        // A signal period of 1 makes the signal line the MACD line itself, so the
        // MACD line is available from bar `slow - 1`.
        Self::build(params.fast, params.slow, 1, true)
    }

    fn build(fast: usize, slow: usize, signal: usize, to_zero: bool) -> Result<Self, ParamError> {
        length("fast", fast, 2)?;
        length("signal", signal, 1)?;
        below("fast", fast, "slow", slow)?;
        Ok(Self { macd: Macd::new(fast, slow, signal)?, to_zero, crossing: Crossing::default(), last: None })
    }
}

impl Strategy for MacdCross {
    fn next(&mut self, bar: &Bar) -> Signal {
        let value = self.macd.next(bar.close);
        self.last = value.map(|m| [m.macd, m.signal]);
        let diff = value.map(|m| if self.to_zero { m.macd } else { m.hist });
        on_cross(self.crossing.update(diff))
    }

    fn reset(&mut self) {
        self.macd.reset();
        self.crossing.reset();
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.macd.lookback() + 1
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        if self.to_zero {
            evidence(["macd"], self.last.map(|[macd, _]| [macd]))
        } else {
            evidence(["macd", "signal"], self.last)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fixtures::{assert_reset_equals_fresh, closes, run};
    use super::*;
    use Signal::{Buy, Hold, Sell};

    /// Down, up, down: the turns the MACD follows with a lag.
    const SERIES: [f64; 18] =
        [20.0, 19.0, 18.0, 17.0, 16.0, 15.0, 16.0, 18.0, 20.0, 22.0, 23.0, 23.0, 22.0, 20.0, 18.0, 16.0, 15.0, 15.0];

    #[test]
    fn signal_line_crossings() {
        let mut s = MacdCross::signal_cross(MacdSignalParams { fast: 2, slow: 4, signal: 3 }).unwrap();
        assert_eq!(s.warmup(), 6);
        // MACD line / signal from bar 5: -1.00/-1.00, -0.47/-0.73 (above: Buy),
        // 0.30/-0.22, 0.90/0.34, 1.32/0.83, 1.32/1.07, 0.96/1.02 (below: Sell), ...,
        // -1.34/-1.11, -0.98/-1.04 (above: Buy).
        assert_eq!(
            run(&mut s, &closes(&SERIES)),
            vec![
                Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Hold, Hold, Hold,
                Buy
            ]
        );
    }

    #[test]
    fn zero_crossings() {
        let mut s = MacdCross::zero_cross(MacdZeroParams { fast: 2, slow: 4 }).unwrap();
        assert_eq!(s.warmup(), 4);
        // The MACD line (from bar 3): ..., -0.47 on bar 6, 0.30 on bar 7 (Buy), ..., 0.37 on
        // bar 12, -0.38 on bar 13 (Sell), negative to the end.
        assert_eq!(
            run(&mut s, &closes(&SERIES)),
            vec![
                Hold, Hold, Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Hold, Hold, Sell, Hold, Hold, Hold,
                Hold
            ]
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert!(MacdCross::signal_cross(MacdSignalParams { fast: 26, slow: 12, signal: 9 }).is_err());
        assert!(MacdCross::signal_cross(MacdSignalParams { fast: 12, slow: 26, signal: 0 }).is_err());
        assert!(MacdCross::zero_cross(MacdZeroParams { fast: 1, slow: 26 }).is_err());
        assert!(MacdCross::zero_cross(MacdZeroParams { fast: 5, slow: 5 }).is_err());
    }

    #[test]
    fn reset_equals_fresh() {
        let bars = closes(&SERIES);
        assert_reset_equals_fresh(|| MacdCross::signal_cross(MacdSignalParams::default()).unwrap(), &bars);
        assert_reset_equals_fresh(|| MacdCross::zero_cross(MacdZeroParams { fast: 2, slow: 4 }).unwrap(), &bars);
    }
}
