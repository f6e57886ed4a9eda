//! Indicator benchmarks: batch functions over 10,000,000 bars (compared with
//! TA-Lib by `bench/compare.sh`) and one streaming `next()` on a warmed-up
//! instance, for SMA, EMA, RSI, MACD, BBANDS, ATR, STOCH and ADX (the last three
//! also through their columnar `*_hlc` forms, which read TA-Lib's layout).
//!
//! Parameters are the ones `bench/talib_ref.py` gives TA-Lib: SMA(20), EMA(20),
//! RSI(14), MACD(12,26,9), BBANDS(20,2,2,SMA), ATR(14), STOCH(5,3,3), ADX(14).
//!
//! The batch group also times memory floors (`floor_*`): fresh output columns
//! filled with a trivial function of the inputs, one per input/output shape
//! of the indicators, so `bench/report.py` can show the best ratio to TA-Lib
//! this machine allows for each row.
//!
//! `QUANT_BENCH_BARS` overrides the batch length (default 10,000,000).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use quant::indicators::{
    Adx, Atr, Bbands, Ema, Indicator, MaType, Macd, Rsi, Sma, Stoch, adx, adx_hlc, atr, atr_hlc, bbands, ema, macd,
    rsi, sma, stoch, stoch_hlc,
};
use quant::{Bar, Timeframe};

mod common;

fn batch_len() -> usize {
    std::env::var("QUANT_BENCH_BARS").ok().and_then(|v| v.parse().ok()).unwrap_or(common::BATCH_BARS)
}

fn batch(c: &mut Criterion) {
    let bars = common::bars(batch_len(), Timeframe::M1);
    let closes = common::closes(&bars);
    // The same bars as three columns, TA-Lib's layout (`*_hlc` functions).
    let highs: Vec<f64> = bars.iter().map(|b| b.high).collect();
    let lows: Vec<f64> = bars.iter().map(|b| b.low).collect();
    let mut g = c.benchmark_group("batch_10m");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    g.bench_function("sma", |b| b.iter(|| sma(black_box(&closes), 20)));
    g.bench_function("ema", |b| b.iter(|| ema(black_box(&closes), 20)));
    g.bench_function("rsi", |b| b.iter(|| rsi(black_box(&closes), 14)));
    g.bench_function("macd", |b| b.iter(|| macd(black_box(&closes), 12, 26, 9)));
    g.bench_function("bbands", |b| b.iter(|| bbands(black_box(&closes), 20, 2.0, 2.0, MaType::Sma)));
    g.bench_function("atr", |b| b.iter(|| atr(black_box(&bars), 14)));
    g.bench_function("stoch", |b| b.iter(|| stoch(black_box(&bars), 5, 3, 3)));
    g.bench_function("adx", |b| b.iter(|| adx(black_box(&bars), 14)));
    g.bench_function("atr_hlc", |b| b.iter(|| atr_hlc(black_box(&highs), &lows, &closes, 14)));
    g.bench_function("stoch_hlc", |b| b.iter(|| stoch_hlc(black_box(&highs), &lows, &closes, 5, 3, 3)));
    g.bench_function("adx_hlc", |b| b.iter(|| adx_hlc(black_box(&highs), &lows, &closes, 14)));
    // What the memory system alone allows for each shape of input and output
    // above, in the same process: see `floor`.
    let (c, h, l) = (&closes[..], &highs[..], &lows[..]);
    g.bench_function("floor_1in_1out", |b| b.iter(|| floor::<1>(c.len(), |i| c[i])));
    g.bench_function("floor_1in_3out", |b| b.iter(|| floor::<3>(c.len(), |i| c[i])));
    g.bench_function("floor_3in_1out", |b| b.iter(|| floor::<1>(c.len(), |i| h[i] + l[i] + c[i])));
    g.bench_function("floor_3in_2out", |b| b.iter(|| floor::<2>(c.len(), |i| h[i] + l[i] + c[i])));
    let bars = &bars[..];
    let row = |i: usize| bars[i].high + bars[i].low + bars[i].close;
    g.bench_function("floor_bars_1out", |b| b.iter(|| floor::<1>(bars.len(), row)));
    g.bench_function("floor_bars_2out", |b| b.iter(|| floor::<2>(bars.len(), row)));
    g.finish();
}

/// The memory floor of a batch shape: `O` fresh output columns of `len` cells,
/// allocated as the indicators allocate theirs, each cell a trivial function
/// of the inputs at its position (`cell`), filled in chunks on rayon's
/// threads. No indicator with that shape can beat it by much, so `floor /
/// TA-Lib` is the best ratio this machine allows (`bench/report.py`).
fn floor<const O: usize>(len: usize, cell: impl Fn(usize) -> f64 + Sync) -> [Vec<f64>; O] {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let mut columns: [Vec<f64>; O] = std::array::from_fn(|_| vec![0.0; len]);
    let mut chunks = columns.each_mut().map(|c| c.chunks_mut(CHUNK));
    let mut parts: Vec<[&mut [f64]; O]> = Vec::with_capacity(len.div_ceil(CHUNK));
    while let Some(part) = chunks.each_mut().map(Iterator::next).into_iter().collect::<Option<Vec<_>>>() {
        parts.push(part.try_into().unwrap_or_else(|_| unreachable!("one chunk per column")));
    }
    parts.into_par_iter().enumerate().for_each(|(k, mut part)| {
        let start = k * CHUNK;
        for j in 0..part[0].len() {
            let v = cell(start + j);
            for (o, column) in part.iter_mut().enumerate() {
                column[j] = v * (o + 1) as f64;
            }
        }
    });
    columns
}

/// Times one `next()` per criterion iteration on an instance warmed up over
/// 10,000 bars, cycling through 4,096 real inputs so the state keeps moving.
fn stream_one<I: Indicator>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut ind: I,
    inputs: &[I::Input],
) {
    const WINDOW: usize = 4_096;
    for &x in inputs {
        black_box(ind.next(x));
    }
    let cycle = &inputs[inputs.len() - WINDOW..];
    let mut i = 0usize;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) & (WINDOW - 1);
            ind.next(black_box(cycle[i]))
        });
    });
}

fn streaming(c: &mut Criterion) {
    let bars: Vec<Bar> = common::bars(10_000, Timeframe::M1);
    let closes = common::closes(&bars);
    let mut g = c.benchmark_group("stream_next");
    g.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    let new = "valid parameters";
    stream_one(&mut g, "sma", Sma::new(20).expect(new), &closes);
    stream_one(&mut g, "ema", Ema::new(20).expect(new), &closes);
    stream_one(&mut g, "rsi", Rsi::new(14).expect(new), &closes);
    stream_one(&mut g, "macd", Macd::new(12, 26, 9).expect(new), &closes);
    stream_one(&mut g, "bbands", Bbands::new(20, 2.0, 2.0, MaType::Sma).expect(new), &closes);
    stream_one(&mut g, "atr", Atr::new(14).expect(new), &bars);
    stream_one(&mut g, "stoch", Stoch::new(5, 3, 3).expect(new), &bars);
    stream_one(&mut g, "adx", Adx::new(14).expect(new), &bars);
    g.finish();
}

criterion_group!(benches, batch, streaming);
criterion_main!(benches);
