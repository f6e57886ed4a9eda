//! The lab's engine, independent of the browser so it is tested natively:
//! holds one series of bars and answers backtests and pieces of sweeps over
//! it. The wasm glue in `lib.rs` keeps one per worker.
//!
//! Results cross to the page as JSON text for the small, structured parts and
//! as plain `f64` columns for the long ones (equity, trades), which the glue
//! turns into `Float64Array`s without a JSON round trip.

use quant::Bar;
use quant::backtest::{
    self, Fingerprint, Grid, Report, Settings, Side, TradeStats, columns, fingerprint, first_difference,
};
use serde::Serialize;
use serde_json::Value;

pub use quant::backtest::columns::{SWEEP_METRICS, SWEEP_ROW};

/// A backtest's answer. The page derives the rest from these and the bars it
/// holds: buy-and-hold from the closes, the drawdown from the equity.
#[derive(Debug)]
pub struct Outcome {
    /// Metrics and per-side statistics, as JSON.
    pub json: String,
    /// Equity at each close.
    pub equity: Vec<f64>,
    /// The trades, [`columns::TRADE_WIDTH`] values each ([`columns::trade_columns`]).
    pub trades: Vec<f64>,
    /// Returns by calendar month, [`columns::MONTH_WIDTH`] values each ([`columns::month_columns`]).
    pub months: Vec<f64>,
}

#[derive(Serialize)]
struct Sides {
    all: TradeStats,
    long: TradeStats,
    short: TradeStats,
}

#[derive(Serialize)]
struct Summary<'a> {
    metrics: &'a backtest::Metrics,
    sides: Sides,
    params: &'a Value,
    strategy: &'a str,
    /// The initial cash (the page draws buy-and-hold from it and the closes).
    cash: f64,
}

/// One worker's state.
#[derive(Debug, Default)]
pub struct Lab {
    bars: Vec<Bar>,
    last: Option<Report>,
    /// The grid text and its combinations, kept across the chunks of one sweep.
    combos: Option<(String, Vec<Value>)>,
}

impl Lab {
    /// Replaces the bars with the packed ones ([`quant::pack`]); returns how many.
    ///
    /// # Errors
    /// A message when the bytes are not packed bars.
    pub fn load(&mut self, packed: &[u8]) -> Result<usize, String> {
        self.bars = quant::pack::unpack(packed).map_err(|e| e.to_string())?;
        self.last = None;
        Ok(self.bars.len())
    }

    /// The bars held.
    #[must_use]
    pub fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// Runs the backtest `settings` (JSON of [`Settings`]) describes.
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn backtest(&mut self, settings: &str) -> Result<Outcome, String> {
        let settings: Settings = serde_json::from_str(settings).map_err(|e| e.to_string())?;
        let resolved = settings.resolve().map_err(|e| e.to_string())?;
        let mut strategy = resolved.entry.build(&resolved.params).map_err(|e| e.to_string())?;
        let report =
            backtest::run_strategy(&self.bars, strategy.as_mut(), &resolved.config).map_err(|e| e.to_string())?;
        let summary = Summary {
            metrics: &report.metrics,
            sides: Sides {
                all: backtest::trade_stats(&report.trades, None),
                long: backtest::trade_stats(&report.trades, Some(Side::Long)),
                short: backtest::trade_stats(&report.trades, Some(Side::Short)),
            },
            params: &resolved.params,
            strategy: resolved.entry.name,
            cash: resolved.config.initial_cash,
        };
        let json = serde_json::to_string(&summary).map_err(|e| e.to_string())?;
        let months = backtest::monthly_returns(&self.bars, &report.equity, resolved.config.initial_cash);
        let outcome = Outcome {
            json,
            trades: columns::trade_columns(&report.trades),
            months: columns::month_columns(&months),
            equity: report.equity.clone(),
        };
        self.last = Some(report);
        Ok(outcome)
    }

    /// The hashes of the last backtest's metrics, trades and equity: asked
    /// for only when the page checks a run against the server.
    ///
    /// # Errors
    /// A message when no backtest has run.
    pub fn fingerprint(&self) -> Result<Fingerprint, String> {
        self.last.as_ref().map(fingerprint).ok_or_else(|| "no backtest has run".into())
    }

    /// The first value where the last backtest differs from `other` (a
    /// [`Report`] as JSON, the server's); `None` when identical.
    ///
    /// # Errors
    /// A message when there was no backtest or `other` does not parse.
    pub fn difference(&self, other: &str) -> Result<Option<String>, String> {
        let mine = self.last.as_ref().ok_or("no backtest has run")?;
        let theirs: Report = serde_json::from_str(other).map_err(|e| e.to_string())?;
        Ok(first_difference(mine, &theirs))
    }

