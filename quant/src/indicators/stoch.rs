//! STOCH, the slow stochastic oscillator (%K smoothed, then %D), as TA-Lib
//! computes it with simple moving averages.

use super::extremum::is_flat;
use super::sma::sma_push;
use super::{Indicator, Outputs, Sma, at_least, hlc_len, warmup_column};
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
/// `(close - lowest) / ((highest - lowest) * 0.01)` (TA-Lib's
/// `(close - lowest) / ((highest - lowest) / 100)` with the division by 100 as a
/// multiplication, as the shipped TA-Lib binary does); a flat range gives 0, as
/// in TA-Lib.
///
/// The last `period` highs and lows are kept in a ring; each extreme is tracked
/// with its position and the ring is rescanned only when that position leaves
/// the window (TA-Lib's method), which gives the same values as a monotonic
/// deque: NaN while a NaN is in the window, else the extreme.
#[derive(Debug, Clone)]
pub(super) struct FastK {
    highs: Vec<f64>,
    lows: Vec<f64>,
    slot: usize,
    period: usize,
    index: usize,
    high: Extreme,
    low: Extreme,
}

/// A window extreme and the position (input index) it came from.
#[derive(Debug, Clone, Copy)]
struct Extreme {
    at: usize,
    value: f64,
}

/// Whether `v` replaces the window's current extreme `best` (a maximum when
/// `MAX`, else a minimum): a NaN always does and is never replaced while in
/// the window; ties go to the newer value.
#[inline]
fn replaces<const MAX: bool>(v: f64, best: f64) -> bool {
    v.is_nan() || (!best.is_nan() && if MAX { v >= best } else { v <= best })
}

impl Extreme {
    /// Adds the value at position `i`, where the window starts at position
    /// `start`; `window` yields the window's values oldest first (positions
    /// `start..=i`) and is only called when the extreme has left the window.
    #[inline]
    fn push<const MAX: bool, W: Iterator<Item = f64>>(
        &mut self,
        i: usize,
        start: usize,
        v: f64,
        window: impl FnOnce() -> W,
    ) -> f64 {
        if i == 0 || self.at < start {
            let mut values = window();
            self.at = start;
            self.value = values.next().unwrap_or(v);
            for (k, v) in values.enumerate() {
                if replaces::<MAX>(v, self.value) {
                    self.value = v;
                    self.at = start + 1 + k;
                }
            }
        } else if replaces::<MAX>(v, self.value) {
            self.value = v;
            self.at = i;
        }
        self.value
    }
}

/// The window in a ring whose next write goes to `next_slot`, oldest first,
/// after the input at position `i`: until the ring is full that is its first
/// `i + 1` slots, then it starts at `next_slot`.
fn oldest_first(ring: &[f64], next_slot: usize, i: usize) -> impl Iterator<Item = f64> + '_ {
    let (older, newer) = if i + 1 < ring.len() {
        (&ring[..=i], &ring[..0])
    } else {
        let (newer, older) = ring.split_at(next_slot);
        (older, newer)
    };
    older.iter().chain(newer).copied()
}

/// Windows up to this long are scanned whole at every input (branch-free
/// compare-and-select); longer ones track their extreme as `Extreme` does.
/// Both give the same value: the newest of the extreme values, or the newest
/// NaN while one is in the window.
const SCAN_UP_TO: usize = 16;

/// The extreme of `window` (oldest first, not empty) by [`replaces`], without
/// branches in the loop.
#[inline]
fn scan<const MAX: bool>(mut window: impl Iterator<Item = f64>) -> f64 {
    let first = window.next().unwrap_or(f64::NAN);
    window.fold(first, |best, v| {
        let better = if MAX { v >= best } else { v <= best };
        let replace = v.is_nan() | (!best.is_nan() & better);
        if replace { v } else { best }
    })
}

/// Raw %K from a window's extremes, as [`FastK`] computes it.
#[inline]
fn raw_k(close: f64, highest: f64, lowest: f64) -> f64 {
    let range = highest - lowest;
    if is_flat(range, highest.abs() + lowest.abs()) { 0.0 } else { (close - lowest) / (range * 0.01) }
}

