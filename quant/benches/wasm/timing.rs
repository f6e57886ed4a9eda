//! The SMA-cross backtest timed by one harness, natively and in wasm32 under
//! Node, so the two figures compare like with like (docs/BENCHMARKS.md).
//!
//! Native: `cargo test --release -p quant --test wasm_timing -- --nocapture`
//! wasm32: `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!          cargo test --release -p quant --target wasm32-unknown-unknown --test wasm_timing -- --nocapture`
//!
//! Clock: `std::time::Instant` natively; in wasm32 `wasm_bindgen_test::Instant`,
//! which reads `performance.now()` (Node's high-resolution clock; sub-microsecond
//! resolution, so each timed batch runs for at least 100 ms). Each workload is
//! warmed up, then timed in 9 batches; the median batch's time per run is
//! reported on a line starting `TIMING`.
//!
//! Not part of `cargo test` (`test = false` in Cargo.toml): it takes seconds.
#![allow(clippy::expect_used, reason = "a benchmark with bad fixed parameters should stop loudly")]

use std::hint::black_box;
use std::time::Duration;

use quant::backtest::{Config, run_strategy};
use quant::{Bar, Timeframe, strategies};
use serde_json::json;

#[path = "../common/mod.rs"]
mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::Instant;

#[cfg(not(target_arch = "wasm32"))]
use std::time::Instant;

const PLATFORM: &str = if cfg!(target_arch = "wasm32") { "wasm32" } else { "native" };

macro_rules! report {
    ($($arg:tt)*) => {{
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::console_log!($($arg)*);
        #[cfg(not(target_arch = "wasm32"))]
        println!($($arg)*);
    }};
}

fn sma_cross(bars: &[Bar], config: &Config) -> f64 {
    let entry = strategies::find("sma_cross").expect("sma_cross is in the catalog");
    let mut strategy = entry.build(&json!({"fast": 10, "slow": 20})).expect("valid parameters");
    run_strategy(bars, strategy.as_mut(), config).expect("valid config").metrics.final_equity
}

/// Median time per run of `work`, over 9 batches of at least `min_batch` each.
fn time_per_run(min_batch: Duration, mut work: impl FnMut() -> f64) -> (Duration, u32) {
    // Warm-up, and a first estimate of one run.
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < min_batch / 2 || runs < 2 {
        black_box(work());
        runs += 1;
    }
    let per_run = start.elapsed() / runs;
    let batch = u32::try_from(min_batch.as_nanos() / per_run.as_nanos().max(1)).unwrap_or(u32::MAX).max(1);
    let mut samples: Vec<Duration> = (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(work());
            }
            start.elapsed() / batch
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], batch)
}

fn run() {
    let config = Config::default();
    let daily = common::bars(common::DAILY_BARS, Timeframe::D1);
    let minute = common::bars(1_000_000, Timeframe::M1);
    // Same result on both platforms: the engine is bit-reproducible.
    report!("TIMING {PLATFORM} sma_cross_daily_2520 final_equity={:?}", sma_cross(&daily, &config));
    let (t, batch) = time_per_run(Duration::from_millis(200), || sma_cross(&daily, &config));
    report!("TIMING {PLATFORM} sma_cross_daily_2520 ns_per_run={} runs_per_batch={batch}", t.as_nanos());
    let (t, batch) = time_per_run(Duration::from_millis(300), || sma_cross(&minute, &config));
    report!("TIMING {PLATFORM} sma_cross_minute_1m ns_per_run={} runs_per_batch={batch}", t.as_nanos());
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn sma_cross_timing() {
    run();
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn sma_cross_timing() {
    run();
}
