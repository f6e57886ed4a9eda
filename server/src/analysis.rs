//! `finstage indicators`, `backtest`, `sweep` and `walk-forward`: the engine on
//! a user's CSV file (or, for the last three, on stored bars, which
//! [`crate::commands`] loads through [`crate::lab`]).
//!
//! They read files with [`crate::providers::csv`], so a malformed file is
//! reported with its line and column, and write to any `Write` (stdout in the
//! binary, a buffer in tests). `indicators` writes through the `csv` crate's
//! writer: its column names hold commas (`MACD(12,26,9).macd`), and only
//! RFC 4180 quoting keeps them one cell for pandas, Python's `csv` and
//! spreadsheets.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use chrono::DateTime;
use quant::backtest::{self, Grid, RANK_METRICS, Report, Resolved, WalkForward, check_metric};
use quant::indicators::catalog::{self, DynIndicator, Spec};
use quant::strategies;
use serde_json::{Map, Value, json};

use crate::lab::{self, LabError};
use crate::providers::csv::{CsvBars, CsvError, read_bars};

/// Why an analysis command failed; the binary prints it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The CSV file could not be opened.
    #[error("cannot open {path}: {error}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// The CSV file is malformed.
    #[error("{path}: {error}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The first problem, with line and column.
        error: CsvError,
    },
    /// A specification or parameter is invalid.
    #[error(transparent)]
    Param(#[from] quant::ParamError),
    /// A `--param` is not `name=value`.
    #[error("--param `{0}` must look like name=value")]
    ParamSyntax(String),
    /// A `--grid` is neither `name=from..to[:step]` nor `name=a,b,c`.
    #[error("--grid `{0}` must look like name=5..50:5 or name=10,20,30")]
    GridSyntax(String),
    /// A required option is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// Neither `--csv` nor `--symbol` was given.
    #[error("give --csv FILE or --symbol SYMBOL")]
    NoData,
    /// The input (settings, grid, stored bars) was refused; the message names the field.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// Writing the output failed (e.g. a closed pipe).
    #[error(transparent)]
    Output(#[from] std::io::Error),
    /// Writing the CSV output failed: an I/O error, or a row whose width
    /// differs from the header's (a bug).
    #[error(transparent)]
    CsvOutput(#[from] csv::Error),
}

impl AnalysisError {
    /// Whether the output's reader went away (`finstage indicators ... | head`):
    /// the binary ends quietly then instead of reporting a failure.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            Self::Output(e) => e,
            // `csv::Error` does not expose its I/O error as a `source`, so a
            // walk of the error chain would not find it: look inside here.
            Self::CsvOutput(e) => match e.kind() {
                csv::ErrorKind::Io(e) => e,
                _ => return false,
            },
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::BrokenPipe
    }
}

fn load(path: &PathBuf) -> Result<CsvBars, AnalysisError> {
    let file = std::fs::File::open(path).map_err(|error| AnalysisError::Open { path: path.clone(), error })?;
    read_bars(std::io::BufReader::new(file)).map_err(|error| AnalysisError::Csv { path: path.clone(), error })
}

/// Prints the timestamp and one column per indicator output, named
/// `NAME(params).output`; warm-up cells are empty.
///
/// # Errors
/// [`AnalysisError`] for a bad file, a bad specification or a write failure.
pub fn indicators(csv: &PathBuf, specs: &[String], out: &mut impl Write) -> Result<(), AnalysisError> {
    let mut built: Vec<(Spec, Box<dyn DynIndicator>)> = Vec::with_capacity(specs.len());
    for text in specs {
        let spec: Spec = text.parse()?;
        let indicator = catalog::build(&spec)?;
        built.push((spec, indicator));
    }
    let data = load(csv)?;
    // The writer buffers, so the binary's line-buffered stdout sees a few large
    // writes rather than one per row.
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec![String::from("timestamp")];
    for (spec, indicator) in &built {
        header.extend(indicator.outputs().iter().map(|output| format!("{spec}.{output}")));
    }
    writer.write_record(&header)?;
    let mut values = Vec::new();
    let mut cell = String::new();
    for (bar, label) in data.bars.iter().zip(&data.labels) {
        writer.write_field(label)?;
        for (_, indicator) in &mut built {
            values.clear();
            values.resize(indicator.outputs().len(), f64::NAN);
            let ready = indicator.update(bar, &mut values);
            for v in &values {
                cell.clear();
                if ready && v.is_finite() {
                    let _ = write!(cell, "{v}");
                }
                writer.write_field(&cell)?;
            }
        }
        // An empty record ends the row the fields above began.
        writer.write_record(None::<&[u8]>)?;
    }
    // Dropping the writer would flush too, but would swallow the error.
    writer.flush()?;
    Ok(())
}

/// Where a command's bars come from: a CSV file, or a stored symbol's bars.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// CSV file with OHLCV bars.
    #[arg(long, value_name = "FILE", conflicts_with = "symbol", required_unless_present_any = ["symbol", "list"])]
    pub csv: Option<PathBuf>,
    /// A stored symbol's bars instead of a file (see `finstage symbols list`).
    #[arg(long, value_name = "SYMBOL")]
    pub symbol: Option<String>,
    /// The stored bars' timeframe (with --symbol).
    #[arg(long, requires = "symbol", value_name = "TF")]
    pub timeframe: Option<String>,
    /// First bar time, a date or RFC 3339 (with --symbol; default: the first stored).
    #[arg(long, requires = "symbol", value_name = "TIME")]
    pub from: Option<String>,
    /// Last bar time (with --symbol; default: the last stored).
    #[arg(long, requires = "symbol", value_name = "TIME")]
    pub to: Option<String>,
    /// List the strategies with their parameters, defaults and ranges, and exit.
    #[arg(long)]
    pub list: bool,
}

