//! Technical indicators: each a streaming state machine with a batch form.
//!
//! Every indicator implements [`Indicator`]: `next` consumes one input in O(1)
//! and returns `None` until its warm-up ([`Indicator::lookback`] inputs) is over;
//! `reset` returns it to its fresh state. Batch functions (`sma`, `macd`, ...)
//! run the same state machine over a slice and return one value per input, with
//! `NAN` in the warm-up cells, so batch output equals streaming output by
//! construction (and a property test checks it).
//!
//! Where TA-Lib defines a function, the implementation follows TA-Lib's C code's
//! conventions (lookback, seeding of EMAs and Wilder averages, SAR's start), and
//! the `talib_golden` test compares every output with TA-Lib's to 1e-9 relative.
//!
//! Inputs: price indicators take `f64` (TA-Lib's "real", the close when fed bars);
//! the others take a whole [`Bar`]. [`catalog`] builds any indicator from a text
//! specification such as `MACD(12,26,9)` behind one object-safe interface.
//!
//! Non-finite input policy: inputs are not checked per step (that would cost
//! every caller on every bar, and stored bars are validated on the way in). A NaN
//! or infinite input propagates by IEEE rules: every output that depends on it is
//! NaN, and indicators that carry running sums or recursive averages stay NaN
//! until [`Indicator::reset`]. This is also what TA-Lib does.

mod ad;
mod adx;
mod aroon;
mod atr;
mod bbands;
mod blocks;
pub mod catalog;
mod cci;
mod dema;
mod donchian;
mod ema;
mod extremum;
mod ichimoku;
mod kama;
mod keltner;
mod linearreg;
mod macd;
mod medprice;
mod mfi;
mod mom;
mod natr;
mod obv;
mod ppo;
mod rsi;
mod sar;
mod segmented;
mod sma;
mod stddev;
mod stoch;
mod stochrsi;
mod supertrend;
mod tema;
mod trange;
mod trix;
mod typprice;
mod ultosc;
mod var;
mod vwap;
mod willr;
mod wma;

pub use ad::{Ad, AdOsc, ad, adosc};
pub use adx::{Adx, MinusDi, PlusDi, adx, adx_hlc, minus_di, plus_di};
pub use aroon::{Aroon, AroonOsc, AroonOutput, aroon, aroonosc};
pub use atr::{Atr, atr, atr_hlc};
pub use bbands::{BandColumns, Bands, Bbands, MaType, bbands};
pub use cci::{Cci, cci};
pub use dema::{Dema, dema};
pub use donchian::{Donchian, donchian};
pub use ema::{Ema, ema};
pub use ichimoku::{Ichimoku, IchimokuSeries, IchimokuValue, ichimoku};
pub use kama::{Kama, kama};
pub use keltner::{Keltner, keltner};
pub use linearreg::{Linearreg, linearreg};
pub use macd::{Macd, MacdColumns, MacdOutput, macd};
pub use medprice::{Medprice, medprice};
pub use mfi::{Mfi, mfi};
pub use mom::{Mom, Roc, mom, roc};
pub use natr::{Natr, natr};
pub use obv::{Obv, obv};
pub use ppo::{Ppo, ppo};
pub use rsi::{Cmo, Rsi, cmo, rsi};
pub use sar::{Sar, sar};
pub use sma::{Sma, sma};
pub use stddev::{Stddev, stddev};
pub use stoch::{Stoch, StochOutput, stoch, stoch_hlc};
pub use stochrsi::{StochRsi, StochRsiOutput, stochrsi};
pub use supertrend::{SuperTrend, SuperTrendValue, supertrend};
pub use tema::{Tema, tema};
pub use trange::{Trange, trange};
pub use trix::{Trix, trix};
pub use typprice::{Typprice, typprice};
pub use ultosc::{Ultosc, ultosc};
pub use var::{Var, var};
pub use vwap::{Vwap, VwapAnchor, vwap};
pub use willr::{Willr, willr};
pub use wma::{Wma, wma};

use crate::bar::Bar;
use segmented::Real;

/// A streaming indicator.
pub trait Indicator {
    /// What one step consumes: `f64` for a price series, [`Bar`] for OHLCV.
    type Input: Copy;
    /// What one step produces once warmed up.
    type Output: Copy;

    /// Consumes one input; `None` while warming up.
    fn next(&mut self, input: Self::Input) -> Option<Self::Output>;

    /// Returns to the freshly constructed state.
    fn reset(&mut self);

    /// How many inputs are consumed before the first output (TA-Lib's lookback).
    fn lookback(&self) -> usize;
}

/// Values an indicator can be fed from a bar.
pub trait FromBar: Copy {
    /// Extracts the input from a bar.
    fn from_bar(bar: &Bar) -> Self;
}

