//! No strategy ever uses a future bar.
//!
//! For every strategy in the catalog and several cut-off points k: run it over a
//! series, then over the same first k bars followed by a completely different
//! future. The signals on bars 0..k must be identical, and identical again after
//! `reset()`. Because strategies are fed one closed bar at a time this holds by
//! construction; the test keeps it that way for every strategy added later.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
use common::walk;
use quant::strategies::CATALOG;
use quant::strategy::Signal;

#[test]
fn signals_before_a_cutoff_ignore_everything_after_it() {
    let history = walk(7, 700, 100.0);
    for entry in CATALOG {
        let mut strategy = entry.build(&serde_json::Value::Null).unwrap();
        let full: Vec<Signal> = history.iter().map(|b| strategy.next(b)).collect();
        assert!(full.iter().any(|s| *s != Signal::Hold), "{}: no signal at all on 700 bars", entry.name);
        for cutoff in [1, 50, 199, 200, 201, 350, 699] {
            let mut other_future = history[..cutoff].to_vec();
            other_future.extend(
                walk(cutoff as u64 * 31, 700 - cutoff, history[cutoff - 1].close * 1.3).into_iter().map(|mut b| {
                    b.ts += cutoff as i64 * 86_400;
                    b
                }),
            );
            strategy.reset();
            let replay: Vec<Signal> = other_future.iter().map(|b| strategy.next(b)).collect();
            assert_eq!(&replay[..cutoff], &full[..cutoff], "{} looked past bar {cutoff}", entry.name);
        }
    }
}
