//! Finstage's server: configuration, storage, market-data providers, the live
//! feed, the HTTP and WebSocket surfaces, and the command line.
//!
//! Layering (imports point down): `cli`/`serve` → `http`, `ws`, `dashboard` →
//! `feed` → `bus`, `providers`, `storage` → `config`, `symbol`. Nothing in
//! `providers` or `storage` knows about HTTP or WebSockets; `quant` knows
//! nothing of any of it.
//!
//! Errors: each library module has its own `thiserror` enum (`StorageError`,
//! `ConfigError`, ...); `anyhow` is used only in `serve` and `main`, where
//! errors are reported and the process exits.

pub mod analysis;
pub mod backfill;
pub mod bus;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod feed;
pub mod gaps;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod news;
pub mod pipeline;
pub mod providers;
pub mod quotes;
pub mod scheduler;
pub mod schedules;
pub mod series;
pub mod serve;
pub mod state;
pub mod storage;
pub mod symbol;
pub mod telegram;
pub mod ws;
