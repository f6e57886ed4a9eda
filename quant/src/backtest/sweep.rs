//! Parameter sweeps over a grid, and walk-forward validation.
//!
//! A grid maps parameter names to candidate values; the sweep runs the
//! cartesian product (combinations the strategy refuses, such as `fast >= slow`,
//! are skipped and counted) and ranks the results by one metric. Natively the
//! runs are spread over all cores with rayon; in wasm32 they run one after the
//! other. Either way results are identical, because each run is independent and
//! the ranking is a stable sort on (metric, grid position).
//!
//! Walk-forward validation slides a window over the bars: on each training
//! window the best combination is chosen by the sweep, then run on the
//! following test window. Indicators are warmed up on the training bars, but
//! only the test window is traded, so the out-of-sample figures never benefit
//! from the choice that was made on the same data.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Config, Metrics, run_signals, run_strategy};
use crate::bar::Bar;
use crate::error::ParamError;
use crate::strategies::Entry;
use crate::strategy::Signal;

/// Parameter names and the candidate values of each, in a fixed order.
pub type Grid = Vec<(String, Vec<Value>)>;

/// Metrics for which a smaller value ranks higher.
const LOWER_IS_BETTER: [&str; 3] = ["max_drawdown", "avg_drawdown", "volatility"];

/// One combination's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    /// The parameters, as a JSON object.
    pub params: Value,
    /// The metrics of the full backtest.
    pub metrics: Metrics,
    /// The ranking metric's value (`NAN` ranks last).
    pub score: f64,
}

/// A ranked sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Runs, best first.
    pub runs: Vec<SweepRun>,
    /// Combinations the strategy refused (e.g. `fast >= slow`).
    pub skipped: usize,
}

/// Every combination of the grid, in row-major order (the last name varies fastest).
#[must_use]
pub fn combinations(grid: &Grid) -> Vec<Value> {
    let mut out = vec![Map::new()];
    for (name, values) in grid {
        out = out
            .into_iter()
            .flat_map(|partial| {
                values.iter().map(move |v| {
                    let mut next = partial.clone();
                    next.insert(name.clone(), v.clone());
                    next
                })
            })
            .collect();
    }
    out.into_iter().map(Value::Object).collect()
}

/// Runs every combination of `grid` for `strategy` over `bars` and ranks them by `metric`.
///
/// # Errors
/// [`ParamError`] for an unknown metric, an empty grid or an invalid config.
pub fn sweep(bars: &[Bar], strategy: &Entry, grid: &Grid, config: &Config, metric: &str) -> Result<Sweep, ParamError> {
    config.validate()?;
    check_metric(metric)?;
    if grid.iter().any(|(_, values)| values.is_empty()) {
        return Err(ParamError::Spec {
            spec: "grid".into(),
            reason: "every parameter needs at least one value".into(),
        });
    }
    let combos = combinations(grid);
    let evaluate = |params: &Value| -> Option<SweepRun> {
        let mut s = strategy.build(params).ok()?;
        let report = run_strategy(bars, s.as_mut(), config).ok()?;
        let score = report.metrics.get(metric).unwrap_or(f64::NAN);
        Some(SweepRun { params: params.clone(), metrics: report.metrics, score })
    };
    #[cfg(not(target_arch = "wasm32"))]
    let results: Vec<Option<SweepRun>> = {
        use rayon::prelude::*;
        combos.par_iter().map(evaluate).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let results: Vec<Option<SweepRun>> = combos.iter().map(evaluate).collect();

    let skipped = results.iter().filter(|r| r.is_none()).count();
    let mut runs: Vec<SweepRun> = results.into_iter().flatten().collect();
    rank(&mut runs, metric);
    Ok(Sweep { runs, skipped })
}

fn check_metric(metric: &str) -> Result<(), ParamError> {
    const METRICS: &str = "total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown, avg_drawdown, \
                           win_rate, profit_factor, expectancy, sqn, exposure, trades, final_equity";
    if METRICS.split(", ").any(|m| m == metric) {
        Ok(())
    } else {
        Err(ParamError::Unknown { kind: "metric", value: metric.to_owned(), expected: METRICS })
    }
}

/// Best first; NaN last; ties keep grid order (the sort is stable).
fn rank(runs: &mut [SweepRun], metric: &str) {
    let lower_better = LOWER_IS_BETTER.contains(&metric);
    runs.sort_by(|a, b| match (a.score.is_nan(), b.score.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) if lower_better => a.score.total_cmp(&b.score),
        (false, false) => b.score.total_cmp(&a.score),
    });
}

/// Window sizes of a walk-forward validation, in bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkForward {
    /// Bars in each training (in-sample) window.
    pub train: usize,
    /// Bars in each test (out-of-sample) window.
    pub test: usize,
}

/// One training/testing step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardWindow {
    /// First and last bar time of the training window.
    pub train: (i64, i64),
    /// First and last bar time of the test window.
    pub test: (i64, i64),
    /// The combination chosen on the training window.
    pub params: Value,
    /// Its metric on the training window.
    pub in_sample: f64,
    /// Its metric on the test window.
    pub out_of_sample: f64,
}

/// The outcome of a walk-forward validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardReport {
    /// Every step, in time order.
    pub windows: Vec<WalkForwardWindow>,
    /// Mean in-sample metric.
    pub mean_in_sample: f64,
    /// Mean out-of-sample metric.
    pub mean_out_of_sample: f64,
    /// Mean out-of-sample over mean in-sample: 1 means no degradation, below 1
    /// is the usual overfitting loss.
    pub efficiency: f64,
}

