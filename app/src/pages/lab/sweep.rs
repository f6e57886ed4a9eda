//! Sweeps in the lab: the grid chosen in the form (one or two parameters with
//! ranges checked against the strategy's metadata), the ranking of the rows
//! the workers return, and the overfitting guard, the spread of the scores
//! around the best cell.
//!
//! A worker row is `[index, refused, score, metrics...]`, laid out by
//! `quant::backtest::columns` for the workers and this page alike.

// The server renders the sweep form only; the browser runs the rest.
#![cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser runs sweeps"))]

use quant::strategies::{Info, meta};
use serde_json::Value;

/// The metrics of a row after index, refused and score, in the worker's order.
pub(crate) use quant::backtest::columns::SWEEP_METRICS as METRICS;

/// Values per worker row.
pub(crate) use quant::backtest::columns::SWEEP_ROW as WIDTH;

/// The most combinations one sweep runs.
pub(crate) const MAX_COMBINATIONS: usize = 250_000;

/// One swept parameter and its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// The parameter's name.
    pub name: String,
    /// Its values, in order.
    pub values: Vec<f64>,
    /// Whether the values are whole numbers.
    pub whole: bool,
}

impl Axis {
    /// The values `from, from + step, ... <= to` of `param`.
    ///
    /// # Errors
    /// A message naming the parameter when it cannot be swept (not a number)
    /// or the range leaves its metadata's bounds or holds no value.
    pub(crate) fn new(entry: &Info, name: &str, from: f64, to: f64, step: f64) -> Result<Self, String> {
        let param = entry.param(name).ok_or_else(|| format!("{} has no parameter `{name}`", entry.name))?;
        let (min, max) = param.range().ok_or_else(|| format!("{name} is not a number and cannot be swept"))?;
        let whole = matches!(param.kind, meta::Kind::Int { .. });
        if !(from.is_finite() && to.is_finite() && step.is_finite()) || step <= 0.0 {
            return Err(format!("{name}: from, to and a step above 0 are needed"));
        }
        if from < min || to > max || from > to {
            return Err(format!("{name}: the range must lie within {min} to {max}, from below to"));
        }
        if whole && (from.fract() != 0.0 || step.fract() != 0.0) {
            return Err(format!("{name} takes whole numbers"));
        }
        let count = ((to - from) / step + 1e-9).floor() as usize + 1;
        if count > 1_000 {
            return Err(format!("{name}: at most 1,000 values, this range has {count}"));
        }
        // Each value from its position, so a float step does not drift.
        let values =
            (0..count).map(|k| if whole { from + k as f64 * step } else { round(from + k as f64 * step) }).collect();
        Ok(Self { name: name.to_owned(), values, whole })
    }

    /// A value as the URL and the axis labels write it.
    pub(crate) fn label(&self, k: usize) -> String {
        let v = self.values[k];
        if self.whole { format!("{v:.0}") } else { format!("{v}") }
    }
}

/// Rounds away the binary noise of `from + k * step` (12 significant digits).
fn round(x: f64) -> f64 {
    format!("{x:.12e}").parse().unwrap_or(x)
}

/// The grid as the worker reads it (`[[name, [values...]], ...]`).
pub(crate) fn grid_json(axes: &[Axis]) -> String {
    let grid: Vec<Value> = axes
        .iter()
        .map(|a| {
            let values: Vec<Value> =
                a.values.iter().map(|&v| if a.whole { Value::from(v as i64) } else { Value::from(v) }).collect();
            Value::Array(vec![Value::from(a.name.clone()), Value::Array(values)])
        })
        .collect();
    Value::Array(grid).to_string()
}

/// The combinations of `axes`.
pub(crate) fn total(axes: &[Axis]) -> usize {
    axes.iter().map(|a| a.values.len()).product()
}

/// Grid positions of the runs that finished and were not refused, best
/// first; a NaN score ranks last; ties keep grid order (as `quant`'s ranking).
pub(crate) fn rank(rows: &[f64], metric: &str) -> Vec<usize> {
    let lower = quant::backtest::lower_is_better(metric);
    let mut runs: Vec<(usize, f64)> = rows
        .as_chunks::<WIDTH>()
        .0
        .iter()
        .filter(|r| r[0].is_finite() && r[1] == 0.0)
        .map(|r| (r[0] as usize, r[2]))
        .collect();
    runs.sort_by(|&(a, sa), &(b, sb)| match (sa.is_nan(), sb.is_nan()) {
        (true, true) => a.cmp(&b),
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) if lower => sa.total_cmp(&sb).then(a.cmp(&b)),
        (false, false) => sb.total_cmp(&sa).then(a.cmp(&b)),
    });
    runs.into_iter().map(|(i, _)| i).collect()
}

