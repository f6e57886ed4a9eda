//! Sources of market data: the built-in simulator, CSV import, and the remote
//! history providers (Yahoo Finance, Investing.com) behind one
//! [`HistoryProvider`] trait, with [`resilience`] wrapping any of them in
//! retries, rate limiting and a circuit breaker.

pub mod csv;
pub mod error;
pub mod history;
pub mod http;
pub mod investing;
pub mod remote;
pub mod resilience;
pub mod simulated;
pub mod yahoo;

pub use error::ProviderError;
pub use history::{History, HistoryProvider, HistoryRequest, NamedRange, Span};
