//! Reusable view pieces: the interactive price chart, signal rows, and the display formats of numbers and times.

mod chart;
pub(crate) mod format;
#[cfg(feature = "hydrate")]
pub(crate) mod script;
pub(crate) mod signals;

pub(crate) use chart::{
    CHART_ADAPTER, CHART_LIBRARY, ChartModel, Level, PriceChart, studies_from_query, studies_to_query,
};
pub(crate) use signals::{SignalHeader, SignalRowView};
