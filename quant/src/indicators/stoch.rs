//! STOCH, the slow stochastic oscillator (%K smoothed, then %D), as TA-Lib
//! computes it with simple moving averages.

use super::atr::{BarRows, ColumnRows, HlcRows};
use super::blocks::for_each_span;
use super::extremum::is_flat;
use super::sma::{resum_every, sma_into};
use super::{Indicator, Outputs, Sma, at_least, hlc_len, nan_column};
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
/// Short windows (up to [`SCAN_UP_TO`]) are scanned whole at every input. Their
/// ring stores each value twice, at `slot` and `slot + period`, so the window
/// is always one contiguous slice, oldest first, and a count of the NaNs in it
/// picks the one-compare scan when there are none. Longer windows keep a plain
/// ring, and each extreme is tracked with its position; the ring is rescanned
/// only when that position leaves the window (TA-Lib's method). Both give the
/// same values as a monotonic deque: NaN while a NaN is in the window, else the
/// extreme.
#[derive(Debug, Clone)]
pub(super) struct FastK {
    highs: Vec<f64>,
    lows: Vec<f64>,
    slot: usize,
    period: usize,
    index: usize,
    /// NaN highs and lows among the last `period` inputs (short windows).
    nans: usize,
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

/// [`scan`] for a window known to hold no NaN: the same value (the newest of
/// the extreme values; signed zeros compare equal, so the newer one wins in
/// both), with one comparison per value instead of three tests.
#[inline]
fn scan_finite<const MAX: bool>(mut window: impl Iterator<Item = f64>) -> f64 {
    let first = window.next().unwrap_or(f64::NAN);
    window.fold(first, |best, v| {
        let keep = if MAX { best > v } else { best < v };
        if keep { best } else { v }
    })
}

/// Raw %K from a window's extremes, as [`FastK`] computes it.
#[inline]
fn raw_k(close: f64, highest: f64, lowest: f64) -> f64 {
    let range = highest - lowest;
    // Both sides computed, then selected: no branch, and batch loops vectorise.
    let k = (close - lowest) / (range * 0.01);
    if is_flat(range, highest.abs() + lowest.abs()) { 0.0 } else { k }
}

impl FastK {
    /// `period >= 1`.
    pub(super) fn new(period: usize) -> Self {
        let start = Extreme { at: 0, value: f64::NAN };
        let ring = if period <= SCAN_UP_TO { 2 * period } else { period };
        Self {
            highs: vec![f64::NAN; ring],
            lows: vec![f64::NAN; ring],
            slot: 0,
            period,
            index: 0,
            nans: 0,
            high: start,
            low: start,
        }
    }

    #[inline]
    pub(super) fn next(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        if self.period <= SCAN_UP_TO { self.next_short(high, low, close) } else { self.next_long(high, low, close) }
    }

    /// [`FastK::next`] for windows longer than [`SCAN_UP_TO`].
    #[inline(never)]
    fn next_long(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let slot = self.slot;
        self.highs[slot] = high;
        self.lows[slot] = low;
        self.slot = if slot + 1 == self.period { 0 } else { slot + 1 };
        let i = self.index;
        self.index += 1;
        let start = self.index.saturating_sub(self.period);
        let (highs, lows, next_slot) = (&self.highs, &self.lows, self.slot);
        let highest = self.high.push::<true, _>(i, start, high, || oldest_first(highs, next_slot, i));
        let lowest = self.low.push::<false, _>(i, start, low, || oldest_first(lows, next_slot, i));
        (self.index >= self.period).then(|| raw_k(close, highest, lowest))
    }

