//! Moving-average crossovers: SMA cross, EMA cross and the 50/200 golden cross.
//!
//! Rule: with `f` the fast and `s` the slow average, emit `Buy` on the first bar
//! where `f > s` after a bar where `f <= s`, and `Sell` on the first bar where
//! `f < s` after a bar where `f >= s`. Nothing is emitted until both averages
//! exist on two consecutive bars.
//!
//! Evidence: `fast` and `slow`, the two averages.

use serde::{Deserialize, Serialize};

use super::common::evidence;
use crate::bar::Bar;
use crate::error::ParamError;
use crate::indicators::{Ema, Indicator, Sma};
use crate::strategy::{Signal, Strategy};

/// Which moving average a crossover uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaKind {
    /// Simple moving average.
    Sma,
    /// Exponential moving average.
    Ema,
}

/// Parameters of a crossover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossParams {
    /// Period of the fast average.
    pub fast: usize,
    /// Period of the slow average; must exceed `fast`.
    pub slow: usize,
}

#[derive(Debug, Clone)]
enum Average {
    Sma(Sma),
    Ema(Ema),
}

impl Average {
    fn new(kind: MaKind, period: usize) -> Result<Self, ParamError> {
        Ok(match kind {
            MaKind::Sma => Self::Sma(Sma::new(period)?),
            MaKind::Ema => Self::Ema(Ema::new(period)?),
        })
    }

    #[inline]
    fn next(&mut self, x: f64) -> Option<f64> {
        match self {
            Self::Sma(a) => a.next(x),
            Self::Ema(a) => a.next(x),
        }
    }

    fn reset(&mut self) {
        match self {
            Self::Sma(a) => a.reset(),
            Self::Ema(a) => a.reset(),
        }
    }
}

/// A moving-average crossover strategy.
#[derive(Debug, Clone)]
pub struct Cross {
    params: CrossParams,
    fast: Average,
    slow: Average,
    /// Sign of `fast - slow` on the previous bar: -1, 0 or 1.
    previous: Option<i8>,
    /// Fast and slow averages on the latest bar.
    last: Option<[f64; 2]>,
}

impl Cross {
    /// A crossover of `kind` averages.
    ///
    /// # Errors
    /// [`ParamError`] when a period is 0 or `fast >= slow`.
    pub fn new(kind: MaKind, params: CrossParams) -> Result<Self, ParamError> {
        if params.fast >= params.slow {
            return Err(ParamError::Spec {
                spec: format!("fast={}, slow={}", params.fast, params.slow),
                reason: "fast must be shorter than slow".into(),
            });
        }
        Ok(Self {
            params,
            fast: Average::new(kind, params.fast)?,
            slow: Average::new(kind, params.slow)?,
            previous: None,
            last: None,
        })
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> CrossParams {
        self.params
    }
}

impl Strategy for Cross {
    #[inline]
    fn next(&mut self, bar: &Bar) -> Signal {
        let (fast, slow) = (self.fast.next(bar.close), self.slow.next(bar.close));
        self.last = fast.zip(slow).map(|(f, s)| [f, s]);
        let (Some(f), Some(s)) = (fast, slow) else {
            return Signal::Hold;
        };
        let side: i8 = if f > s {
            1
        } else if f < s {
            -1
        } else {
            0
        };
        let signal = match (self.previous, side) {
            (Some(p), 1) if p <= 0 => Signal::Buy,
            (Some(p), -1) if p >= 0 => Signal::Sell,
            _ => Signal::Hold,
        };
        self.previous = Some(side);
        signal
    }

    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.previous = None;
        self.last = None;
    }

    fn warmup(&self) -> usize {
        self.params.slow
    }

    fn evidence(&self) -> Vec<(&'static str, f64)> {
        evidence(["fast", "slow"], self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(closes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| Bar { ts: i as i64, open: c, high: c, low: c, close: c, volume: 1.0 })
            .collect()
    }

    #[test]
    fn signals_fire_on_the_crossing_bar_only() {
        // Down, then up through the averages, then down again.
        let closes = [10.0, 9.0, 8.0, 7.0, 8.0, 10.0, 12.0, 13.0, 11.0, 8.0, 6.0];
        let mut cross = Cross::new(MaKind::Sma, CrossParams { fast: 2, slow: 3 }).unwrap();
        let signals: Vec<Signal> = bars(&closes).iter().map(|b| cross.next(b)).collect();
        use Signal::{Buy, Hold, Sell};
        // SMA2 vs SMA3 from bar 2: 8.5/9, 7.5/8, 7.5/7.67, 9/8.33 (up), 11/10, 12.5/11.67,
        // 12/12, 9.5/10.67 (down), 7/8.33.
        assert_eq!(signals, vec![Hold, Hold, Hold, Hold, Hold, Buy, Hold, Hold, Hold, Sell, Hold]);
    }

    #[test]
    fn reset_replays_identically() {
        let series = bars(&[5.0, 6.0, 4.0, 7.0, 3.0, 8.0, 2.0, 9.0]);
        let mut cross = Cross::new(MaKind::Ema, CrossParams { fast: 2, slow: 4 }).unwrap();
        let first: Vec<Signal> = series.iter().map(|b| cross.next(b)).collect();
        cross.reset();
        let second: Vec<Signal> = series.iter().map(|b| cross.next(b)).collect();
        assert_eq!(first, second);
    }
}
