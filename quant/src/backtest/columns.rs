//! Flat `f64` layouts of backtest results (trades, months, sweep rows), for
//! the lab's workers and page:
//! long results cross from a worker to the page as one `Float64Array` rather
//! than as JSON (27,592 trades are 5.7 MB of JSON text and 2.2 MB here), and
//! both sides read the layout from this one place.

use super::{ExitReason, MonthReturn, Side, Trade};

/// The values of one trade, in order. `side` is 1 for long and -1 for short;
/// `exit` is an index into [`EXIT_REASONS`]; times are Unix seconds.
pub static TRADE_COLUMNS: [&str; 10] =
    ["side", "entry_ts", "entry_price", "exit_ts", "exit_price", "size", "pnl", "return_pct", "bars_held", "exit"];

/// Values per trade in [`trade_columns`].
pub const TRADE_WIDTH: usize = 10;

/// Exit reasons by their code in a trade's `exit` column, as they are spelled in JSON.
pub static EXIT_REASONS: [&str; 5] = ["signal", "stop-loss", "take-profit", "trailing-stop", "end-of-data"];

/// The metrics of a sweep row, after its index, whether the strategy refused
/// the combination (1) or not (0), and the ranking score.
pub static SWEEP_METRICS: [&str; 13] = [
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "win_rate",
    "profit_factor",
    "expectancy",
    "sqn",
    "exposure",
    "trades",
];

/// Values per sweep row: index, refused, score and [`SWEEP_METRICS`].
pub const SWEEP_ROW: usize = 3 + 13;

/// Values per month in [`month_columns`]: year, month (1 to 12), return.
pub const MONTH_WIDTH: usize = 3;

/// Monthly returns as [`MONTH_WIDTH`] values each. (As JSON, ten years of
/// months were most of a backtest's summary, and formatting their returns
/// the slowest part of writing it in wasm.)
#[must_use]
pub fn month_columns(months: &[MonthReturn]) -> Vec<f64> {
    months.iter().flat_map(|m| [f64::from(m.year), f64::from(m.month), m.ret]).collect()
}

/// The code of an exit reason in [`EXIT_REASONS`].
#[must_use]
pub fn exit_code(reason: ExitReason) -> usize {
    match reason {
        ExitReason::Signal => 0,
        ExitReason::StopLoss => 1,
        ExitReason::TakeProfit => 2,
        ExitReason::TrailingStop => 3,
        ExitReason::EndOfData => 4,
    }
}

/// Trades as [`TRADE_WIDTH`] values each, in [`TRADE_COLUMNS`] order.
#[must_use]
pub fn trade_columns(trades: &[Trade]) -> Vec<f64> {
    let mut out = Vec::with_capacity(trades.len() * TRADE_WIDTH);
    for t in trades {
        out.extend([
            if t.side == Side::Long { 1.0 } else { -1.0 },
            t.entry_ts as f64,
            t.entry_price,
            t.exit_ts as f64,
            t.exit_price,
            t.size,
            t.pnl,
            t.return_pct,
            t.bars_held as f64,
            exit_code(t.exit) as f64,
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_name_the_reasons_as_json_does() {
        let all = [
            ExitReason::Signal,
            ExitReason::StopLoss,
            ExitReason::TakeProfit,
            ExitReason::TrailingStop,
            ExitReason::EndOfData,
        ];
        for reason in all {
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json.as_str(), Some(EXIT_REASONS[exit_code(reason)]));
        }
    }

    #[test]
    fn a_trade_is_one_row_in_column_order() {
        let trade = Trade {
            side: Side::Short,
            entry_ts: 1_700_000_000,
            entry_price: 101.5,
            exit_ts: 1_700_086_400,
            exit_price: 99.25,
            size: 3.0,
            pnl: 6.5,
            return_pct: 0.021,
            bars_held: 4,
            exit: ExitReason::TakeProfit,
        };
        let row = trade_columns(&[trade.clone(), Trade { side: Side::Long, ..trade }]);
        assert_eq!(row.len(), 2 * TRADE_WIDTH);
        assert_eq!(TRADE_COLUMNS.len(), TRADE_WIDTH);
        assert_eq!(
            &row[..TRADE_WIDTH],
            &[-1.0, 1_700_000_000.0, 101.5, 1_700_086_400.0, 99.25, 3.0, 6.5, 0.021, 4.0, 2.0]
        );
        assert_eq!(row[TRADE_WIDTH], 1.0);
        assert_eq!(SWEEP_ROW, 3 + SWEEP_METRICS.len());
    }

    #[test]
    fn a_month_is_year_month_and_return() {
        let months =
            [MonthReturn { year: 2024, month: 12, ret: -0.015 }, MonthReturn { year: 2025, month: 1, ret: 0.5 }];
        assert_eq!(month_columns(&months), vec![2024.0, 12.0, -0.015, 2025.0, 1.0, 0.5]);
    }
}
