//! For random consistent OHLCV series and random valid parameters, every moving
//! average, band, volatility and trend indicator's batch function equals feeding
//! its streaming form one input at a time: the same bits, and NaN exactly in the
//! first `lookback` cells.
#![allow(clippy::unwrap_used, reason = "a failing constructor should fail the property at that line")]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use quant::indicators::{self as ind, Indicator, MaType, Outputs, VwapAnchor};
use quant::{Bar, Timeframe};

/// Bars on a coarse price grid (ties, flat bars and repeated closes are common),
/// scaled by a random factor, two hours apart (so daily sessions roll over):
/// `low <= open, close <= high`, `volume >= 0`.
fn bars() -> impl Strategy<Value = Vec<Bar>> {
    let step = (-2i32..=2, 0u8..4, 0u8..4, 0u8..=4, 0u8..=4, prop_oneof![Just(0u32), 0u32..5000]);
    (prop::collection::vec(step, 0..150), 0.001f64..1000.0).prop_map(|(steps, scale)| {
        let mut mid = 100.0;
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (dir, up, down, open_at, close_at, volume))| {
                mid += f64::from(dir) * 0.5;
                let (high, low) = (mid + f64::from(up) * 0.25, mid - f64::from(down) * 0.25);
                let at = |q: u8| low + (high - low) * f64::from(q) / 4.0;
                Bar {
                    ts: 1_700_000_000 + i64::try_from(i).unwrap() * 7_200,
                    open: at(open_at) * scale,
                    high: high * scale,
                    low: low * scale,
                    close: at(close_at) * scale,
                    volume: f64::from(volume),
                }
            })
            .collect()
    })
}

fn ma_type() -> impl Strategy<Value = MaType> {
    prop_oneof![
        Just(MaType::Sma),
        Just(MaType::Ema),
        Just(MaType::Wma),
        Just(MaType::Dema),
        Just(MaType::Tema),
        Just(MaType::Kama)
    ]
}

/// Feeds `inputs` one at a time; one row of outputs per input, NaN while warming up.
fn stream<I>(mut indicator: I, inputs: &[I::Input]) -> Vec<Vec<f64>>
where
    I: Indicator,
    I::Output: Outputs,
{
    let width = <I::Output as Outputs>::NAMES.len();
    let mut columns = vec![Vec::with_capacity(inputs.len()); width];
    let mut row = vec![f64::NAN; width];
    for &x in inputs {
        match indicator.next(x) {
            Some(out) => out.write(&mut row),
            None => row.fill(f64::NAN),
        }
        for (column, &v) in columns.iter_mut().zip(&row) {
            column.push(v);
        }
    }
    columns
}

/// Bit-for-bit equal columns, NaN in precisely the first `lookback` cells.
fn same(name: &str, batch: &[&[f64]], streamed: &[Vec<f64>], lookback: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(batch.len(), streamed.len(), "{}: output count", name);
    for (k, (b, s)) in batch.iter().zip(streamed).enumerate() {
        prop_assert_eq!(b.len(), s.len(), "{} output {}: lengths", name, k);
        for (i, (&b, &s)) in b.iter().zip(s).enumerate() {
            prop_assert!(b.to_bits() == s.to_bits(), "{} output {} [{}]: batch {} vs streamed {}", name, k, i, b, s);
            prop_assert_eq!(b.is_nan(), i < lookback, "{} output {} [{}]: warm-up is {} cells", name, k, i, lookback);
        }
    }
    Ok(())
}

