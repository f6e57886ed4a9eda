//! BBANDS, Bollinger bands: a moving average of the last `period` values, plus
//! `nbdevup` and minus `nbdevdn` population standard deviations of the same
//! values.
//!
//! Also home of [`MaType`], TA-Lib's moving-average selector, for the functions
//! that take one (BBANDS, PPO). With `MaType::Sma` (TA-Lib's default) the middle
//! band and the deviation come from the same running sums (see [`super::Var`]),
//! so a flat stretch gives exactly collapsed bands, as TA-Lib 0.8 does.

use super::blocks::for_each_span;
use super::var::{Moments, finite, mean_variance, sums_into};
use super::{Dema, Ema, Indicator, Kama, Outputs, Sma, Tema, Wma, at_least, batch_columns, nan_column};
use crate::error::ParamError;

/// TA-Lib's moving-average types, by their TA-Lib codes: 0 SMA, 1 EMA, 2 WMA,
/// 3 DEMA, 4 TEMA, 6 KAMA. TRIMA (5), MAMA (7), T3 (8) and the later codes are
/// not available here and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaType {
    /// Simple moving average (code 0).
    Sma,
    /// Exponential moving average (code 1).
    Ema,
    /// Weighted moving average (code 2).
    Wma,
    /// Double exponential moving average (code 3).
    Dema,
    /// Triple exponential moving average (code 4).
    Tema,
    /// Kaufman adaptive moving average (code 6).
    Kama,
}

impl MaType {
    /// The type with TA-Lib code `code`.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] for a code not listed on [`MaType`].
    pub fn from_code(code: usize) -> Result<Self, ParamError> {
        Ok(match code {
            0 => Self::Sma,
            1 => Self::Ema,
            2 => Self::Wma,
            3 => Self::Dema,
            4 => Self::Tema,
            6 => Self::Kama,
            _ => {
                return Err(ParamError::Unknown {
                    kind: "matype",
                    value: code.to_string(),
                    expected: "0 (SMA), 1 (EMA), 2 (WMA), 3 (DEMA), 4 (TEMA), 6 (KAMA)",
                });
            }
        })
    }
}

/// A moving average of any [`MaType`].
#[derive(Debug, Clone)]
pub(crate) enum AnyMa {
    Sma(Sma),
    Ema(Ema),
    Wma(Wma),
    Dema(Dema),
    Tema(Tema),
    Kama(Kama),
}

impl AnyMa {
    /// As TA-Lib's `TA_MA`, a period of 1 copies the input whatever the type.
    pub(crate) fn new(kind: MaType, period: usize) -> Result<Self, ParamError> {
        Ok(match kind {
            MaType::Sma => Self::Sma(Sma::new(period)?),
            MaType::Ema => Self::Ema(Ema::new(period)?),
            MaType::Wma => Self::Wma(Wma::new(period)?),
            MaType::Dema => Self::Dema(Dema::new(period)?),
            MaType::Tema => Self::Tema(Tema::new(period)?),
            MaType::Kama => Self::Kama(Kama::new(period)?),
        })
    }

    pub(crate) fn next(&mut self, value: f64) -> Option<f64> {
        match self {
            Self::Sma(m) => m.next(value),
            Self::Ema(m) => m.next(value),
            Self::Wma(m) => m.next(value),
            Self::Dema(m) => m.next(value),
            Self::Tema(m) => m.next(value),
            Self::Kama(m) => m.next(value),
        }
    }

    pub(crate) fn reset(&mut self) {
        match self {
            Self::Sma(m) => m.reset(),
            Self::Ema(m) => m.reset(),
            Self::Wma(m) => m.reset(),
            Self::Dema(m) => m.reset(),
            Self::Tema(m) => m.reset(),
            Self::Kama(m) => m.reset(),
        }
    }

    pub(crate) fn lookback(&self) -> usize {
        match self {
            Self::Sma(m) => m.lookback(),
            Self::Ema(m) => m.lookback(),
            Self::Wma(m) => m.lookback(),
            Self::Dema(m) => m.lookback(),
            Self::Tema(m) => m.lookback(),
            Self::Kama(m) => m.lookback(),
        }
    }
}

/// Three bands around a centre line (Bollinger, Keltner, Donchian).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// The upper band.
    pub upper: f64,
    /// The centre line.
    pub middle: f64,
    /// The lower band.
    pub lower: f64,
}

