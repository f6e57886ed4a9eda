//! SuperTrend (not in TA-Lib): an ATR trailing stop that flips with the trend.
//!
//! With `mid = (high + low) / 2` and `atr` this crate's TA-Lib-seeded Wilder
//! [`super::Atr`] over `period` bars:
//!
//! - basic bands: `upper = mid + multiplier * atr`, `lower = mid - multiplier * atr`;
//! - final bands carry over: the final upper band only moves down, unless the
//!   previous close was above the previous final upper band (then it resets to
//!   the basic band); symmetrically the final lower band only moves up, unless
//!   the previous close was below it;
//! - direction: in a down trend, a close above the final upper band turns it up;
//!   in an up trend, a close below the final lower band turns it down;
//! - `supertrend` is the final lower band in an up trend, the final upper band in
//!   a down trend; `direction` is `+1` (up) or `-1` (down).
//!
//! The first output (bar `period`, the ATR's first) starts in a down trend with
//! the basic bands, as TradingView's `ta.supertrend` does. Defaults: `period = 10`,
//! `multiplier = 3`.

use super::var::finite;
use super::{Atr, Indicator, Outputs, batch_columns};
use crate::bar::Bar;
use crate::error::ParamError;

/// One SuperTrend output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuperTrendValue {
    /// The trailing stop line.
    pub supertrend: f64,
    /// `+1.0` in an up trend, `-1.0` in a down trend.
    pub direction: f64,
}

impl Outputs for SuperTrendValue {
    const NAMES: &'static [&'static str] = &["supertrend", "direction"];
    fn write(&self, out: &mut [f64]) {
        out[0] = self.supertrend;
        out[1] = self.direction;
    }
}

/// Streaming SuperTrend.
#[derive(Debug, Clone)]
pub struct SuperTrend {
    multiplier: f64,
    atr: Atr,
    prev_close: f64,
    /// Final upper band, final lower band and whether the trend is up.
    state: Option<(f64, f64, bool)>,
}

impl SuperTrend {
    /// A SuperTrend with an ATR over `period` bars and bands `multiplier` ATRs wide.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is 0; [`ParamError::OutOfRange`]
    /// when `multiplier` is not finite.
    pub fn new(period: usize, multiplier: f64) -> Result<Self, ParamError> {
        let atr = Atr::new(period)?;
        Ok(Self { multiplier: finite("multiplier", multiplier)?, atr, prev_close: f64::NAN, state: None })
    }
}

impl Indicator for SuperTrend {
    type Input = Bar;
    type Output = SuperTrendValue;

    fn next(&mut self, bar: Bar) -> Option<SuperTrendValue> {
        let prev_close = std::mem::replace(&mut self.prev_close, bar.close);
        let atr = self.atr.next(bar)?;
        let mid = (bar.high + bar.low) / 2.0;
        let (basic_upper, basic_lower) = (mid + self.multiplier * atr, mid - self.multiplier * atr);
        let (upper, lower, up) = match self.state {
            None => (basic_upper, basic_lower, false),
            Some((prev_upper, prev_lower, was_up)) => {
                let upper = if basic_upper < prev_upper || prev_close > prev_upper { basic_upper } else { prev_upper };
                let lower = if basic_lower > prev_lower || prev_close < prev_lower { basic_lower } else { prev_lower };
                let up = if was_up { bar.close >= lower } else { bar.close > upper };
                (upper, lower, up)
            }
        };
        self.state = Some((upper, lower, up));
        Some(if up {
            SuperTrendValue { supertrend: lower, direction: 1.0 }
        } else {
            SuperTrendValue { supertrend: upper, direction: -1.0 }
        })
    }

    fn reset(&mut self) {
        self.atr.reset();
        self.prev_close = f64::NAN;
        self.state = None;
    }

    fn lookback(&self) -> usize {
        self.atr.lookback()
    }
}

