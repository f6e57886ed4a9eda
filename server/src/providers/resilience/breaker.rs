//! A circuit breaker: after `failure_threshold` consecutive provider faults
//! the circuit opens and calls are refused at once for `cool_down`; then one
//! probe is let through (half-open). The probe's success closes the circuit,
//! its failure opens it for another cool-down.
//!
//! A small state machine rather than a crate: the well-kept Rust breakers
//! (`failsafe`, ...) wrap futures with their own clock and error predicates,
//! while this one must share a lock and the injectable clock with the limiter
//! and report its state for the health snapshot.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive faults that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, cool_down: Duration::from_secs(30) }
    }
}

/// The circuit's state, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe is allowed through.
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    // A probe that never reports (its caller was dropped) is considered lost
    // after one cool-down, and another probe is allowed.
    HalfOpen { probe_since: Instant },
}

/// The breaker's state machine; the caller holds it under a lock.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: State,
}

impl CircuitBreaker {
    /// A closed breaker. A zero threshold is treated as one.
    #[must_use]
    pub fn new(mut config: BreakerConfig) -> Self {
        config.failure_threshold = config.failure_threshold.max(1);
        Self { config, state: State::Closed { failures: 0 } }
    }

    /// The state to report at `now` (an expired open circuit reads half-open).
    #[must_use]
    pub fn state(&self, now: Instant) -> CircuitState {
        match self.state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Consecutive faults counted while closed.
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        match self.state {
            State::Closed { failures } => failures,
            _ => self.config.failure_threshold,
        }
    }

    /// Asks to make a call at `now`.
    ///
    /// # Errors
    /// The time until a probe may go, when the call is refused.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } => {
                self.state = State::HalfOpen { probe_since: now };
                Ok(())
            }
            State::HalfOpen { probe_since } => {
                let stale_at = probe_since + self.config.cool_down;
                if now >= stale_at {
                    self.state = State::HalfOpen { probe_since: now };
                    Ok(())
                } else {
                    Err(stale_at - now)
                }
            }
        }
    }

    /// The provider answered (well, or with a caller error): close.
    pub fn on_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    /// The provider failed at `now`.
    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed { failures } if failures + 1 < self.config.failure_threshold => {
                State::Closed { failures: failures + 1 }
            }
            _ => State::Open { until: now + self.config.cool_down },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_probes_and_closes() {
        let mut b = CircuitBreaker::new(BreakerConfig { failure_threshold: 2, cool_down: Duration::from_secs(10) });
        let t0 = Instant::now();
        b.on_failure(t0);
        assert_eq!(b.state(t0), CircuitState::Closed);
        b.on_failure(t0);
        assert_eq!(b.state(t0), CircuitState::Open);
        assert_eq!(b.admit(t0 + Duration::from_secs(4)), Err(Duration::from_secs(6)));
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Ok(()));
        // Only one probe at a time.
        assert!(b.admit(t1).is_err());
        b.on_failure(t1);
        assert_eq!(b.state(t1), CircuitState::Open);
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.admit(t2), Ok(()));
        b.on_success();
        assert_eq!(b.state(t2), CircuitState::Closed);
    }
}
