//! Finstage's market engine: the one place where numbers about markets are computed.
//!
//! The crate is pure: no I/O, no async, no clock and no global state, so the same
//! code runs inside the server (live signals, server backtests) and compiled to
//! WebAssembly in the browser (what-if backtests), with identical results.
//!
//! Layout:
//! - [`bar`]: the OHLCV [`Bar`] and the [`Timeframe`] it belongs to.
//! - [`indicators`]: streaming indicators (O(1) per bar, explicit warm-up) and their
//!   batch forms over slices.
//! - [`strategy`]: [`strategy::Signal`] and the [`strategy::Strategy`] interface.
//! - [`strategies`]: the catalog of strategies, built by name from JSON parameters.
//! - [`backtest`]: the engine that replays signals into trades, equity and metrics.
//! - [`pack`]: a compact binary form of many bars, for the browser's lab.
//! - [`error`]: the crate's one error type, [`ParamError`].
//!
//! Conventions shared by every indicator:
//! - A batch function returns exactly one output per input; positions still in
//!   warm-up hold `f64::NAN` (the "empty" cells of TA-Lib's output).
//! - A streaming indicator's `next` returns `None` until warm-up is complete.

pub mod backtest;
pub mod bar;
pub mod error;
pub mod indicators;
pub mod market;
pub mod number;
pub mod pack;
pub mod strategies;
pub mod strategy;

pub use bar::{Bar, Timeframe};
pub use error::ParamError;

/// The longest period (window, lookback) any indicator or strategy accepts,
/// in bars. Longer ones are refused with [`ParamError::TooLarge`] before any
/// state is allocated: a request for `STOCH(999999999)` once asked for
/// gigabytes.
pub const MAX_PERIOD: usize = 100_000;
