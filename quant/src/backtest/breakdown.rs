//! Views of a finished report that the lab shows beside the metrics: trade
//! statistics for one side only, the underwater (drawdown) curve, the
//! buy-and-hold curve and calendar-month returns.
//!
//! Definitions follow [`super::metrics`]: a trade's return is its profit over
//! its entry notional; profit factor is gross profit over gross loss (NaN
//! without a loss); SQN is `sqrt(n) * mean(pnl) / std(pnl)` (sample deviation).

use serde::{Deserialize, Serialize};

use super::{Side, Trade};
use crate::bar::Bar;

/// Statistics of a set of trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeStats {
    /// Number of trades.
    pub trades: usize,
    /// Share with a positive profit.
    pub win_rate: f64,
    /// Sum of profits, in currency.
    pub net_profit: f64,
    /// Gross profit over gross loss.
    pub profit_factor: f64,
    /// Mean profit per trade, in currency.
    pub expectancy: f64,
    /// Van Tharp's system quality number.
    pub sqn: f64,
    /// Mean trade return.
    pub avg_trade: f64,
    /// Best trade return.
    pub best_trade: f64,
    /// Worst trade return.
    pub worst_trade: f64,
    /// Mean bars held.
    pub avg_bars_held: f64,
}

/// Statistics of the trades on `side` (every trade with `None`).
#[must_use]
pub fn trade_stats(trades: &[Trade], side: Option<Side>) -> TradeStats {
    let picked: Vec<&Trade> = trades.iter().filter(|t| side.is_none_or(|s| t.side == s)).collect();
    let n = picked.len();
    let nan_if_empty = |v: f64| if n == 0 { f64::NAN } else { v };
    let pnl: Vec<f64> = picked.iter().map(|t| t.pnl).collect();
    let net_profit: f64 = pnl.iter().sum();
    let gross_profit: f64 = pnl.iter().filter(|p| **p > 0.0).sum();
    let gross_loss: f64 = -pnl.iter().filter(|p| **p < 0.0).sum::<f64>();
    let mean = net_profit / n as f64;
    let sqn = if n >= 2 {
        let var = pnl.iter().map(|p| (p - mean) * (p - mean)).sum::<f64>() / (n - 1) as f64;
        let sd = libm::sqrt(var);
        if sd > 0.0 { libm::sqrt(n as f64) * mean / sd } else { f64::NAN }
    } else {
        f64::NAN
    };
    let returns = picked.iter().map(|t| t.return_pct);
    TradeStats {
        trades: n,
        win_rate: nan_if_empty(pnl.iter().filter(|p| **p > 0.0).count() as f64 / n as f64),
        net_profit,
        profit_factor: if gross_loss > 0.0 { gross_profit / gross_loss } else { f64::NAN },
        expectancy: nan_if_empty(mean),
        sqn,
        avg_trade: nan_if_empty(returns.clone().sum::<f64>() / n as f64),
        best_trade: returns.clone().fold(f64::NAN, f64::max),
        worst_trade: returns.fold(f64::NAN, f64::min),
        avg_bars_held: nan_if_empty(picked.iter().map(|t| t.bars_held as f64).sum::<f64>() / n as f64),
    }
}

/// Depth below the running peak at each point of `equity`, as a fraction
/// (0 at a new high, 0.25 when 25% under it).
#[must_use]
pub fn underwater(equity: &[f64]) -> Vec<f64> {
    let mut peak = f64::NEG_INFINITY;
    equity
        .iter()
        .map(|&e| {
            peak = peak.max(e);
            if peak > 0.0 { 1.0 - e / peak } else { 0.0 }
        })
        .collect()
}

/// What `cash` put into the asset at the first close would be worth at each close.
#[must_use]
pub fn buy_and_hold(bars: &[Bar], cash: f64) -> Vec<f64> {
    let Some(first) = bars.first().map(|b| b.close) else { return Vec::new() };
    bars.iter().map(|b| cash * (b.close / first)).collect()
}

/// One calendar month's return.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MonthReturn {
    /// The year.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: u8,
    /// Equity at the month's last close over the previous month's last close
    /// (the initial cash for the first month), minus one.
    pub ret: f64,
}

/// Returns by calendar month (UTC) of an equity curve marked at each bar's close.
#[must_use]
pub fn monthly_returns(bars: &[Bar], equity: &[f64], initial: f64) -> Vec<MonthReturn> {
    let mut out: Vec<MonthReturn> = Vec::new();
    let mut base = initial;
    // The month being summed, its bounds [start, end) in Unix seconds, and
    // its latest equity: the calendar is consulted once per month, not per bar.
    let mut current: Option<(i32, u8, i64, i64, f64)> = None;
    for (bar, &e) in bars.iter().zip(equity) {
        match current.as_mut() {
            Some((_, _, start, end, last)) if (*start..*end).contains(&bar.ts) => *last = e,
            _ => {
                if let Some((y, m, _, _, last)) = current {
                    out.push(MonthReturn { year: y, month: m, ret: last / base - 1.0 });
                    base = last;
                }
                let (year, month) = year_month(bar.ts);
                let (start, end) = month_bounds(year, month);
                current = Some((year, month, start, end, e));
            }
        }
    }
    if let Some((year, month, _, _, last)) = current {
        out.push(MonthReturn { year, month, ret: last / base - 1.0 });
    }
    out
}

/// The first second of a month and of the next one (UTC).
fn month_bounds(year: i32, month: u8) -> (i64, i64) {
    let next = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    (days_from_civil(year, month) * 86_400, days_from_civil(next.0, next.1) * 86_400)
}