/// The strategy and the engine's settings, as `finstage backtest`, `sweep`
/// and `walk-forward` take them (the CLI's names are the API's fields).
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// Strategy name (see `--list`).
    #[arg(long, default_value = "sma_cross")]
    pub strategy: String,
    /// A strategy parameter, `name=value`; repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Starting cash.
    #[arg(long, default_value_t = 10_000.0)]
    pub cash: f64,
    /// Commission per fill as a fraction of notional (0.002 = 0.2%).
    #[arg(long, default_value_t = 0.0)]
    pub commission: f64,
    /// Fixed commission per fill.
    #[arg(long, default_value_t = 0.0)]
    pub commission_fixed: f64,
    /// Slippage per fill, in basis points.
    #[arg(long, default_value_t = 0.0)]
    pub slippage_bps: f64,
    /// long-only or long-short.
    #[arg(long, value_enum, default_value = "long-only")]
    pub mode: ModeArg,
    /// When orders fill: next-open (default) or close.
    #[arg(long, value_enum, default_value = "next-open")]
    pub fill: FillArg,
    /// How entries are sized: a fraction of equity (--fraction), fixed cash or fixed units (--size).
    #[arg(long, value_enum, default_value = "equity")]
    pub sizing: SizingArg,
    /// Fraction of equity per entry (--sizing equity).
    #[arg(long, default_value_t = 1.0)]
    pub fraction: f64,
    /// Cash or units per entry (--sizing cash or units).
    #[arg(long)]
    pub size: Option<f64>,
    /// Allow fractional units.
    #[arg(long)]
    pub fractional: bool,
    /// Stop-loss as a fraction of the entry price (0.05 = 5%).
    #[arg(long)]
    pub stop_loss: Option<f64>,
    /// Take-profit as a fraction of the entry price.
    #[arg(long)]
    pub take_profit: Option<f64>,
    /// Trailing stop as a fraction below the best price since entry.
    #[arg(long)]
    pub trailing_stop: Option<f64>,
    /// Bars per year for annualising (252 daily equities, 365 daily crypto).
    #[arg(long, default_value_t = 252.0)]
    pub periods_per_year: f64,
    /// Annual risk-free rate for Sharpe and Sortino.
    #[arg(long, default_value_t = 0.0)]
    pub risk_free: f64,
}

