//! The backtest lab's server side: the same engine as the browser's, run
//! natively on stored bars for the REST API (`POST /api/v1/backtests`,
//! `/sweeps`, `/walk-forward`), the lab page's server functions ("check on
//! the server") and the CLI (`finstage backtest --symbol`, `sweep`,
//! `walk-forward`).
//!
//! - [`input`]: the one input shape, a flat JSON object of the data fields
//!   (`symbol`, `timeframe`, `from`, `to`) and every
//!   [`quant::backtest::Settings`] field, plus `grid` and `metric` for
//!   sweeps and `train`, `test` and `anchored` for walk-forward. Every
//!   refusal names the field.
//! - [`saved`]: runs saved by name (`lab_runs`), checked before they are stored.
//! - [`tasks`]: sweeps and walk-forward validations run in the background
//!   with progress and cancellation, kept in a bounded in-memory registry.
//! - here: loading a run's bars (at most [`MAX_LAB_BARS`]), running one
//!   backtest, and the report's JSON (`metrics`, `trades`, `equity`,
//!   `fingerprint`), which `finstage backtest --json` and the API share.

pub mod input;
pub mod saved;
pub mod tasks;

use chrono::DateTime;
use quant::Bar;
use quant::backtest::{Report, Resolved, fingerprint};
use serde_json::{Value, json};

pub use input::{Data, LabInput, SweepInput, WalkForwardInput};
pub use tasks::{TaskKind, TaskResult, TaskState, TaskStatus, Tasks};

use crate::storage::{Db, StorageError, bars, symbols};

/// The most bars one lab run loads: 2,000,000 (about 96 MB in memory, eight
/// years of one-minute bars of a 24-hour market). A range holding more is
/// refused, naming `from` and `to`.
pub const MAX_LAB_BARS: usize = 2_000_000;

/// The most parameter combinations one sweep (or each walk-forward step) runs.
pub const MAX_COMBINATIONS: usize = 100_000;

/// The most backtests one walk-forward validation runs: combinations times
/// (steps + 1, the hindsight sweep over everything).
pub const MAX_WALK_FORWARD_RUNS: usize = 1_000_000;

/// Why a lab request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The input is malformed or invalid; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The symbol is not stored.
    #[error("{0}")]
    NotFound(String),
    /// The range holds no bars.
    #[error("{0}")]
    NoBars(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<quant::ParamError> for LabError {
    fn from(e: quant::ParamError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// The stored bars `data` names, oldest first: closed bars only (a bar that
/// has not ended yet, such as today's daily bar while the feed runs, still
/// changes, and no backtest may see it: the pipeline's closed-bar rule).
///
/// # Errors
/// [`LabError::NotFound`] for a symbol not stored, [`LabError::NoBars`] for a
/// range without bars, [`LabError::Invalid`] for one holding more than
/// [`MAX_LAB_BARS`], [`LabError::Storage`] when the database fails.
pub async fn load_bars(db: &Db, data: &Data) -> Result<Vec<Bar>, LabError> {
    let symbol = data.symbol.as_str();
    if symbols::get(db, symbol).await?.is_none() {
        return Err(LabError::NotFound(format!("symbol {symbol} not found")));
    }
    // Opened at least one bar length ago: ended by now.
    let closed = chrono::Utc::now().timestamp() - data.timeframe.seconds();
    let (from, to) = (data.from.unwrap_or(i64::MIN), data.to.unwrap_or(i64::MAX).min(closed));
    let bars = bars::bulk(db, symbol, data.timeframe, from, to, MAX_LAB_BARS + 1).await?;
    if bars.len() > MAX_LAB_BARS {
        return Err(LabError::Invalid(format!(
            "from/to: the range holds more than {MAX_LAB_BARS} {} bars of {symbol}; narrow it",
            data.timeframe
        )));
    }
    if bars.is_empty() {
        return Err(LabError::NoBars(format!("no {} bars of {symbol} {}", data.timeframe, data.describe_range())));
    }
    Ok(bars)
}

/// Runs the resolved strategy over `bars`.
///
/// # Errors
/// [`quant::ParamError`] when the strategy or the engine refuses (already
/// checked by [`quant::backtest::Settings::resolve`], so not expected).
pub fn run(bars: &[Bar], resolved: &Resolved) -> Result<Report, quant::ParamError> {
    let mut strategy = resolved.entry.build(&resolved.params)?;
    quant::backtest::run_strategy(bars, strategy.as_mut(), &resolved.config)
}

/// A bar time as written in reports: RFC 3339 in UTC.
#[must_use]
pub fn time_label(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map_or_else(|| ts.to_string(), |t| t.to_rfc3339())
}

/// The report as `finstage backtest --json` and `POST /api/v1/backtests`
/// write it: `metrics` (undefined ones `null`), `trades` (times as
/// [`time_label`]), `equity` (`{time, equity}` per bar, `time` from
/// `label`) and `fingerprint` (see [`quant::backtest::fingerprint`]).
#[must_use]
pub fn report_json(report: &Report, label: impl Fn(usize) -> String) -> Value {
    let trades: Vec<Value> = report
        .trades
        .iter()
        .map(|t| {
            json!({
                "side": t.side, "entry_time": time_label(t.entry_ts), "entry_price": t.entry_price,
                "exit_time": time_label(t.exit_ts), "exit_price": t.exit_price, "size": t.size,
                "pnl": t.pnl, "return": t.return_pct, "bars_held": t.bars_held, "exit": t.exit,
            })
        })
        .collect();
    let equity: Vec<Value> =
        report.equity.iter().enumerate().map(|(i, value)| json!({ "time": label(i), "equity": value })).collect();
    json!({
        "metrics": report.metrics,
        "trades": trades,
        "equity": equity,
        "fingerprint": fingerprint(report),
    })
}

/// [`report_json`] over stored bars: each equity point is labelled with its bar's time.
#[must_use]
pub fn stored_report_json(report: &Report, bars: &[Bar]) -> Value {
    report_json(report, |i| bars.get(i).map_or_else(String::new, |b| time_label(b.ts)))
}

/// A sweep as the API and `finstage sweep --json` write it: `runs` best
/// first (the first `limit` when given; each `{index, params, metrics,
/// score}`), `skipped`, `total`, `cancelled`.
#[must_use]
pub fn sweep_json(sweep: &quant::backtest::Sweep, limit: Option<usize>) -> Value {
    let runs = &sweep.runs[..limit.map_or(sweep.runs.len(), |n| n.min(sweep.runs.len()))];
    json!({ "runs": runs, "skipped": sweep.skipped, "total": sweep.total, "cancelled": sweep.cancelled })
}

/// A walk-forward validation as the API and `finstage walk-forward --json`
/// write it: the report's fields (windows' `train` and `test` as
/// `[first, last]` bar times in Unix seconds).
#[must_use]
pub fn walk_forward_json(report: &quant::backtest::WalkForwardReport) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(time_label(1_704_067_200), "2024-01-01T00:00:00+00:00");
    }
}