impl FastK {
    /// `period >= 1`.
    pub(super) fn new(period: usize) -> Self {
        let start = Extreme { at: 0, value: f64::NAN };
        Self {
            highs: vec![f64::NAN; period],
            lows: vec![f64::NAN; period],
            slot: 0,
            period,
            index: 0,
            high: start,
            low: start,
        }
    }

    pub(super) fn next(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let slot = self.slot;
        self.highs[slot] = high;
        self.lows[slot] = low;
        self.slot = if slot + 1 == self.period { 0 } else { slot + 1 };
        let i = self.index;
        self.index += 1;
        let start = self.index.saturating_sub(self.period);
        if self.index < self.period {
            if self.period > SCAN_UP_TO {
                // Keep the tracked extremes current through the warm-up.
                let (highs, lows, next_slot) = (&self.highs, &self.lows, self.slot);
                self.high.push::<true, _>(i, start, high, || oldest_first(highs, next_slot, i));
                self.low.push::<false, _>(i, start, low, || oldest_first(lows, next_slot, i));
            }
            return None;
        }
        let (highs, lows, next_slot) = (&self.highs, &self.lows, self.slot);
        let (highest, lowest) = if self.period <= SCAN_UP_TO {
            (scan::<true>(oldest_first(highs, next_slot, i)), scan::<false>(oldest_first(lows, next_slot, i)))
        } else {
            (
                self.high.push::<true, _>(i, start, high, || oldest_first(highs, next_slot, i)),
                self.low.push::<false, _>(i, start, low, || oldest_first(lows, next_slot, i)),
            )
        };
        Some(raw_k(close, highest, lowest))
    }

    pub(super) fn reset(&mut self) {
        *self = Self::new(self.period);
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
    let stoch = Stoch::new(fastk_period, slowk_period, slowd_period)?;
    let lookback = stoch.lookback();
    let (mut slowk, mut slowd) = (warmup_column(bars.len(), lookback), warmup_column(bars.len(), lookback));
    if bars.len() <= lookback {
        return Ok((slowk, slowd));
    }
    let window = |start: usize, end: usize| {
        let w = &bars[start..=end];
        (scan::<true>(w.iter().map(|b| b.high)), scan::<false>(w.iter().map(|b| b.low)))
    };
    stoch_rows(&stoch, &mut slowk, &mut slowd, bars.len(), |i| (bars[i].high, bars[i].low, bars[i].close), window);
    Ok((slowk, slowd))
}

/// The STOCH of bars given as three columns (TA-Lib's layout) as
/// `(slowk, slowd)`; equal to [`stoch`] on the same bars.
///
/// # Errors
/// As [`Stoch::new`]; [`ParamError::Spec`] when the columns differ in length.
pub fn stoch_hlc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
) -> Result<(Vec<f64>, Vec<f64>), ParamError> {
    let stoch = Stoch::new(fastk_period, slowk_period, slowd_period)?;
    let len = hlc_len(high, low, close)?;
    let lookback = stoch.lookback();
    let (mut slowk, mut slowd) = (warmup_column(len, lookback), warmup_column(len, lookback));
    if len <= lookback {
        return Ok((slowk, slowd));
    }
    let window = |start: usize, end: usize| {
        (scan::<true>(high[start..=end].iter().copied()), scan::<false>(low[start..=end].iter().copied()))
    };
    stoch_rows(&stoch, &mut slowk, &mut slowd, len, |i| (high[i], low[i], close[i]), window);
    Ok((slowk, slowd))
}

