//! Fingerprints of a report, to show that two engines (the browser's wasm and
//! the server's native build) gave the same answer bit for bit without
//! shipping the whole report: one 64-bit FNV-1a hash each of the metrics, the
//! trades and the equity curve, over the exact bits of every number.
//!
//! NaN is hashed as one canonical value: WebAssembly does not fix the payload
//! bits of a NaN an operation produces, and "undefined" is the only meaning a
//! metric's NaN has here.

use serde::{Deserialize, Serialize};

use super::{Report, Trade};

/// The three hashes of a report, as 16 hex digits each (a JSON number cannot
/// hold 64 bits exactly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Every metric, in declaration order.
    pub metrics: String,
    /// Every field of every trade, in order.
    pub trades: String,
    /// Every equity value.
    pub equity: String,
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn word(&mut self, w: u64) {
        for byte in w.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn number(&mut self, x: f64) {
        self.word(if x.is_nan() { f64::NAN.to_bits() } else { x.to_bits() });
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The metrics as (name, value) pairs, in declaration order.
fn metric_values(report: &Report) -> Vec<(&'static str, f64)> {
    let m = &report.metrics;
    vec![
        ("total_return", m.total_return),
        ("cagr", m.cagr),
        ("volatility", m.volatility),
        ("sharpe", m.sharpe),
        ("sortino", m.sortino),
        ("calmar", m.calmar),
        ("max_drawdown", m.max_drawdown),
        ("max_drawdown_bars", m.max_drawdown_bars as f64),
        ("avg_drawdown", m.avg_drawdown),
        ("win_rate", m.win_rate),
        ("profit_factor", m.profit_factor),
        ("expectancy", m.expectancy),
        ("sqn", m.sqn),
        ("exposure", m.exposure),
        ("trades", m.trades as f64),
        ("best_trade", m.best_trade),
        ("worst_trade", m.worst_trade),
        ("avg_trade", m.avg_trade),
        ("final_equity", m.final_equity),
        ("buy_and_hold_return", m.buy_and_hold_return),
    ]
}

/// A trade's fields as (name, value) pairs.
fn trade_values(t: &Trade) -> [(&'static str, f64); 10] {
    [
        ("side", if t.side == super::Side::Long { 0.0 } else { 1.0 }),
        ("entry_ts", t.entry_ts as f64),
        ("entry_price", t.entry_price),
        ("exit_ts", t.exit_ts as f64),
        ("exit_price", t.exit_price),
        ("size", t.size),
        ("pnl", t.pnl),
        ("return", t.return_pct),
        ("bars_held", t.bars_held as f64),
        ("exit", t.exit as u8 as f64),
    ]
}

/// The fingerprint of `report`.
#[must_use]
pub fn fingerprint(report: &Report) -> Fingerprint {
    let mut metrics = Fnv::new();
    for (_, v) in metric_values(report) {
        metrics.number(v);
    }
    let mut trades = Fnv::new();
    trades.word(report.trades.len() as u64);
    for t in &report.trades {
        for (_, v) in trade_values(t) {
            trades.number(v);
        }
    }
    let mut equity = Fnv::new();
    equity.word(report.equity.len() as u64);
    for &e in &report.equity {
        equity.number(e);
    }
    Fingerprint { metrics: metrics.hex(), trades: trades.hex(), equity: equity.hex() }
}

/// The first value where `a` and `b` differ, described for a person
/// (`equity[1234]: 10512.25 here, 10512.250000000002 there`); `None` when
/// they agree bit for bit (NaN agreeing with NaN).
#[must_use]
pub fn first_difference(a: &Report, b: &Report) -> Option<String> {
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    let differ = |what: String, x: f64, y: f64| Some(format!("{what}: {x:?} here, {y:?} there"));
    for ((name, x), (_, y)) in metric_values(a).into_iter().zip(metric_values(b)) {
        if !same(x, y) {
            return differ(format!("metrics.{name}"), x, y);
        }
    }
    for (i, (ta, tb)) in a.trades.iter().zip(&b.trades).enumerate() {
        for ((name, x), (_, y)) in trade_values(ta).into_iter().zip(trade_values(tb)) {
            if !same(x, y) {
                return differ(format!("trades[{i}].{name}"), x, y);
            }
        }
    }
    if a.trades.len() != b.trades.len() {
        return Some(format!("trades: {} here, {} there", a.trades.len(), b.trades.len()));
    }
    for (i, (&x, &y)) in a.equity.iter().zip(&b.equity).enumerate() {
        if !same(x, y) {
            return differ(format!("equity[{i}]"), x, y);
        }
    }
    if a.equity.len() != b.equity.len() {
        return Some(format!("equity: {} values here, {} there", a.equity.len(), b.equity.len()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{Config, run_strategy};
    use crate::bar::Bar;
    use crate::strategies::find;

    #[test]
    fn equal_reports_agree_and_the_first_changed_value_is_named() {
        let bars: Vec<Bar> = (0..400)
            .map(|i| {
                let c = 100.0 + (f64::from(i) / 9.0).sin() * 8.0;
                Bar { ts: i64::from(i) * 86_400, open: c, high: c + 1.0, low: c - 1.0, close: c, volume: 1.0 }
            })
            .collect();
        let mut s = find("sma_cross").unwrap().build(&serde_json::json!({})).unwrap();
        let a = run_strategy(&bars, s.as_mut(), &Config::default()).unwrap();
        let b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(first_difference(&a, &b), None);
        assert_eq!(fingerprint(&a).equity.len(), 16);

        let mut c = a.clone();
        c.equity[123] = f64::from_bits(c.equity[123].to_bits() + 1);
        assert_ne!(fingerprint(&a).equity, fingerprint(&c).equity);
        assert_eq!(fingerprint(&a).metrics, fingerprint(&c).metrics);
        assert!(first_difference(&a, &c).unwrap().starts_with("equity[123]: "), "{:?}", first_difference(&a, &c));

        let mut d = a.clone();
        d.trades[2].size += 1.0;
        assert!(first_difference(&a, &d).unwrap().starts_with("trades[2].size: "));
        let mut e = a.clone();
        e.metrics.sharpe = f64::NAN;
        assert!(first_difference(&a, &e).unwrap().starts_with("metrics.sharpe: "));
    }
}

#[cfg(test)]
mod json {
    use crate::backtest::{Config, Report, run_signals};
    use crate::bar::Bar;
    use crate::strategy::Signal;

    #[test]
    fn a_report_with_undefined_metrics_survives_json() {
        // No trades: win rate, profit factor and more are NaN, written as null.
        let bars: Vec<Bar> = (0..5)
            .map(|i| Bar { ts: i * 86_400, open: 10.0, high: 11.0, low: 9.0, close: 10.0, volume: 1.0 })
            .collect();
        let report = run_signals(&bars, &[Signal::Hold; 5], &Config::default()).unwrap();
        assert!(report.metrics.win_rate.is_nan());
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.contains("\"win_rate\":null"), "{text}");
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(super::first_difference(&report, &back), None);
        assert_eq!(super::fingerprint(&report), super::fingerprint(&back));
    }
}
