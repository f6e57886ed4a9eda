//! Building blocks shared by the catalog's strategies: crossing and edge
//! detectors (the event semantics every strategy follows) and parameter checks.
//!
//! - A *crossing* of `a` over `b` happens on the bar where `a - b > 0` after a
//!   bar where `a - b <= 0` (and symmetrically downwards), exactly as the
//!   moving-average crossovers define it.
//! - An *edge* happens on the bar where a condition holds after a bar where it
//!   did not.
//!
//! Both need the compared values on two consecutive bars: a bar where a value is
//! missing (warm-up) or NaN forgets the previous bar, so nothing fires on the
//! first bar that has values again.
//!
//! Evidence: each strategy keeps the values its latest bar was decided on as
//! `Option<[f64; N]>` (a value missing on that bar stored as NaN) and reports
//! them with [`evidence`] under `N` fixed names.

use crate::error::ParamError;
use crate::strategy::Signal;

/// Which way a difference crossed zero on the current bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Crossed {
    /// From `<= 0` on the previous bar to `> 0`.
    Up,
    /// From `>= 0` on the previous bar to `< 0`.
    Down,
    /// Neither.
    No,
}

/// Detects crossings of a difference `a - b` through zero.
#[derive(Debug, Clone, Default)]
pub(super) struct Crossing {
    /// Sign of the difference on the previous bar: -1, 0 or 1.
    previous: Option<i8>,
}

impl Crossing {
    /// Consumes the current bar's difference (`None` while warming up).
    pub(super) fn update(&mut self, diff: Option<f64>) -> Crossed {
        let side = match diff {
            Some(d) if d > 0.0 => 1,
            Some(d) if d < 0.0 => -1,
            Some(d) if !d.is_nan() => 0,
            _ => {
                self.previous = None;
                return Crossed::No;
            }
        };
        let crossed = match (self.previous, side) {
            (Some(p), 1) if p <= 0 => Crossed::Up,
            (Some(p), -1) if p >= 0 => Crossed::Down,
            _ => Crossed::No,
        };
        self.previous = Some(side);
        crossed
    }

    pub(super) fn reset(&mut self) {
        self.previous = None;
    }
}

/// Detects the bar where a condition becomes true.
#[derive(Debug, Clone, Default)]
pub(super) struct Edge {
    previous: Option<bool>,
}

impl Edge {
    /// Consumes the current bar's condition (`None` while warming up); true on
    /// the bar where it holds after a bar where it did not.
    pub(super) fn update(&mut self, now: Option<bool>) -> bool {
        let fired = self.previous == Some(false) && now == Some(true);
        self.previous = now;
        fired
    }

    pub(super) fn reset(&mut self) {
        self.previous = None;
    }
}

/// An oscillator leaving its extreme zones: `Buy` when it crosses back up
/// through `low` (previous `<= low`, current `> low`), `Sell` when it crosses
/// back down through `high` (previous `>= high`, current `< high`). With
/// `low < high` the two cannot happen on the same bar.
#[derive(Debug, Clone)]
pub(super) struct ZoneExit {
    low: f64,
    high: f64,
    from_low: Crossing,
    from_high: Crossing,
    /// The oscillator's value on the latest bar.
    last: Option<f64>,
}

impl ZoneExit {
    pub(super) fn new(low: f64, high: f64) -> Self {
        Self { low, high, from_low: Crossing::default(), from_high: Crossing::default(), last: None }
    }

    pub(super) fn update(&mut self, value: Option<f64>) -> Signal {
        self.last = value;
        let up = self.from_low.update(value.map(|v| v - self.low));
        let down = self.from_high.update(value.map(|v| v - self.high));
        match (up, down) {
            (Crossed::Up, _) => Signal::Buy,
            (_, Crossed::Down) => Signal::Sell,
            _ => Signal::Hold,
        }
    }

    pub(super) fn reset(&mut self) {
        self.from_low.reset();
        self.from_high.reset();
        self.last = None;
    }

    /// The latest value as `name`, with the two levels as `oversold` and `overbought`.
    pub(super) fn evidence(&self, name: &'static str) -> Vec<(&'static str, f64)> {
        evidence([name, "oversold", "overbought"], self.last.map(|v| [v, self.low, self.high]))
    }
}

