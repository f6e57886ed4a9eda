//! The lab's engine run natively: the reference the worker's wasm is measured
//! against (`server/bench/lab.sh`, docs/BENCHMARKS.md "The backtest lab").
//!
//! Loads packed bars (a `.fsb` file, as `GET /symbols/{symbol}/bars.fsb`
//! serves them) into an [`lab::engine::Lab`] and times what the worker
//! times, the same calls with the same text in:
//!
//! ```text
//! native_timing BARS.fsb SETTINGS [--batch N] [--batches K] [--warmup W]
//! native_timing BARS.fsb SETTINGS --sweep GRID --metric M [--total N]
//! ```
//!
//! `SETTINGS` and `GRID` are JSON text or `@file`. A backtest is timed in
//! `K` batches of `N` runs after `W` runs of warm-up, the figure of a batch
//! being its time divided by `N`; a sweep runs combinations `0..N` in one
//! `sweep_chunk` call on this one thread, `K` times. Prints one JSON line: the
//! median, minimum and maximum per run (ms), the batches, the run's total
//! return and fingerprint (to check both sides computed the same backtest),
//! and the median time of each step of a backtest (settings, the strategy's
//! run, the statistics, months, the JSON text, the trade and month columns), timed
//! apart over `K` more runs. (The fingerprint is computed only when the page
//! checks a run against the server, so it is not part of a backtest.)
//!
//! Build it with the worker's profile so both sides get the same optimisation:
//! `cargo build -p lab --example native_timing --profile lab-release`.

use std::error::Error;
use std::time::Instant;

use lab::engine::{Lab, SWEEP_ROW};
use quant::backtest::{self, Settings, Side};
use serde::Serialize;
use serde_json::{Value, json};

/// The summary `Lab::backtest` writes as JSON (the same fields, borrowed).
#[derive(Serialize)]
struct Summary<'a> {
    metrics: &'a backtest::Metrics,
    sides: Sides<'a>,
    params: &'a Value,
    strategy: &'a str,
    cash: f64,
}

#[derive(Serialize)]
struct Sides<'a> {
    all: &'a backtest::TradeStats,
    long: &'a backtest::TradeStats,
    short: &'a backtest::TradeStats,
}

/// The steps of `Lab::backtest`, as named in [`PHASES`], each timed (ms):
/// where a backtest's time goes.
fn phases(bars: &[quant::Bar], settings: &str) -> Result<[f64; PHASES.len()], Box<dyn Error>> {
    let mut clock = Instant::now();
    let mut lap = || {
        let ms = clock.elapsed().as_secs_f64() * 1e3;
        clock = Instant::now();
        ms
    };
    let parsed: Settings = serde_json::from_str(settings)?;
    let resolved = parsed.resolve()?;
    let mut strategy = resolved.entry.build(&resolved.params)?;
    let setup = lap();
    let report = backtest::run_strategy(bars, strategy.as_mut(), &resolved.config)?;
    let run = lap();
    let sides = [None, Some(Side::Long), Some(Side::Short)].map(|side| backtest::trade_stats(&report.trades, side));
    let stats = lap();
    let monthly = backtest::monthly_returns(bars, &report.equity, resolved.config.initial_cash);
    let month_ms = lap();
    let text = serde_json::to_string(&Summary {
        metrics: &report.metrics,
        sides: Sides { all: &sides[0], long: &sides[1], short: &sides[2] },
        params: &resolved.params,
        strategy: resolved.entry.name,
        cash: resolved.config.initial_cash,
    })?;
    let serialise = lap();
    let trades = backtest::columns::trade_columns(&report.trades);
    let months = backtest::columns::month_columns(&monthly);
    let columns = lap();
    std::hint::black_box((text, trades, months));
    Ok([setup, run, stats, month_ms, serialise, columns])
}

/// The steps [`phases`] times.
const PHASES: [&str; 6] = ["settings", "run_strategy", "trade_stats", "monthly_returns", "json", "columns"];

fn text(arg: &str) -> Result<String, Box<dyn Error>> {
    Ok(match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)?,
        None => arg.to_owned(),
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "native_timing BARS.fsb SETTINGS [--batch N] [--batches K] [--warmup W] [--sweep GRID --metric M --total N]";
    let (Some(bars_path), Some(settings)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let settings = text(settings)?;
    let option = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let number = |name: &str, default: usize| -> Result<usize, Box<dyn Error>> {
        Ok(option(name).map(|v| v.parse()).transpose()?.unwrap_or(default))
    };
    let batch = number("--batch", 20)?.max(1);
    let batches = number("--batches", 15)?.max(1);
    let warmup = number("--warmup", 50)?;

    let packed = std::fs::read(bars_path)?;
    let mut lab = Lab::default();
    let started = Instant::now();
    let bars = lab.load(&packed)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;

    let out = if let Some(grid) = option("--sweep") {
        let grid = text(grid)?;
        let metric = option("--metric").map_or("sharpe", String::as_str);
        let total = number("--total", usize::MAX)?;
        let mut times = Vec::with_capacity(batches);
        let mut refused = 0;
        let mut done = 0;
        for _ in 0..batches {
            let started = Instant::now();
            let rows = lab.sweep_chunk(&settings, &grid, metric, 0, total)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            done = rows.len() / SWEEP_ROW;
            refused = rows.chunks(SWEEP_ROW).filter(|r| r[1] == 1.0).count();
        }
        json!({
            "kind": "sweep", "bars": bars, "combinations": done, "refused": refused, "threads": 1,
            "median_ms": median(&times), "min_ms": times.iter().copied().fold(f64::INFINITY, f64::min),
            "max_ms": times.iter().copied().fold(0.0, f64::max), "runs_ms": times,
        })
    } else {
        let mut last = None;
        for _ in 0..warmup {
            last = Some(lab.backtest(&settings)?);
        }
        let mut per_run = Vec::with_capacity(batches);
        for _ in 0..batches {
            let started = Instant::now();
            for _ in 0..batch {
                last = Some(std::hint::black_box(lab.backtest(&settings)?));
            }
            per_run.push(started.elapsed().as_secs_f64() * 1e3 / batch as f64);
        }
        let mut steps: Vec<[f64; PHASES.len()]> = Vec::with_capacity(batches);
        for _ in 0..batches {
            steps.push(phases(lab.bars(), &settings)?);
        }
        let step = |k: usize| median(&steps.iter().map(|s| s[k]).collect::<Vec<_>>());
        let summary: Value = match &last {
            Some(outcome) => serde_json::from_str(&outcome.json)?,
            None => Value::Null,
        };
        json!({
            "kind": "backtest", "bars": bars, "load_ms": load_ms, "batch": batch, "batches": batches, "warmup": warmup,
            "median_ms": median(&per_run), "min_ms": per_run.iter().copied().fold(f64::INFINITY, f64::min),
            "max_ms": per_run.iter().copied().fold(0.0, f64::max), "batches_ms": per_run,
            "trades": summary["sides"]["all"]["trades"],
            "total_return": summary["metrics"]["total_return"], "fingerprint": lab.fingerprint()?,
            "json_bytes": last.as_ref().map(|o| o.json.len()),
            "phases_ms": PHASES.iter().enumerate().map(|(k, name)| ((*name).to_owned(), json!(step(k)))).collect::<serde_json::Map<_, _>>(),
        })
    };
    println!("{out}");
    Ok(())
}