    /// [`FastK::next`] for windows of up to [`SCAN_UP_TO`] values.
    #[inline(always)]
    fn next_short(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let (period, slot) = (self.period, self.slot);
        let nan = |v: f64| usize::from(v.is_nan());
        if self.index >= period {
            // The ring is full: the values in `slot` leave the window.
            self.nans -= nan(self.highs[slot]) + nan(self.lows[slot]);
        }
        self.nans += nan(high) + nan(low);
        (self.highs[slot], self.highs[slot + period]) = (high, high);
        (self.lows[slot], self.lows[slot + period]) = (low, low);
        self.slot = if slot + 1 == period { 0 } else { slot + 1 };
        self.index += 1;
        if self.index < period {
            return None;
        }
        // Slots `slot + 1..period` (older) then `0..=slot` (their copies).
        let window = slot + 1..slot + 1 + period;
        let (highs, lows) = (&self.highs[window.clone()], &self.lows[window]);
        let (highest, lowest) = if self.nans == 0 {
            (scan_finite::<true>(highs.iter().copied()), scan_finite::<false>(lows.iter().copied()))
        } else {
            (scan::<true>(highs.iter().copied()), scan::<false>(lows.iter().copied()))
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

    #[inline]
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
    Ok(stoch_columns(&stoch, &BarRows(bars), bars.len()))
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
    Ok(stoch_columns(&stoch, &ColumnRows { high, low, close }, len))
}

/// Row `i`'s high, low and close.
fn row<R: HlcRows>(rows: &R, i: usize) -> (f64, f64, f64) {
    let window = rows.window(i, 1);
    (R::high(window, 0), R::low(window, 0), R::close(window, 0))
}

/// The highest high and lowest low of rows `start..=end` by [`scan`], or by
/// [`scan_finite`] when `finite` (none of them holds a NaN).
fn extremes<R: HlcRows>(rows: &R, start: usize, end: usize, finite: bool) -> (f64, f64) {
    let len = end + 1 - start;
    let window = rows.window(start, len);
    let (high, low) = ((0..len).map(|t| R::high(window, t)), (0..len).map(|t| R::low(window, t)));
    if finite {
        (scan_finite::<true>(high), scan_finite::<false>(low))
    } else {
        (scan::<true>(high), scan::<false>(low))
    }
}

/// The two STOCH columns over `len` rows.
fn stoch_columns<R: HlcRows>(stoch: &Stoch, rows: &R, len: usize) -> (Vec<f64>, Vec<f64>) {
    let lookback = stoch.lookback();
    let (mut slowk, mut slowd) = (nan_column(len, lookback), nan_column(len, lookback));
    if len > lookback {
        stoch_rows(stoch, &mut slowk, &mut slowd, rows);
    }
    (slowk, slowd)
}

/// The streaming algorithm over as many rows as `slowk` has cells (more than
/// the lookback), filling `slowk` and `slowd` (one cell per row each); %K and
/// both SMAs use the same operations in the same order as `FastK` and `Sma`,
/// so the output is bit-identical.
///
/// Short windows whose two SMAs share their re-adding interval take the
/// one-pass [`stoch_fused`]. Otherwise the work runs in three passes as TA-Lib
/// does (raw %K, then each SMA over the whole column, so each pass keeps its
/// state in registers): short windows are scanned, longer ones tracked over the
/// input itself (no ring) by `Extreme`, as `FastK` does.
///
/// Every pass runs in spans on several threads ([`for_each_span`]): a raw %K
/// depends only on its window (a tracked extreme that has not left the window
/// is the one a scan finds, so a span may start by scanning), and the SMAs
/// restart from their window at fixed positions.
fn stoch_rows<R: HlcRows>(stoch: &Stoch, slowk: &mut [f64], slowd: &mut [f64], rows: &R) {
    let period = stoch.fastk.period;
    let (k_period, d_period) = (stoch.slowk.lookback() + 1, stoch.slowd.lookback() + 1);
    let lookback = stoch.lookback();
    if period <= SCAN_UP_TO && resum_every(k_period) == resum_every(d_period) {
        stoch_fused(period, k_period, d_period, &mut slowk[lookback..], &mut slowd[lookback..], rows);
        return;
    }
    // Raw %K (one per row from `period - 1` on) goes into `slowd`, free until
    // the last pass; slow %K into `slowk` from its first value on, which sits
    // `d_period - 1` cells before the end of the warm-up: those first values
    // only feed %D and become NaN at the end.
    let raw = &mut slowd[period - 1..];
    if period <= SCAN_UP_TO {
        for_each_span([raw], 1, |start, [span]| {
            // Rows `start..start + period - 1 + span.len()` feed this span;
            // without a NaN among their highs and lows, the cheaper scan gives
            // the same extremes.
            let finite = (start..start + period - 1 + span.len()).all(|i| {
                let (h, l, _) = row(rows, i);
                !h.is_nan() && !l.is_nan()
            });
            for (k, cell) in span.iter_mut().enumerate() {
                let i = start + k + period - 1;
                let (highest, lowest) = extremes(rows, i + 1 - period, i, finite);
                *cell = raw_k(row(rows, i).2, highest, lowest);
            }
        });
    } else {
        // Spans after the first start at least one window in, where a fresh
        // `Extreme` (at 0, before the window) scans.
        for_each_span([raw], period, |start, [span]| {
            let (mut high, mut low) = (Extreme { at: 0, value: f64::NAN }, Extreme { at: 0, value: f64::NAN });
            let first = if start == 0 { 0 } else { start + period - 1 };
            let end = start + period - 1 + span.len();
            let mut cells = span.iter_mut();
            for i in first..end {
                let (h, l, c) = row(rows, i);
                let from = (i + 1).saturating_sub(period);
                let highest = high.push::<true, _>(i, from, h, || (from..=i).map(|j| row(rows, j).0));
                let lowest = low.push::<false, _>(i, from, l, || (from..=i).map(|j| row(rows, j).1));
                if i + 1 >= period
                    && let Some(cell) = cells.next()
                {
                    *cell = raw_k(c, highest, lowest);
                }
            }
        });
    }
    let k_start = lookback + 1 - d_period;
    sma_into(&slowd[period - 1..], k_period, &mut slowk[k_start..]);
    sma_into(&slowk[k_start..], d_period, &mut slowd[lookback..]);
    slowk[..lookback].fill(f64::NAN);
    slowd[..lookback].fill(f64::NAN);
}

/// [`stoch_rows`] for short windows in one pass over the rows instead of
/// three: each span of output is computed in tiles of [`resum_every`] outputs,
/// whose raw %K and slow %K live in small buffers, so the two columns are the
/// only large memory written, once.
///
/// Output `m` (cell `lookback + m` of both columns) is %D number `m`, the mean
/// of slow %K `m..m + d_period`, and slow %K number `m + d_period - 1`, the
/// mean of raw %K `m + d_period - 1..m + d_period - 1 + k_period`. Both SMAs
/// re-add their window at every multiple of the same [`resum_every`] (the
/// caller checks that the two periods share it), so a tile starting at such a
/// multiple `t` starts both sums afresh: it needs raw %K from `t` on and
/// nothing computed before it. The slow %K values a tile computes past its end
/// (for its last %D windows) are recomputed, identically, by the next tile.
fn stoch_fused<R: HlcRows>(
    period: usize,
    k_period: usize,
    d_period: usize,
    slowk: &mut [f64],
    slowd: &mut [f64],
    rows: &R,
) {
    let tile = resum_every(k_period);
    let (k_inv, d_inv) = (1.0 / k_period as f64, 1.0 / d_period as f64);
    for_each_span([slowk, slowd], tile, |start, [slowk, slowd]| {
        let mut scratch: [Vec<f64>; 3] = Default::default();
        let mut tiles = RawKTile::default();
        let mut k = Vec::with_capacity(tile + d_period);
        for (t, (k_out, d_out)) in slowk.chunks_mut(tile).zip(slowd.chunks_mut(tile)).enumerate() {
            let first = start + t * tile;
            let count = k_out.len();
            // Raw %K number `r` is row `r + period - 1`'s: this tile needs
            // raw %K `first..first + count + d_period + k_period - 2`.
            let raws = count + d_period + k_period - 2;
            let raw = tiles.fill(period, rows.columns(first, raws + period - 1, &mut scratch));
            // Slow %K `first..first + count + d_period - 1`, as `Sma` computes
            // them: afresh at multiples of the tile (`first` is one, and
            // `first + tile` may be in range), else updated.
            k.resize(count + d_period - 1, 0.0);
            let mut from = 0;
            while from < k.len() {
                let to = if from < tile { tile.min(k.len()) } else { k.len() };
                let mut sum = raw[from..from + k_period].iter().fold(0.0, |sum, &v| sum + v);
                k[from] = sum * k_inv;
                let steps = raw[from + k_period..to + k_period - 1].iter().zip(&raw[from..to - 1]);
                for (cell, (&entering, &leaving)) in k[from + 1..to].iter_mut().zip(steps) {
                    sum += entering - leaving;
                    *cell = sum * k_inv;
                }
                from = to;
            }
            let mut sum = k[..d_period].iter().fold(0.0, |sum, &v| sum + v);
            d_out[0] = sum * d_inv;
            let steps = k[d_period..].iter().zip(&k[..count - 1]);
            for (cell, (&entering, &leaving)) in d_out[1..].iter_mut().zip(steps) {
                sum += entering - leaving;
                *cell = sum * d_inv;
            }
            k_out.copy_from_slice(&k[d_period - 1..d_period - 1 + count]);
        }
    });
}

/// Buffers for raw %K over a tile of rows.
#[derive(Default)]
struct RawKTile {
    highest: Vec<f64>,
    lowest: Vec<f64>,
    raw: Vec<f64>,
}

impl RawKTile {
    /// Raw %K of every full `period`-row window of the rows given as columns
    /// (`rows - period + 1` values, one per window's last row).
    ///
    /// Without a NaN in the tile, the extremes are folded offset by offset over
    /// all windows at once: per window the same comparisons in the same order
    /// as [`scan_finite`], but independent across windows, so the loops run on
    /// vector lanes. With a NaN, each window is scanned by [`scan`].
    fn fill(&mut self, period: usize, [high, low, close]: [&[f64]; 3]) -> &[f64] {
        let n = high.len() + 1 - period;
        self.raw.resize(n, 0.0);
        let has_nan = |column: &[f64]| column.iter().fold(false, |nan, v| nan | v.is_nan());
        if has_nan(high) || has_nan(low) {
            for (j, cell) in self.raw.iter_mut().enumerate() {
                let (highs, lows) = (&high[j..j + period], &low[j..j + period]);
                let (highest, lowest) = (scan::<true>(highs.iter().copied()), scan::<false>(lows.iter().copied()));
                *cell = raw_k(close[j + period - 1], highest, lowest);
            }
            return &self.raw;
        }
        self.highest.clear();
        self.highest.extend_from_slice(&high[..n]);
        self.lowest.clear();
        self.lowest.extend_from_slice(&low[..n]);
        for offset in 1..period {
            for (best, &v) in self.highest.iter_mut().zip(&high[offset..offset + n]) {
                *best = if *best > v { *best } else { v };
            }
            for (best, &v) in self.lowest.iter_mut().zip(&low[offset..offset + n]) {
                *best = if *best < v { *best } else { v };
            }
        }
        let windows = self.highest.iter().zip(&self.lowest).zip(&close[period - 1..]);
        for (cell, ((&highest, &lowest), &close)) in self.raw.iter_mut().zip(windows) {
            *cell = raw_k(close, highest, lowest);
        }
        &self.raw
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
    fn long_and_short_windows_agree_between_batch_and_streaming() {
        // Windows above `SCAN_UP_TO` take the tracked-extreme path, shorter ones
        // the scan; ties (repeated values) and a NaN exercise the edge rules.
        // The long series is cut into spans computed apart (on several threads).
        for len in [200, 70_000] {
            long_and_short_windows_agree_over(len);
        }
    }

    fn long_and_short_windows_agree_over(len: u32) {
        let mut bars: Vec<Bar> = (0..len)
            .map(f64::from)
            .map(|x| bar((x * 0.37).sin().round() + 12.0, (x * 0.23).cos().round() + 9.0, 10.5 + (x * 0.1).sin()))
            .collect();
        let nans: Vec<usize> = [90, 50_000].into_iter().filter(|&i| i < bars.len()).collect();
        nans.iter().for_each(|&i| bars[i].high = f64::NAN);
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
                let poisoned = nans.iter().any(|n| (i + 1 - fastk..=i).contains(n));
                assert_eq!(v.is_nan(), poisoned, "fastk {fastk} [{i}]");
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