impl FromBar for f64 {
    /// Price indicators read the close, as TA-Lib's "real" input does by default.
    fn from_bar(bar: &Bar) -> Self {
        bar.close
    }
}

impl FromBar for Bar {
    fn from_bar(bar: &Bar) -> Self {
        *bar
    }
}

/// An indicator's output, as named columns of `f64`.
pub trait Outputs: Copy {
    /// Output names, in TA-Lib's order and spelling (`real` for a single output).
    const NAMES: &'static [&'static str];
    /// Writes the values into `out` (of length `NAMES.len()`), in `NAMES` order.
    fn write(&self, out: &mut [f64]);
}

impl Outputs for f64 {
    const NAMES: &'static [&'static str] = &["real"];
    fn write(&self, out: &mut [f64]) {
        out[0] = *self;
    }
}

/// Runs `indicator` over `inputs`: one output per input, `NAN` during warm-up.
pub fn batch<I>(mut indicator: I, inputs: &[I::Input]) -> Vec<f64>
where
    I: Indicator<Output = f64>,
{
    inputs.iter().map(|&x| indicator.next(x).unwrap_or(f64::NAN)).collect()
}

/// Runs a multi-output `indicator` over `inputs`; returns one column per output
/// (in [`Outputs::NAMES`] order), each as long as `inputs`.
pub fn batch_columns<I>(mut indicator: I, inputs: &[I::Input]) -> Vec<Vec<f64>>
where
    I: Indicator,
    I::Output: Outputs,
{
    let width = <I::Output as Outputs>::NAMES.len();
    let mut columns = vec![vec![f64::NAN; inputs.len()]; width];
    let mut row = vec![f64::NAN; width];
    for (i, &x) in inputs.iter().enumerate() {
        if let Some(out) = indicator.next(x) {
            out.write(&mut row);
            for (column, &value) in columns.iter_mut().zip(&row) {
                column[i] = value;
            }
        }
    }
    columns
}

/// A batch output column of `len` cells whose first `warmup` (at most `len`)
/// are `NAN`, the rest 0 until written. Zeroed memory comes from the allocator
/// without a pass over it (fresh pages are zero), so filling the column by
/// index costs one write per cell, as pushing does, and lets the segmented
/// batch loops ([`segmented`]) write their parts in any order.
pub(crate) fn nan_column(len: usize, warmup: usize) -> Vec<f64> {
    let mut column = vec![0.0; len];
    column[..warmup.min(len)].fill(f64::NAN);
    column
}

/// The factors of Wilder's smoothing over `period` values:
/// `next = prev * keep + x * add`, with `keep = (period - 1) / period` and
/// `add = 1 / period`; the seed is a plain sum times `add`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wilder {
    pub(crate) keep: f64,
    pub(crate) add: f64,
}

impl Wilder {
    pub(crate) fn new(period: usize) -> Self {
        let n = period as f64;
        Self { keep: (n - 1.0) / n, add: 1.0 / n }
    }

    /// One smoothing step (on `f64`, or on the lanes of a batch loop).
    #[inline(always)]
    pub(crate) fn step<T: Real>(self, prev: T, x: T) -> T {
        prev * T::from(self.keep) + x * T::from(self.add)
    }

    /// One step of Wilder's running sum (ADX's smoothed DM and TR):
    /// `sum - sum / period + x`, as `sum * keep + x`.
    #[inline(always)]
    pub(crate) fn sum_step<T: Real>(self, sum: T, x: T) -> T {
        sum * T::from(self.keep) + x
    }
}

/// The common length of three price columns (high, low, close).
///
/// # Errors
/// [`crate::ParamError::Spec`] when the lengths differ.
pub(crate) fn hlc_len(high: &[f64], low: &[f64], close: &[f64]) -> Result<usize, crate::ParamError> {
    if high.len() == low.len() && low.len() == close.len() {
        Ok(close.len())
    } else {
        Err(crate::ParamError::Spec {
            spec: format!("high[{}], low[{}], close[{}]", high.len(), low.len(), close.len()),
            reason: "the high, low and close columns must have the same length".to_owned(),
        })
    }
}

/// Checks a length parameter: at least `min`, at most [`crate::MAX_PERIOD`].
pub(crate) fn at_least(name: &'static str, value: usize, min: usize) -> Result<usize, crate::ParamError> {
    if value < min {
        Err(crate::ParamError::TooSmall { name, min, value })
    } else if value > crate::MAX_PERIOD {
        Err(crate::ParamError::TooLarge { name, max: crate::MAX_PERIOD, value })
    } else {
        Ok(value)
    }
}
