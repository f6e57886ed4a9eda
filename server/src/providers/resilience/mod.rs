//! Resilience for any [`HistoryProvider`]: [`Resilient`] wraps a provider
//! with, per attempt and in this order,
//! 1. a circuit breaker ([`breaker`]) that refuses calls fast while open;
//! 2. an adaptive rate limiter ([`limiter`]) that halves on 429;
//! 3. a per-attempt timeout;
//! 4. retries with full-jitter exponential back-off ([`backoff`]) on
//!    retryable errors only, honouring `Retry-After`;
//!
//! and keeps counters for a [`ProviderHealth`] snapshot.
//!
//! Breaker, limiter and counters share one `std` mutex that is never held
//! across an `.await`. All waiting goes through the injected [`Clock`].

pub mod backoff;
pub mod breaker;
pub mod clock;
pub mod health;
pub mod limiter;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use backoff::Backoff;
pub use breaker::{BreakerConfig, CircuitBreaker, CircuitState};
pub use clock::{Clock, TokioClock};
pub use health::ProviderHealth;
pub use limiter::{AdaptiveLimiter, LimiterConfig};

use super::error::ProviderError;
use super::history::{History, HistoryProvider, HistoryRequest};

/// Resilience settings for one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ResilienceConfig {
    /// Attempts per call, the first included (1 disables retries).
    pub max_attempts: u32,
    /// The back-off between attempts.
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured; a provider asking for more gets
    /// its error returned instead of holding the caller.
    pub max_retry_after: Duration,
    /// Time allowed for one attempt.
    pub call_timeout: Duration,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The rate limiter.
    pub limiter: LimiterConfig,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff: Backoff { base: Duration::from_millis(500), max: Duration::from_secs(30) },
            max_retry_after: Duration::from_secs(60),
            call_timeout: Duration::from_secs(20),
            breaker: BreakerConfig::default(),
            limiter: LimiterConfig::default(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    breaker: CircuitBreaker,
    limiter: AdaptiveLimiter,
    last_success: Option<i64>,
    last_failure: Option<i64>,
    last_error: Option<String>,
    successes: u64,
    failures: u64,
    retries: u64,
    rejections: u64,
}