/// The options of `finstage backtest`, as parsed by clap.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    /// The bars.
    #[command(flatten)]
    pub data: DataArgs,
    /// Strategy and settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print JSON (`metrics`, `trades`, `equity`, `fingerprint`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The options of `finstage sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// The bars.
    #[command(flatten)]
    pub data: DataArgs,
    /// Strategy and settings; parameters not in the grid stay as given.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// A parameter's values: `fast=5..50:5` (from..to, optional step; the
    /// parameter's step by default) or `slow=10,20,30`; repeatable.
    #[arg(long = "grid", value_name = "NAME=VALUES", required_unless_present = "list")]
    pub grid: Vec<String>,
    /// The metric to rank by.
    #[arg(long, default_value = "sharpe", value_parser = clap::builder::PossibleValuesParser::new(RANK_METRICS))]
    pub metric: String,
    /// How many of the best runs to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON (`runs` best first, `skipped`, `total`, `cancelled`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The options of `finstage walk-forward`.
#[derive(Debug, Clone, clap::Args)]
pub struct WalkForwardArgs {
    /// The sweep run on each training window.
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Bars in each training window (the first one, with --anchored).
    #[arg(long, required_unless_present = "list")]
    pub train: Option<usize>,
    /// Bars in each test window.
    #[arg(long, required_unless_present = "list")]
    pub test: Option<usize>,
    /// Every training window starts at the first bar (growing) instead of rolling.
    #[arg(long)]
    pub anchored: bool,
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    /// Long or flat.
    LongOnly,
    /// Long or short.
    LongShort,
}

/// `--fill` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FillArg {
    /// At the next bar's open.
    NextOpen,
    /// At the deciding bar's close.
    Close,
}

/// `--sizing` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SizingArg {
    /// A fraction of equity.
    Equity,
    /// A fixed amount of cash.
    Cash,
    /// A fixed number of units.
    Units,
}

impl SettingsArgs {
    /// The settings as the flat input's fields (what `POST /api/v1/backtests` takes).
    ///
    /// # Errors
    /// [`AnalysisError::ParamSyntax`] for a `--param` that is not `name=value`.
    pub fn to_map(&self) -> Result<Map<String, Value>, AnalysisError> {
        let mut params = Map::new();
        for p in &self.params {
            let (name, value) = p.split_once('=').ok_or_else(|| AnalysisError::ParamSyntax(p.clone()))?;
            params.insert(name.trim().to_owned(), json_or_text(value));
        }
        let mut map = Map::new();
        map.insert("strategy".into(), json!(self.strategy));
        map.insert("params".into(), Value::Object(params));
        map.insert("cash".into(), json!(self.cash));
        map.insert("commission".into(), json!(self.commission));
        map.insert("commission_fixed".into(), json!(self.commission_fixed));
        map.insert("slippage_bps".into(), json!(self.slippage_bps));
        map.insert("mode".into(), json!(word(&self.mode)));
        map.insert("fill".into(), json!(word(&self.fill)));
        map.insert("sizing".into(), json!(word(&self.sizing)));
        map.insert("fraction".into(), json!(self.fraction));
        if let Some(size) = self.size {
            map.insert("size".into(), json!(size));
        }
        map.insert("fractional".into(), json!(self.fractional));
        for (name, value) in
            [("stop_loss", self.stop_loss), ("take_profit", self.take_profit), ("trailing_stop", self.trailing_stop)]
        {
            if let Some(v) = value {
                map.insert(name.into(), json!(v));
            }
        }
        map.insert("periods_per_year".into(), json!(self.periods_per_year));
        map.insert("risk_free".into(), json!(self.risk_free));
        Ok(map)
    }

    /// The settings checked and resolved.
    ///
    /// # Errors
    /// [`AnalysisError::Lab`] naming the bad field.
    pub fn resolve(&self) -> Result<Resolved, AnalysisError> {
        Ok(lab::input::resolve_settings(self.to_map()?)?.1)
    }
}

/// The word clap reads for `value` (`long-short`).
fn word<T: clap::ValueEnum>(value: &T) -> String {
    value.to_possible_value().map_or_else(String::new, |p| p.get_name().to_owned())
}

/// A command-line value as JSON when it reads as JSON (`10`, `true`, `0.5`), else as text.
fn json_or_text(value: &str) -> Value {
    let value = value.trim();
    serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.into()))
}

