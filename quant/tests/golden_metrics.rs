//! The backtest engine's trades, equity and metrics against two independent
//! references: backtesting.py 0.6.6 and vectorbt 1.2.0.
//!
//! `golden/backtests/generate.py` replayed explicit signals (one per bar)
//! through backtesting.py under `run_signals`' conventions, fed the resulting
//! orders to vectorbt, checked that both book the same trades and equity, and
//! stored bars, signals, configuration, backtesting.py's trade list and equity
//! curve and both tools' statistics. For every case this test runs
//! `run_signals` on the same input and requires:
//! - the same trades: entry and exit bar, prices, size, pnl, return, exit reason;
//! - the same equity at every close;
//! - every metric a reference defines as we do ([`SAME`]) equal to it;
//! - every metric no reference defines as we do equal to what our definition
//!   gives from the reference's own numbers ([`derived`]).
//!
//! Values agree when `|ours - reference| <= 1e-9 * |reference| + 1e-12`. A
//! reference's NaN (undefined) must be NaN on our side too, except where
//! [`Rule`] names a documented difference. docs/METRICS.md has every
//! definition, the reference's beside it, and why they differ where they do.
//!
//! `QUANT_GOLDEN_VERBOSE=1 cargo test -p quant --test golden_metrics --
//! --nocapture` prints every comparison.
#![allow(clippy::unwrap_used, reason = "a malformed golden file should fail at the failing line")]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use quant::Bar;
use quant::backtest::{Config, ExitReason, Metrics, Report, Side, run_signals};
use quant::strategy::Signal;
use serde::Deserialize;
use serde_json::Value;

const RELATIVE: f64 = 1e-9;
const ABSOLUTE: f64 = 1e-12;
/// The golden cases; each must be present and checked.
const CASES: [&str; 7] =
    ["random_walk", "no_trades", "one_trade", "all_losers", "flat_market", "commission", "commission_fixed"];

#[derive(Debug, Deserialize)]
struct Golden {
    case: String,
    config: GoldenConfig,
    bars: Columns,
    signals: String,
    trades: Vec<GoldenTrade>,
    equity: Vec<f64>,
    backtesting_stats: BTreeMap<String, Value>,
    vectorbt_stats: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct GoldenConfig {
    initial_cash: f64,
    commission_rate: f64,
    commission_fixed: f64,
    fraction: f64,
    periods_per_year: f64,
}

#[derive(Debug, Deserialize)]
struct Columns {
    ts: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct GoldenTrade {
    entry_bar: usize,
    exit_bar: usize,
    entry_price: f64,
    exit_price: f64,
    size: f64,
    pnl: f64,
    return_pct: f64,
}

/// Which reference a statistic comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// backtesting.py's `Backtest.run()` statistics.
    Backtesting,
    /// vectorbt's `Portfolio.stats()` ("portfolio:"), `returns_stats()`
    /// ("returns:") and `trades.stats()` ("trades:").
    Vectorbt,
}

/// How a reference's undefined or infinite value relates to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Equal; NaN only where the reference has NaN.
    Same,
    /// Equal where finite; where the reference divides by zero and reports
    /// +-inf, ours is NaN (we report a ratio over zero as undefined).
    InfIsUndefined,
    /// Equal where defined; where the reference reports NaN because the
    /// equity never fell, ours is 0 (no drawdown is a drawdown of 0).
    NoDrawdownIsZero,
}

/// One metric a reference defines exactly as we do.
struct Same {
    ours: &'static str,
    value: fn(&Metrics) -> f64,
    tool: Tool,
    stat: &'static str,
    /// Reference value times this is ours (percentages, signs).
    scale: f64,
    rule: Rule,
}

const PCT: f64 = 0.01;

