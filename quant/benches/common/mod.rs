//! Deterministic OHLCV for the benchmarks, shared by the criterion benches, the
//! wasm timing test and `examples/bench_data.rs` (which writes the same bars
//! for the Python references). No dependency: a seeded xorshift64* generator.
//!
//! The close follows a mean-reverting multiplicative walk around 100 (so ten
//! million steps neither explode nor collapse to zero); open gaps slightly from
//! the previous close; high and low extend beyond open and close.
#![allow(dead_code, reason = "each bench uses a different subset")]

use quant::{Bar, Timeframe};

/// Seed of every benchmark series.
pub const SEED: u64 = 0x5EED_F1A5_7A6E_2026;

/// 10 years of trading days.
pub const DAILY_BARS: usize = 2_520;
/// Minute bars for the long backtest.
pub const MINUTE_BARS: usize = 5_000_000;
/// Bars for the batch indicator benchmarks.
pub const BATCH_BARS: usize = 10_000_000;

/// 2015-01-01T00:00:00Z.
const START_TS: i64 = 1_420_070_400;

/// xorshift64* (Vigna), uniform in [0, 1) from the top 53 bits.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// `n` consecutive bars of `timeframe`, the same for the same `n` on every run
/// and platform.
pub fn bars(n: usize, timeframe: Timeframe) -> Vec<Bar> {
    let mut rng = Rng(SEED);
    let mut close = 100.0_f64;
    let step = timeframe.seconds();
    (0..n)
        .map(|i| {
            let open = close * (1.0 + 0.002 * (rng.next_f64() - 0.5));
            let drift = 0.001 * (100.0 - open) / 100.0;
            close = open * (1.0 + drift + 0.02 * (rng.next_f64() - 0.5));
            let high = open.max(close) * (1.0 + 0.005 * rng.next_f64());
            let low = open.min(close) * (1.0 - 0.005 * rng.next_f64());
            let volume = (1_000.0 + 9_000.0 * rng.next_f64()).floor();
            Bar { ts: START_TS + i as i64 * step, open, high, low, close, volume }
        })
        .collect()
}

/// The closes of `bars`.
pub fn closes(bars: &[Bar]) -> Vec<f64> {
    bars.iter().map(|b| b.close).collect()
}
