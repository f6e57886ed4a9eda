//! What a strategy says about a closed bar, and the interface every strategy
//! implements.
//!
//! A strategy is fed closed bars one at a time, oldest first, and answers each
//! with a [`Signal`]. It sees nothing else: no later bar, no clock, no
//! account. That is what makes a live signal reproducible by a backtest up to
//! the same bar, and it makes look-ahead impossible by construction.

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

    /// Returns to the freshly constructed state.
    fn reset(&mut self);

    /// Bars needed before the strategy can emit anything but [`Signal::Hold`].
    fn warmup(&self) -> usize;
}
