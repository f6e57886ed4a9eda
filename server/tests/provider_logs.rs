//! What an operator reads in the log when a provider's circuit opens and
//! closes. Alone in its own test binary: `tracing` caches per call site
//! whether anyone listens, process-wide, so a subscriber set for one test
//! can miss events while other tests run in parallel threads without one.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod mocks;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mocks::http::ManualClock;
use quant::Timeframe;
use server::providers::resilience::{BreakerConfig, ResilienceConfig, Resilient};
use server::providers::{History, HistoryProvider, HistoryRequest, NamedRange, ProviderError};
use server::symbol::Symbol;

/// Fails with the scripted statuses, then answers.
#[derive(Debug)]
struct Failing(Mutex<VecDeque<u16>>);

impl HistoryProvider for Failing {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn history(&self, _req: &HistoryRequest) -> Result<History, ProviderError> {
        match self.0.lock().unwrap().pop_front() {
            Some(status) => {
                Err(ProviderError::Status { provider: "scripted", status, excerpt: String::new(), retry_after: None })
            }
            None => Ok(History::default()),
        }
    }
}

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

/// Both changes used to be logged at INFO or not at all.
#[tokio::test(flavor = "current_thread")]
async fn circuit_changes_are_logged_as_warnings() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let config = ResilienceConfig {
        max_attempts: 4,
        breaker: BreakerConfig { failure_threshold: 2, cool_down: Duration::from_secs(30) },
        ..ResilienceConfig::default()
    };
    let clock = ManualClock::new();
    let r = Resilient::with_clock(Failing(Mutex::new(VecDeque::from([503, 503]))), config, clock.clone());
    let request = HistoryRequest::named(Symbol::parse("AAPL").unwrap(), Timeframe::D1, NamedRange::Month1);
    assert!(r.history(&request).await.is_err());
    let opened = buffer.take();
    let open_line = opened.lines().find(|l| l.contains("circuit opened")).unwrap_or_default();
    assert!(open_line.contains("WARN") && open_line.contains("scripted"), "{opened}");
    assert!(open_line.contains("HTTP 503"), "the line carries the last error: {open_line}");

    clock.advance(Duration::from_secs(31));
    assert!(r.history(&request).await.is_ok());
    let closed = buffer.take();
    assert!(closed.lines().any(|l| l.contains("WARN") && l.contains("circuit closed")), "{closed}");
}