/// A single-output batch against its streaming form.
fn same1<I>(name: &str, batch: &[f64], indicator: I, inputs: &[I::Input]) -> Result<(), TestCaseError>
where
    I: Indicator,
    I::Output: Outputs,
{
    let lookback = indicator.lookback();
    same(name, &[batch], &stream(indicator, inputs), lookback)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn price_indicators(bars in bars(), period in 1usize..40, slow in 2usize..40, nbdev in -3.0f64..3.0, ma in ma_type()) {
        let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let c = &closes;
        same1("WMA", &ind::wma(c, period).unwrap(), ind::Wma::new(period).unwrap(), c)?;
        same1("DEMA", &ind::dema(c, period).unwrap(), ind::Dema::new(period).unwrap(), c)?;
        same1("TEMA", &ind::tema(c, period).unwrap(), ind::Tema::new(period).unwrap(), c)?;
        same1("KAMA", &ind::kama(c, period).unwrap(), ind::Kama::new(period).unwrap(), c)?;
        same1("TRIX", &ind::trix(c, period).unwrap(), ind::Trix::new(period).unwrap(), c)?;
        same1("VAR", &ind::var(c, period, nbdev).unwrap(), ind::Var::new(period, nbdev).unwrap(), c)?;
        let p2 = period.max(2);
        same1("STDDEV", &ind::stddev(c, p2, nbdev).unwrap(), ind::Stddev::new(p2, nbdev).unwrap(), c)?;
        same1("LINEARREG", &ind::linearreg(c, p2).unwrap(), ind::Linearreg::new(p2).unwrap(), c)?;
        same1("PPO", &ind::ppo(c, p2, slow, ma).unwrap(), ind::Ppo::new(p2, slow, ma).unwrap(), c)?;
        let (u, m, l) = ind::bbands(c, p2, nbdev, 2.0, ma).unwrap();
        let bb = ind::Bbands::new(p2, nbdev, 2.0, ma).unwrap();
        let lookback = bb.lookback();
        same("BBANDS", &[&u, &m, &l], &stream(bb, c), lookback)?;
    }

    #[test]
    fn bar_indicators(bars in bars(), period in 1usize..30, atr_period in 1usize..30, mult in 0.0f64..4.0, accel in 0.0f64..0.3, max in 0.0f64..0.5) {
        let b = &bars;
        same1("MEDPRICE", &ind::medprice(b), ind::Medprice::new(), b)?;
        same1("TYPPRICE", &ind::typprice(b), ind::Typprice::new(), b)?;
        same1("TRANGE", &ind::trange(b), ind::Trange::new(), b)?;
        same1("ATR", &ind::atr(b, period).unwrap(), ind::Atr::new(period).unwrap(), b)?;
        same1("NATR", &ind::natr(b, period).unwrap(), ind::Natr::new(period).unwrap(), b)?;
        same1("SAR", &ind::sar(b, accel, max).unwrap(), ind::Sar::new(accel, max).unwrap(), b)?;
        for anchor in [VwapAnchor::Session(Timeframe::D1), VwapAnchor::Session(Timeframe::H1), VwapAnchor::Rolling(period)] {
            same1("VWAP", &ind::vwap(b, anchor).unwrap(), ind::Vwap::new(anchor).unwrap(), b)?;
        }
        let (u, m, l) = ind::keltner(b, period, atr_period, mult).unwrap();
        let k = ind::Keltner::new(period, atr_period, mult).unwrap();
        let lookback = k.lookback();
        same("KELTNER", &[&u, &m, &l], &stream(k, b), lookback)?;
        let (u, m, l) = ind::donchian(b, period).unwrap();
        same("DONCHIAN", &[&u, &m, &l], &stream(ind::Donchian::new(period).unwrap(), b), period - 1)?;
        let (line, dir) = ind::supertrend(b, atr_period, mult).unwrap();
        same("SUPERTREND", &[&line, &dir], &stream(ind::SuperTrend::new(atr_period, mult).unwrap(), b), atr_period)?;
    }

    #[test]
    fn ichimoku(bars in bars(), tenkan in 1usize..12, kijun in 1usize..30, span_b in 1usize..60, shift in 0usize..30) {
        let got = ind::ichimoku(&bars, tenkan, kijun, span_b, shift).unwrap();
        let indicator = ind::Ichimoku::new(tenkan, kijun, span_b, shift).unwrap();
        let lookback = indicator.lookback();
        let columns = [&got.tenkan[..], &got.kijun, &got.senkou_a, &got.senkou_b, &got.chikou];
        same("ICHIMOKU", &columns, &stream(indicator, &bars), lookback)?;
    }
}