/// SuperTrend of `bars`: `(supertrend, direction)`, each one output per bar with
/// `NAN` during the first `period` bars.
///
/// # Errors
/// As [`SuperTrend::new`].
pub fn supertrend(bars: &[Bar], period: usize, multiplier: f64) -> Result<(Vec<f64>, Vec<f64>), ParamError> {
    let mut columns = batch_columns(SuperTrend::new(period, multiplier)?, bars);
    let direction = columns.pop().unwrap_or_default();
    let line = columns.pop().unwrap_or_default();
    Ok((line, direction))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 60.0 + (i as f64 * 0.11).sin() * 8.0 + ((i * 13) % 7) as f64 * 0.5;
                let spread = 0.4 + (i % 4) as f64 * 0.3;
                Bar { ts: i as i64, open: c, high: c + spread, low: c - spread, close: c, volume: 1.0 }
            })
            .collect()
    }

    /// For every bar, replays the rules from the first bar with an ATR
    /// recomputed from scratch: O(n^2), independent of the streaming state.
    fn naive(bars: &[Bar], period: usize, mult: f64) -> Vec<[f64; 2]> {
        let tr = |j: usize| {
            let (b, pc) = (bars[j], bars[j - 1].close);
            (b.high - b.low).max((b.high - pc).abs()).max((b.low - pc).abs())
        };
        let atr_at = |i: usize| {
            let mut atr = (1..=period).map(tr).sum::<f64>() / period as f64;
            for j in period + 1..=i {
                atr = (atr * (period - 1) as f64 + tr(j)) / period as f64;
            }
            if period == 1 { tr(i) } else { atr }
        };
        (0..bars.len())
            .map(|i| {
                if i < period {
                    return [f64::NAN; 2];
                }
                let (mut upper, mut lower, mut up) = (f64::NAN, f64::NAN, false);
                for t in period..=i {
                    let (mid, a) = ((bars[t].high + bars[t].low) / 2.0, atr_at(t));
                    let (bu, bl) = (mid + mult * a, mid - mult * a);
                    if t == period {
                        (upper, lower) = (bu, bl);
                        continue;
                    }
                    let pc = bars[t - 1].close;
                    upper = if bu < upper || pc > upper { bu } else { upper };
                    lower = if bl > lower || pc < lower { bl } else { lower };
                    up = if up { bars[t].close >= lower } else { bars[t].close > upper };
                }
                if up { [lower, 1.0] } else { [upper, -1.0] }
            })
            .collect()
    }

    #[test]
    fn matches_the_rules_replayed_from_scratch() {
        let bars = bars(120);
        for (period, mult) in [(10, 3.0), (1, 1.0), (3, 0.5)] {
            let (line, dir) = supertrend(&bars, period, mult).unwrap();
            assert!(dir.contains(&1.0) && dir.contains(&-1.0), "{period}: no flip");
            for (i, [l, d]) in naive(&bars, period, mult).into_iter().enumerate() {
                assert_eq!(dir[i].to_bits(), d.to_bits(), "{period}, index {i}");
                assert_eq!(line[i].is_nan(), l.is_nan(), "{period}, index {i}");
                if !l.is_nan() {
                    assert!((line[i] - l).abs() <= 1e-9 * l.abs(), "{period}, index {i}");
                }
            }
        }
    }

    #[test]
    fn zero_range_bars_pin_the_line_to_the_price() {
        let flat = vec![Bar { ts: 0, open: 4.0, high: 4.0, low: 4.0, close: 4.0, volume: 0.0 }; 6];
        let (line, dir) = supertrend(&flat, 2, 3.0).unwrap();
        assert_eq!((line[5], dir[5]), (4.0, -1.0));
        assert!(SuperTrend::new(0, 3.0).is_err() && SuperTrend::new(3, f64::INFINITY).is_err());
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars = bars(50);
        let mut used = SuperTrend::new(4, 2.0).unwrap();
        for &b in &bars {
            used.next(b);
        }
        used.reset();
        let fresh = SuperTrend::new(4, 2.0).unwrap();
        assert_eq!(format!("{:?}", batch_columns(used, &bars)), format!("{:?}", batch_columns(fresh, &bars)));
    }
}