/// Reads `--grid` options (`fast=5..50:5`, `slow=10,20,30`) into the API's
/// `grid` object: `{"fast": {"from": 5, "to": 50, "step": 5}, "slow": [10, 20, 30]}`.
///
/// # Errors
/// [`AnalysisError::GridSyntax`] for one that is neither form.
pub fn grid_object(options: &[String]) -> Result<Value, AnalysisError> {
    let mut grid = Map::new();
    for option in options {
        let bad = || AnalysisError::GridSyntax(option.clone());
        let (name, values) = option.split_once('=').ok_or_else(bad)?;
        let (name, values) = (name.trim(), values.trim());
        if name.is_empty() || values.is_empty() {
            return Err(bad());
        }
        let spec = if let Some((from, rest)) = values.split_once("..") {
            let (to, step) = match rest.split_once(':') {
                Some((to, step)) => (to, Some(step)),
                None => (rest, None),
            };
            let number = |t: &str| t.trim().parse::<f64>().map_err(|_| bad());
            let mut range = Map::new();
            range.insert("from".into(), json!(number(from)?));
            range.insert("to".into(), json!(number(to)?));
            if let Some(step) = step {
                range.insert("step".into(), json!(number(step)?));
            }
            Value::Object(range)
        } else {
            Value::Array(values.split(',').map(json_or_text).collect())
        };
        grid.insert(name.to_owned(), spec);
    }
    Ok(Value::Object(grid))
}

/// Every strategy with its parameters (type, default, range, meaning) and
/// rules, for `--list` and the subcommands' `--help`.
#[must_use]
pub fn strategies_help() -> String {
    use quant::strategies::meta::Kind;
    let mut text = String::from("Strategies (--strategy NAME --param NAME=VALUE):\n");
    for entry in strategies::CATALOG {
        let _ = writeln!(text, "\n  {}: {}", entry.name, entry.summary);
        for p in entry.params {
            let (kind, default, range) = match p.kind {
                Kind::Int { default, min, max } => ("int", default.to_string(), format!("{min}..{max}")),
                Kind::Float { default, min, max, step } => {
                    ("float", default.to_string(), format!("{min}..{max} step {step}"))
                }
                Kind::Bool { default } => ("bool", default.to_string(), "true or false".into()),
                Kind::Choice { default, options } => ("choice", default.to_owned(), options.join(" | ")),
            };
            let _ = writeln!(text, "      {:<16}{kind:<7}default {default:<8}{range:<22}{}", p.name, p.doc);
        }
        for rule in entry.rules {
            let _ = writeln!(text, "      rule: {}", rule.describe());
        }
    }
    text
}

/// Bars read from a CSV file by [`DataArgs`] (with `--csv`).
///
/// # Errors
/// [`AnalysisError`] for a missing or malformed file.
pub fn load_csv(data: &DataArgs) -> Result<CsvBars, AnalysisError> {
    match &data.csv {
        Some(path) => load(path),
        None => Err(AnalysisError::NoData),
    }
}

/// Stored bars as the analysis commands take them: each labelled with its
/// time (RFC 3339, UTC), as `POST /api/v1/backtests` labels them.
#[must_use]
pub fn labelled(bars: Vec<quant::Bar>) -> CsvBars {
    let labels = bars.iter().map(|b| lab::time_label(b.ts)).collect();
    CsvBars { bars, labels }
}

/// Runs a strategy over a CSV file and prints the metrics (or JSON).
///
/// # Errors
/// [`AnalysisError`] for a bad file, strategy, parameter or a write failure.
pub fn backtest(args: &BacktestArgs, out: &mut impl Write) -> Result<(), AnalysisError> {
    if args.data.list {
        return Ok(out.write_all(strategies_help().as_bytes())?);
    }
    let resolved = args.settings.resolve()?;
    let data = load_csv(&args.data)?;
    backtest_on(args, &resolved, &data, out)
}

/// Runs the resolved strategy over `data` and prints the metrics (or JSON).
///
/// # Errors
/// [`AnalysisError`] for a write failure.
pub fn backtest_on(
    args: &BacktestArgs,
    resolved: &Resolved,
    data: &CsvBars,
    out: &mut impl Write,
) -> Result<(), AnalysisError> {
    let report = lab::run(&data.bars, resolved)?;
    if args.json {
        let json = lab::report_json(&report, |i| data.labels.get(i).cloned().unwrap_or_default());
        serde_json::to_writer_pretty(&mut *out, &json).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_table(&report, out)?;
    }
    Ok(())
}

