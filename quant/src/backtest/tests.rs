//! Scripted markets with hand-computed books. Each test narrates its phases.

use super::*;
use crate::strategy::Signal::{Buy, Hold, Sell};

const DAY: i64 = 86_400;

/// A bar with the given open and close; high/low just outside them.
fn bar(i: i64, open: f64, close: f64) -> Bar {
    Bar { ts: i * DAY, open, high: open.max(close) + 0.5, low: open.min(close) - 0.5, close, volume: 1_000.0 }
}

fn ohlc(i: i64, open: f64, high: f64, low: f64, close: f64) -> Bar {
    Bar { ts: i * DAY, open, high, low, close, volume: 1_000.0 }
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn long_only_fills_at_the_next_open_in_whole_units() {
    // Phase 1: flat at 100; the strategy says Buy on bar 1's close.
    // Phase 2: the order fills at bar 2's open (101); price climbs to 120.
    // Phase 3: Sell on bar 4's close fills at bar 5's open (119).
    let bars = [
        bar(0, 100.0, 100.0),
        bar(1, 100.0, 100.0),
        bar(2, 101.0, 110.0),
        bar(3, 110.0, 120.0),
        bar(4, 120.0, 118.0),
        bar(5, 119.0, 117.0),
    ];
    let signals = [Hold, Buy, Hold, Hold, Sell, Hold];
    let report = run_signals(&bars, &signals, &Config::default()).unwrap();

    assert_eq!(report.trades.len(), 1);
    let t = &report.trades[0];
    assert_eq!((t.entry_ts, t.entry_price, t.exit_ts, t.exit_price), (2 * DAY, 101.0, 5 * DAY, 119.0));
    // floor(10_000 / 101) = 99 units; 1 unit of cash-equivalent stays idle.
    assert_eq!(t.size, 99.0);
    assert!(close_to(t.pnl, 99.0 * 18.0));
    assert_eq!((t.bars_held, t.exit), (3, ExitReason::Signal));
    // Equity: cash 10_000 - 9_999 = 1 plus 99 units marked at each close.
    assert_eq!(report.equity[1], 10_000.0);
    assert!(close_to(report.equity[3], 1.0 + 99.0 * 120.0));
    assert!(close_to(report.equity[5], 10_000.0 + 99.0 * 18.0));
    assert!(close_to(report.metrics.total_return, 99.0 * 18.0 / 10_000.0));
    assert_eq!(report.metrics.trades, 1);
    assert!(close_to(report.metrics.win_rate, 1.0));
    // In the market at the closes of bars 2, 3 and 4.
    assert!(close_to(report.metrics.exposure, 3.0 / 6.0));
    assert!(close_to(report.metrics.buy_and_hold_return, 0.17));
}

#[test]
fn commission_and_slippage_are_charged_on_both_fills() {
    let bars = [bar(0, 100.0, 100.0), bar(1, 100.0, 100.0), bar(2, 100.0, 100.0)];
    let config = Config {
        commission_rate: 0.01,
        commission_fixed: 1.0,
        slippage_bps: 100.0,
        fractional: true,
        ..Config::default()
    };
    let report = run_signals(&bars, &[Buy, Sell, Hold], &config).unwrap();
    let t = &report.trades[0];
    // Buy at 100 * 1.01 = 101; budget (10_000 - 1) / (101 * 1.01) units.
    assert!(close_to(t.entry_price, 101.0));
    let size = 9_999.0 / (101.0 * 1.01);
    assert!(close_to(t.size, size));
    // Sell at 100 * 0.99 = 99.
    assert!(close_to(t.exit_price, 99.0));
    let entry_cost = size * 101.0 * 0.01 + 1.0;
    let exit_cost = size * 99.0 * 0.01 + 1.0;
    assert!(close_to(t.pnl, (99.0 - 101.0) * size - entry_cost - exit_cost));
    assert!(close_to(report.metrics.final_equity, 10_000.0 + t.pnl));
}

#[test]
fn long_short_reverses_at_one_price() {
    // Buy, then Sell: the long closes and a short opens at the same open (105);
    // the market falls to 95, and the short is still open at the end.
    let bars = [bar(0, 100.0, 100.0), bar(1, 100.0, 104.0), bar(2, 105.0, 100.0), bar(3, 99.0, 95.0)];
    let config = Config { mode: Mode::LongShort, fractional: true, ..Config::default() };
    let report = run_signals(&bars, &[Buy, Sell, Hold, Hold], &config).unwrap();
    assert_eq!(report.trades.len(), 2);
    let (long, short) = (&report.trades[0], &report.trades[1]);
    assert_eq!((long.side, long.entry_price, long.exit_price), (Side::Long, 100.0, 105.0));
    assert_eq!((short.side, short.entry_price, short.exit), (Side::Short, 105.0, ExitReason::EndOfData));
    assert_eq!(short.exit_price, 95.0);
    let equity_after_long = 10_000.0 * 1.05;
    assert!(close_to(short.size, equity_after_long / 105.0));
    assert!(close_to(report.metrics.final_equity, equity_after_long + short.size * 10.0));
}

#[test]
fn a_stop_loss_fills_at_the_level_or_at_a_worse_open() {
    // Entry at 100 with a 5% stop (95). Bar 3 trades down to 94: stopped at 95.
    let config = Config { stop_loss: Some(0.05), fractional: true, ..Config::default() };
    let bars = [
        ohlc(0, 100.0, 100.0, 100.0, 100.0),
        ohlc(1, 100.0, 101.0, 99.0, 100.0),
        ohlc(2, 100.0, 100.0, 96.0, 97.0),
        ohlc(3, 97.0, 97.0, 94.0, 96.0),
    ];
    let report = run_signals(&bars, &[Buy, Hold, Hold, Hold], &config).unwrap();
    let t = &report.trades[0];
    assert_eq!((t.exit, t.exit_price, t.exit_ts), (ExitReason::StopLoss, 95.0, 3 * DAY));

    // The same, but bar 3 gaps down to open at 90: the stop fills at the open.
    let gapped = [bars[0], bars[1], bars[2], ohlc(3, 90.0, 92.0, 89.0, 91.0)];
    let report = run_signals(&gapped, &[Buy, Hold, Hold, Hold], &config).unwrap();
    assert_eq!((report.trades[0].exit, report.trades[0].exit_price), (ExitReason::StopLoss, 90.0));
}

#[test]
fn a_bar_touching_stop_and_target_counts_as_stopped() {
    let config = Config { stop_loss: Some(0.05), take_profit: Some(0.05), fractional: true, ..Config::default() };
    let bars =
        [ohlc(0, 100.0, 100.0, 100.0, 100.0), ohlc(1, 100.0, 100.0, 100.0, 100.0), ohlc(2, 100.0, 106.0, 94.0, 100.0)];
    let report = run_signals(&bars, &[Buy, Hold, Hold], &config).unwrap();
    assert_eq!(report.trades[0].exit, ExitReason::StopLoss);

    let up = [bars[0], bars[1], ohlc(2, 100.0, 106.0, 99.0, 104.0)];
    let report = run_signals(&up, &[Buy, Hold, Hold], &config).unwrap();
    assert_eq!((report.trades[0].exit, report.trades[0].exit_price), (ExitReason::TakeProfit, 105.0));
}

#[test]
fn a_trailing_stop_follows_the_best_price() {
    // Entry at 100, 10% trailing. Highs reach 120 (trail 108); bar 4 falls to 107.
    let config = Config { trailing_stop: Some(0.10), fractional: true, ..Config::default() };
    let bars = [
        ohlc(0, 100.0, 100.0, 100.0, 100.0),
        ohlc(1, 100.0, 100.0, 100.0, 100.0),
        ohlc(2, 100.0, 110.0, 99.0, 109.0),
        ohlc(3, 109.0, 120.0, 109.0, 118.0),
        ohlc(4, 118.0, 118.0, 107.0, 108.0),
    ];
    let report = run_signals(&bars, &[Buy, Hold, Hold, Hold, Hold], &config).unwrap();
    let t = &report.trades[0];
    assert_eq!(t.exit, ExitReason::TrailingStop);
    assert!(close_to(t.exit_price, 108.0));
}

#[test]
fn fill_at_close_trades_on_the_deciding_bar() {
    let bars = [bar(0, 100.0, 100.0), bar(1, 101.0, 102.0), bar(2, 103.0, 104.0)];
    let config = Config { fill: Fill::Close, fractional: true, ..Config::default() };
    let report = run_signals(&bars, &[Buy, Hold, Sell], &config).unwrap();
    let t = &report.trades[0];
    assert_eq!((t.entry_price, t.exit_price, t.exit), (100.0, 104.0, ExitReason::Signal));
}

#[test]
fn fixed_cash_and_fixed_units_size_entries() {
    // Buy on bar 0's close, fill at bar 1's open (100); sell on bar 2, fill at bar 3's open (110).
    let bars = [bar(0, 100.0, 100.0), bar(1, 100.0, 105.0), bar(2, 105.0, 110.0), bar(3, 110.0, 110.0)];
    let signals = [Buy, Hold, Sell, Hold];
    // 2,550 in cash buys floor(25.5) = 25 units; the rest stays in cash.
    let cash = Config { sizing: Sizing::Cash, size: 2_550.0, ..Config::default() };
    let t = &run_signals(&bars, &signals, &cash).unwrap().trades[0];
    assert_eq!((t.size, t.entry_price, t.exit_price), (25.0, 100.0, 110.0));
    assert!(close_to(t.pnl, 250.0));
    // More cash than the equity is capped at the equity: no leverage.
    let too_much = Config { sizing: Sizing::Cash, size: 1e6, ..Config::default() };
    assert_eq!(run_signals(&bars, &signals, &too_much).unwrap().trades[0].size, 100.0);
    // Fixed units, fractional allowed.
    let units = Config { sizing: Sizing::Units, size: 7.5, fractional: true, ..Config::default() };
    let report = run_signals(&bars, &signals, &units).unwrap();
    assert_eq!(report.trades[0].size, 7.5);
    assert!(close_to(report.metrics.final_equity, 10_000.0 + 7.5 * 10.0));
    // Units the equity cannot pay for: the entry is skipped.
    let unaffordable = Config { sizing: Sizing::Units, size: 101.0, ..Config::default() };
    assert!(run_signals(&bars, &signals, &unaffordable).unwrap().trades.is_empty());
    // Fractional units without `fractional`, and a missing size, are refused by name.
    let err = run_signals(&bars, &signals, &Config { sizing: Sizing::Units, size: 7.5, ..Config::default() });
    assert!(err.unwrap_err().to_string().contains("size must be a whole number"));
    let err = run_signals(&bars, &signals, &Config { sizing: Sizing::Cash, ..Config::default() });
    assert!(matches!(err, Err(ParamError::OutOfRange { name: "size", .. })));
}

#[test]
fn bad_configuration_and_mismatched_inputs_are_errors() {
    let bars = [bar(0, 1.0, 1.0)];
    for config in [
        Config { fraction: 0.0, ..Config::default() },
        Config { fraction: 1.5, ..Config::default() },
        Config { initial_cash: -1.0, ..Config::default() },
        Config { commission_rate: f64::NAN, ..Config::default() },
        Config { stop_loss: Some(0.0), ..Config::default() },
    ] {
        assert!(matches!(run_signals(&bars, &[Hold], &config), Err(ParamError::OutOfRange { .. })), "{config:?}");
    }
    assert!(run_signals(&bars, &[], &Config::default()).is_err());
}

#[test]
fn no_bars_and_no_trades_give_defined_books() {
    let report = run_signals(&[], &[], &Config::default()).unwrap();
    assert!(report.equity.is_empty() && report.trades.is_empty());
    assert_eq!(report.metrics.final_equity, 10_000.0);
    let bars = [bar(0, 100.0, 100.0), bar(1, 100.0, 101.0)];
    let report = run_signals(&bars, &[Hold, Hold], &Config::default()).unwrap();
    assert_eq!(report.metrics.total_return, 0.0);
    assert!(report.metrics.win_rate.is_nan());
}

#[test]
fn strategies_decided_a_chunk_at_a_time_book_as_if_bar_by_bar() {
    // 1,000 bars of a wavy walk cross several decision chunks (CHUNK bars
    // each); every catalog strategy with its defaults, both modes and both
    // fills, must give the same report as the signals `next` gives bar by bar.
    let bars: Vec<Bar> = (0..1_000)
        .map(|i| {
            let x = f64::from(i);
            let close = 100.0 + (x * 0.05).sin() * 15.0 + (x * 0.31).cos() * 3.0;
            let volume = if i % 37 == 0 { 9_000.0 } else { 1_000.0 + (x * 0.7).sin().abs() * 500.0 };
            Bar { volume, ..ohlc(i64::from(i), close - 0.4, close + 1.2, close - 1.3, close) }
        })
        .collect();
    assert!(bars.len() > 3 * CHUNK);
    let json = serde_json::json!({});
    for entry in crate::strategies::CATALOG {
        let per_bar: Vec<Signal> = {
            let mut s = entry.build(&json).unwrap();
            bars.iter().map(|b| s.next(b)).collect()
        };
        assert!(per_bar.iter().any(|s| *s != Hold), "{} never trades here", entry.name);
        for mode in [Mode::LongOnly, Mode::LongShort] {
            for fill in [Fill::NextOpen, Fill::Close] {
                let config = Config { mode, fill, ..Config::default() };
                let mut s = entry.build(&json).unwrap();
                let chunked = run_strategy(&bars, s.as_mut(), &config).unwrap();
                let bar_by_bar = run_signals(&bars, &per_bar, &config).unwrap();
                // Debug text compares NaN metrics (no losing trade: no profit factor) as equal.
                assert_eq!(format!("{chunked:?}"), format!("{bar_by_bar:?}"), "{} {mode:?} {fill:?}", entry.name);
            }
        }
    }
}
