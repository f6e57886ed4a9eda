//! Sources of market data. Today: the built-in simulator; Yahoo Finance,
//! Investing.com and CSV import join here, one file each.

pub mod csv;
pub mod simulated;
