//! STOCHRSI, the stochastic oscillator applied to RSI values, as TA-Lib computes
//! it (TA-Lib's STOCHF over the RSI series, with SMA smoothing).

use super::stoch::FastK;
use super::{Indicator, Outputs, Rsi, Sma, at_least, batch_columns};
use crate::error::ParamError;

/// One STOCHRSI output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochRsiOutput {
    /// Raw %K of the RSI over `fastk_period` values.
    pub fastk: f64,
    /// SMA of %K over `fastd_period` values.
    pub fastd: f64,
}

impl Outputs for StochRsiOutput {
    const NAMES: &'static [&'static str] = &["fastk", "fastd"];
    fn write(&self, out: &mut [f64]) {
        out[0] = self.fastk;
        out[1] = self.fastd;
    }
}

/// Streaming STOCHRSI: RSI(`period`), its %K over `fastk_period` values (a flat
/// RSI window gives 0) and the SMA of that over `fastd_period`. Both outputs
/// start together, after `period + fastk_period - 1 + fastd_period - 1` inputs.
#[derive(Debug, Clone)]
pub struct StochRsi {
    rsi: Rsi,
    fastk: FastK,
    fastk_period: usize,
    fastd: Sma,
}

impl StochRsi {
    /// A new STOCHRSI with SMA smoothing; TA-Lib's defaults are `(14, 5, 3)`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when `period` is below 2 or another period is 0.
    pub fn new(period: usize, fastk_period: usize, fastd_period: usize) -> Result<Self, ParamError> {
        let rsi = Rsi::new(period)?;
        let fastk_period = at_least("fastk_period", fastk_period, 1)?;
        let fastd = Sma::new(at_least("fastd_period", fastd_period, 1)?)?;
        Ok(Self { rsi, fastk: FastK::new(fastk_period), fastk_period, fastd })
    }
}

impl Indicator for StochRsi {
    type Input = f64;
    type Output = StochRsiOutput;

    fn next(&mut self, value: f64) -> Option<StochRsiOutput> {
        let rsi = self.rsi.next(value)?;
        let fastk = self.fastk.next(rsi, rsi, rsi)?;
        let fastd = self.fastd.next(fastk)?;
        Some(StochRsiOutput { fastk, fastd })
    }

    fn reset(&mut self) {
        self.rsi.reset();
        self.fastk.reset();
        self.fastd.reset();
    }

    fn lookback(&self) -> usize {
        self.rsi.lookback() + self.fastk_period - 1 + self.fastd.lookback()
    }
}

/// The STOCHRSI of `values` as `(fastk, fastd)`, one output per input, `NAN` in warm-up.
///
/// # Errors
/// As [`StochRsi::new`].
pub fn stochrsi(
    values: &[f64],
    period: usize,
    fastk_period: usize,
    fastd_period: usize,
) -> Result<(Vec<f64>, Vec<f64>), ParamError> {
    let mut columns = batch_columns(StochRsi::new(period, fastk_period, fastd_period)?, values).into_iter();
    let mut column = || columns.next().unwrap_or_default();
    Ok((column(), column()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::rsi;

    #[test]
    fn is_the_stochastic_of_the_rsi() {
        let values: Vec<f64> = (0..60).map(|i| 100.0 + (f64::from(i) * 0.45).sin() * 3.0).collect();
        let r = rsi(&values, 6).unwrap();
        let (k, d) = stochrsi(&values, 6, 4, 2).unwrap();
        assert_eq!(StochRsi::new(6, 4, 2).unwrap().lookback(), 10);
        assert!(k[..10].iter().chain(&d[..10]).all(|v| v.is_nan()));
        for i in 10..values.len() {
            let window = &r[i - 3..=i];
            let (lo, hi) = window.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let want = 100.0 * (r[i] - lo) / (hi - lo);
            assert!((k[i] - want).abs() < 1e-9, "{i}: {} vs {want}", k[i]);
            assert!((d[i] - (k[i] + k[i - 1]) / 2.0).abs() < 1e-9 || i == 10);
        }
    }

    #[test]
    fn a_rising_series_has_a_flat_rsi_and_reads_zero() {
        let values: Vec<f64> = (0..20).map(f64::from).collect();
        let (k, d) = stochrsi(&values, 2, 3, 2).unwrap();
        assert!(k[5..].iter().chain(&d[5..]).all(|&v| v == 0.0));
    }

    #[test]
    fn reset_and_parameters() {
        let values: Vec<f64> = (0..40).map(|i| (f64::from(i) * 0.8).cos()).collect();
        let mut s = StochRsi::new(5, 3, 2).unwrap();
        for &v in &values[..13] {
            s.next(v);
        }
        s.reset();
        let again: Vec<f64> = values.iter().map(|&v| s.next(v).map_or(f64::NAN, |o| o.fastk)).collect();
        assert_eq!(format!("{again:?}"), format!("{:?}", stochrsi(&values, 5, 3, 2).unwrap().0));
        assert!(StochRsi::new(1, 5, 3).is_err());
        assert!(StochRsi::new(14, 0, 3).is_err());
    }
}
