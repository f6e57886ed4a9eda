//! `finstage indicators` and `finstage backtest`: the engine on a user's CSV file.
//!
//! Both read bars with [`crate::providers::csv`], so a malformed file is
//! reported with its line and column, and write to any `Write` (stdout in the
//! binary, a buffer in tests). `indicators` writes through the `csv` crate's
//! writer: its column names hold commas (`MACD(12,26,9).macd`), and only
//! RFC 4180 quoting keeps them one cell for pandas, Python's `csv` and
//! spreadsheets.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use chrono::DateTime;
use quant::backtest::{self, Config, Fill, Mode, Report};
use quant::indicators::catalog::{self, DynIndicator, Spec};
use quant::strategies;
use serde_json::{Map, Value, json};

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

/// The options of `finstage backtest`, as parsed by clap.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    /// CSV file with OHLCV bars.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
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
    /// Fraction of equity per entry.
    #[arg(long, default_value_t = 1.0)]
    pub fraction: f64,
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
    /// Print JSON (`metrics`, `trades`, `equity`) instead of a table.
    #[arg(long)]
    pub json: bool,
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

/// Runs a strategy over the file and prints the metrics (or JSON).
///
/// # Errors
/// [`AnalysisError`] for a bad file, strategy, parameter or a write failure.
pub fn backtest(args: &BacktestArgs, out: &mut impl Write) -> Result<(), AnalysisError> {
    let mut params = Map::new();
    for p in &args.params {
        let (name, value) = p.split_once('=').ok_or_else(|| AnalysisError::ParamSyntax(p.clone()))?;
        let value = serde_json::from_str::<Value>(value.trim()).unwrap_or_else(|_| Value::String(value.trim().into()));
        params.insert(name.trim().to_owned(), value);
    }
    let mut strategy = strategies::find(&args.strategy)?.build(&Value::Object(params))?;
    let config = Config {
        initial_cash: args.cash,
        commission_rate: args.commission,
        commission_fixed: args.commission_fixed,
        slippage_bps: args.slippage_bps,
        mode: match args.mode {
            ModeArg::LongOnly => Mode::LongOnly,
            ModeArg::LongShort => Mode::LongShort,
        },
        fill: match args.fill {
            FillArg::NextOpen => Fill::NextOpen,
            FillArg::Close => Fill::Close,
        },
        fraction: args.fraction,
        fractional: args.fractional,
        stop_loss: args.stop_loss,
        take_profit: args.take_profit,
        trailing_stop: args.trailing_stop,
        periods_per_year: args.periods_per_year,
        risk_free_rate: args.risk_free,
        ..Config::default()
    };
    config.validate()?;
    let data = load(&args.csv)?;
    let report = backtest::run_strategy(&data.bars, strategy.as_mut(), &config)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report_json(&report, &data)).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_table(&report, out)?;
    }
    Ok(())
}

fn iso(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map_or_else(|| ts.to_string(), |t| t.to_rfc3339())
}

fn report_json(report: &Report, data: &CsvBars) -> Value {
    let trades: Vec<Value> = report
        .trades
        .iter()
        .map(|t| {
            json!({
                "side": t.side, "entry_time": iso(t.entry_ts), "entry_price": t.entry_price,
                "exit_time": iso(t.exit_ts), "exit_price": t.exit_price, "size": t.size,
                "pnl": t.pnl, "return": t.return_pct, "bars_held": t.bars_held, "exit": t.exit,
            })
        })
        .collect();
    let equity: Vec<Value> =
        data.labels.iter().zip(&report.equity).map(|(time, value)| json!({ "time": time, "equity": value })).collect();
    json!({ "metrics": report.metrics, "trades": trades, "equity": equity })
}

fn write_table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let m = &report.metrics;
    let pct = |v: f64| if v.is_finite() { format!("{:.2}%", v * 100.0) } else { "n/a".into() };
    let num = |v: f64| if v.is_finite() { format!("{v:.3}") } else { "n/a".into() };
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
    }
}
