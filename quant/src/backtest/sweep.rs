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

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// The metrics a sweep can rank by.
pub const RANK_METRICS: &[&str] = &[
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "avg_drawdown",
    "win_rate",
    "profit_factor",
    "expectancy",
    "sqn",
    "exposure",
    "trades",
    "final_equity",
];

/// One combination's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    /// Position in the grid's row-major order ([`combinations`]).
    pub index: usize,
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
    /// Combinations in the grid.
    pub total: usize,
    /// Whether the sweep was cancelled before every combination ran; `runs`
    /// then holds those that finished.
    pub cancelled: bool,
}

/// A running sweep's shared state: combinations finished so far and a
/// request to stop. Checked before each combination, so a cancel takes effect
/// within one backtest.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    cancel: AtomicBool,
}

impl Progress {
    /// Combinations finished (run or refused).
    #[must_use]
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Asks the sweep to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
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
    sweep_with(bars, strategy, grid, config, metric, &Progress::default())
}

/// [`sweep`], reporting to `progress` and stopping early when it is cancelled.
///
/// # Errors
/// As [`sweep`].
pub fn sweep_with(
    bars: &[Bar],
    strategy: &Entry,
    grid: &Grid,
    config: &Config,
    metric: &str,
    progress: &Progress,
) -> Result<Sweep, ParamError> {
    config.validate()?;
    check_metric(metric)?;
    if grid.iter().any(|(_, values)| values.is_empty()) {
        return Err(ParamError::Spec {
            spec: "grid".into(),
            reason: "every parameter needs at least one value".into(),
        });
    }
    let combos = combinations(grid);
    // `None`: not run (cancelled); `Some(None)`: refused by the strategy.
    let one = |(index, params): (usize, &Value)| -> Option<Option<SweepRun>> {
        if progress.is_cancelled() {
            return None;
        }
        let run = evaluate(bars, strategy, params, config, metric, index);
        progress.done.fetch_add(1, Ordering::Relaxed);
        Some(run)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let results: Vec<Option<Option<SweepRun>>> = {
        use rayon::prelude::*;
        combos.par_iter().enumerate().map(one).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let results: Vec<Option<Option<SweepRun>>> = combos.iter().enumerate().map(one).collect();

    let cancelled = results.iter().any(Option::is_none);
    let skipped = results.iter().filter(|r| matches!(r, Some(None))).count();
    let mut runs: Vec<SweepRun> = results.into_iter().flatten().flatten().collect();
    rank(&mut runs, metric);
    Ok(Sweep { runs, skipped, total: combos.len(), cancelled })
}

/// One combination of a sweep: `None` when the strategy refuses `params`.
/// A pool of workers (the browser's) calls this per combination and merges
/// with [`rank`], which gives what [`sweep`] gives.
#[must_use]
pub fn evaluate(
    bars: &[Bar],
    strategy: &Entry,
    params: &Value,
    config: &Config,
    metric: &str,
    index: usize,
) -> Option<SweepRun> {
    let mut s = strategy.build(params).ok()?;
    let report = run_strategy(bars, s.as_mut(), config).ok()?;
    let score = report.metrics.get(metric).unwrap_or(f64::NAN);
    Some(SweepRun { index, params: params.clone(), metrics: report.metrics, score })
}

/// Checks that `metric` is one a sweep can rank by.
///
/// # Errors
/// [`ParamError::Unknown`] listing [`RANK_METRICS`].
pub fn check_metric(metric: &str) -> Result<(), ParamError> {
    const EXPECTED: &str = "total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown, avg_drawdown, \
                            win_rate, profit_factor, expectancy, sqn, exposure, trades, final_equity";
    if RANK_METRICS.contains(&metric) {
        Ok(())
    } else {
        Err(ParamError::Unknown { kind: "metric", value: metric.to_owned(), expected: EXPECTED })
    }
}

/// Whether a smaller value of `metric` ranks higher (drawdowns, volatility).
#[must_use]
pub fn lower_is_better(metric: &str) -> bool {
    LOWER_IS_BETTER.contains(&metric)
}

/// Sorts runs best first; NaN last; ties in grid order (whatever order the
/// runs arrive in, so a pool's merged results rank as one sweep's).
pub fn rank(runs: &mut [SweepRun], metric: &str) {
    runs.sort_by_key(|r| r.index);
    let lower_better = lower_is_better(metric);
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
    /// Bars in each training (in-sample) window; with `anchored`, in the first.
    pub train: usize,
    /// Bars in each test (out-of-sample) window.
    pub test: usize,
    /// Training windows all start at the first bar and grow by `test` bars a
    /// step (anchored), instead of sliding forward with a fixed length (rolling).
    #[serde(default)]
    pub anchored: bool,
}

impl WalkForward {
    /// The steps over `len` bars: (training bars, test bars) as index ranges.
    #[must_use]
    pub fn steps(&self, len: usize) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        if self.train == 0 || self.test == 0 {
            return out;
        }
        let mut train_end = self.train;
        while train_end + self.test <= len {
            let train_start = if self.anchored { 0 } else { train_end - self.train };
            out.push((train_start..train_end, train_end..train_end + self.test));
            train_end += self.test;
        }
        out
    }
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
    /// Its return on the test window.
    pub test_return: f64,
    /// Its trades on the test window.
    pub test_trades: usize,
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
    /// Mean out-of-sample over mean in-sample (walk-forward efficiency): 1
    /// means no degradation, below 1 is the usual overfitting loss.
    pub efficiency: f64,
    /// `1 - efficiency`: the share of the in-sample figure lost out of sample.
    pub degradation: f64,
    /// Index of the first test bar: the stitched curves start there.
    pub start: usize,
    /// Out-of-sample equity at each test bar's close, every window's curve
    /// chained onto the previous one's end (starting from the initial cash).
    pub oos_equity: Vec<f64>,
    /// The combination that is best over all the bars with hindsight.
    pub in_sample_params: Value,
    /// Its equity over the same bars as `oos_equity`, rebased to the initial
    /// cash at the first test bar: what the optimisation promised.
    pub in_sample_equity: Vec<f64>,
}

/// Walk-forward validation: each step's training window chooses the best
/// combination by `metric`, which then trades the following test window.
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
    walk_forward_with(bars, strategy, grid, config, metric, windows, &Progress::default())
        .and_then(|r| r.ok_or_else(|| ParamError::Spec { spec: "walk-forward".into(), reason: "cancelled".into() }))
}

