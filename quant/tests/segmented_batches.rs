//! Long inputs: the batch functions of EMA, MACD, RSI, ATR and ADX split inputs
//! this long into speculative segments (`indicators::segmented`), and must
//! still equal feeding the streaming form one input at a time, bit for bit,
//! whether the speculation holds (random walks) or fails and falls back
//! (constant stretches, huge jumps, NaN and infinite inputs).
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
use common::props::stream_columns as stream;

use quant::Bar;
use quant::indicators as ind;

/// Long enough for several segments per lane, on every indicator.
const LEN: usize = 200_000;

fn same(case: &str, name: &str, batch: &[&[f64]], streamed: &[Vec<f64>]) {
    assert_eq!(batch.len(), streamed.len());
    for (k, (b, s)) in batch.iter().zip(streamed).enumerate() {
        assert_eq!(b.len(), s.len(), "{case}: {name} output {k}: lengths");
        if let Some(i) = b.iter().zip(s).position(|(b, s)| b.to_bits() != s.to_bits()) {
            panic!("{case}: {name} output {k} [{i}]: batch {} vs streamed {}", b[i], s[i]);
        }
    }
}

fn check(case: &str, bars: &[Bar]) {
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let highs: Vec<f64> = bars.iter().map(|b| b.high).collect();
    let lows: Vec<f64> = bars.iter().map(|b| b.low).collect();
    let c = &closes;
    for period in [1, 20, 200] {
        same(
            case,
            &format!("EMA({period})"),
            &[&ind::ema(c, period).unwrap()],
            &stream(ind::Ema::new(period).unwrap(), c),
        );
    }
    for (fast, slow, signal) in [(12, 26, 9), (5, 35, 5), (2, 3, 1)] {
        let (line, sig, hist) = ind::macd(c, fast, slow, signal).unwrap();
        let streamed = stream(ind::Macd::new(fast, slow, signal).unwrap(), c);
        same(case, &format!("MACD({fast},{slow},{signal})"), &[&line, &sig, &hist], &streamed);
    }
    for period in [2, 14, 100] {
        same(
            case,
            &format!("RSI({period})"),
            &[&ind::rsi(c, period).unwrap()],
            &stream(ind::Rsi::new(period).unwrap(), c),
        );
    }
    for period in [1, 14, 50] {
        let streamed = stream(ind::Atr::new(period).unwrap(), bars);
        same(case, &format!("ATR({period})"), &[&ind::atr(bars, period).unwrap()], &streamed);
        let columns = ind::atr_hlc(&highs, &lows, c, period).unwrap();
        same(case, &format!("ATR_HLC({period})"), &[&columns], &streamed);
    }
    for period in [2, 14, 40] {
        let streamed = stream(ind::Adx::new(period).unwrap(), bars);
        same(case, &format!("ADX({period})"), &[&ind::adx(bars, period).unwrap()], &streamed);
        let columns = ind::adx_hlc(&highs, &lows, c, period).unwrap();
        same(case, &format!("ADX_HLC({period})"), &[&columns], &streamed);
    }
}

fn walk() -> Vec<Bar> {
    common::walk(0x1234_5678_9ABC_DEF1, LEN, 100.0)
}

#[test]
fn random_walk() {
    check("walk", &walk());
}

#[test]
fn constant_stretches() {
    let mut bars = walk();
    let flat = Bar { ts: 0, open: 0.1, high: 0.1, low: 0.1, close: 0.1, volume: 1.0 };
    for (i, bar) in bars.iter_mut().enumerate() {
        if (i / 20_000) % 2 == 1 {
            *bar = Bar { ts: bar.ts, ..flat };
        }
    }
    check("constant stretches", &bars);
}

#[test]
fn huge_jumps_and_magnitudes() {
    let mut bars = walk();
    for (i, bar) in bars.iter_mut().enumerate() {
        let scale = match (i / 12_500) % 4 {
            0 => 1.0,
            1 => 1e150,
            2 => 1e-150,
            _ => 1e300,
        };
        for v in [&mut bar.open, &mut bar.high, &mut bar.low, &mut bar.close] {
            *v *= scale;
        }
    }
    check("huge jumps", &bars);
}

#[test]
fn nan_and_infinite_inputs() {
    let mut bars = walk();
    bars[LEN / 3].close = f64::NAN;
    bars[LEN / 3 + 7].high = f64::NAN;
    check("NaN", &bars);
    let mut bars = walk();
    bars[LEN / 2].high = f64::INFINITY;
    bars[LEN / 2].close = f64::INFINITY;
    check("infinity", &bars);
}