impl Outputs for Bands {
    const NAMES: &'static [&'static str] = &["upperband", "middleband", "lowerband"];
    fn write(&self, out: &mut [f64]) {
        out[0] = self.upper;
        out[1] = self.middle;
        out[2] = self.lower;
    }
}

/// Batch output of a three-band indicator: `(upper, middle, lower)`.
pub type BandColumns = (Vec<f64>, Vec<f64>, Vec<f64>);

/// Splits [`batch_columns`] output for three-band indicators.
pub(crate) fn three(mut columns: Vec<Vec<f64>>) -> BandColumns {
    let lower = columns.pop().unwrap_or_default();
    let middle = columns.pop().unwrap_or_default();
    let upper = columns.pop().unwrap_or_default();
    (upper, middle, lower)
}

/// Streaming Bollinger bands.
#[derive(Debug, Clone)]
pub struct Bbands {
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
    moments: Moments,
    /// The middle band when it is not the SMA of `moments`.
    ma: Option<AnyMa>,
}

impl Bbands {
    /// Bands over `period` values, `nbdevup` deviations above and `nbdevdn`
    /// below a moving average of type `matype` (negative multipliers are allowed,
    /// as in TA-Lib).
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2 (TA-Lib's minimum);
    /// [`ParamError::OutOfRange`] when a multiplier is not finite.
    pub fn new(period: usize, nbdevup: f64, nbdevdn: f64, matype: MaType) -> Result<Self, ParamError> {
        let period = at_least("period", period, 2)?;
        let nbdevup = finite("nbdevup", nbdevup)?;
        let nbdevdn = finite("nbdevdn", nbdevdn)?;
        let ma = if matype == MaType::Sma { None } else { Some(AnyMa::new(matype, period)?) };
        Ok(Self { period, nbdevup, nbdevdn, moments: Moments::new(period), ma })
    }
}

impl Indicator for Bbands {
    type Input = f64;
    type Output = Bands;

    #[inline]
    fn next(&mut self, value: f64) -> Option<Bands> {
        let moments = self.moments.next(value);
        let middle = match &mut self.ma {
            None => moments.map(|(mean, _)| mean),
            Some(ma) => ma.next(value),
        };
        let (moments, middle) = (moments?, middle?);
        let deviation = Moments::deviation(moments.1);
        Some(Bands { upper: middle + deviation * self.nbdevup, middle, lower: middle - deviation * self.nbdevdn })
    }

    fn reset(&mut self) {
        self.moments.reset();
        if let Some(ma) = &mut self.ma {
            ma.reset();
        }
    }

