//! For random consistent OHLCV series and random valid parameters, every moving
//! average, band, volatility and trend indicator's batch function equals feeding
//! its streaming form one input at a time: the same bits, and NaN exactly in the
//! first `lookback` cells.
#![allow(clippy::unwrap_used, reason = "a failing constructor should fail the property at that line")]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use quant::Timeframe;
use quant::indicators::{self as ind, Indicator, MaType, Outputs, VwapAnchor};

mod common;
use common::props::{bars, stream_columns as stream};

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
    fn price_indicators(bars in bars(150), period in 1usize..40, slow in 2usize..40, nbdev in -3.0f64..3.0, ma in ma_type()) {
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
    fn bar_indicators(bars in bars(150), period in 1usize..30, atr_period in 1usize..30, mult in 0.0f64..4.0, accel in 0.0f64..0.3, max in 0.0f64..0.5) {
        let b = &bars;
        same1("MEDPRICE", &ind::medprice(b), ind::Medprice::new(), b)?;
        same1("TYPPRICE", &ind::typprice(b), ind::Typprice::new(), b)?;
        same1("TRANGE", &ind::trange(b), ind::Trange::new(), b)?;
        same1("ATR", &ind::atr(b, period).unwrap(), ind::Atr::new(period).unwrap(), b)?;
        let (h, l, c): (Vec<f64>, Vec<f64>, Vec<f64>) =
            (b.iter().map(|x| x.high).collect(), b.iter().map(|x| x.low).collect(), b.iter().map(|x| x.close).collect());
        same1("ATR_HLC", &ind::atr_hlc(&h, &l, &c, period).unwrap(), ind::Atr::new(period).unwrap(), b)?;
        prop_assert!(ind::atr_hlc(&h, &[l.as_slice(), &[1.0]].concat(), &c, period).is_err());
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
    fn ichimoku(bars in bars(150), tenkan in 1usize..12, kijun in 1usize..30, span_b in 1usize..60, shift in 0usize..30) {
        let got = ind::ichimoku(&bars, tenkan, kijun, span_b, shift).unwrap();
        let indicator = ind::Ichimoku::new(tenkan, kijun, span_b, shift).unwrap();
        let lookback = indicator.lookback();
        let columns = [&got.tenkan[..], &got.kijun, &got.senkou_a, &got.senkou_b, &got.chikou];
        same("ICHIMOKU", &columns, &stream(indicator, &bars), lookback)?;
    }
}