/// The checked grid and metric of a sweep's options, for `resolved`'s strategy.
///
/// # Errors
/// [`AnalysisError`] naming the bad option.
pub fn sweep_grid(args: &SweepArgs, resolved: &Resolved) -> Result<(Grid, usize), AnalysisError> {
    check_metric(&args.metric)?;
    let grid = grid_object(&args.grid)?;
    Ok(lab::input::parse_grid(&grid, resolved.entry, &resolved.params)?)
}

/// Runs a sweep over `data` and prints the best `--top` runs (or JSON).
///
/// # Errors
/// [`AnalysisError`] for a bad option or a write failure.
pub fn sweep_on(args: &SweepArgs, data: &CsvBars, out: &mut impl Write) -> Result<(), AnalysisError> {
    let resolved = args.settings.resolve()?;
    let (grid, _) = sweep_grid(args, &resolved)?;
    let result = backtest::sweep(&data.bars, resolved.entry, &grid, &resolved.config, &args.metric)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &lab::sweep_json(&result, Some(args.top)))
            .map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} combinations, {} run, {} refused by the strategy; best {} by {}:",
        result.total,
        result.runs.len(),
        result.skipped,
        args.top.min(result.runs.len()),
        args.metric
    )?;
    writeln!(
        out,
        "{:>4}  {:<32} {:>12} {:>10} {:>8} {:>9} {:>7}",
        "rank", "params", args.metric, "return", "sharpe", "max dd", "trades"
    )?;
    for (rank, run) in result.runs.iter().take(args.top).enumerate() {
        let m = &run.metrics;
        writeln!(
            out,
            "{:>4}  {:<32} {:>12} {:>10} {:>8} {:>9} {:>7}",
            rank + 1,
            swept_params(&run.params, &args.grid),
            num(run.score),
            pct(m.total_return),
            num(m.sharpe),
            pct(m.max_drawdown),
            m.trades
        )?;
    }
    Ok(())
}

