//! Reusable view pieces: the price chart and the display formats of numbers and times.

mod chart;
pub(crate) mod format;

pub(crate) use chart::PriceChart;