/// Days from 1970-01-01 to the first of a month (the inverse of [`year_month`]'s algorithm).
fn days_from_civil(year: i32, month: u8) -> i64 {
    let (month, year) = (i64::from(month), i64::from(year) - i64::from(month <= 2));
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC calendar year and month of a Unix time (the proleptic Gregorian
/// calendar, by the days-to-civil algorithm).
fn year_month(ts: i64) -> (i32, u8) {
    let z = ts.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::ExitReason;

    fn trade(side: Side, pnl: f64) -> Trade {
        Trade {
            side,
            entry_ts: 0,
            entry_price: 100.0,
            exit_ts: 1,
            exit_price: 100.0 + pnl,
            size: 1.0,
            pnl,
            return_pct: pnl / 100.0,
            bars_held: 2,
            exit: ExitReason::Signal,
        }
    }

    #[test]
    fn stats_split_by_side() {
        let trades = [trade(Side::Long, 10.0), trade(Side::Short, -5.0), trade(Side::Long, -2.0)];
        let long = trade_stats(&trades, Some(Side::Long));
        assert_eq!(long.trades, 2);
        assert_eq!((long.win_rate, long.net_profit, long.profit_factor, long.expectancy), (0.5, 8.0, 5.0, 4.0));
        assert_eq!((long.best_trade, long.worst_trade), (0.1, -0.02));
        // sqrt(2) * 4 / std(10, -2) = sqrt(2) * 4 / sqrt(72)
        assert!((long.sqn - 2f64.sqrt() * 4.0 / 72f64.sqrt()).abs() < 1e-12);
        let short = trade_stats(&trades, Some(Side::Short));
        assert_eq!((short.trades, short.win_rate), (1, 0.0));
        assert!(short.profit_factor == 0.0 && short.sqn.is_nan());
        assert_eq!(trade_stats(&trades, None).trades, 3);
        let none = trade_stats(&[], None);
        assert!(none.win_rate.is_nan() && none.best_trade.is_nan() && none.net_profit == 0.0);
    }

    #[test]
    fn underwater_and_buy_and_hold() {
        let depth = underwater(&[100.0, 110.0, 99.0, 121.0]);
        assert_eq!((depth[0], depth[1], depth[3]), (0.0, 0.0, 0.0));
        assert!((depth[2] - 0.1).abs() < 1e-12);
        let bars: Vec<Bar> =
            [10.0, 12.0, 9.0].iter().map(|&c| Bar { ts: 0, open: c, high: c, low: c, close: c, volume: 0.0 }).collect();
        assert_eq!(buy_and_hold(&bars, 1_000.0), vec![1_000.0, 1_200.0, 900.0]);
    }

    #[test]
    fn months_follow_the_calendar() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(951_782_400), (2000, 2)); // 2000-02-29
        assert_eq!(year_month(951_868_800), (2000, 3)); // 2000-03-01
        assert_eq!(year_month(1_735_689_599), (2024, 12)); // 2024-12-31 23:59:59
        assert_eq!(year_month(-1), (1969, 12));
        // Jan 30, Jan 31, Feb 1, Mar 1 (2024).
        let ts = [1_706_572_800, 1_706_659_200, 1_706_745_600, 1_709_251_200];
        let bars: Vec<Bar> =
            ts.iter().map(|&ts| Bar { ts, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 0.0 }).collect();
        let months = monthly_returns(&bars, &[100.0, 110.0, 121.0, 108.9], 100.0);
        let got: Vec<(i32, u8, i64)> = months.iter().map(|m| (m.year, m.month, (m.ret * 1e6).round() as i64)).collect();
        assert_eq!(got, vec![(2024, 1, 100_000), (2024, 2, 100_000), (2024, 3, -100_000)]);
    }

    #[test]
    fn month_bounds_hold_exactly_their_months() {
        // Every month from 1899 to 2101 (centuries, leap years, before 1970).
        for year in 1899..=2101 {
            for month in 1..=12u8 {
                let (start, end) = month_bounds(year, month);
                assert_eq!(year_month(start), (year, month), "{year}-{month} start");
                assert_eq!(year_month(end - 1), (year, month), "{year}-{month} last second");
                assert_ne!(year_month(start - 1), (year, month), "{year}-{month} before");
                assert_ne!(year_month(end), (year, month), "{year}-{month} after");
            }
        }
    }

    #[test]
    fn minute_bars_sum_into_the_same_months_as_a_day_by_day_walk() {
        // 100,000 one-minute bars from 2023-12-30 with a varying equity; the
        // months must match a plain per-bar grouping.
        let bars: Vec<Bar> = (0..100_000i64)
            .map(|i| Bar { ts: 1_703_894_400 + i * 60, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 0.0 })
            .collect();
        let equity: Vec<f64> = (0..100_000).map(|i| 100.0 + (f64::from(i) / 997.0).sin() * 7.0).collect();
        let mut expected: Vec<MonthReturn> = Vec::new();
        let mut base = 50.0;
        for (i, bar) in bars.iter().enumerate() {
            let (year, month) = year_month(bar.ts);
            let closes_month = bars.get(i + 1).is_none_or(|next| year_month(next.ts) != (year, month));
            if closes_month {
                expected.push(MonthReturn { year, month, ret: equity[i] / base - 1.0 });
                base = equity[i];
            }
        }
        assert_eq!(expected.len(), 4); // December to March
        assert_eq!(monthly_returns(&bars, &equity, 50.0), expected);
    }
}
