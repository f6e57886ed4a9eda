//! VWAP, the volume-weighted average price (not in TA-Lib):
//! `sum(typical_price * volume) / sum(volume)` with
//! `typical_price = (high + low + close) / 3`, over one of two windows:
//!
//! - [`VwapAnchor::Session`]: cumulative since the start of the bar's session,
//!   the session being `tf.bucket_start(bar.ts)` (by default `Timeframe::D1`:
//!   the UTC day). The sums restart on the first bar of a new session. No
//!   warm-up: the first bar's VWAP is its typical price.
//! - [`VwapAnchor::Rolling`]: over the last `period` bars, first output at bar
//!   `period - 1`.
//!
//! Where the window holds no volume at all the VWAP is undefined; the output is
//! then the current bar's typical price (so a chart line stays continuous).

use super::{Indicator, Typprice, at_least, batch};
use crate::bar::{Bar, Timeframe};
use crate::error::ParamError;

/// Which bars a [`Vwap`] averages over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VwapAnchor {
    /// Every bar since the start of the session containing the current bar.
    Session(Timeframe),
    /// The last `n` bars.
    Rolling(usize),
}

/// Streaming VWAP, O(1) per bar.
#[derive(Debug, Clone)]
pub struct Vwap {
    anchor: VwapAnchor,
    /// Rolling: `(price * volume, volume)` of the last `n` bars.
    window: Vec<(f64, f64)>,
    slot: usize,
    filled: usize,
    since_refresh: usize,
    session: Option<i64>,
    weighted: f64,
    volume: f64,
}

impl Vwap {
    /// A VWAP over `anchor`'s window.
    ///
    /// # Errors
    /// [`ParamError::TooSmall`] for a rolling window of 0 bars.
    pub fn new(anchor: VwapAnchor) -> Result<Self, ParamError> {
        let size = match anchor {
            VwapAnchor::Session(_) => 0,
            VwapAnchor::Rolling(n) => at_least("period", n, 1)?,
        };
        Ok(Self::with(anchor, size))
    }

    /// The VWAP of each UTC day (session `Timeframe::D1`).
    #[must_use]
    pub fn daily() -> Self {
        Self::session(Timeframe::D1)
    }

    /// The VWAP of each session of timeframe `tf`.
    #[must_use]
    pub fn session(tf: Timeframe) -> Self {
        Self::with(VwapAnchor::Session(tf), 0)
    }

    fn with(anchor: VwapAnchor, size: usize) -> Self {
        Self {
            anchor,
            window: vec![(0.0, 0.0); size],
            slot: 0,
            filled: 0,
            since_refresh: 0,
            session: None,
            weighted: 0.0,
            volume: 0.0,
        }
    }

    fn rolling_step(&mut self, n: usize, entry: (f64, f64)) -> bool {
        let leaving = std::mem::replace(&mut self.window[self.slot], entry);
        self.slot = (self.slot + 1) % n;
        if self.filled < n {
            self.filled += 1;
            self.weighted += entry.0;
            self.volume += entry.1;
            return self.filled == n;
        }
        self.since_refresh += 1;
        if self.since_refresh >= n {
            // Recompute every `n` bars so rounding in the running sums cannot build up.
            self.since_refresh = 0;
            self.weighted = self.window.iter().map(|e| e.0).sum();
            self.volume = self.window.iter().map(|e| e.1).sum();
        } else {
            self.weighted += entry.0 - leaving.0;
            self.volume += entry.1 - leaving.1;
        }
        true
    }
}

impl Indicator for Vwap {
    type Input = Bar;
    type Output = f64;

    fn next(&mut self, bar: Bar) -> Option<f64> {
        let price = Typprice::of(&bar);
        let entry = (price * bar.volume, bar.volume);
        match self.anchor {
            VwapAnchor::Session(tf) => {
                let session = tf.bucket_start(bar.ts);
                if self.session != Some(session) {
                    self.session = Some(session);
                    self.weighted = 0.0;
                    self.volume = 0.0;
                }
                self.weighted += entry.0;
                self.volume += entry.1;
            }
            VwapAnchor::Rolling(n) => {
                if !self.rolling_step(n, entry) {
                    return None;
                }
            }
        }
        Some(if self.volume > 0.0 { self.weighted / self.volume } else { price })
    }