/// Our metric -> the reference statistic with the same definition. Metrics
/// missing from a tool here are defined differently by it (docs/METRICS.md);
/// those without any entry are checked by [`derived`].
#[rustfmt::skip]
const SAME: &[Same] = &[
    // backtesting.py
    Same { ours: "final_equity", value: |m| m.final_equity, tool: Tool::Backtesting, stat: "Equity Final [$]", scale: 1.0, rule: Rule::Same },
    Same { ours: "total_return", value: |m| m.total_return, tool: Tool::Backtesting, stat: "Return [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "buy_and_hold_return", value: |m| m.buy_and_hold_return, tool: Tool::Backtesting, stat: "Buy & Hold Return [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "cagr", value: |m| m.cagr, tool: Tool::Backtesting, stat: "CAGR [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "max_drawdown", value: |m| m.max_drawdown, tool: Tool::Backtesting, stat: "Max. Drawdown [%]", scale: -PCT, rule: Rule::Same },
    Same { ours: "avg_drawdown", value: |m| m.avg_drawdown, tool: Tool::Backtesting, stat: "Avg. Drawdown [%]", scale: -PCT, rule: Rule::NoDrawdownIsZero },
    Same { ours: "trades", value: |m| m.trades as f64, tool: Tool::Backtesting, stat: "# Trades", scale: 1.0, rule: Rule::Same },
    Same { ours: "win_rate", value: |m| m.win_rate, tool: Tool::Backtesting, stat: "Win Rate [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "best_trade", value: |m| m.best_trade, tool: Tool::Backtesting, stat: "Best Trade [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "worst_trade", value: |m| m.worst_trade, tool: Tool::Backtesting, stat: "Worst Trade [%]", scale: PCT, rule: Rule::Same },
    // backtesting.py's "Avg. Trade" is the geometric mean; its "Expectancy"
    // is the arithmetic mean of trade returns, which is our average trade.
    Same { ours: "avg_trade", value: |m| m.avg_trade, tool: Tool::Backtesting, stat: "Expectancy [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "sqn", value: |m| m.sqn, tool: Tool::Backtesting, stat: "SQN", scale: 1.0, rule: Rule::Same },
    // vectorbt
    Same { ours: "final_equity", value: |m| m.final_equity, tool: Tool::Vectorbt, stat: "portfolio:End Value", scale: 1.0, rule: Rule::Same },
    Same { ours: "total_return", value: |m| m.total_return, tool: Tool::Vectorbt, stat: "portfolio:Total Return [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "buy_and_hold_return", value: |m| m.buy_and_hold_return, tool: Tool::Vectorbt, stat: "portfolio:Benchmark Return [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "volatility", value: |m| m.volatility, tool: Tool::Vectorbt, stat: "returns:Annualized Volatility [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "sharpe", value: |m| m.sharpe, tool: Tool::Vectorbt, stat: "returns:Sharpe Ratio", scale: 1.0, rule: Rule::InfIsUndefined },
    Same { ours: "sortino", value: |m| m.sortino, tool: Tool::Vectorbt, stat: "returns:Sortino Ratio", scale: 1.0, rule: Rule::InfIsUndefined },
    Same { ours: "max_drawdown", value: |m| m.max_drawdown, tool: Tool::Vectorbt, stat: "returns:Max Drawdown [%]", scale: PCT, rule: Rule::NoDrawdownIsZero },
    // vectorbt times drawdowns in bars times its frequency: days, at "1D".
    Same { ours: "max_drawdown_bars", value: |m| m.max_drawdown_bars as f64, tool: Tool::Vectorbt, stat: "returns:Max Drawdown Duration", scale: 1.0, rule: Rule::NoDrawdownIsZero },
    Same { ours: "trades", value: |m| m.trades as f64, tool: Tool::Vectorbt, stat: "portfolio:Total Trades", scale: 1.0, rule: Rule::Same },
    Same { ours: "win_rate", value: |m| m.win_rate, tool: Tool::Vectorbt, stat: "trades:Win Rate [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "best_trade", value: |m| m.best_trade, tool: Tool::Vectorbt, stat: "portfolio:Best Trade [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "worst_trade", value: |m| m.worst_trade, tool: Tool::Vectorbt, stat: "portfolio:Worst Trade [%]", scale: PCT, rule: Rule::Same },
    Same { ours: "profit_factor", value: |m| m.profit_factor, tool: Tool::Vectorbt, stat: "trades:Profit Factor", scale: 1.0, rule: Rule::InfIsUndefined },
    Same { ours: "expectancy", value: |m| m.expectancy, tool: Tool::Vectorbt, stat: "trades:Expectancy", scale: 1.0, rule: Rule::Same },
    Same { ours: "sqn", value: |m| m.sqn, tool: Tool::Vectorbt, stat: "trades:SQN", scale: 1.0, rule: Rule::Same },
];

/// Metrics whose definition differs from every reference's, checked in
/// [`derived`] from the reference's own numbers.
const DERIVED: [&str; 2] = ["calmar", "exposure"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/backtests")
}

fn load(case: &str) -> Golden {
    let path = golden_dir().join(format!("{case}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let golden: Golden = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(golden.case, case, "{}: the case inside is named differently", path.display());
    golden
}

fn bars(g: &Golden) -> Vec<Bar> {
    let c = &g.bars;
    (0..c.ts.len())
        .map(|i| Bar { ts: c.ts[i], open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i], volume: 0.0 })
        .collect()
}

fn signals(g: &Golden) -> Vec<Signal> {
    g.signals
        .chars()
        .map(|c| match c {
            'B' => Signal::Buy,
            'S' => Signal::Sell,
            '.' => Signal::Hold,
            other => panic!("{}: unknown signal {other:?}", g.case),
        })
        .collect()
}

fn config(g: &Golden) -> Config {
    let c = &g.config;
    Config {
        initial_cash: c.initial_cash,
        commission_rate: c.commission_rate,
        commission_fixed: c.commission_fixed,
        fraction: c.fraction,
        periods_per_year: c.periods_per_year,
        ..Config::default()
    }
}

/// A reference statistic as a number: null is NaN, "inf"/"-inf" infinite.
fn stat(g: &Golden, tool: Tool, name: &str) -> f64 {
    let stats = match tool {
        Tool::Backtesting => &g.backtesting_stats,
        Tool::Vectorbt => &g.vectorbt_stats,
    };
    match stats.get(name) {
        Some(Value::Null) => f64::NAN,
        Some(Value::Number(n)) => n.as_f64().unwrap(),
        Some(Value::String(s)) if s == "inf" => f64::INFINITY,
        Some(Value::String(s)) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("{}: {tool:?} statistic {name:?} is {other:?}", g.case),
    }
}

/// Within tolerance; a zero also has the reference's sign (a `-0` shows as
/// "-0.00" and is written as `-0.0` in JSON).
fn close(ours: f64, want: f64) -> bool {
    let sign = want != 0.0 || ours != 0.0 || ours.is_sign_negative() == want.is_sign_negative();
    sign && (ours - want).abs() <= RELATIVE * want.abs() + ABSOLUTE
}

/// Compares one value; a message for the failure list when they differ.
fn compare(ours: f64, want: f64, rule: Rule) -> Option<String> {
    let ok = match rule {
        _ if want.is_nan() && ours.is_nan() => true,
        Rule::InfIsUndefined if want.is_infinite() => ours.is_nan(),
        Rule::NoDrawdownIsZero if want.is_nan() => ours == 0.0,
        _ if want.is_nan() || ours.is_nan() => false,
        _ => close(ours, want),
    };
    (!ok).then(|| format!("ours {ours:?}, reference {want:?}"))
}

/// Trades and equity, value by value.
fn check_books(g: &Golden, bars: &[Bar], report: &Report, failures: &mut Vec<String>) {
    let case = &g.case;
    if report.trades.len() != g.trades.len() {
        failures.push(format!("{case}: {} trades, backtesting.py has {}", report.trades.len(), g.trades.len()));
    }
    let index = |ts: i64| bars.binary_search_by_key(&ts, |b| b.ts).unwrap();
    for (k, (ours, want)) in report.trades.iter().zip(&g.trades).enumerate() {
        let (entry, exit) = (index(ours.entry_ts), index(ours.exit_ts));
        // A trade the signals do not end is closed at the end of data.
        let signalled = g.signals.as_bytes()[want.exit_bar - 1] == b'S';
        let reason = if signalled { ExitReason::Signal } else { ExitReason::EndOfData };
        let mut diffs = Vec::new();
        if (entry, exit) != (want.entry_bar, want.exit_bar) {
            diffs.push(format!("bars {entry}..{exit}, reference {}..{}", want.entry_bar, want.exit_bar));
        }
        if ours.side != Side::Long || ours.exit != reason || ours.bars_held != want.exit_bar - want.entry_bar {
            diffs.push(format!(
                "{:?} {:?} after {} bars, want a long, {reason:?}",
                ours.side, ours.exit, ours.bars_held
            ));
        }
        for (field, o, w) in [
            ("entry_price", ours.entry_price, want.entry_price),
            ("exit_price", ours.exit_price, want.exit_price),
            ("size", ours.size, want.size),
            ("pnl", ours.pnl, want.pnl),
            ("return_pct", ours.return_pct, want.return_pct),
        ] {
            if let Some(m) = compare(o, w, Rule::Same) {
                diffs.push(format!("{field}: {m}"));
            }
        }
        if !diffs.is_empty() {
            failures.push(format!("{case}: trade {k}: {}", diffs.join("; ")));
        }
    }
    if report.equity.len() != g.equity.len() {
        failures.push(format!("{case}: {} equity values for {} in the reference", report.equity.len(), g.equity.len()));
    }
    if let Some((i, m)) = report
        .equity
        .iter()
        .zip(&g.equity)
        .enumerate()
        .find_map(|(i, (&o, &w))| compare(o, w, Rule::Same).map(|m| (i, m)))
    {
        failures.push(format!("{case}: equity at bar {i}: {m}"));
    }
}

/// The metrics no reference defines as we do, from the reference's numbers
/// under our definition:
/// - Calmar is CAGR over the maximum drawdown: backtesting.py's "CAGR [%]"
///   over its "Max. Drawdown [%]" (its own "Calmar Ratio" divides its
///   bar-count annualised return instead).
/// - Exposure counts the bars that end in the market; backtesting.py's
///   "Exposure Time [%]" counts every bar from entry to exit inclusive, which
///   for a next-open fill is one more bar per trade exited by a signal (at the
///   open of a bar that then ends flat).
fn derived(g: &Golden, m: &Metrics) -> Vec<(&'static str, f64, f64)> {
    let bt = |name| stat(g, Tool::Backtesting, name);
    let mdd = -bt("Max. Drawdown [%]") * PCT;
    let calmar = if mdd == 0.0 { f64::NAN } else { bt("CAGR [%]") * PCT / mdd };

    let n = g.equity.len() as f64;
    let signal_exits = g.trades.iter().filter(|t| g.signals.as_bytes()[t.exit_bar - 1] == b'S').count() as f64;
    let bars_touched = (bt("Exposure Time [%]") * PCT * n).round();
    let exposure = (bars_touched - signal_exits) / n;

    vec![("calmar", m.calmar, calmar), ("exposure", m.exposure, exposure)]
}

#[test]
fn backtests_match_backtesting_py_and_vectorbt() {
    let verbose = std::env::var_os("QUANT_GOLDEN_VERBOSE").is_some();
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for case in CASES {
        let g = load(case);
        let bars = bars(&g);
        let report = run_signals(&bars, &signals(&g), &config(&g)).unwrap();
        check_books(&g, &bars, &report, &mut failures);
        let m = &report.metrics;
        for s in SAME {
            let want = stat(&g, s.tool, s.stat) * s.scale;
            if verbose {
                println!("{case:18} {:20} {:>24?} {:>24?}  {:?} {:?}", s.ours, (s.value)(m), want, s.tool, s.stat);
            }
            if let Some(msg) = compare((s.value)(m), want, s.rule) {
                failures.push(format!("{case}: {} vs {:?} {:?}: {msg}", s.ours, s.tool, s.stat));
            }
            checked += 1;
        }
        let derived = derived(&g, m);
        assert_eq!(derived.iter().map(|d| d.0).collect::<Vec<_>>(), DERIVED);
        for (name, ours, want) in derived {
            if verbose {
                println!("{case:18} {name:20} {ours:>24?} {want:>24?}  derived");
            }
            if let Some(msg) = compare(ours, want, Rule::Same) {
                failures.push(format!("{case}: {name} (derived from the reference): {msg}"));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} differences from the references:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, CASES.len() * (SAME.len() + DERIVED.len()), "every metric of every case compared");
}

/// Every field of [`Metrics`] is compared in some case: with a reference that
/// defines it the same way, or derived from a reference's numbers.
#[test]
fn every_metric_is_covered() {
    let metrics = serde_json::to_value(run_signals(&[], &[], &Config::default()).unwrap().metrics).unwrap();
    let fields: Vec<&String> = metrics.as_object().unwrap().keys().collect();
    for field in fields {
        assert!(
            SAME.iter().any(|s| s.ours == field) || DERIVED.contains(&field.as_str()),
            "metric {field} is compared with no reference: add it to SAME or DERIVED (and docs/METRICS.md)"
        );
    }
}

/// The golden cases exercise what they are named for.
#[test]
fn the_cases_are_what_they_say() {
    let trades = |case: &str| load(case).trades;
    assert!(trades("random_walk").len() >= 50, "random_walk: many trades");
    assert!(trades("no_trades").is_empty(), "no_trades");
    assert_eq!(trades("one_trade").len(), 1, "one_trade");
    let losers = trades("all_losers");
    assert!(losers.len() > 1 && losers.iter().all(|t| t.pnl < 0.0), "all_losers: several trades, all losing");
    let flat = load("flat_market");
    assert!(flat.bars.close.iter().chain(&flat.bars.open).all(|&p| p == flat.bars.close[0]), "flat_market: one price");
    assert!(!flat.trades.is_empty(), "flat_market: trades");
    assert!(load("commission").config.commission_rate > 0.0, "commission: a rate");
    let fixed = load("commission_fixed").config;
    assert!(fixed.commission_rate > 0.0 && fixed.commission_fixed > 0.0, "commission_fixed: both");
}
