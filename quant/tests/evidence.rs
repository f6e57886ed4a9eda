//! Every strategy reports the indicator values behind its decisions.
//!
//! For each catalog strategy over seeded random walks: no evidence before the
//! first bar with values nor after `reset`, finite evidence with the same names
//! in the same order on every bar, evidence on every `Buy`/`Sell`, and the same
//! evidence again when the series is replayed after `reset`. For a few
//! strategies the evidence is also recomputed with the indicators themselves.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
use common::walk;
use quant::Bar;
use quant::indicators::{Donchian, Indicator, Macd, Rsi, Sma};
use quant::strategies::{BoxedStrategy, CATALOG};
use quant::strategy::Signal;

type Evidence = Vec<(&'static str, f64)>;

const SEEDS: [u64; 3] = [3, 17, 2024];
const BARS: usize = 600;

fn build(name: &str) -> BoxedStrategy {
    quant::strategies::find(name).unwrap().build(&serde_json::json!({})).unwrap()
}

/// Signal and evidence after each bar.
fn run(strategy: &mut BoxedStrategy, bars: &[Bar]) -> Vec<(Signal, Evidence)> {
    bars.iter()
        .map(|bar| {
            let signal = strategy.next(bar);
            (signal, strategy.evidence())
        })
        .collect()
}

/// Whether `names` appear in `order` in the same relative order.
fn in_order(names: &[&str], order: &[&str]) -> bool {
    let mut rest = order.iter();
    names.iter().all(|name| rest.any(|o| o == name))
}

#[test]
fn every_signal_comes_with_finite_named_evidence() {
    for entry in CATALOG {
        let mut strategy = entry.build(&serde_json::json!({})).unwrap();
        assert!(strategy.evidence().is_empty(), "{}: evidence before any bar", entry.name);
        let mut signals = 0;
        for seed in SEEDS {
            strategy.reset();
            assert!(strategy.evidence().is_empty(), "{}: evidence after reset", entry.name);
            let bars = walk(seed, BARS, 100.0);
            let steps = run(&mut strategy, &bars);

            let first = steps.iter().position(|(_, e)| !e.is_empty());
            let first = first.unwrap_or_else(|| panic!("{}: no evidence on {BARS} bars", entry.name));
            assert!(
                (1..=strategy.warmup()).contains(&first),
                "{}: first evidence on bar {first}, warm-up {}",
                entry.name,
                strategy.warmup()
            );
            // The longest evidence gives the order every other one must follow.
            let order: Vec<&str> =
                steps.iter().map(|(_, e)| e).max_by_key(|e| e.len()).unwrap().iter().map(|p| p.0).collect();
            for (i, (signal, evidence)) in steps.iter().enumerate() {
                let at = format!("{} (seed {seed}, bar {i}, {signal:?})", entry.name);
                if i >= first {
                    assert!(!evidence.is_empty(), "{at}: evidence lapsed");
                }
                if *signal != Signal::Hold {
                    signals += 1;
                    assert!(!evidence.is_empty(), "{at}: a signal without evidence");
                }
                assert!(evidence.iter().all(|(_, v)| v.is_finite()), "{at}: non-finite evidence {evidence:?}");
                let names: Vec<&str> = evidence.iter().map(|p| p.0).collect();
                assert!(
                    names.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')),
                    "{at}: names {names:?}"
                );
                assert!(in_order(&names, &order), "{at}: names {names:?} out of the order {order:?}");
            }

            // After a reset the strategy has no evidence, and replays the same.
            strategy.reset();
            assert!(strategy.evidence().is_empty(), "{}: evidence after reset", entry.name);
            assert_eq!(run(&mut strategy, &bars), steps, "{}: replay after reset differs", entry.name);
            strategy.reset();
            assert!(strategy.evidence().is_empty(), "{}: evidence after reset", entry.name);
        }
        assert!(signals > 0, "{}: no signal to check", entry.name);
    }
}

#[test]
fn sma_cross_reports_both_averages() {
    for seed in SEEDS {
        let bars = walk(seed, BARS, 100.0);
        let mut strategy = build("sma_cross");
        let (mut fast, mut slow) = (Sma::new(10).unwrap(), Sma::new(20).unwrap());
        let mut signals = 0;
        for (bar, (signal, evidence)) in bars.iter().zip(run(&mut strategy, &bars)) {
            let expected = match (fast.next(bar.close), slow.next(bar.close)) {
                (Some(f), Some(s)) => vec![("fast", f), ("slow", s)],
                _ => vec![],
            };
            assert_eq!(evidence, expected);
            match signal {
                Signal::Buy => assert!(expected[0].1 > expected[1].1),
                Signal::Sell => assert!(expected[0].1 < expected[1].1),
                Signal::Hold => continue,
            }
            signals += 1;
        }
        assert!(signals > 0);
    }
}

#[test]
fn rsi_reversal_reports_the_rsi_and_its_levels() {
    for seed in SEEDS {
        let bars = walk(seed, BARS, 100.0);
        let mut strategy = build("rsi_reversal");
        let mut rsi = Rsi::new(14).unwrap();
        let mut previous: Option<f64> = None;
        let mut signals = 0;
        for (bar, (signal, evidence)) in bars.iter().zip(run(&mut strategy, &bars)) {
            let value = rsi.next(bar.close);
            let expected = value.map_or_else(Vec::new, |r| vec![("rsi", r), ("oversold", 30.0), ("overbought", 70.0)]);
            assert_eq!(evidence, expected);
            match signal {
                Signal::Buy => assert!(previous.unwrap() <= 30.0 && value.unwrap() > 30.0),
                Signal::Sell => assert!(previous.unwrap() >= 70.0 && value.unwrap() < 70.0),
                Signal::Hold => {}
            }
            signals += usize::from(signal != Signal::Hold);
            previous = value;
        }
        assert!(signals > 0);
    }
}

#[test]
fn macd_cross_reports_the_macd_and_signal_lines() {
    for seed in SEEDS {
        let bars = walk(seed, BARS, 100.0);
        let mut strategy = build("macd_signal_cross");
        let mut zero = build("macd_zero_cross");
        let mut macd = Macd::new(12, 26, 9).unwrap();
        let mut macd_line = Macd::new(12, 26, 1).unwrap();
        let mut signals = 0;
        for (bar, ((signal, evidence), (_, zero_evidence))) in
            bars.iter().zip(run(&mut strategy, &bars).into_iter().zip(run(&mut zero, &bars)))
        {
            let value = macd.next(bar.close);
            let expected = value.map_or_else(Vec::new, |m| vec![("macd", m.macd), ("signal", m.signal)]);
            assert_eq!(evidence, expected);
            let line = macd_line.next(bar.close);
            assert_eq!(zero_evidence, line.map_or_else(Vec::new, |m| vec![("macd", m.macd)]));
            match signal {
                Signal::Buy => assert!(value.unwrap().macd > value.unwrap().signal),
                Signal::Sell => assert!(value.unwrap().macd < value.unwrap().signal),
                Signal::Hold => continue,
            }
            signals += 1;
        }
        assert!(signals > 0);
    }
}

#[test]
fn donchian_breakout_reports_the_channel_of_the_previous_bars() {
    for seed in SEEDS {
        let bars = walk(seed, BARS, 100.0);
        let mut strategy = build("donchian_breakout");
        let (mut entry, mut exit) = (Donchian::new(20).unwrap(), Donchian::new(10).unwrap());
        let (mut upper, mut lower): (Option<f64>, Option<f64>) = (None, None);
        let mut signals = 0;
        for (bar, (signal, evidence)) in bars.iter().zip(run(&mut strategy, &bars)) {
            let mut expected = vec![];
            if upper.is_some() || lower.is_some() {
                expected.push(("close", bar.close));
                expected.extend(upper.map(|u| ("upper", u)));
                expected.extend(lower.map(|l| ("lower", l)));
            }
            assert_eq!(evidence, expected);
            match signal {
                Signal::Buy => assert!(bar.close > upper.unwrap()),
                Signal::Sell => assert!(bar.close < lower.unwrap()),
                Signal::Hold => {}
            }
            signals += usize::from(signal != Signal::Hold);
            upper = entry.next(*bar).map(|c| c.upper);
            lower = exit.next(*bar).map(|c| c.lower);
        }
        assert!(signals > 0);
    }
}