    /// Runs combinations `start..end` of `grid` (JSON of a [`Grid`]) and
    /// returns [`SWEEP_ROW`] values per combination.
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn sweep_chunk(
        &mut self,
        settings: &str,
        grid: &str,
        metric: &str,
        start: usize,
        end: usize,
    ) -> Result<Vec<f64>, String> {
        let settings: Settings = serde_json::from_str(settings).map_err(|e| e.to_string())?;
        let resolved = settings.resolve().map_err(|e| e.to_string())?;
        backtest::check_metric(metric).map_err(|e| e.to_string())?;
        if self.combos.as_ref().is_none_or(|(text, _)| text != grid) {
            let parsed: Grid = serde_json::from_str(grid).map_err(|e| format!("grid: {e}"))?;
            self.combos = Some((grid.to_owned(), backtest::combinations(&parsed)));
        }
        let combos = self.combos.as_ref().map(|(_, c)| c.as_slice()).unwrap_or_default();
        let end = end.min(combos.len());
        let mut rows = Vec::with_capacity(end.saturating_sub(start) * SWEEP_ROW);
        for (index, base) in combos.iter().enumerate().take(end).skip(start) {
            // The combination over the settings' own parameters.
            let mut params = resolved.params.clone();
            if let (Some(all), Some(over)) = (params.as_object_mut(), base.as_object()) {
                all.extend(over.clone());
            }
            rows.push(index as f64);
            match backtest::evaluate(&self.bars, resolved.entry, &params, &resolved.config, metric, index) {
                Some(run) => {
                    rows.push(0.0);
                    rows.push(run.score);
                    rows.extend(SWEEP_METRICS.iter().map(|m| run.metrics.get(m).unwrap_or(f64::NAN)));
                }
                None => {
                    rows.push(1.0);
                    rows.extend(std::iter::repeat_n(f64::NAN, SWEEP_ROW - 2));
                }
            }
        }
        Ok(rows)
    }
}