/// `fast=10 slow=20`: the swept parameters of a run (those named by `--grid`).
fn swept_params(params: &Value, grid: &[String]) -> String {
    let swept: Vec<&str> = grid.iter().filter_map(|g| g.split_once('=').map(|(n, _)| n.trim())).collect();
    match params {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| swept.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Runs a walk-forward validation over `data` and prints each window (or JSON).
///
/// # Errors
/// [`AnalysisError`] for a bad option (windows that do not fit the bars) or a write failure.
pub fn walk_forward_on(args: &WalkForwardArgs, data: &CsvBars, out: &mut impl Write) -> Result<(), AnalysisError> {
    let resolved = args.sweep.settings.resolve()?;
    let (grid, _) = sweep_grid(&args.sweep, &resolved)?;
    let windows = WalkForward {
        train: args.train.ok_or(AnalysisError::Missing("--train"))?,
        test: args.test.ok_or(AnalysisError::Missing("--test"))?,
        anchored: args.anchored,
    };
    let metric = &args.sweep.metric;
    let report = backtest::walk_forward(&data.bars, resolved.entry, &grid, &resolved.config, metric, windows)?;
    if args.sweep.json {
        serde_json::to_writer_pretty(&mut *out, &lab::walk_forward_json(&report)).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    let day =
        |ts: i64| DateTime::from_timestamp(ts, 0).map_or_else(|| ts.to_string(), |t| t.format("%Y-%m-%d").to_string());
    writeln!(
        out,
        "{:<23}  {:<23}  {:<28} {:>10} {:>10} {:>9} {:>6}",
        "train", "test", "chosen", "in-sample", "out", "return", "trades"
    )?;
    for w in &report.windows {
        writeln!(
            out,
            "{:<23}  {:<23}  {:<28} {:>10} {:>10} {:>9} {:>6}",
            format!("{}..{}", day(w.train.0), day(w.train.1)),
            format!("{}..{}", day(w.test.0), day(w.test.1)),
            swept_params(&w.params, &args.sweep.grid),
            num(w.in_sample),
            num(w.out_of_sample),
            pct(w.test_return),
            w.test_trades
        )?;
    }
    writeln!(
        out,
        "mean {metric} in sample {}, out of sample {}",
        num(report.mean_in_sample),
        num(report.mean_out_of_sample)
    )?;
    writeln!(out, "efficiency {}, degradation {}", num(report.efficiency), num(report.degradation))?;
    let last = |curve: &[f64]| curve.last().copied().unwrap_or(f64::NAN);
    writeln!(
        out,
        "stitched out-of-sample equity {:.2}; hindsight best ({}) {:.2}",
        last(&report.oos_equity),
        swept_params(&report.in_sample_params, &args.sweep.grid),
        last(&report.in_sample_equity)
    )?;
    Ok(())
}

fn pct(v: f64) -> String {
    if v.is_finite() { format!("{:.2}%", v * 100.0) } else { "n/a".into() }
}

fn num(v: f64) -> String {
    if v.is_finite() { format!("{v:.3}") } else { "n/a".into() }
}

fn write_table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let m = &report.metrics;
    let rows = [
        ("Total return", pct(m.total_return)),
        ("Buy & hold return", pct(m.buy_and_hold_return)),
        ("CAGR", pct(m.cagr)),
        ("Volatility (ann.)", pct(m.volatility)),
        ("Sharpe", num(m.sharpe)),
        ("Sortino", num(m.sortino)),
        ("Calmar", num(m.calmar)),
        ("Max drawdown", pct(m.max_drawdown)),
        ("Max drawdown (bars)", m.max_drawdown_bars.to_string()),
        ("Avg drawdown", pct(m.avg_drawdown)),
        ("Trades", m.trades.to_string()),
        ("Win rate", pct(m.win_rate)),
        ("Profit factor", num(m.profit_factor)),
        ("Expectancy", num(m.expectancy)),
        ("SQN", num(m.sqn)),
        ("Exposure", pct(m.exposure)),
        ("Best trade", pct(m.best_trade)),
        ("Worst trade", pct(m.worst_trade)),
        ("Avg trade", pct(m.avg_trade)),
        ("Final equity", format!("{:.2}", m.final_equity)),
    ];
    for (name, value) in rows {
        writeln!(out, "{name:<22}{value:>14}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn sample_csv(dir: &tempfile::TempDir) -> PathBuf {
        let mut text = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
        let mut close = 100.0_f64;
        for day in 0..120 {
            let open = close;
            close *= 1.0 + 0.03 * ((day as f64) * 0.21).sin();
            let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(day);
            text.push_str(&format!(
                "{date},{open},{},{},{close},{close},1000\n",
                open.max(close) + 1.0,
                open.min(close) - 1.0
            ));
        }
        let path = dir.path().join("bars.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BacktestArgs,
    }

    #[test]
    fn indicator_columns_follow_talib_names_with_empty_warm_up() {
        let dir = tempfile::tempdir().unwrap();
        let csv = sample_csv(&dir);
        let mut out = Vec::new();
        indicators(&csv, &["SMA(3)".into(), "ema(5)".into()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "timestamp,SMA(3).real,EMA(5).real");
        assert_eq!(lines.len(), 121);
        assert!(lines[1].starts_with("2024-01-01,,"), "{}", lines[1]);
        assert_eq!(lines[3].split(',').filter(|c| !c.is_empty()).count(), 2, "SMA(3) ready on the third bar");
        assert_eq!(lines[5].split(',').filter(|c| !c.is_empty()).count(), 3);
        let err = indicators(&csv, &["SMA(0)".into()], &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("period must be at least 1"), "{err}");
    }

    #[test]
    fn indicator_csv_quotes_names_with_commas_so_readers_keep_them_whole() {
        let dir = tempfile::tempdir().unwrap();
        let csv = sample_csv(&dir);
        let mut out = Vec::new();
        indicators(&csv, &["MACD(12,26,9)".into(), "RSI(14)".into(), "BBANDS(20,2,2)".into()], &mut out).unwrap();
        assert!(
            out.starts_with(b"timestamp,\"MACD(12,26,9).macd\","),
            "{}",
            String::from_utf8_lossy(&out[..80.min(out.len())])
        );

        // Read back as any CSV consumer would.
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(
            header,
            [
                "timestamp",
                "MACD(12,26,9).macd",
                "MACD(12,26,9).macdsignal",
                "MACD(12,26,9).macdhist",
                "RSI(14).real",
                "BBANDS(20,2,2).upperband",
                "BBANDS(20,2,2).middleband",
                "BBANDS(20,2,2).lowerband",
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 120);
        assert!(rows.iter().all(|row| row.len() == header.len()), "every row has the header's width");
        // MACD(12,26,9) is ready on bar 34 (index 33): every cell filled there.
        assert_eq!(&rows[0][0], "2024-01-01");
        assert!(rows[32][1].is_empty() && !rows[33][1].is_empty(), "{:?} {:?}", rows[32], rows[33]);
        assert!(
            rows[119].iter().all(|cell| cell.parse::<f64>().is_ok() || cell.starts_with("2024-")),
            "{:?}",
            rows[119]
        );
    }

    #[test]
    fn backtest_prints_a_table_or_json() {
        let dir = tempfile::tempdir().unwrap();
        let csv = sample_csv(&dir);
        let csv_arg = csv.to_string_lossy().into_owned();
        let args = Wrapper::parse_from([
            "x",
            "--csv",
            &csv_arg,
            "--param",
            "fast=5",
            "--param",
            "slow=15",
            "--commission",
            "0.002",
        ])
        .args;
        let mut out = Vec::new();
        backtest(&args, &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(table.contains("Sharpe") && table.contains("Max drawdown"), "{table}");

        let args = Wrapper::parse_from([
            "x",
            "--csv",
            &csv_arg,
            "--param",
            "fast=5",
            "--param",
            "slow=15",
            "--json",
            "--mode",
            "long-short",
        ])
        .args;
        let mut out = Vec::new();
        backtest(&args, &mut out).unwrap();
        let json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["equity"].as_array().unwrap().len(), 120);
        let trades = json["trades"].as_array().unwrap();
        assert!(!trades.is_empty());
        assert!(trades[0]["entry_time"].as_str().unwrap().starts_with("2024-"));
        assert_eq!(json["metrics"]["trades"].as_u64().unwrap() as usize, trades.len());

        let args = Wrapper::parse_from(["x", "--csv", &csv_arg, "--param", "fastest=5"]).args;
        assert!(backtest(&args, &mut Vec::new()).unwrap_err().to_string().contains("unknown parameter `fastest`"));
        let json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["fingerprint"]["equity"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn errors_name_the_field_and_sizing_is_an_option() {
        let dir = tempfile::tempdir().unwrap();
        let csv = sample_csv(&dir);
        let csv_arg = csv.to_string_lossy().into_owned();
        let run = |extra: &[&str]| {
            let args = Wrapper::parse_from([&["x", "--csv", &csv_arg][..], extra].concat()).args;
            backtest(&args, &mut Vec::new()).map_err(|e| e.to_string())
        };
        assert!(run(&["--param", "fast=0"]).unwrap_err().contains("fast must be within"));
        assert!(run(&["--commission", "2"]).unwrap_err().contains("commission must be within"));
        assert!(run(&["--sizing", "cash"]).unwrap_err().contains("size must be within"));
        assert!(run(&["--strategy", "nope"]).unwrap_err().contains("unknown strategy `nope`"));
        run(&["--sizing", "units", "--size", "3"]).unwrap();
        // --csv and --symbol exclude each other; one of them (or --list) is needed.
        assert!(Wrapper::try_parse_from(["x", "--csv", &csv_arg, "--symbol", "AAPL"]).is_err());
        assert!(Wrapper::try_parse_from(["x"]).is_err());
        assert!(Wrapper::try_parse_from(["x", "--timeframe", "1d"]).is_err(), "--timeframe needs --symbol");
        let mut out = Vec::new();
        backtest(&Wrapper::parse_from(["x", "--list"]).args, &mut out).unwrap();
        let list = String::from_utf8(out).unwrap();
        assert!(list.contains("sma_cross: Buy when SMA(fast)"), "{list}");
        assert!(list.contains("fast") && list.contains("default 10") && list.contains("1..2000"), "{list}");
        assert!(list.contains("rule: fast must be below slow"), "{list}");
    }

    #[derive(Parser)]
    struct SweepWrapper {
        #[command(flatten)]
        args: SweepArgs,
    }

    #[derive(Parser)]
    struct WalkWrapper {
        #[command(flatten)]
        args: WalkForwardArgs,
    }

    #[test]
    fn grid_options_read_as_ranges_or_lists() {
        let grid = grid_object(&["fast=5..50:5".into(), "slow=10,20,30".into(), "exit=middle,upper".into()]).unwrap();
        assert_eq!(
            grid,
            json!({"fast": {"from": 5.0, "to": 50.0, "step": 5.0}, "slow": [10, 20, 30], "exit": ["middle", "upper"]})
        );
        assert_eq!(grid_object(&["fast=5..9".into()]).unwrap(), json!({"fast": {"from": 5.0, "to": 9.0}}));
        for bad in ["fast", "fast=", "=1,2", "fast=a..b"] {
            assert!(matches!(grid_object(&[bad.into()]), Err(AnalysisError::GridSyntax(_))), "{bad}");
        }
    }

    #[test]
    fn sweep_and_walk_forward_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let csv = sample_csv(&dir);
        let csv_arg = csv.to_string_lossy().into_owned();
        let data = load(&csv).unwrap();
        let args = SweepWrapper::parse_from([
            "x",
            "--csv",
            &csv_arg,
            "--grid",
            "fast=2..6",
            "--grid",
            "slow=8,12",
            "--metric",
            "total_return",
            "--top",
            "3",
        ])
        .args;
        let mut out = Vec::new();
        sweep_on(&args, &data, &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(table.starts_with("10 combinations, 10 run, 0 refused"), "{table}");
        assert_eq!(table.lines().count(), 2 + 3, "{table}");
        assert!(table.contains("fast=") && table.contains("slow="), "{table}");

        let json_args =
            SweepWrapper::parse_from(["x", "--csv", &csv_arg, "--grid", "fast=2..6", "--json", "--top", "2"]).args;
        let mut out = Vec::new();
        sweep_on(&json_args, &data, &mut out).unwrap();
        let json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!((json["total"].as_u64(), json["runs"].as_array().unwrap().len()), (Some(5), 2));
        assert_eq!(json["runs"][0]["params"]["slow"], json!(20), "the fixed parameter stays as given");

        let bad = SweepWrapper::parse_from(["x", "--csv", &csv_arg, "--grid", "fast=0..3"]).args;
        assert!(
            sweep_on(&bad, &data, &mut Vec::new()).unwrap_err().to_string().contains("grid.fast: fast must be within")
        );
        assert!(
            SweepWrapper::try_parse_from(["x", "--csv", &csv_arg, "--grid", "fast=2..6", "--metric", "luck"]).is_err()
        );

        let walk = |extra: &[&str]| {
            let base =
                ["x", "--csv", &csv_arg, "--grid", "fast=2..4", "--grid", "slow=8,10", "--metric", "total_return"];
            WalkWrapper::parse_from([&base[..], extra].concat()).args
        };
        let mut out = Vec::new();
        walk_forward_on(&walk(&["--train", "60", "--test", "20"]), &data, &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert_eq!(table.lines().filter(|l| l.starts_with("2024-")).count(), 3, "{table}");
        assert!(table.contains("efficiency"), "{table}");
        let mut out = Vec::new();
        walk_forward_on(&walk(&["--train", "60", "--test", "20", "--anchored", "--json"]), &data, &mut out).unwrap();
        let json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["windows"].as_array().unwrap().len(), 3);
        assert_eq!(json["windows"][2]["train"][0], json["windows"][0]["train"][0], "anchored");
        let err = walk_forward_on(&walk(&["--train", "100", "--test", "30"]), &data, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("train=100, test=30"), "{err}");
        assert!(WalkWrapper::try_parse_from(["x", "--csv", &csv_arg, "--grid", "fast=2..4", "--test", "5"]).is_err());
    }
}
