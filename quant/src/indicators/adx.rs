//! Wilder's directional movement: PLUS_DI, MINUS_DI and ADX, with TA-Lib's seeding.

use super::{Indicator, Wilder, at_least, batch, hlc_len, warmup_column};
use crate::bar::Bar;
use crate::error::ParamError;

/// Wilder-smoothed +DM, -DM and true range over `period` bars.
///
/// For each bar after the first: `up = high - prev_high`, `down = prev_low - low`;
/// +DM is `up` when `up > 0` and `up > down`, -DM is `down` when `down > 0` and
/// `down > up`, else 0. The first `period - 1` one-bar values are summed; from
/// then on `sum = sum * ((period - 1) / period) + today` (TA-Lib's
/// `sum - sum / period + today` with reciprocal multiplication, see
/// [`super::Wilder`]), so the first smoothed values appear at bar `period`.
#[derive(Debug, Clone)]
struct Movement {
    period: usize,
    started: bool,
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    summed: usize,
    plus: f64,
    minus: f64,
    range: f64,
    wilder: Wilder,
}

impl Movement {
    fn new(period: usize) -> Self {
        Self {
            period,
            started: false,
            prev_high: f64::NAN,
            prev_low: f64::NAN,
            prev_close: f64::NAN,
            summed: 0,
            plus: 0.0,
            minus: 0.0,
            range: 0.0,
            wilder: Wilder::new(period),
        }
    }

    /// Consumes one bar's high, low and close; returns the smoothed
    /// `(+DM, -DM, TR)` once warmed up.
    #[inline]
    fn next(&mut self, high: f64, low: f64, close: f64) -> Option<(f64, f64, f64)> {
        let (prev_high, prev_low, prev_close) = (self.prev_high, self.prev_low, self.prev_close);
        (self.prev_high, self.prev_low, self.prev_close) = (high, low, close);
        if !self.started {
            self.started = true;
            return None;
        }
        let up = high - prev_high;
        let down = prev_low - low;
        let mut range = high - low;
        for gap in [(high - prev_close).abs(), (low - prev_close).abs()] {
            if gap > range {
                range = gap;
            }
        }
        let minus_move = down > 0.0 && up < down;
        let minus_dm = if minus_move { down } else { 0.0 };
        let plus_dm = if !minus_move && up > 0.0 && up > down { up } else { 0.0 };
        if self.summed + 1 >= self.period {
            self.minus = self.wilder.sum_step(self.minus, minus_dm);
            self.plus = self.wilder.sum_step(self.plus, plus_dm);
            self.range = self.wilder.sum_step(self.range, range);
            Some((self.plus, self.minus, self.range))
        } else {
            self.summed += 1;
            self.minus += minus_dm;
            self.plus += plus_dm;
            self.range += range;
            None
        }
    }

    fn reset(&mut self) {
        *self = Self::new(self.period);
    }

    /// A directional indicator from a smoothed DM and TR: `100 * dm / tr`, 0
    /// when there was no range. TA-Lib's period-1 DI is the bare ratio (no
    /// factor 100); that quirk is kept for fidelity.
    fn di(&self, dm: f64, range: f64) -> f64 {
        let scale = if self.period == 1 { 1.0 } else { 100.0 };
        if range == 0.0 { 0.0 } else { scale * (dm / range) }
    }
}

macro_rules! directional_indicator {
    ($name:ident, $func:ident, $pick:expr, $what:literal) => {
        #[doc = concat!("Streaming ", $what, " directional indicator: `100 * ", $what, "DM / TR`, Wilder-smoothed.")]
        #[derive(Debug, Clone)]
        pub struct $name {
            core: Movement,
        }

        impl $name {
            /// A new indicator over `period` bars (TA-Lib's default is 14).
            ///
            /// # Errors
            /// [`ParamError::TooSmall`] when `period` is 0.
            pub fn new(period: usize) -> Result<Self, ParamError> {
                Ok(Self { core: Movement::new(at_least("period", period, 1)?) })
            }
        }

        impl Indicator for $name {
            type Input = Bar;
            type Output = f64;

            fn next(&mut self, bar: Bar) -> Option<f64> {
                let (plus, minus, range) = self.core.next(bar.high, bar.low, bar.close)?;
                let pick: fn(f64, f64) -> f64 = $pick;
                Some(self.core.di(pick(plus, minus), range))
            }

            fn reset(&mut self) {
                self.core.reset();
            }

            fn lookback(&self) -> usize {
                self.core.period
            }
        }

        #[doc = concat!("The ", $what, "DI of `bars`, one output per bar, `NAN` during the first `period`.")]
        ///
        /// # Errors
        /// [`ParamError::TooSmall`] when `period` is 0.
        pub fn $func(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
            Ok(batch($name::new(period)?, bars))
        }
    };
}

directional_indicator!(PlusDi, plus_di, |plus, _| plus, "+");
directional_indicator!(MinusDi, minus_di, |_, minus| minus, "-");

/// Streaming ADX, Wilder's average directional index.
///
/// `DX = 100 * |+DI - -DI| / (+DI + -DI)`, the DIs computed as
/// `DM * (100 / TR)`; the first ADX (at bar `2 * period - 1`) is the mean of
/// the first `period` DX values, later ones are
/// `prev * ((period - 1) / period) + DX * (1 / period)` (TA-Lib's
/// `(prev * (period - 1) + DX) / period` with reciprocal multiplication). As in
/// TA-Lib, a bar whose true range or DI sum is zero has no DX: it adds nothing
/// to the first mean and leaves the ADX unchanged afterwards.
#[derive(Debug, Clone)]
pub struct Adx {
    core: Movement,
    dx_seen: usize,
    adx: f64,
}

