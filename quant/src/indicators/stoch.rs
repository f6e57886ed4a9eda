//! STOCH, the slow stochastic oscillator (%K smoothed, then %D), as TA-Lib
//! computes it with simple moving averages.

use super::extremum::{Extremum, is_flat};
use super::{Indicator, Outputs, Sma, at_least, warmup_column};
use crate::bar::Bar;
use crate::error::ParamError;

/// Checks a TA-Lib moving-average type parameter: only 0 (SMA) is supported.
///
/// # Errors
/// [`ParamError::Unknown`] for any other type.
pub fn sma_only(name: &'static str, matype: usize) -> Result<(), ParamError> {
    if matype == 0 {
        Ok(())
    } else {
        Err(ParamError::Unknown { kind: name, value: matype.to_string(), expected: "0 (SMA)" })
    }
}

/// Raw %K: where `close` sits in the range of the last `period` highs and lows,
/// `100 * (close - lowest) / (highest - lowest)`; a flat range gives 0, as in TA-Lib.
#[derive(Debug, Clone)]
pub(super) struct FastK {
    highs: Extremum,
    lows: Extremum,
    period: usize,
    index: usize,
}

impl FastK {
    /// `period >= 1`.
    pub(super) fn new(period: usize) -> Self {
        Self { highs: Extremum::max(period), lows: Extremum::min(period), period, index: 0 }
    }

    pub(super) fn next(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let (_, highest) = self.highs.push(self.index, high);
        let (_, lowest) = self.lows.push(self.index, low);
        self.index += 1;
        if self.index < self.period {
            return None;
        }
        let range = highest - lowest;
        Some(if is_flat(range, highest.abs() + lowest.abs()) { 0.0 } else { (close - lowest) / (range / 100.0) })
    }

    pub(super) fn reset(&mut self) {
        self.highs.clear();
        self.lows.clear();
        self.index = 0;
    }
}

/// One STOCH output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochOutput {
    /// %K smoothed over `slowk_period`.
    pub slowk: f64,
    /// Slow %K smoothed over `slowd_period`.
    pub slowd: f64,
}

impl Outputs for StochOutput {
    const NAMES: &'static [&'static str] = &["slowk", "slowd"];
    fn write(&self, out: &mut [f64]) {
        out[0] = self.slowk;
        out[1] = self.slowd;
    }
}

/// Streaming slow stochastic: raw %K over `fastk_period` bars, its SMA over
/// `slowk_period` (slow %K), and that one's SMA over `slowd_period` (slow %D).
/// Both outputs start together, after `fastk - 1 + slowk - 1 + slowd - 1` bars.
#[derive(Debug, Clone)]
pub struct Stoch {
    fastk: FastK,
    slowk: Sma,
    slowd: Sma,
}

impl Stoch {
    /// A new STOCH with SMA smoothing; TA-Lib's defaults are `(5, 3, 3)`.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] when a period is 0.
    pub fn new(fastk_period: usize, slowk_period: usize, slowd_period: usize) -> Result<Self, ParamError> {
        let fastk = at_least("fastk_period", fastk_period, 1)?;
        let slowk = at_least("slowk_period", slowk_period, 1)?;
        let slowd = at_least("slowd_period", slowd_period, 1)?;
        Ok(Self { fastk: FastK::new(fastk), slowk: Sma::new(slowk)?, slowd: Sma::new(slowd)? })
    }
}

impl Indicator for Stoch {
    type Input = Bar;
    type Output = StochOutput;

    fn next(&mut self, bar: Bar) -> Option<StochOutput> {
        let k = self.fastk.next(bar.high, bar.low, bar.close)?;
        let slowk = self.slowk.next(k)?;
        let slowd = self.slowd.next(slowk)?;
        Some(StochOutput { slowk, slowd })
    }

    fn reset(&mut self) {
        self.fastk.reset();
        self.slowk.reset();
        self.slowd.reset();
    }

    fn lookback(&self) -> usize {
        self.fastk.period - 1 + self.slowk.lookback() + self.slowd.lookback()
    }
}

