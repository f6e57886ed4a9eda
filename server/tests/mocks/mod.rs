//! Loopback stand-ins for the services Finstage talks to, one per service,
//! shared by every test binary (each includes this module with `mod mocks;`)
//! and by the benchmarks:
//!
//! - [`http`]: the core the HTTP ones are built on (scripted replies ahead of
//!   the service's own answers, a request log, a hold gate) and a manual clock;
//! - [`yahoo`]: the chart API, with a fixed history for every symbol;
//! - [`investing`]: Investing.com's historical-data API, likewise;
//! - [`rss`]: Yahoo's headline feed and other RSS or Atom feeds;
//! - [`telegram`]: the Bot API, with Telegram's flood control and a hold gate.
//!
//! Faults (429 with `Retry-After`, 500, timeouts, truncated JSON, Cloudflare
//! challenges) are [`http::Reply`]s pushed ahead of a service's answers.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(clippy::unwrap_used, reason = "test support should fail loudly at the failing line")]

pub mod http;
pub mod investing;
pub mod rss;
pub mod telegram;
pub mod yahoo;
