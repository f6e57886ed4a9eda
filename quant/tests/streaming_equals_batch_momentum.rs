//! For random consistent OHLCV series and random valid parameters, every momentum,
//! oscillator and volume indicator's batch function equals feeding its streaming
//! form one bar at a time: the same values, and NaN exactly in the same cells (the
//! first `lookback` ones).
#![allow(clippy::unwrap_used, reason = "a failing constructor should fail the property at that line")]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use quant::Bar;

mod common;
use common::props::{bars, stream_columns};
use quant::indicators::{self as ind, Indicator};

fn stream<I: Indicator<Output = f64>>(mut indicator: I, inputs: &[I::Input]) -> Vec<f64> {
    inputs.iter().map(|&x| indicator.next(x).unwrap_or(f64::NAN)).collect()
}

fn same(name: &str, batch: &[f64], streamed: &[f64], lookback: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(batch.len(), streamed.len(), "{}: lengths", name);
    for (i, (&b, &s)) in batch.iter().zip(streamed).enumerate() {
        prop_assert!(
            b.to_bits() == s.to_bits() || (b.is_nan() && s.is_nan()),
            "{}[{}]: batch {} vs streamed {}",
            name,
            i,
            b,
            s
        );
        prop_assert_eq!(
            b.is_nan(),
            i < lookback,
            "{}[{}]: warm-up is the first {} cells, got {}",
            name,
            i,
            lookback,
            b
        );
    }
    Ok(())
}

fn closes(bars: &[Bar]) -> Vec<f64> {
    bars.iter().map(|b| b.close).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn price_indicators(bars in bars(120), period in 2usize..20, short in 1usize..12, fast in 2usize..15, slow in 2usize..30, signal in 1usize..10) {
        let values = closes(&bars);
        let r = ind::Rsi::new(period).unwrap();
        same("RSI", &ind::rsi(&values, period).unwrap(), &stream(r.clone(), &values), r.lookback())?;
        let c = ind::Cmo::new(period).unwrap();
        same("CMO", &ind::cmo(&values, period).unwrap(), &stream(c.clone(), &values), c.lookback())?;
        let m = ind::Mom::new(short).unwrap();
        same("MOM", &ind::mom(&values, short).unwrap(), &stream(m.clone(), &values), m.lookback())?;
        let r = ind::Roc::new(short).unwrap();
        same("ROC", &ind::roc(&values, short).unwrap(), &stream(r.clone(), &values), r.lookback())?;

        let m = ind::Macd::new(fast, slow, signal).unwrap();
        let (line, sig, hist) = ind::macd(&values, fast, slow, signal).unwrap();
        let streamed = stream_columns(m.clone(), &values);
        same("MACD.macd", &line, &streamed[0], m.lookback())?;
        same("MACD.macdsignal", &sig, &streamed[1], m.lookback())?;
        same("MACD.macdhist", &hist, &streamed[2], m.lookback())?;

        let s = ind::StochRsi::new(period, short, signal).unwrap();
        let (k, d) = ind::stochrsi(&values, period, short, signal).unwrap();
        let streamed = stream_columns(s.clone(), &values);
        same("STOCHRSI.fastk", &k, &streamed[0], s.lookback())?;
        same("STOCHRSI.fastd", &d, &streamed[1], s.lookback())?;
    }

    #[test]
    fn range_indicators(bars in bars(120), period in 2usize..20, k in 1usize..15, slowk in 1usize..6, slowd in 1usize..6) {
        let s = ind::Stoch::new(k, slowk, slowd).unwrap();
        let (sk, sd) = ind::stoch(&bars, k, slowk, slowd).unwrap();
        let streamed = stream_columns(s.clone(), &bars);
        same("STOCH.slowk", &sk, &streamed[0], s.lookback())?;
        same("STOCH.slowd", &sd, &streamed[1], s.lookback())?;
        let (h, l, c) = hlc(&bars);
        let (hk, hd) = ind::stoch_hlc(&h, &l, &c, k, slowk, slowd).unwrap();
        same("STOCH_HLC.slowk", &hk, &streamed[0], s.lookback())?;
        same("STOCH_HLC.slowd", &hd, &streamed[1], s.lookback())?;
        let w = ind::Willr::new(period).unwrap();
        same("WILLR", &ind::willr(&bars, period).unwrap(), &stream(w.clone(), &bars), w.lookback())?;
        let c = ind::Cci::new(period).unwrap();
        same("CCI", &ind::cci(&bars, period).unwrap(), &stream(c.clone(), &bars), c.lookback())?;
        let a = ind::Aroon::new(period).unwrap();
        let (down, up) = ind::aroon(&bars, period).unwrap();
        let streamed = stream_columns(a.clone(), &bars);
        same("AROON.aroondown", &down, &streamed[0], a.lookback())?;
        same("AROON.aroonup", &up, &streamed[1], a.lookback())?;
        let o = ind::AroonOsc::new(period).unwrap();
        same("AROONOSC", &ind::aroonosc(&bars, period).unwrap(), &stream(o.clone(), &bars), o.lookback())?;
    }

    #[test]
    fn directional_indicators(bars in bars(120), period in 2usize..20, di_period in 1usize..20) {
        let a = ind::Adx::new(period).unwrap();
        same("ADX", &ind::adx(&bars, period).unwrap(), &stream(a.clone(), &bars), a.lookback())?;
        let (h, l, c) = hlc(&bars);
        same("ADX_HLC", &ind::adx_hlc(&h, &l, &c, period).unwrap(), &stream(a.clone(), &bars), a.lookback())?;
        let p = ind::PlusDi::new(di_period).unwrap();
        same("PLUS_DI", &ind::plus_di(&bars, di_period).unwrap(), &stream(p.clone(), &bars), p.lookback())?;
        let m = ind::MinusDi::new(di_period).unwrap();
        same("MINUS_DI", &ind::minus_di(&bars, di_period).unwrap(), &stream(m.clone(), &bars), m.lookback())?;
    }

    #[test]
    fn volume_indicators(bars in bars(120), period in 2usize..20, p1 in 1usize..12, p2 in 1usize..20, p3 in 1usize..30, fast in 2usize..8, slow in 2usize..20) {
        let m = ind::Mfi::new(period).unwrap();
        same("MFI", &ind::mfi(&bars, period).unwrap(), &stream(m.clone(), &bars), m.lookback())?;
        let u = ind::Ultosc::new(p1, p2, p3).unwrap();
        same("ULTOSC", &ind::ultosc(&bars, p1, p2, p3).unwrap(), &stream(u.clone(), &bars), u.lookback())?;
        same("OBV", &ind::obv(&bars), &stream(ind::Obv::new(), &bars), 0)?;
        same("AD", &ind::ad(&bars), &stream(ind::Ad::new(), &bars), 0)?;
        let a = ind::AdOsc::new(fast, slow).unwrap();
        same("ADOSC", &ind::adosc(&bars, fast, slow).unwrap(), &stream(a.clone(), &bars), a.lookback())?;
    }
}

/// The high, low and close columns of `bars`.
fn hlc(bars: &[quant::Bar]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (
        bars.iter().map(|b| b.high).collect(),
        bars.iter().map(|b| b.low).collect(),
        bars.iter().map(|b| b.close).collect(),
    )
}