impl Adx {
    /// A new ADX over `period` bars (TA-Lib's range starts at 2; default 14).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2.
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Self { core: Movement::new(at_least("period", period, 2)?), dx_seen: 0, adx: 0.0 })
    }

    /// [`Indicator::next`] on a bar's high, low and close.
    #[inline]
    fn step(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let (plus, minus, range) = self.core.next(high, low, close)?;
        let mut dx = None;
        if range != 0.0 {
            let scale = 100.0 / range;
            let minus_di = minus * scale;
            let plus_di = plus * scale;
            let sum = minus_di + plus_di;
            if sum != 0.0 {
                dx = Some(100.0 * ((minus_di - plus_di).abs() / sum));
            }
        }
        let wilder = self.core.wilder;
        if self.dx_seen < self.core.period {
            self.dx_seen += 1;
            self.adx += dx.unwrap_or(0.0);
            if self.dx_seen < self.core.period {
                return None;
            }
            self.adx *= wilder.add;
        } else if let Some(dx) = dx {
            self.adx = wilder.step(self.adx, dx);
        }
        Some(self.adx)
    }
}

impl Indicator for Adx {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        self.step(bar.high, bar.low, bar.close)
    }

    fn reset(&mut self) {
        self.core.reset();
        self.dx_seen = 0;
        self.adx = 0.0;
    }

    fn lookback(&self) -> usize {
        2 * self.core.period - 1
    }
}

/// The ADX of `bars`, one output per bar, `NAN` during the first `2 * period - 1`.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2.
pub fn adx(bars: &[Bar], period: usize) -> Result<Vec<f64>, ParamError> {
    adx_rows(Adx::new(period)?, bars.len(), bars.iter().map(|b| (b.high, b.low, b.close)))
}

/// The ADX of bars given as three columns (TA-Lib's layout); equal to [`adx`]
/// on the same bars.
///
/// # Errors
/// [`ParamError::TooSmall`] when `period` is below 2; [`ParamError::Spec`] when
/// the columns differ in length.
pub fn adx_hlc(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>, ParamError> {
    let adx = Adx::new(period)?;
    let len = hlc_len(high, low, close)?;
    let rows = high.iter().zip(low).zip(close).map(|((&h, &l), &c)| (h, l, c));
    adx_rows(adx, len, rows)
}

/// The streaming ADX over `len` rows of `(high, low, close)`, written straight
/// into the output column (the same code as `next`, so the same bits).
fn adx_rows(mut adx: Adx, len: usize, rows: impl Iterator<Item = (f64, f64, f64)>) -> Result<Vec<f64>, ParamError> {
    let lookback = adx.lookback();
    let mut out = warmup_column(len, lookback);
    let mut rows = rows;
    for (h, l, c) in rows.by_ref().take(lookback) {
        adx.step(h, l, c);
    }
    out.extend(rows.map(|(h, l, c)| adx.step(h, l, c).unwrap_or(f64::NAN)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    fn sample() -> Vec<Bar> {
        (0..60)
            .map(|i| {
                let x = f64::from(i);
                let mid = 100.0 + (x * 0.3).sin() * 5.0 + x * 0.05;
                bar(mid + 1.0 + (x * 1.7).cos().abs(), mid - 1.0, mid + (x * 0.9).sin() * 0.8)
            })
            .collect()
    }

    #[test]
    fn period_one_is_the_bare_ratio_as_in_talib() {
        let bars = [bar(10.0, 8.0, 9.0), bar(11.0, 8.5, 10.0), bar(10.5, 7.0, 8.0)];
        let plus = plus_di(&bars, 1).unwrap();
        let minus = minus_di(&bars, 1).unwrap();
        assert!(plus[0].is_nan() && minus[0].is_nan());
        assert_eq!((plus[1], minus[1]), (1.0 / 2.5, 0.0));
        assert_eq!((plus[2], minus[2]), (0.0, 1.5 / 3.5));
    }

    #[test]
    fn warm_up_lengths_follow_talib() {
        let bars = sample();
        assert_eq!(plus_di(&bars, 14).unwrap().iter().take_while(|v| v.is_nan()).count(), 14);
        assert_eq!(adx(&bars, 14).unwrap().iter().take_while(|v| v.is_nan()).count(), 27);
        assert_eq!(Adx::new(7).unwrap().lookback(), 13);
        assert!(adx(&bars, 5).unwrap()[9..].iter().all(|v| (0.0..=100.0).contains(v)));
    }

    #[test]
    fn flat_bars_read_zero() {
        let bars = vec![bar(5.0, 5.0, 5.0); 10];
        assert!(adx(&bars, 3).unwrap()[5..].iter().all(|&v| v == 0.0));
        assert!(plus_di(&bars, 3).unwrap()[3..].iter().all(|&v| v == 0.0));
        assert!(minus_di(&bars, 3).unwrap()[3..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn reset_matches_a_fresh_instance() {
        let bars = sample();
        let mut a = Adx::new(4).unwrap();
        let mut p = PlusDi::new(4).unwrap();
        for b in &bars[..20] {
            a.next(*b);
            p.next(*b);
        }
        a.reset();
        p.reset();
        assert_eq!(format!("{:?}", batch(a, &bars)), format!("{:?}", adx(&bars, 4).unwrap()));
        assert_eq!(format!("{:?}", batch(p, &bars)), format!("{:?}", plus_di(&bars, 4).unwrap()));
        assert!(Adx::new(1).is_err() && PlusDi::new(0).is_err() && MinusDi::new(0).is_err());
    }
}