/// [`walk_forward`], reporting every combination run to `progress`;
/// `Ok(None)` when it was cancelled.
///
/// # Errors
/// As [`walk_forward`].
pub fn walk_forward_with(
    bars: &[Bar],
    strategy: &Entry,
    grid: &Grid,
    config: &Config,
    metric: &str,
    windows: WalkForward,
    progress: &Progress,
) -> Result<Option<WalkForwardReport>, ParamError> {
    let steps = windows.steps(bars.len());
    if steps.is_empty() {
        return Err(ParamError::Spec {
            spec: format!("train={}, test={}", windows.train, windows.test),
            reason: format!("windows must be non-empty and fit in {} bars", bars.len()),
        });
    }
    let refused = || ParamError::Spec { spec: "grid".into(), reason: "the strategy refused every combination".into() };
    let mut out = Vec::with_capacity(steps.len());
    let mut oos_equity = Vec::new();
    let initial = config.initial_cash;
    for (train, test) in &steps {
        let chosen = sweep_with(&bars[train.clone()], strategy, grid, config, metric, progress)?;
        if chosen.cancelled {
            return Ok(None);
        }
        let best = chosen.runs.into_iter().next().ok_or_else(refused)?;
        // Warm up on the training bars, trade only the test bars.
        let mut s = strategy.build(&best.params)?;
        let signals: Vec<Signal> = bars[train.start..test.end].iter().map(|b| s.next(b)).collect();
        let report = run_signals(&bars[test.clone()], &signals[test.start - train.start..], config)?;
        let level = oos_equity.last().copied().unwrap_or(initial);
        oos_equity.extend(report.equity.iter().map(|e| level * (e / initial)));
        out.push(WalkForwardWindow {
            train: (bars[train.start].ts, bars[train.end - 1].ts),
            test: (bars[test.start].ts, bars[test.end - 1].ts),
            params: best.params,
            in_sample: best.score,
            out_of_sample: report.metrics.get(metric).unwrap_or(f64::NAN),
            test_return: report.metrics.total_return,
            test_trades: report.metrics.trades,
        });
    }
    let start = steps[0].1.start;
    let end = steps[steps.len() - 1].1.end;
    // Hindsight: the best combination over everything, traded over the same span.
    let hindsight = sweep_with(&bars[..end], strategy, grid, config, metric, progress)?;
    if hindsight.cancelled {
        return Ok(None);
    }
    let best = hindsight.runs.into_iter().next().ok_or_else(refused)?;
    let mut s = strategy.build(&best.params)?;
    let full = run_strategy(&bars[..end], s.as_mut(), config)?;
    let base = if start == 0 { initial } else { full.equity[start - 1] };
    let in_sample_equity = full.equity[start..end].iter().map(|e| initial * (e / base)).collect();

    let mean = |f: fn(&WalkForwardWindow) -> f64| out.iter().map(f).sum::<f64>() / out.len() as f64;
    let (mean_in_sample, mean_out_of_sample) = (mean(|w| w.in_sample), mean(|w| w.out_of_sample));
    let efficiency = if mean_in_sample == 0.0 { f64::NAN } else { mean_out_of_sample / mean_in_sample };
    Ok(Some(WalkForwardReport {
        windows: out,
        mean_in_sample,
        mean_out_of_sample,
        efficiency,
        degradation: 1.0 - efficiency,
        start,
        oos_equity,
        in_sample_params: best.params,
        in_sample_equity,
    }))
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
            WalkForward { train: 200, test: 100, anchored: false },
        )
        .unwrap();
        // Steps start at 0, 100, 200, 300 (each needs 300 bars).
        assert_eq!(wf.windows.len(), 4);
        assert_eq!(wf.windows[1].train.0, 100 * 86_400);
        assert_eq!(wf.windows[1].test, (300 * 86_400, 399 * 86_400));
        assert!(wf.windows.iter().all(|w| w.in_sample.is_finite() && w.out_of_sample.is_finite()));
        assert!(
            walk_forward(
                &bars,
                sma,
                &grid(),
                &Config::default(),
                "sharpe",
                WalkForward { train: 500, test: 200, anchored: false }
            )
            .is_err()
        );
    }

    #[test]
    fn a_pool_evaluating_combinations_in_any_order_ranks_like_one_sweep() {
        let bars = zigzag(300);
        let sma = find("sma_cross").unwrap();
        let config = Config::default();
        let whole = sweep(&bars, sma, &grid(), &config, "sharpe").unwrap();
        assert_eq!((whole.total, whole.cancelled), (25, false));
        // Two "workers": odd and even positions, merged in reverse.
        let combos = combinations(&grid());
        let mut merged: Vec<SweepRun> =
            (0..combos.len()).rev().filter_map(|i| evaluate(&bars, sma, &combos[i], &config, "sharpe", i)).collect();
        rank(&mut merged, "sharpe");
        assert_eq!(format!("{merged:?}"), format!("{:?}", whole.runs));
    }

    #[test]
    fn a_cancelled_sweep_stops_and_says_so() {
        let bars = zigzag(300);
        let sma = find("sma_cross").unwrap();
        let progress = Progress::default();
        let full = sweep_with(&bars, sma, &grid(), &Config::default(), "sharpe", &progress).unwrap();
        assert_eq!(progress.done(), 25, "refused combinations count as done");
        assert!(!full.cancelled);
        let cancelled = Progress::default();
        cancelled.cancel();
        let none = sweep_with(&bars, sma, &grid(), &Config::default(), "sharpe", &cancelled).unwrap();
        assert!(none.cancelled && none.runs.is_empty());
        assert_eq!((cancelled.done(), none.total), (0, 25));
    }

    #[test]
    fn anchored_windows_grow_from_the_first_bar_and_curves_are_stitched() {
        let rolling = WalkForward { train: 200, test: 100, anchored: false };
        let anchored = WalkForward { anchored: true, ..rolling };
        assert_eq!(
            rolling.steps(600),
            vec![(0..200, 200..300), (100..300, 300..400), (200..400, 400..500), (300..500, 500..600)]
        );
        assert_eq!(
            anchored.steps(600),
            vec![(0..200, 200..300), (0..300, 300..400), (0..400, 400..500), (0..500, 500..600)]
        );
        assert!(rolling.steps(299).is_empty());

        let bars = zigzag(600);
        let sma = find("sma_cross").unwrap();
        let config = Config::default();
        let wf = walk_forward(&bars, sma, &grid(), &config, "total_return", anchored).unwrap();
        assert_eq!(wf.windows[3].train, (0, 499 * 86_400));
        assert_eq!((wf.start, wf.oos_equity.len(), wf.in_sample_equity.len()), (200, 400, 400));
        // Chained: each window's return compounds onto the previous end.
        let compounded = wf.windows.iter().fold(config.initial_cash, |level, w| level * (1.0 + w.test_return));
        let end = *wf.oos_equity.last().unwrap();
        assert!((end - compounded).abs() < 1e-6 * compounded, "{end} vs {compounded}");
        assert!((wf.degradation - (1.0 - wf.efficiency)).abs() < 1e-12);
        // The hindsight curve is the best full-period combination, rebased at the first test bar.
        let best = sweep(&bars[..600], sma, &grid(), &config, "total_return").unwrap().runs.remove(0);
        assert_eq!(wf.in_sample_params, best.params);
    }
}