/// The score of every grid cell (NaN where refused or not run).
pub(crate) fn scores(rows: &[f64], total: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; total];
    for r in rows.as_chunks::<WIDTH>().0 {
        if r[0].is_finite() && r[1] == 0.0 && (r[0] as usize) < total {
            out[r[0] as usize] = r[2];
        }
    }
    out
}

/// The spread of the scores next to a cell: the cell and its neighbours one
/// step away on each axis (up to 9 cells in a 2-D grid, 3 in 1-D).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Neighbourhood {
    /// Cells with a score.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// The lowest.
    pub min: f64,
    /// The highest.
    pub max: f64,
}

/// See [`Neighbourhood`]; `ny` is 1 for a one-parameter sweep.
pub(crate) fn neighbourhood(scores: &[f64], nx: usize, ny: usize, cell: usize) -> Neighbourhood {
    let (ci, cj) = (cell / ny, cell % ny);
    let mut values = Vec::with_capacity(9);
    for i in ci.saturating_sub(1)..=(ci + 1).min(nx - 1) {
        for j in cj.saturating_sub(1)..=(cj + 1).min(ny - 1) {
            let v = scores[i * ny + j];
            if v.is_finite() {
                values.push(v);
            }
        }
    }
    let count = values.len();
    Neighbourhood {
        count,
        mean: values.iter().sum::<f64>() / count as f64,
        min: values.iter().copied().fold(f64::NAN, f64::min),
        max: values.iter().copied().fold(f64::NAN, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quant::strategies::info as find;

    #[test]
    fn axes_follow_the_metadata() {
        let sma = find("sma_cross").unwrap();
        let fast = Axis::new(sma, "fast", 5.0, 50.0, 5.0).unwrap();
        assert_eq!(fast.values, (1..=10).map(|k| f64::from(k) * 5.0).collect::<Vec<_>>());
        assert!(Axis::new(sma, "fast", 0.0, 50.0, 5.0).unwrap_err().contains("within 1 to 2000"));
        assert!(Axis::new(sma, "fast", 5.0, 50.0, 0.5).unwrap_err().contains("whole numbers"));
        assert!(Axis::new(sma, "fast", 1.0, 2000.0, 1.0).unwrap_err().contains("at most 1,000"));
        let bands = find("bollinger_reversion").unwrap();
        assert!(Axis::new(bands, "exit", 0.0, 1.0, 1.0).unwrap_err().contains("cannot be swept"));
        let nbdev = Axis::new(bands, "nbdev", 1.0, 2.0, 0.1).unwrap();
        assert_eq!(nbdev.values.len(), 11);
        assert_eq!(nbdev.values[3], 1.3, "no binary drift");
        assert_eq!(grid_json(std::slice::from_ref(&fast)), "[[\"fast\",[5,10,15,20,25,30,35,40,45,50]]]");
        assert_eq!(total(&[fast, nbdev]), 110);
    }

    fn row(index: usize, refused: bool, score: f64) -> Vec<f64> {
        let mut r = vec![index as f64, if refused { 1.0 } else { 0.0 }, score];
        r.resize(WIDTH, 0.0);
        r
    }

    #[test]
    fn ranking_and_neighbourhoods() {
        // Rows arrive in any order (a pool): 2x3 grid, cell 4 refused, cell 5 undefined.
        let rows: Vec<f64> = [
            row(3, false, 0.5),
            row(0, false, 1.0),
            row(4, true, f64::NAN),
            row(1, false, 2.0),
            row(2, false, 1.0),
            row(5, false, f64::NAN),
        ]
        .concat();
        assert_eq!(rank(&rows, "sharpe"), vec![1, 0, 2, 3, 5]);
        assert_eq!(rank(&rows, "max_drawdown"), vec![3, 0, 2, 1, 5]);
        let s = scores(&rows, 6);
        assert!(s[4].is_nan() && s[5].is_nan() && s[1] == 2.0);
        // Around cell 1 (i=0, j=1) in 2 columns of 3: cells 0, 1, 2, 3 (4 and 5 have no score).
        let n = neighbourhood(&s, 2, 3, 1);
        assert_eq!((n.count, n.min, n.max), (4, 0.5, 2.0));
        assert!((n.mean - 1.125).abs() < 1e-12);
        // One parameter: the cell and the ones beside it.
        let line = neighbourhood(&[1.0, 3.0, 5.0, 7.0], 4, 1, 0);
        assert_eq!((line.count, line.mean), (2, 2.0));
    }
}