/// Rolls train/test windows forward by `test` bars and validates each step.
///
/// # Errors
/// [`ParamError`] when the windows do not fit the data, the metric is unknown,
/// or no combination is accepted on some training window.
pub fn walk_forward(
    bars: &[Bar],
    strategy: &Entry,
    grid: &Grid,
    config: &Config,
    metric: &str,
    windows: WalkForward,
) -> Result<WalkForwardReport, ParamError> {
    if windows.train == 0 || windows.test == 0 || windows.train + windows.test > bars.len() {
        return Err(ParamError::Spec {
            spec: format!("train={}, test={}", windows.train, windows.test),
            reason: format!("windows must be non-empty and fit in {} bars", bars.len()),
        });
    }
    let mut steps = Vec::new();
    let mut start = 0;
    while start + windows.train + windows.test <= bars.len() {
        let train = &bars[start..start + windows.train];
        let test_end = start + windows.train + windows.test;
        let best = sweep(train, strategy, grid, config, metric)?.runs.into_iter().next().ok_or_else(|| {
            ParamError::Spec { spec: "grid".into(), reason: "the strategy refused every combination".into() }
        })?;
        // Warm up on the training bars, trade only the test bars.
        let mut s = strategy.build(&best.params)?;
        let signals: Vec<Signal> = bars[start..test_end].iter().map(|b| s.next(b)).collect();
        let test = &bars[start + windows.train..test_end];
        let report = run_signals(test, &signals[windows.train..], config)?;
        steps.push(WalkForwardWindow {
            train: (train[0].ts, train[train.len() - 1].ts),
            test: (test[0].ts, test[test.len() - 1].ts),
            params: best.params,
            in_sample: best.score,
            out_of_sample: report.metrics.get(metric).unwrap_or(f64::NAN),
        });
        start += windows.test;
    }
    let mean = |f: fn(&WalkForwardWindow) -> f64| steps.iter().map(f).sum::<f64>() / steps.len() as f64;
    let (mean_in_sample, mean_out_of_sample) = (mean(|w| w.in_sample), mean(|w| w.out_of_sample));
    let efficiency = if mean_in_sample == 0.0 { f64::NAN } else { mean_out_of_sample / mean_in_sample };
    Ok(WalkForwardReport { windows: steps, mean_in_sample, mean_out_of_sample, efficiency })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strategies::find;

    fn zigzag(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 100.0 + 10.0 * ((i as f64) / 7.0).sin() + i as f64 * 0.05;
                Bar { ts: i as i64 * 86_400, open: c, high: c + 1.0, low: c - 1.0, close: c, volume: 1.0 }
            })
            .collect()
    }

    fn grid() -> Grid {
        vec![
            ("fast".into(), (2..=6).map(|v| json!(v)).collect()),
            ("slow".into(), (4..=12).step_by(2).map(|v| json!(v)).collect()),
        ]
    }

    #[test]
    fn combinations_are_the_cartesian_product_in_order() {
        let combos =
            combinations(&vec![("a".into(), vec![json!(1), json!(2)]), ("b".into(), vec![json!(3), json!(4)])]);
        assert_eq!(
            combos,
            vec![json!({"a":1,"b":3}), json!({"a":1,"b":4}), json!({"a":2,"b":3}), json!({"a":2,"b":4})]
        );
    }

    #[test]
    fn sweep_ranks_by_the_metric_and_skips_refused_combinations() {
        let bars = zigzag(300);
        let sma = find("sma_cross").unwrap();
        let result = sweep(&bars, sma, &grid(), &Config::default(), "total_return").unwrap();
        // fast in 2..=6, slow in {4,6,8,10,12}: fast >= slow is refused 4 times (4/4, 5/4, 6/4, 6/6).
        assert_eq!(result.skipped, 4);
        assert_eq!(result.runs.len(), 21);
        assert!(result.runs.windows(2).all(|w| w[0].score >= w[1].score));
        // The best run is exactly what a single backtest with its parameters gives.
        let best = &result.runs[0];
        let mut s = sma.build(&best.params).unwrap();
        let single = run_strategy(&bars, s.as_mut(), &Config::default()).unwrap();
        // Compared as text: NaN (an undefined metric) is not equal to itself.
        assert_eq!(format!("{:?}", single.metrics), format!("{:?}", best.metrics));

        let by_drawdown = sweep(&bars, sma, &grid(), &Config::default(), "max_drawdown").unwrap();
        assert!(by_drawdown.runs.windows(2).all(|w| w[0].score <= w[1].score));
        assert!(matches!(sweep(&bars, sma, &grid(), &Config::default(), "luck"), Err(ParamError::Unknown { .. })));
    }

    #[test]
    fn walk_forward_trades_only_out_of_sample() {
        let bars = zigzag(600);
        let sma = find("sma_cross").unwrap();
        let wf = walk_forward(
            &bars,
            sma,
            &grid(),
            &Config::default(),
            "total_return",
            WalkForward { train: 200, test: 100 },
        )
        .unwrap();
        // Steps start at 0, 100, 200, 300 (each needs 300 bars).
        assert_eq!(wf.windows.len(), 4);
        assert_eq!(wf.windows[1].train.0, 100 * 86_400);
        assert_eq!(wf.windows[1].test, (300 * 86_400, 399 * 86_400));
        assert!(wf.windows.iter().all(|w| w.in_sample.is_finite() && w.out_of_sample.is_finite()));
        assert!(
            walk_forward(&bars, sma, &grid(), &Config::default(), "sharpe", WalkForward { train: 500, test: 200 })
                .is_err()
        );
    }
}
