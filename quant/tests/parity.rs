//! Native and wasm32 give bit-identical results.
//!
//! This file is compiled for both targets: natively by `cargo test`, and for
//! wasm32 by `cargo test -p quant --target wasm32-unknown-unknown --test parity`
//! (run under Node by `wasm-bindgen-test-runner`). It fingerprints, bit for bit,
//! every catalog indicator's output and every catalog strategy's backtest
//! (equity curve, trades and metrics) and a sweep, over a generated series, and
//! compares the fingerprint with one constant. Both targets passing means both
//! produced exactly the same bits.
//!
//! When a deliberate change alters results, the assertion prints the new
//! fingerprint; update `EXPECTED` (or `EXPECTED_LONG`) after checking the
//! change is intended.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
use quant::backtest::{self, Config, Mode};
use quant::indicators::catalog::{self, Spec};
use quant::strategies::CATALOG;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const EXPECTED: u64 = 0x80b51542a95ecd2e;
const EXPECTED_LONG: u64 = 0x7dc3b2a7aa8399d7;

/// FNV-1a over 64-bit words.
struct Fingerprint(u64);

impl Fingerprint {
    fn add(&mut self, value: f64) {
        for byte in value.to_bits().to_le_bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[test]
fn results_are_bit_identical_on_every_target() {
    let bars = common::walk(0x9E37_79B9_7F4A_7C15, 1_500, 100.0);
    let mut fp = Fingerprint(0xcbf2_9ce4_8422_2325);
    for name in catalog::NAMES.split(", ") {
        let mut indicator = catalog::build(&Spec::new(name, &[])).unwrap();
        let mut row = vec![0.0; indicator.outputs().len()];
        for bar in &bars {
            if indicator.update(bar, &mut row) {
                row.iter().for_each(|&v| fp.add(v));
            }
        }
    }
    for mode in [Mode::LongOnly, Mode::LongShort] {
        let config = Config {
            mode,
            commission_rate: 0.001,
            slippage_bps: 5.0,
            stop_loss: Some(0.08),
            risk_free_rate: 0.02,
            ..Config::default()
        };
        for entry in CATALOG {
            let mut strategy = entry.build(&serde_json::Value::Null).unwrap();
            let report = backtest::run_strategy(&bars, strategy.as_mut(), &config).unwrap();
            report.equity.iter().for_each(|&v| fp.add(v));
            for t in &report.trades {
                [t.entry_price, t.exit_price, t.size, t.pnl, t.return_pct].into_iter().for_each(|v| fp.add(v));
            }
            let m = serde_json::to_value(&report.metrics).unwrap();
            for value in m.as_object().unwrap().values() {
                fp.add(value.as_f64().unwrap_or(f64::NAN));
            }
        }
    }
    let grid = vec![
        ("fast".to_owned(), (3..=15).step_by(3).map(|v| json!(v)).collect()),
        ("slow".to_owned(), (20..=60).step_by(10).map(|v| json!(v)).collect()),
    ];
    let swept =
        backtest::sweep(&bars, quant::strategies::find("sma_cross").unwrap(), &grid, &Config::default(), "sharpe")
            .unwrap();
    for run in &swept.runs {
        fp.add(run.score);
        fp.add(run.metrics.final_equity);
    }
    assert_eq!(fp.0, EXPECTED, "fingerprint {:#018x}", fp.0);
}

/// Long batches take other paths than short ones: natively they are cut into
/// spans and segments computed on several threads, in wasm32 on one. Both must
/// give the bits of the one-thread loop.
#[test]
fn long_batches_are_bit_identical_on_every_target() {
    use quant::indicators::{MaType, adx_hlc, atr, atr_hlc, bbands, ema, macd, rsi, sma, stoch, stoch_hlc};
    let bars = common::walk(0x2545_F491_4F6C_DD1D, 100_000, 50.0);
    let column = |f: fn(&quant::Bar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    let (high, low, close) = (column(|b| b.high), column(|b| b.low), column(|b| b.close));
    let mut columns = vec![sma(&close, 20).unwrap(), ema(&close, 20).unwrap(), rsi(&close, 14).unwrap()];
    let m = macd(&close, 12, 26, 9).unwrap();
    columns.extend([m.0, m.1, m.2]);
    let b = bbands(&close, 20, 2.0, 2.0, MaType::Sma).unwrap();
    columns.extend([b.0, b.1, b.2, atr(&bars, 14).unwrap(), atr_hlc(&high, &low, &close, 14).unwrap()]);
    for fastk in [5, 21] {
        let (k, d) = stoch(&bars, fastk, 3, 3).unwrap();
        let (hk, hd) = stoch_hlc(&high, &low, &close, fastk, 3, 3).unwrap();
        columns.extend([k, d, hk, hd]);
    }
    columns.push(adx_hlc(&high, &low, &close, 14).unwrap());
    let mut fp = Fingerprint(0xcbf2_9ce4_8422_2325);
    columns.iter().flatten().for_each(|&v| fp.add(v));
    assert_eq!(fp.0, EXPECTED_LONG, "fingerprint {:#018x}", fp.0);
}