    fn lookback(&self) -> usize {
        self.ma.as_ref().map_or(0, AnyMa::lookback).max(self.period - 1)
    }
}

/// Bollinger bands of `values`: `(upper, middle, lower)`, each one output per
/// input with `NAN` during warm-up.
///
/// # Errors
/// As [`Bbands::new`].
pub fn bbands(
    values: &[f64],
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
    matype: MaType,
) -> Result<BandColumns, ParamError> {
    let bands = Bbands::new(period, nbdevup, nbdevdn, matype)?;
    if bands.ma.is_some() {
        return Ok(three(batch_columns(bands, values)));
    }
    // SMA middle band: `Bbands::next` unrolled over the slice (the same
    // operations in the same order, so the same bits), in blocks of `period`
    // outputs that each start from their own window ([`sums_into`]). Each
    // tile of blocks runs in two steps: the running sums (a chain of additions
    // per block) into small buffers, then the means, deviations and bands of
    // the whole tile, which are independent per output and so run on vector
    // lanes.
    let len = values.len();
    let warmup = bands.lookback();
    let (mut upper, mut middle, mut lower) =
        (nan_column(len, warmup), nan_column(len, warmup), nan_column(len, warmup));
    if len > warmup {
        let (up, down, inv) = (bands.nbdevup, bands.nbdevdn, 1.0 / period as f64);
        let tile = period * 1024usize.div_ceil(period);
        let columns = [&mut upper[warmup..], &mut middle[warmup..], &mut lower[warmup..]];
        for_each_span(columns, period, |start, [upper, middle, lower]| {
            let mut sums = [vec![0.0; tile], vec![0.0; tile], vec![0.0; tile]];
            let tiles = upper.chunks_mut(tile).zip(middle.chunks_mut(tile)).zip(lower.chunks_mut(tile));
            for (t, ((upper, middle), lower)) in tiles.enumerate() {
                let n = upper.len();
                let [shifts, sum, sum_sq] = &mut sums;
                sums_into(values, period, start + t * tile, [&mut shifts[..n], &mut sum[..n], &mut sum_sq[..n]]);
                let inputs = shifts.iter().zip(sum.iter()).zip(sum_sq.iter());
                let outputs = upper.iter_mut().zip(middle.iter_mut()).zip(lower.iter_mut());
                for (((u, m), l), ((&shift, &s), &s2)) in outputs.zip(inputs) {
                    let (mean, variance) = mean_variance(shift, s, s2, inv);
                    let deviation = Moments::deviation(variance);
                    (*u, *m, *l) = (mean + deviation * up, mean, mean - deviation * down);
                }
            }
        });
    }
    Ok((upper, middle, lower))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{ema, stddev};

    #[test]
    fn sma_bands_are_mean_plus_minus_deviations() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0];
        let (up, mid, low) = bbands(&values, 5, 2.0, 1.0, MaType::Sma).unwrap();
        assert!(up[..4].iter().chain(&mid[..4]).chain(&low[..4]).all(|v| v.is_nan()));
        assert_eq!(mid[4], 3.0);
        assert!((up[4] - (3.0 + 2.0 * 2f64.sqrt())).abs() < 1e-12);
        assert!((low[4] - (3.0 - 2f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn other_ma_types_use_that_average_and_the_same_deviation() {
        let values: Vec<f64> = (0..60).map(|i| 10.0 + (i as f64 * 0.4).sin()).collect();
        let (up, mid, _) = bbands(&values, 6, 1.0, 1.0, MaType::Ema).unwrap();
        let (e, sd) = (ema(&values, 6).unwrap(), stddev(&values, 6, 1.0).unwrap());
        for i in 5..values.len() {
            assert_eq!(mid[i], e[i]);
            assert!((up[i] - (e[i] + sd[i])).abs() < 1e-12);
        }
        let kama = Bbands::new(6, 2.0, 2.0, MaType::Kama).unwrap();
        assert_eq!(kama.lookback(), 6);
    }

    #[test]
    fn long_batches_cut_into_spans_equal_streaming_bit_for_bit() {
        let mut values: Vec<f64> = (0..70_000).map(|i| 100.0 + (f64::from(i) * 0.01).sin() * 20.0).collect();
        values[40_000..40_050].fill(55.0);
        for period in [2, 7, 20, 999] {
            let (up, mid, low) = bbands(&values, period, 2.0, 1.5, MaType::Sma).unwrap();
            let mut streaming = Bbands::new(period, 2.0, 1.5, MaType::Sma).unwrap();
            for (i, &v) in values.iter().enumerate() {
                let want = streaming.next(v).map_or([f64::NAN; 3], |b| [b.upper, b.middle, b.lower]);
                let got = [up[i], mid[i], low[i]];
                assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "period {period} [{i}]");
            }
        }
    }

    #[test]
    fn flat_input_collapses_the_bands() {
        let (up, mid, low) = bbands(&[7.0; 8], 3, 2.0, 2.0, MaType::Sma).unwrap();
        assert_eq!((up[7], mid[7], low[7]), (7.0, 7.0, 7.0));
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Bbands::new(1, 2.0, 2.0, MaType::Sma).is_err());
        assert!(Bbands::new(5, f64::NAN, 2.0, MaType::Sma).is_err());
        assert!(matches!(MaType::from_code(5), Err(ParamError::Unknown { .. })));
        assert_eq!(MaType::from_code(6), Ok(MaType::Kama));
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let values: Vec<f64> = (0..30).map(|i| (i as f64).sin()).collect();
        for matype in [MaType::Sma, MaType::Tema] {
            let mut used = Bbands::new(4, 2.0, 1.5, matype).unwrap();
            for &v in &values {
                used.next(v);
            }
            used.reset();
            let fresh = Bbands::new(4, 2.0, 1.5, matype).unwrap();
            assert_eq!(format!("{:?}", batch_columns(used, &values)), format!("{:?}", batch_columns(fresh, &values)));
        }
    }
}
