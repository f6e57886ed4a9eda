//! Keltner channels (not in TA-Lib), in the modern form popularised by Linda
//! Raschke and StockCharts:
//!
//! - `middleband = EMA(close, period)`,
//! - `upperband = middleband + multiplier * ATR(atr_period)`,
//! - `lowerband = middleband - multiplier * ATR(atr_period)`,
//!
//! with the defaults `period = 20`, `atr_period = 10`, `multiplier = 2`. The EMA
//! and the ATR are this crate's TA-Lib-seeded [`super::Ema`] and [`super::Atr`]
//! (EMA seeded with the mean of the first `period` closes; ATR with the mean of
//! the first `atr_period` true ranges, from the second bar). The first output is
//! at bar `max(period - 1, atr_period)`. Outputs are named like BBANDS'.

use super::bbands::three;
use super::var::finite;
use super::{Atr, BandColumns, Bands, Ema, Indicator, batch_columns};
use crate::bar::Bar;
use crate::error::ParamError;

/// Streaming Keltner channels.
#[derive(Debug, Clone)]
pub struct Keltner {
    multiplier: f64,
    ema: Ema,
    atr: Atr,
}

impl Keltner {
    /// Channels around an EMA of `period` closes, `multiplier` ATRs of
    /// `atr_period` bars wide on each side.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is 0; [`ParamError::OutOfRange`]
    /// when `multiplier` is not finite.
    pub fn new(period: usize, atr_period: usize, multiplier: f64) -> Result<Self, ParamError> {
        let ema = Ema::new(period)?;
        let atr = Atr::new(atr_period).map_err(|e| match e {
            ParamError::TooSmall { min, value, .. } => ParamError::TooSmall { name: "atr_period", min, value },
            other => other,
        })?;
        Ok(Self { multiplier: finite("multiplier", multiplier)?, ema, atr })
    }
}

impl Indicator for Keltner {
    type Input = Bar;
    type Output = Bands;

    fn next(&mut self, bar: Bar) -> Option<Bands> {
        let middle = self.ema.next(bar.close);
        let atr = self.atr.next(bar);
        let (middle, width) = (middle?, atr? * self.multiplier);
        Some(Bands { upper: middle + width, middle, lower: middle - width })
    }

    fn reset(&mut self) {
        self.ema.reset();
        self.atr.reset();
    }

    fn lookback(&self) -> usize {
        self.ema.lookback().max(self.atr.lookback())
    }
}

/// Keltner channels of `bars`: `(upper, middle, lower)`, each one output per bar
/// with `NAN` during warm-up.
///
/// # Errors
/// As [`Keltner::new`].
pub fn keltner(bars: &[Bar], period: usize, atr_period: usize, multiplier: f64) -> Result<BandColumns, ParamError> {
    Ok(three(batch_columns(Keltner::new(period, atr_period, multiplier)?, bars)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 80.0 + (i as f64 * 0.29).sin() * 6.0 + (i % 5) as f64 * 0.4;
                let spread = 0.5 + (i % 3) as f64 * 0.25;
                Bar { ts: i as i64, open: c - 0.1, high: c + spread, low: c - spread, close: c, volume: 1.0 }
            })
            .collect()
    }

    /// Recomputes the EMA and the ATR from the first bar for every output.
    fn naive(bars: &[Bar], period: usize, atr_period: usize, mult: f64) -> Vec<[f64; 3]> {
        (0..bars.len())
            .map(|i| {
                if i + 1 < period || i < atr_period {
                    return [f64::NAN; 3];
                }
                let k = 2.0 / (period as f64 + 1.0);
                let mut ema = bars[..period].iter().map(|b| b.close).sum::<f64>() / period as f64;
                for b in &bars[period..=i] {
                    ema += k * (b.close - ema);
                }
                let tr = |j: usize| {
                    let (b, pc) = (bars[j], bars[j - 1].close);
                    (b.high - b.low).max((b.high - pc).abs()).max((b.low - pc).abs())
                };
                let mut atr = (1..=atr_period).map(tr).sum::<f64>() / atr_period as f64;
                for j in atr_period + 1..=i {
                    atr = (atr * (atr_period - 1) as f64 + tr(j)) / atr_period as f64;
                }
                [ema + mult * atr, ema, ema - mult * atr]
            })
            .collect()
    }

    #[test]
    fn matches_the_definition() {
        let bars = bars(150);
        for (period, atr_period, mult) in [(20, 10, 2.0), (3, 7, 1.5), (1, 1, 0.5), (10, 10, 3.0)] {
            let (u, m, l) = keltner(&bars, period, atr_period, mult).unwrap();
            for (i, want) in naive(&bars, period, atr_period, mult).into_iter().enumerate() {
                for (g, w) in [u[i], m[i], l[i]].into_iter().zip(want) {
                    assert_eq!(g.is_nan(), w.is_nan(), "{period}/{atr_period}, index {i}");
                    if !w.is_nan() {
                        assert!((g - w).abs() <= 1e-9 * w.abs(), "{period}/{atr_period}, index {i}: {g} vs {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn zero_range_bars_collapse_the_channel() {
        let flat = vec![Bar { ts: 0, open: 4.0, high: 4.0, low: 4.0, close: 4.0, volume: 0.0 }; 5];
        let (u, m, l) = keltner(&flat, 2, 2, 2.0).unwrap();
        assert_eq!((u[4], m[4], l[4]), (4.0, 4.0, 4.0));
        assert_eq!(Keltner::new(5, 0, 2.0).unwrap_err(), ParamError::TooSmall { name: "atr_period", min: 1, value: 0 });
        assert!(Keltner::new(0, 5, 2.0).is_err() && Keltner::new(5, 5, f64::NAN).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars = bars(50);
        let mut used = Keltner::new(5, 4, 2.0).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        let fresh = Keltner::new(5, 4, 2.0).unwrap();
        assert_eq!(format!("{:?}", batch_columns(used, &bars)), format!("{:?}", batch_columns(fresh, &bars)));
    }
}