    fn reset(&mut self) {
        self.window.fill((0.0, 0.0));
        self.slot = 0;
        self.filled = 0;
        self.since_refresh = 0;
        self.session = None;
        self.weighted = 0.0;
        self.volume = 0.0;
    }

    fn lookback(&self) -> usize {
        match self.anchor {
            VwapAnchor::Session(_) => 0,
            VwapAnchor::Rolling(n) => n - 1,
        }
    }
}

/// The VWAP of `bars` over `anchor`'s window, one output per bar, `NAN` during
/// warm-up.
///
/// # Errors
/// As [`Vwap::new`].
pub fn vwap(bars: &[Bar], anchor: VwapAnchor) -> Result<Vec<f64>, ParamError> {
    Ok(batch(Vwap::new(anchor)?, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hourly bars over several days, with some zero-volume bars.
    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 40.0 + (i as f64 * 0.23).sin() * 3.0;
                let volume = if i % 9 == 4 { 0.0 } else { 100.0 + ((i * 37) % 50) as f64 };
                Bar { ts: 1_704_067_200 + i as i64 * 3_600, open: c, high: c + 0.5, low: c - 0.7, close: c, volume }
            })
            .collect()
    }

    fn weighted(w: &[Bar]) -> f64 {
        let tp = |b: &Bar| (b.high + b.low + b.close) / 3.0;
        let vol: f64 = w.iter().map(|b| b.volume).sum();
        if vol > 0.0 { w.iter().map(|b| tp(b) * b.volume).sum::<f64>() / vol } else { tp(&w[w.len() - 1]) }
    }

    fn close(got: &[f64], want: &[f64]) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.is_nan(), w.is_nan(), "index {i}");
            if !w.is_nan() {
                assert!((g - w).abs() <= 1e-9 * w.abs(), "index {i}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn session_vwap_restarts_each_day() {
        let bars = bars(24 * 5);
        let want: Vec<f64> = (0..bars.len())
            .map(|i| {
                let day = Timeframe::D1.bucket_start(bars[i].ts);
                let start = bars.iter().position(|b| Timeframe::D1.bucket_start(b.ts) == day).unwrap_or(0);
                weighted(&bars[start..=i])
            })
            .collect();
        close(&vwap(&bars, VwapAnchor::Session(Timeframe::D1)).unwrap(), &want);
        close(&batch(Vwap::daily(), &bars), &want);
    }

    #[test]
    fn rolling_vwap_matches_the_window_sums() {
        let bars = bars(200);
        for n in [1, 2, 9, 30] {
            let want: Vec<f64> =
                (0..bars.len()).map(|i| if i + 1 < n { f64::NAN } else { weighted(&bars[i + 1 - n..=i]) }).collect();
            close(&vwap(&bars, VwapAnchor::Rolling(n)).unwrap(), &want);
        }
        assert!(Vwap::new(VwapAnchor::Rolling(0)).is_err());
    }

    #[test]
    fn zero_volume_falls_back_to_the_typical_price() {
        let bar = Bar { ts: 0, open: 3.0, high: 3.0, low: 3.0, close: 3.0, volume: 0.0 };
        assert_eq!(vwap(&[bar, bar], VwapAnchor::Rolling(2)).unwrap()[1], 3.0);
    }

    #[test]
    fn reset_equals_a_fresh_instance() {
        let bars = bars(60);
        for anchor in [VwapAnchor::Session(Timeframe::H1), VwapAnchor::Rolling(5)] {
            let mut used = Vwap::new(anchor).unwrap();
            for &b in &bars {
                used.next(b);
            }
            used.reset();
            assert_eq!(format!("{:?}", batch(used, &bars)), format!("{:?}", vwap(&bars, anchor).unwrap()));
        }
    }
}
