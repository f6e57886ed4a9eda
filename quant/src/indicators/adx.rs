//! Wilder's directional movement: PLUS_DI, MINUS_DI and ADX, with TA-Lib's seeding.

use super::atr::{BarRows, ColumnRows, HlcRows};
use super::segmented::{self, Pack, Real, Recurrence};
use super::{Indicator, Wilder, at_least, batch, hlc_len, nan_column};
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
        let (plus_dm, minus_dm, range) = one_bar(high, low, prev_high, prev_low, prev_close);
        if self.summed + 1 >= self.period {
            let mut sums = [self.plus, self.minus, self.range];
            smooth(self.wilder, &mut sums, plus_dm, minus_dm, range);
            [self.plus, self.minus, self.range] = sums;
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

/// One bar's `(+DM, -DM, TR)` from its high and low and the previous bar's
/// high, low and close (on `f64`, or on the lanes of a batch loop).
///
/// Written with selects rather than branches: the signs of random moves are
/// unpredictable, and every operand is cheap to compute.
#[inline(always)]
fn one_bar<T: Real>(high: T, low: T, prev_high: T, prev_low: T, prev_close: T) -> (T, T, T) {
    let zero = T::from(0.0);
    let up = high - prev_high;
    let down = prev_low - low;
    let mut range = high - low;
    for gap in [(high - prev_close).abs(), (low - prev_close).abs()] {
        range = T::select(gap.greater(range), gap, range);
    }
    let minus_move = down.greater(zero) & up.less(down);
    let plus_move = !minus_move & up.greater(zero) & up.greater(down);
    (T::select(plus_move, up, zero), T::select(minus_move, down, zero), range)
}

/// One step of the smoothed sums `[+DM, -DM, TR]` once seeded.
#[inline(always)]
fn smooth<T: Real>(wilder: Wilder, sums: &mut [T; 3], plus_dm: T, minus_dm: T, range: T) {
    sums[1] = wilder.sum_step(sums[1], minus_dm);
    sums[0] = wilder.sum_step(sums[0], plus_dm);
    sums[2] = wilder.sum_step(sums[2], range);
}

/// DX from the smoothed sums, and whether there is one: not when the true
/// range or the DI sum is 0 (the DX computed then is meaningless).
#[inline(always)]
fn dx_of<T: Real>(plus: T, minus: T, range: T) -> (T::Mask, T) {
    let zero = T::from(0.0);
    let scale = T::from(100.0) / range;
    let minus_di = minus * scale;
    let plus_di = plus * scale;
    let sum = minus_di + plus_di;
    let valid = !range.equals(zero) & !sum.equals(zero);
    (valid, T::from(100.0) * ((minus_di - plus_di).abs() / sum))
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
        let (valid, dx) = dx_of(plus, minus, range);
        let dx = valid.then_some(dx);
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
    adx_rows(Adx::new(period)?, BarRows(bars), bars.len())
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
    adx_rows(adx, ColumnRows { high, low, close }, len)
}

/// The streaming ADX over the first `lookback + 1` of `len` rows (its seeds and
/// first output), then [`AdxOver`] over the rest: the same steps, so the same
/// bits as `next`.
fn adx_rows<R: HlcRows>(mut adx: Adx, rows: R, len: usize) -> Result<Vec<f64>, ParamError> {
    let lookback = adx.lookback();
    let mut out = nan_column(len, lookback);
    if len <= lookback {
        return Ok(out);
    }
    let head = rows.window(0, lookback + 1);
    for (t, cell) in out[..=lookback].iter_mut().enumerate() {
        if let Some(value) = adx.step(R::high(head, t), R::low(head, t), R::close(head, t)) {
            *cell = value;
        }
    }
    let core = &adx.core;
    let state = [core.plus, core.minus, core.range, adx.adx];
    let wilder = core.wilder;
    // The ADX's state forgets once the sums it averages have.
    let warmup = segmented::warmup_for(wilder.keep).map(|w| 2 * w);
    let kernel = AdxOver { rows, wilder };
    segmented::run::<_, 4, 1, 2>(&kernel, warmup, state, lookback + 1, [&mut out[lookback + 1..]]);
    Ok(out)
}

/// The ADX after its seeds as a [`Recurrence`] over `rows`, with the state
/// `[+DM sum, -DM sum, TR sum, ADX]`: the same steps as [`Adx::next`] once
/// seeded.
struct AdxOver<R> {
    rows: R,
    wilder: Wilder,
}

impl<R: HlcRows> Recurrence<4, 1> for AdxOver<R> {
    /// The rows from the one before the first position.
    type Window<'w>
        = R::Window<'w>
    where
        Self: 'w;

    fn window(&self, from: usize, len: usize) -> Self::Window<'_> {
        self.rows.window(from - 1, len + 1)
    }

    #[inline(always)]
    fn step<const L: usize>(&self, state: &mut [Pack<L>; 4], rows: &[Self::Window<'_>; L], t: usize) -> [Pack<L>; 1] {
        let (high, low) = (Pack::from_fn(|l| R::high(rows[l], t + 1)), Pack::from_fn(|l| R::low(rows[l], t + 1)));
        let prev_high = Pack::from_fn(|l| R::high(rows[l], t));
        let prev_low = Pack::from_fn(|l| R::low(rows[l], t));
        let prev_close = Pack::from_fn(|l| R::close(rows[l], t));
        let (plus_dm, minus_dm, range) = one_bar(high, low, prev_high, prev_low, prev_close);
        let mut sums = [state[0], state[1], state[2]];
        smooth(self.wilder, &mut sums, plus_dm, minus_dm, range);
        [state[0], state[1], state[2]] = sums;
        let (valid, dx) = dx_of(sums[0], sums[1], sums[2]);
        state[3] = Real::select(valid, self.wilder.step(state[3], dx), state[3]);
        [state[3]]
    }

    fn guess(&self, _: Self::Window<'_>) -> [f64; 4] {
        [0.0; 4]
    }
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
