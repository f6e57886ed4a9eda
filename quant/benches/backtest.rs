//! Backtest benchmarks: the SMA-cross strategy (`sma_cross`, fast 10, slow 20,
//! default [`Config`]: long-only, next-open fills, no costs) on 2,520 daily
//! bars and on 5,000,000 one-minute bars, and a 10,000-combination sweep
//! (fast 1..=100 x slow 101..=200) over the daily bars on all cores.
//!
//! Each timed run builds the strategy from its JSON parameters and runs it, as
//! a caller would.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use quant::Timeframe;
use quant::backtest::{Config, Grid, run_strategy, sweep};
use quant::strategies;
use serde_json::{Value, json};

mod common;

fn sma_cross(bars: &[quant::Bar], config: &Config) -> f64 {
    let entry = strategies::find("sma_cross").expect("sma_cross is in the catalog");
    let mut strategy = entry.build(&json!({"fast": 10, "slow": 20})).expect("valid parameters");
    let report = run_strategy(bars, strategy.as_mut(), config).expect("valid config");
    report.metrics.final_equity
}

fn backtests(c: &mut Criterion) {
    let config = Config::default();
    let daily = common::bars(common::DAILY_BARS, Timeframe::D1);
    let mut g = c.benchmark_group("backtest");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    g.bench_function("sma_cross_daily_2520", |b| b.iter(|| sma_cross(black_box(&daily), &config)));

    let grid: Grid = vec![
        ("fast".to_owned(), (1..=100).map(Value::from).collect()),
        ("slow".to_owned(), (101..=200).map(Value::from).collect()),
    ];
    let entry = strategies::find("sma_cross").expect("sma_cross is in the catalog");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(3));
    g.bench_function("sweep_10000_daily", |b| {
        b.iter(|| {
            let s = sweep(black_box(&daily), entry, &grid, &config, "sharpe").expect("valid sweep");
            assert_eq!((s.runs.len(), s.skipped), (10_000, 0));
            s
        });
    });

    let minute = common::bars(common::MINUTE_BARS, Timeframe::M1);
    g.bench_function("sma_cross_minute_5m", |b| b.iter(|| sma_cross(black_box(&minute), &config)));
    g.finish();
}

criterion_group!(benches, backtests);
criterion_main!(benches);
