//! Finstage's server: configuration, storage, market-data providers, the live
//! feed, the HTTP and WebSocket surfaces, and the command line.
//!
//! Layering: imports point down the floor plan in `docs/ARCHITECTURE.md`
//! ("Inside the server"), which `tests/structure.rs` checks. Nothing in
//! `providers` or `storage` knows about HTTP or WebSockets; `quant` knows
//! nothing of any of it. Modules no test, example or binary uses are
//! `pub(crate)`.
//!
//! Errors: each library module has its own `thiserror` enum (`StorageError`,
//! `ConfigError`, ...); `anyhow` is used only in `serve` and `main`, where
//! errors are reported and the process exits.

// The lab page's view type (`app::pages::lab`) is deeper than the default
// limit of 128 lets the compiler lay out where the router instantiates it.
#![recursion_limit = "256"]

pub mod accounts;
pub mod analysis;
pub mod backfill;
pub mod bus;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub(crate) mod dashboard;
pub mod feed;
pub(crate) mod gaps;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod lab;
pub(crate) mod metrics;
pub mod news;
pub mod pipeline;
pub mod providers;
pub mod quotes;
pub mod scheduler;
pub mod schedules;
pub(crate) mod series;
pub mod serve;
pub mod state;
pub mod storage;
pub mod symbol;
pub mod telegram;
pub mod ws;