/// A provider wrapped with retries, rate limiting, a circuit breaker and
/// timeouts. Cheap to share behind an `Arc`; all calls through one
/// `Resilient` share its limiter and breaker.
#[derive(Debug)]
pub struct Resilient<P> {
    provider: P,
    config: ResilienceConfig,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl<P: HistoryProvider> Resilient<P> {
    /// Wraps `provider`, using tokio's clock.
    #[must_use]
    pub fn new(provider: P, config: ResilienceConfig) -> Self {
        Self::with_clock(provider, config, Arc::new(TokioClock))
    }

    /// Wraps `provider` with an explicit clock (tests).
    #[must_use]
    pub fn with_clock(provider: P, config: ResilienceConfig, clock: Arc<dyn Clock>) -> Self {
        let inner = Inner {
            breaker: CircuitBreaker::new(config.breaker),
            limiter: AdaptiveLimiter::new(config.limiter),
            last_success: None,
            last_failure: None,
            last_error: None,
            successes: 0,
            failures: 0,
            retries: 0,
            rejections: 0,
        };
        Self { provider, config, clock, inner: Mutex::new(inner) }
    }

    /// The wrapped provider.
    #[must_use]
    pub fn inner(&self) -> &P {
        &self.provider
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; if something did, the
        // counters are still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of the provider's health.
    #[must_use]
    pub fn health(&self) -> ProviderHealth {
        let now = self.clock.now();
        let inner = self.lock();
        ProviderHealth {
            provider: self.provider.name(),
            state: inner.breaker.state(now),
            consecutive_failures: inner.breaker.consecutive_failures(),
            current_rate: inner.limiter.rate(),
            configured_rate: inner.limiter.configured_rate(),
            last_success: inner.last_success,
            last_failure: inner.last_failure,
            last_error: inner.last_error.clone(),
            successes: inner.successes,
            failures: inner.failures,
            retries: inner.retries,
            rejections: inner.rejections,
        }
    }

    /// Lets one attempt through the breaker and the limiter; returns the wait
    /// for the limiter's slot.
    fn admit(&self) -> Result<Duration, ProviderError> {
        let provider = self.provider.name();
        let now = self.clock.now();
        let mut inner = self.lock();
        if let Err(retry_in) = inner.breaker.admit(now) {
            inner.rejections += 1;
            return Err(ProviderError::CircuitOpen { provider, retry_in });
        }
        match inner.limiter.reserve(now) {
            Ok(wait) => Ok(wait),
            Err(wait) => {
                inner.rejections += 1;
                // The breaker may have admitted this as a half-open probe;
                // the provider was not called, so leave its verdict open by
                // letting the probe go stale rather than deciding here.
                Err(ProviderError::Throttled { provider, wait })
            }
        }
    }

    /// Records an attempt's outcome in the breaker, limiter and counters.
    fn record(&self, outcome: Result<(), &ProviderError>) {
        let now = self.clock.now();
        let wall = chrono::Utc::now().timestamp();
        let mut inner = self.lock();
        let before = inner.breaker.state(now);
        match outcome {
            Ok(()) => {
                inner.breaker.on_success();
                inner.limiter.on_success();
                inner.successes += 1;
                inner.last_success = Some(wall);
            }
            Err(err) => {
                if err.is_rate_limited() {
                    inner.limiter.on_rate_limited(now);
                }
                if err.is_provider_fault() {
                    inner.breaker.on_failure(now);
                    inner.failures += 1;
                    inner.last_failure = Some(wall);
                    inner.last_error = Some(err.to_string());
                } else {
                    // The provider answered; the request was the problem.
                    inner.breaker.on_success();
                }
            }
        }
        let after = inner.breaker.state(now);
        let provider = self.provider.name();
        match (before, after) {
            (CircuitState::Open | CircuitState::HalfOpen, CircuitState::Closed) => {
                tracing::warn!(provider, "provider answering again: circuit closed");
            }
            (CircuitState::Closed, CircuitState::Open) => tracing::warn!(
                provider,
                cool_down = ?self.config.breaker.cool_down,
                last_error = inner.last_error.as_deref().unwrap_or_default(),
                "provider failing: circuit opened, calls refused until the next probe"
            ),
            (CircuitState::HalfOpen, CircuitState::Open) => {
                tracing::warn!(provider, "provider still failing: probe failed, circuit open again");
            }
            _ => {}
        }
    }

    /// The wait before the next attempt after `err`, or `None` to give up.
    fn retry_delay(&self, err: &ProviderError, retry: u32) -> Option<Duration> {
        if !err.is_retryable() || retry + 1 >= self.config.max_attempts {
            return None;
        }
        match err.retry_after() {
            Some(wait) if wait > self.config.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.config.backoff.delay(retry)),
        }
    }
}

impl<P: HistoryProvider> HistoryProvider for Resilient<P> {
    fn name(&self) -> &'static str {
        self.provider.name()
    }

    async fn history(&self, req: &HistoryRequest) -> Result<History, ProviderError> {
        let mut retry = 0u32;
        let mut last_err: Option<ProviderError> = None;
        loop {
            // If the breaker opens (or the limiter refuses) between retries,
            // the provider's own last error says more than "circuit open".
            let wait = match (self.admit(), last_err.take()) {
                (Ok(wait), _) => wait,
                (Err(_), Some(previous)) => return Err(previous),
                (Err(refused), None) => return Err(refused),
            };
            if !wait.is_zero() {
                self.clock.sleep(wait).await;
            }
            let timeout = self.config.call_timeout;
            let result = match tokio::time::timeout(timeout, self.provider.history(req)).await {
                Ok(result) => result,
                Err(_) => Err(ProviderError::Timeout { provider: self.provider.name(), after: timeout }),
            };
            match result {
                Ok(history) => {
                    self.record(Ok(()));
                    return Ok(history);
                }
                Err(err) => {
                    self.record(Err(&err));
                    let Some(delay) = self.retry_delay(&err, retry) else {
                        return Err(err);
                    };
                    tracing::debug!(provider = self.provider.name(), error = %err, ?delay, "retrying");
                    self.lock().retries += 1;
                    retry += 1;
                    if !delay.is_zero() {
                        self.clock.sleep(delay).await;
                    }
                    last_err = Some(err);
                }
            }
        }
    }
}