/// The streaming algorithm over `len` (more than the lookback) rows read by
/// `row`, in three passes as TA-Lib does (raw %K, then each SMA over the whole
/// column, so each pass keeps its state in registers), filling `slowk` and
/// `slowd` (of capacity `len`) without other allocations. The window
/// extremes come from `window(start, end)` (a scan of rows `start..=end`) for
/// short windows, else are tracked over the input itself (no ring) by
/// `Extreme`, as `FastK` does; %K and both SMAs use the same operations in the
/// same order as `FastK` and `Sma`, so the output is bit-identical.
fn stoch_rows(
    stoch: &Stoch,
    slowk: &mut Vec<f64>,
    slowd: &mut Vec<f64>,
    len: usize,
    row: impl Fn(usize) -> (f64, f64, f64),
    window: impl Fn(usize, usize) -> (f64, f64),
) {
    let period = stoch.fastk.period;
    let (k_period, d_period) = (stoch.slowk.lookback() + 1, stoch.slowd.lookback() + 1);
    let (mut high, mut low) = (Extreme { at: 0, value: f64::NAN }, Extreme { at: 0, value: f64::NAN });
    // Raw %K goes into `slowd` (free until the last pass), slow %K into
    // `slowk` after its first `period - 1 + k_period - 1` cells, so that its
    // first `d_period - 1` values (which only feed %D) sit in warm-up cells
    // and are overwritten with NaN at the end.
    let lookback = stoch.lookback();
    let raw = slowd;
    raw.clear();
    if period <= SCAN_UP_TO {
        raw.extend((period - 1..len).map(|i| {
            let (highest, lowest) = window(i + 1 - period, i);
            raw_k(row(i).2, highest, lowest)
        }));
    } else {
        for i in 0..len {
            let (h, l, c) = row(i);
            let start = (i + 1).saturating_sub(period);
            let highest = high.push::<true, _>(i, start, h, || (start..=i).map(|j| row(j).0));
            let lowest = low.push::<false, _>(i, start, l, || (start..=i).map(|j| row(j).1));
            if i + 1 >= period {
                raw.push(raw_k(c, highest, lowest));
            }
        }
    }
    let k_start = lookback + 1 - d_period;
    slowk.clear();
    slowk.resize(k_start, f64::NAN);
    sma_push(raw, k_period, slowk);
    let slowd = raw;
    slowd.clear();
    slowd.resize(lookback, f64::NAN);
    sma_push(&slowk[k_start..], d_period, slowd);
    slowk[k_start..lookback].fill(f64::NAN);
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
    fn long_and_short_windows_agree_between_batch_and_streaming() {
        // Windows above `SCAN_UP_TO` take the tracked-extreme path, shorter ones
        // the scan; ties (repeated values) and a NaN exercise the edge rules.
        let mut bars: Vec<Bar> = (0..200)
            .map(f64::from)
            .map(|x| bar((x * 0.37).sin().round() + 12.0, (x * 0.23).cos().round() + 9.0, 10.5 + (x * 0.1).sin()))
            .collect();
        bars[90].high = f64::NAN;
        for fastk in [1, 2, 5, SCAN_UP_TO, SCAN_UP_TO + 1, 30] {
            let (k, d) = stoch(&bars, fastk, 3, 2).unwrap();
            let high: Vec<f64> = bars.iter().map(|b| b.high).collect();
            let low: Vec<f64> = bars.iter().map(|b| b.low).collect();
            let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
            let (hk, hd) = stoch_hlc(&high, &low, &close, fastk, 3, 2).unwrap();
            let mut s = Stoch::new(fastk, 3, 2).unwrap();
            let streamed: Vec<(f64, f64)> =
                bars.iter().map(|&b| s.next(b).map_or((f64::NAN, f64::NAN), |o| (o.slowk, o.slowd))).collect();
            for i in 0..bars.len() {
                let bits = |v: f64| v.to_bits();
                assert_eq!(bits(k[i]), bits(streamed[i].0), "fastk {fastk}, slowk [{i}]");
                assert_eq!(bits(d[i]), bits(streamed[i].1), "fastk {fastk}, slowd [{i}]");
                assert_eq!((bits(hk[i]), bits(hd[i])), (bits(k[i]), bits(d[i])), "fastk {fastk}, hlc [{i}]");
            }
            // The raw %K windows: a NaN high poisons exactly the windows holding it.
            let mut raw = FastK::new(fastk);
            for (i, b) in bars.iter().enumerate() {
                let Some(v) = raw.next(b.high, b.low, b.close) else { continue };
                assert_eq!(v.is_nan(), (i + 1 - fastk..=i).contains(&90), "fastk {fastk} [{i}]");
            }
        }
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
