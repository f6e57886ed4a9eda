//! Every indicator TA-Lib defines, compared with TA-Lib's own output.
//!
//! `golden/generate.py` ran TA-Lib (C library 0.8.1, from the `ta-lib` 0.8.2
//! wheel) over seeded bars and stored inputs and outputs; this test feeds the
//! same bars through `catalog::build` and requires:
//! - the same warm-up: a value exactly where TA-Lib has one;
//! - the same values: |ours - TA-Lib| <= 1e-9 * max(|TA-Lib|, 1).
//!
//! While working on a few functions, `QUANT_GOLDEN_ONLY=RSI,MACD cargo test -p
//! quant --test talib_golden` checks just those.
#![allow(clippy::unwrap_used, reason = "a malformed golden file should fail at the failing line")]

use std::fs;
use std::path::{Path, PathBuf};

use quant::Bar;
use quant::indicators::catalog::{self, Spec};

const TOLERANCE: f64 = 1e-9;
/// Rows of `golden/cases.csv`: every one is checked when no filter is set.
const CASES: usize = 56;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Python's csv module writes a row holding one empty field as `""`.
    text.lines().skip(1).map(|l| l.split(',').map(|cell| cell.trim_matches('"').to_owned()).collect()).collect()
}

fn bars() -> Vec<Bar> {
    read_csv(&golden_dir().join("bars.csv"))
        .iter()
        .map(|r| {
            let f = |i: usize| r[i].parse::<f64>().unwrap();
            Bar { ts: r[0].parse().unwrap(), open: f(1), high: f(2), low: f(3), close: f(4), volume: f(5) }
        })
        .collect()
}

#[test]
fn every_case_matches_talib() {
    let bars = bars();
    let mut failures = Vec::new();
    let only: Option<Vec<String>> =
        std::env::var("QUANT_GOLDEN_ONLY").ok().map(|v| v.split(',').map(|s| s.trim().to_ascii_uppercase()).collect());
    let all = read_csv(&golden_dir().join("cases.csv"));
    assert_eq!(all.len(), CASES, "golden/cases.csv changed: update CASES");
    assert!(!bars.is_empty(), "no bars in golden/bars.csv");
    let cases: Vec<Vec<String>> =
        all.into_iter().filter(|c| only.as_ref().is_none_or(|only| only.contains(&c[1]))).collect();
    // A filter that names a function without cases would check nothing for it.
    for name in only.iter().flatten() {
        assert!(cases.iter().any(|c| &c[1] == name), "QUANT_GOLDEN_ONLY names {name}, which has no golden case");
    }
    assert!(!cases.is_empty(), "no golden case matched QUANT_GOLDEN_ONLY={only:?}");
    // Cases compared value by value, each with at least one value TA-Lib gave.
    let mut checked = 0;
    for case in &cases {
        let (id, function, params, outputs) = (&case[0], &case[1], &case[2], &case[3]);
        let params: Vec<f64> = params.split(';').filter(|p| !p.is_empty()).map(|p| p.parse().unwrap()).collect();
        let spec = Spec::new(function, &params);
        let mut indicator = match catalog::build(&spec) {
            Ok(indicator) => indicator,
            Err(e) => {
                failures.push(format!("{id}: cannot build {spec}: {e}"));
                continue;
            }
        };
        let names: Vec<&str> = outputs.split(';').collect();
        if indicator.outputs() != names.as_slice() {
            failures.push(format!("{id}: outputs {:?}, TA-Lib has {names:?}", indicator.outputs()));
            continue;
        }
        let golden = read_csv(&golden_dir().join(format!("{id}.csv")));
        if golden.len() != bars.len() || golden.iter().any(|g| g.len() != names.len()) {
            failures.push(format!("{id}: the golden file is not {} rows of {} values", bars.len(), names.len()));
            continue;
        }
        let mut row = vec![f64::NAN; names.len()];
        let mut compared = 0;
        let mut failed = false;
        for (i, bar) in bars.iter().enumerate() {
            let ready = indicator.update(bar, &mut row);
            let mismatch =
                golden[i].iter().zip(&row).enumerate().find_map(|(k, (want, &got))| match (want.is_empty(), ready) {
                    (true, false) => None,
                    (true, true) => Some(format!("{}: TA-Lib is still warming up, we gave {got}", names[k])),
                    (false, false) => Some(format!("{}: TA-Lib gave {want}, we are still warming up", names[k])),
                    (false, true) => {
                        compared += 1;
                        let want: f64 = want.parse().unwrap();
                        let ok = (got - want).abs() <= TOLERANCE * want.abs().max(1.0);
                        (!ok).then(|| format!("{}: TA-Lib {want}, ours {got}", names[k]))
                    }
                });
            if let Some(m) = mismatch {
                failures.push(format!("{id} at bar {i}: {m}"));
                failed = true;
                break;
            }
        }
        if !failed && compared == 0 {
            failures.push(format!("{id}: TA-Lib gave no value to compare"));
        } else if !failed {
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from TA-Lib:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(checked, cases.len(), "every selected case compared");
    if only.is_none() {
        assert_eq!(checked, CASES, "every golden case compared");
    }
}
