//! Reusable view pieces: the price chart, signal rows, and the display formats of numbers and times.

mod chart;
pub(crate) mod format;
pub(crate) mod signals;

pub(crate) use chart::{Marker, PriceChart};
pub(crate) use signals::{SignalHeader, SignalRowView};