/// Pairs `names` with the latest bar's `values` (`None` before there are any),
/// leaving out the values that are not finite (NaN marks one missing on that bar).
pub(super) fn evidence<const N: usize>(names: [&'static str; N], values: Option<[f64; N]>) -> Vec<(&'static str, f64)> {
    values.map_or_else(Vec::new, |values| names.into_iter().zip(values).filter(|(_, v)| v.is_finite()).collect())
}

/// Maps a crossing to a signal: up is `Buy`, down is `Sell`.
pub(super) fn on_cross(crossed: Crossed) -> Signal {
    match crossed {
        Crossed::Up => Signal::Buy,
        Crossed::Down => Signal::Sell,
        Crossed::No => Signal::Hold,
    }
}

/// Checks a length parameter: at least `min`, at most [`crate::MAX_PERIOD`].
pub(super) fn length(name: &'static str, value: usize, min: usize) -> Result<usize, ParamError> {
    crate::indicators::at_least(name, value, min)
}

/// Checks that a real parameter is finite and within `min..=max`.
pub(super) fn within(name: &'static str, value: f64, min: f64, max: f64) -> Result<f64, ParamError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ParamError::OutOfRange { name, min, max, value })
    }
}

/// Checks that a real parameter is finite and strictly positive.
pub(super) fn positive(name: &'static str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ParamError::OutOfRange { name, min: f64::MIN_POSITIVE, max: f64::MAX, value })
    }
}

/// Checks that `low < high` (two thresholds or two periods).
pub(super) fn below<T: PartialOrd + std::fmt::Display>(
    low_name: &str,
    low: T,
    high_name: &str,
    high: T,
) -> Result<(), ParamError> {
    if low < high {
        Ok(())
    } else {
        Err(ParamError::Spec {
            spec: format!("{low_name}={low}, {high_name}={high}"),
            reason: format!("{low_name} must be below {high_name}"),
        })
    }
}

/// Fixtures for the strategies' unit tests.
#[cfg(test)]
pub(super) mod fixtures {
    use crate::bar::Bar;
    use crate::strategy::{Signal, Strategy};