/// The STOCH of `bars` as `(slowk, slowd)`, one output per bar, `NAN` in warm-up.
///
/// # Errors
/// As [`Stoch::new`].
pub fn stoch(
    bars: &[Bar],
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
) -> Result<(Vec<f64>, Vec<f64>), ParamError> {
    // The streaming algorithm unrolled over the slice. The window extremes are
    // tracked as TA-Lib does (rescan only when the extreme leaves the window),
    // which gives the same values as `Extremum`'s deque (NaN while a NaN is in
    // the window, else the maximum); %K and both SMAs use the same operations in
    // the same order as `FastK` and `Sma`, so the output is bit-identical.
    let stoch = Stoch::new(fastk_period, slowk_period, slowd_period)?;
    let lookback = stoch.lookback();
    let (mut slowk, mut slowd) = (warmup_column(bars.len(), lookback), warmup_column(bars.len(), lookback));
    if bars.len() <= lookback {
        return Ok((slowk, slowd));
    }
    let mut highs = RollingExtreme::new(fastk_period, |v, best| v >= best);
    let mut lows = RollingExtreme::new(fastk_period, |v, best| v <= best);
    let (mut k_sma, mut d_sma) = (stoch.slowk, stoch.slowd);
    for (i, bar) in bars.iter().enumerate() {
        let highest = highs.push(bars, i, |b| b.high);
        let lowest = lows.push(bars, i, |b| b.low);
        if i + 1 < fastk_period {
            continue;
        }
        let range = highest - lowest;
        let k = if is_flat(range, highest.abs() + lowest.abs()) { 0.0 } else { (bar.close - lowest) / (range / 100.0) };
        let Some(k) = k_sma.next(k) else { continue };
        let Some(d) = d_sma.next(k) else { continue };
        slowk.push(k);
        slowd.push(d);
    }
    Ok((slowk, slowd))
}

/// The extreme of the last `len` values of a bar field, by TA-Lib's method:
/// remember the extreme and its position, rescan the window only when that
/// position leaves it. A NaN is the extreme while it is in the window.
struct RollingExtreme {
    len: usize,
    at: usize,
    best: f64,
    better: fn(f64, f64) -> bool,
}

impl RollingExtreme {
    fn new(len: usize, better: fn(f64, f64) -> bool) -> Self {
        Self { len, at: 0, best: f64::NAN, better }
    }

    /// Whether `v` replaces `best` (ties go to the newer value, as in `Extremum`).
    fn replaces(&self, v: f64, best: f64) -> bool {
        v.is_nan() || (!best.is_nan() && (self.better)(v, best))
    }

    fn push(&mut self, bars: &[Bar], i: usize, field: fn(&Bar) -> f64) -> f64 {
        let start = (i + 1).saturating_sub(self.len);
        if i == 0 || self.at < start {
            self.at = start;
            self.best = field(&bars[start]);
            for (j, bar) in bars.iter().enumerate().take(i + 1).skip(start + 1) {
                let v = field(bar);
                if self.replaces(v, self.best) {
                    self.best = v;
                    self.at = j;
                }
            }
        } else {
            let v = field(&bars[i]);
            if self.replaces(v, self.best) {
                self.best = v;
                self.at = i;
            }
        }
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar { ts: 0, open: close, high, low, close, volume: 1.0 }
    }

    #[test]
    fn raw_k_with_period_one_smoothing_is_the_range_position() {
        let bars = [bar(10.0, 8.0, 9.0), bar(12.0, 9.0, 11.0), bar(11.0, 7.0, 7.5)];
        let (k, d) = stoch(&bars, 2, 1, 1).unwrap();
        assert!(k[0].is_nan() && d[0].is_nan());
        assert!((k[1] - 75.0).abs() < 1e-12);
        assert!((k[2] - 100.0 * 0.5 / 5.0).abs() < 1e-12);
        assert_eq!(k[1..], d[1..]);
    }

    #[test]
    fn flat_range_reads_zero() {
        let bars = vec![bar(5.0, 5.0, 5.0); 8];
        let (k, d) = stoch(&bars, 3, 2, 2).unwrap();
        assert!(k[..4].iter().all(|v| v.is_nan()));
        assert!(k[4..].iter().chain(&d[4..]).all(|&v| v == 0.0));
    }

    #[test]
    fn reset_and_parameters() {
        let bars: Vec<Bar> =
            (0..30).map(f64::from).map(|x| bar(x.sin() + 12.0, x.sin() + 10.0, 11.0 + x.cos())).collect();
        let mut s = Stoch::new(5, 3, 3).unwrap();
        assert_eq!(s.lookback(), 8);
        for b in &bars[..11] {
            s.next(*b);
        }
        s.reset();
        let again: Vec<f64> = bars.iter().map(|&b| s.next(b).map_or(f64::NAN, |o| o.slowd)).collect();
        assert_eq!(format!("{again:?}"), format!("{:?}", stoch(&bars, 5, 3, 3).unwrap().1));
        assert!(Stoch::new(0, 3, 3).is_err());
        assert!(sma_only("slowk_matype", 1).is_err());
        assert!(sma_only("slowk_matype", 0).is_ok());
    }
}
