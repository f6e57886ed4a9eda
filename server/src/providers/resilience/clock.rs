//! Time as the resilience layer sees it, injectable so tests run the
//! back-off, limiter and breaker without sleeping.
//!
//! Production uses [`TokioClock`] (which also follows tokio's paused test
//! time). Tests against real loopback sockets cannot pause tokio's clock (an
//! idle runtime would jump past every I/O timeout), so they pass a clock whose
//! `sleep` just advances a counter.

use std::fmt;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

/// A source of "now" and of sleeps.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits `duration` (or pretends to).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Tokio's clock: real time, or paused time under `#[tokio::test(start_paused = true)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