    /// Bars with `open = high = low = close` and volume 1.
    pub(crate) fn closes(closes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| Bar { ts: i as i64, open: c, high: c, low: c, close: c, volume: 1.0 })
            .collect()
    }

    /// Bars from `(high, low, close)` triples, opening at the close, volume 1.
    pub(crate) fn hlc(rows: &[(f64, f64, f64)]) -> Vec<Bar> {
        rows.iter()
            .enumerate()
            .map(|(i, &(high, low, close))| Bar { ts: i as i64, open: close, high, low, close, volume: 1.0 })
            .collect()
    }

    /// (high, low, close) bars around closes that fall, rally and fall again.
    pub(crate) fn zigzag() -> Vec<Bar> {
        let closes = [20.0, 19.0, 18.0, 17.5, 16.0, 15.0, 15.5, 17.0, 18.5, 20.0, 21.5, 22.0, 21.0, 19.0, 17.0, 15.5];
        hlc(&closes.iter().map(|&c| (c + 0.5, c - 0.5, c)).collect::<Vec<_>>())
    }

    /// Bars from `(close, volume)` pairs with `open = high = low = close`.
    pub(crate) fn with_volume(rows: &[(f64, f64)]) -> Vec<Bar> {
        rows.iter()
            .enumerate()
            .map(|(i, &(c, volume))| Bar { ts: i as i64, open: c, high: c, low: c, close: c, volume })
            .collect()
    }

    /// A deterministic random walk (xorshift) with OHLC and volume.
    pub(crate) fn walk(seed: u64, n: usize) -> Vec<Bar> {
        let mut state = seed.max(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut close = 100.0;
        (0..n)
            .map(|i| {
                let open = close * (1.0 + 0.004 * next());
                close = open * (1.0 + 0.04 * next());
                let high = open.max(close) * (1.0 + 0.01 * (next() + 0.5));
                let low = open.min(close) * (1.0 - 0.01 * (next() + 0.5));
                Bar { ts: i as i64 * 86_400, open, high, low, close, volume: 1e6 * (1.5 + next()) }
            })
            .collect()
    }

    /// Runs `strategy` over `bars`.
    pub(crate) fn run(strategy: &mut dyn Strategy, bars: &[Bar]) -> Vec<Signal> {
        bars.iter().map(|b| strategy.next(b)).collect()
    }

    /// Runs `strategy` over `bars`, collecting its evidence after each bar.
    pub(crate) fn run_evidence(strategy: &mut dyn Strategy, bars: &[Bar]) -> Vec<Vec<(&'static str, f64)>> {
        bars.iter()
            .map(|b| {
                strategy.next(b);
                strategy.evidence()
            })
            .collect()
    }

    /// Runs `make()` on a random walk, resets it, and checks that it then
    /// answers `bars` exactly as a fresh `make()` does, with the same evidence.
    pub(crate) fn assert_reset_equals_fresh<S: Strategy>(make: impl Fn() -> S, bars: &[Bar]) {
        let mut used = make();
        run(&mut used, &walk(3, 300));
        run(&mut used, bars);
        used.reset();
        assert!(used.evidence().is_empty());
        assert_eq!(run(&mut used, bars), run(&mut make(), bars));
        used.reset();
        assert_eq!(run_evidence(&mut used, bars), run_evidence(&mut make(), bars));
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{run, walk};
    use super::*;
    use crate::strategies::CATALOG;

    #[test]
    fn crossings_and_edges_need_two_consecutive_values() {
        let mut c = Crossing::default();
        let got: Vec<Crossed> = [
            None,
            Some(1.0),
            Some(-1.0),
            Some(0.0),
            Some(2.0),
            None,
            Some(-3.0),
            Some(f64::NAN),
            Some(1.0),
            Some(-1.0),
        ]
        .into_iter()
        .map(|d| c.update(d))
        .collect();
        use Crossed::{Down, No, Up};
        assert_eq!(got, vec![No, No, Down, No, Up, No, No, No, No, Down]);

        let mut e = Edge::default();
        let got: Vec<bool> =
            [Some(true), Some(false), Some(true), Some(true), None, Some(true), Some(false), Some(true)]
                .into_iter()
                .map(|x| e.update(x))
                .collect();
        assert_eq!(got, vec![false, false, true, false, false, false, false, true]);
    }

    #[test]
    fn every_strategy_holds_during_its_warmup_and_trades_after_it() {
        for seed in [1, 5, 11] {
            let bars = walk(seed, 700);
            for entry in CATALOG {
                let mut strategy = entry.build(&serde_json::Value::Null).unwrap();
                let warmup = strategy.warmup();
                let signals = run(strategy.as_mut(), &bars);
                assert!(
                    signals[..warmup.min(bars.len())].iter().all(|s| *s == Signal::Hold),
                    "{}: signal before its warm-up of {warmup} bars",
                    entry.name
                );
                assert!(signals.iter().any(|s| *s != Signal::Hold), "{}: no signal, seed {seed}", entry.name);
            }
        }
    }

    #[test]
    fn evidence_leaves_out_missing_and_non_finite_values() {
        assert!(evidence(["a", "b"], None).is_empty());
        assert_eq!(evidence(["a", "b", "c"], Some([1.0, f64::NAN, 3.0])), vec![("a", 1.0), ("c", 3.0)]);
        assert_eq!(evidence(["a", "b"], Some([f64::INFINITY, -2.0])), vec![("b", -2.0)]);
        let mut zones = ZoneExit::new(30.0, 70.0);
        assert!(zones.evidence("rsi").is_empty());
        zones.update(Some(25.0));
        assert_eq!(zones.evidence("rsi"), vec![("rsi", 25.0), ("oversold", 30.0), ("overbought", 70.0)]);
        zones.reset();
        assert!(zones.evidence("rsi").is_empty());
    }

    #[test]
    fn checks_refuse_bad_values() {
        assert!(length("period", 0, 1).is_err() && length("period", 1, 1).is_ok());
        assert!(within("level", f64::NAN, 0.0, 100.0).is_err() && within("level", 101.0, 0.0, 100.0).is_err());
        assert!(positive("k", 0.0).is_err() && positive("k", f64::INFINITY).is_err() && positive("k", 0.5).is_ok());
        assert!(below("oversold", 70.0, "overbought", 30.0).is_err() && below("fast", 2, "slow", 3).is_ok());
    }
}
