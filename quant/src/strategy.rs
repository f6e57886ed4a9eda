//! What a strategy says about a closed bar, and the interface every strategy
//! implements.
//!
//! A strategy is fed closed bars one at a time, oldest first, and answers each
//! with a [`Signal`]. It sees nothing else: no later bar, no clock, no
//! account. That is what makes a live signal reproducible by a backtest up to
//! the same bar, and it makes look-ahead impossible by construction.
//!
//! Alongside its decision a strategy keeps the indicator values it decided on,
//! read with [`Strategy::evidence`] after `next`: the live pipeline stores them
//! with every `Buy` and `Sell`, so a person can see why it fired (the two
//! averages of a crossover, the RSI and its levels, the close and the bands...).
//! Evidence only reports; it never takes part in the decision.

use serde::{Deserialize, Serialize};

use crate::bar::Bar;

/// A strategy's decision on a closed bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Be long (long-only: enter; long/short: enter or reverse a short).
    Buy,
    /// Be out (long-only: exit a long; long/short: enter or reverse to short).
    Sell,
    /// No change.
    Hold,
}

/// A trading rule evaluated on closed bars.
pub trait Strategy {
    /// Consumes the next closed bar and decides.
    fn next(&mut self, bar: &Bar) -> Signal;

    /// Consumes `bars` in order and writes the decision on each into the
    /// matching cell of `decisions`: exactly what calling [`Strategy::next`] on
    /// each bar would give. The backtest feeds bars this way, a chunk at a
    /// time: one dynamic call per chunk instead of per bar, and the loop below
    /// is compiled for each strategy, so `next` inlines into it.
    fn next_many(&mut self, bars: &[Bar], decisions: &mut [Signal]) {
        for (bar, decision) in bars.iter().zip(decisions) {
            *decision = self.next(bar);
        }
    }

    /// Returns to the freshly constructed state.
    fn reset(&mut self);

    /// Bars needed before the strategy can emit anything but [`Signal::Hold`].
    fn warmup(&self) -> usize;

    /// The indicator values the last call to `next` decided on, named for a person
    /// (e.g. `[("fast", 101.2), ("slow", 100.7)]` for a moving-average cross), in a
    /// fixed order. Empty before the strategy has values (warm-up) and after `reset`.
    ///
    /// Names are short snake_case words, the same for every bar of a strategy; a
    /// value that is missing on a bar (one rule of several still warming up) or not
    /// finite is left out rather than reported. On every bar where `next` returned
    /// `Buy` or `Sell` the evidence is non-empty.
    fn evidence(&self) -> Vec<(&'static str, f64)>;
}