impl Lab {
    /// Runs a few backtests on generated bars and forgets them: the browser
    /// compiles a worker's wasm with a quick baseline compiler first and
    /// optimises the functions that run hot, so a worker that has done this
    /// while the real bars download runs the first real backtest with
    /// optimised code (on a million bars, 61 ms rather than 98).
    pub fn warm_up(&mut self) {
        let bars: Vec<Bar> = (0..20_000)
            .map(|i| {
                let c = 100.0 + (f64::from(i) / 37.0).sin() * 5.0 + f64::from(i % 11) * 0.1;
                Bar {
                    ts: 1_600_000_000 + i64::from(i) * 60,
                    open: c,
                    high: c + 0.5,
                    low: c - 0.5,
                    close: c,
                    volume: 1.0,
                }
            })
            .collect();
        self.bars = bars;
        for fast in [5, 8, 13] {
            let settings =
                format!(r#"{{"strategy":"sma_cross","params":{{"fast":{fast},"slow":30}},"mode":"long-short"}}"#);
            let _ = std::hint::black_box(self.backtest(&settings));
        }
        *self = Self::default();
    }

    /// A walk-forward validation of the strategy over `grid` (the settings'
    /// other parameters held at their values), as JSON of a
    /// [`backtest::WalkForwardReport`] (an undefined figure is `null`).
    ///
    /// # Errors
    /// A message naming the bad field, or saying why the windows do not fit.
    pub fn walk_forward(
        &self,
        settings: &str,
        grid: &str,
        metric: &str,
        windows: backtest::WalkForward,
    ) -> Result<String, String> {
        let settings: Settings = serde_json::from_str(settings).map_err(|e| e.to_string())?;
        let resolved = settings.resolve().map_err(|e| e.to_string())?;
        let mut grid: Grid = serde_json::from_str(grid).map_err(|e| format!("grid: {e}"))?;
        // Every other parameter as a one-value axis, so each window's
        // candidates keep the form's values for them.
        if let Value::Object(all) = &resolved.params {
            for (name, value) in all {
                if !grid.iter().any(|(n, _)| n == name) {
                    grid.push((name.clone(), vec![value.clone()]));
                }
            }
        }
        let report = backtest::walk_forward(&self.bars, resolved.entry, &grid, &resolved.config, metric, windows)
            .map_err(|e| e.to_string())?;
        serde_json::to_string(&report).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 100.0 + (i as f64 / 6.0).sin() * 9.0 + i as f64 * 0.02;
                Bar {
                    ts: 1_500_000_000 + i as i64 * 86_400,
                    open: c,
                    high: c + 1.0,
                    low: c - 1.0,
                    close: c,
                    volume: 5.0,
                }
            })
            .collect()
    }

    #[test]
    fn a_backtest_here_is_the_engines_backtest() {
        let mut lab = Lab::default();
        assert_eq!(lab.load(&quant::pack::pack(&bars(500))).unwrap(), 500);
        let settings = json!({"strategy": "sma_cross", "params": {"fast": 5}, "commission": 0.001}).to_string();
        let out = lab.backtest(&settings).unwrap();
        let mut s = quant::strategies::find("sma_cross").unwrap().build(&json!({"fast": 5})).unwrap();
        let config = backtest::Config { commission_rate: 0.001, ..backtest::Config::default() };
        let direct = backtest::run_strategy(&bars(500), s.as_mut(), &config).unwrap();
        assert_eq!(out.equity, direct.equity);
        let summary: Value = serde_json::from_str(&out.json).unwrap();
        assert_eq!(lab.fingerprint().unwrap(), fingerprint(&direct));
        assert_eq!(summary["sides"]["all"]["trades"], json!(direct.trades.len()));
        assert_eq!(summary["params"], json!({"fast": 5, "slow": 20}));
        assert_eq!(out.trades, columns::trade_columns(&direct.trades));
        let months = backtest::monthly_returns(&bars(500), &direct.equity, 10_000.0);
        assert_eq!(out.months, columns::month_columns(&months));
        assert!(!direct.trades.is_empty());
        assert_eq!(lab.difference(&serde_json::to_string(&direct).unwrap()).unwrap(), None);
        let err = lab.backtest(&json!({"strategy": "sma_cross", "params": {"fast": 0}}).to_string()).unwrap_err();
        assert!(err.contains("fast must be within"), "{err}");
    }

    #[test]
    fn warming_up_leaves_nothing_behind() {
        let mut lab = Lab::default();
        lab.warm_up();
        assert!(lab.bars().is_empty());
        assert!(lab.fingerprint().is_err());
        // A backtest now runs on no bars at all: nothing of the warm-up's remains.
        let out = lab.backtest(&json!({"strategy": "sma_cross"}).to_string()).unwrap();
        assert!(out.equity.is_empty() && out.trades.is_empty());
    }

    #[test]
    fn walk_forward_keeps_the_other_parameters() {
        let mut lab = Lab::default();
        lab.load(&quant::pack::pack(&bars(600))).unwrap();
        let grid = r#"[["fast",[3,5,8]]]"#;
        let settings = json!({"strategy": "sma_cross", "params": {"slow": 25}}).to_string();
        let windows = backtest::WalkForward { train: 200, test: 100, anchored: false };
        let report: Value =
            serde_json::from_str(&lab.walk_forward(&settings, grid, "sharpe", windows).unwrap()).unwrap();
        let chosen = &report["windows"][0]["params"];
        assert_eq!(chosen["slow"], json!(25));
        assert!([3, 5, 8].contains(&chosen["fast"].as_i64().unwrap()));
        assert_eq!(report["windows"].as_array().unwrap().len(), 4);
        assert_eq!(report["oos_equity"].as_array().unwrap().len(), 400);
        let err = lab.walk_forward(
            &settings,
            grid,
            "sharpe",
            backtest::WalkForward { train: 500, test: 200, anchored: false },
        );
        assert!(err.unwrap_err().contains("windows must be non-empty and fit in 600 bars"));
    }

    #[test]
    fn sweep_chunks_cover_the_grid_like_the_engines_sweep() {
        let mut lab = Lab::default();
        lab.load(&quant::pack::pack(&bars(400))).unwrap();
        let grid: Grid = vec![
            ("fast".into(), (2..=8).map(|v| json!(v)).collect()),
            ("slow".into(), (5..=9).map(|v| json!(v)).collect()),
        ];
        let grid_text = serde_json::to_string(&grid).unwrap();
        let settings = json!({"strategy": "sma_cross"}).to_string();
        let mut rows = lab.sweep_chunk(&settings, &grid_text, "sharpe", 0, 20).unwrap();
        rows.extend(lab.sweep_chunk(&settings, &grid_text, "sharpe", 20, 1_000).unwrap());
        assert_eq!(rows.len(), 35 * SWEEP_ROW);
        let entry = quant::strategies::find("sma_cross").unwrap();
        let whole = backtest::sweep(&bars(400), entry, &grid, &backtest::Config::default(), "sharpe").unwrap();
        let refused = rows.chunks(SWEEP_ROW).filter(|r| r[1] == 1.0).count();
        assert_eq!(refused, whole.skipped);
        for run in &whole.runs {
            let row = &rows[run.index * SWEEP_ROW..(run.index + 1) * SWEEP_ROW];
            assert_eq!(row[0], run.index as f64);
            assert_eq!(row[2].to_bits(), run.score.to_bits());
            assert_eq!(row[3].to_bits(), run.metrics.total_return.to_bits());
        }
    }
}
