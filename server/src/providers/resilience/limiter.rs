//! An adaptive rate limiter: a token bucket (written as GCRA: one "next free
//! slot" instant) whose rate halves when the provider answers 429 and creeps
//! back up with each success (AIMD, as TCP does), bounded between a floor and
//! the configured rate.
//!
//! Hand-written rather than `governor`: governor's quota is fixed for the
//! limiter's life and it reads its own clock, while this one must change its
//! rate on every answer and follow the injectable [`Clock`](super::Clock).
//!
//! Callers reserve a slot and sleep until it; a reservation further away than
//! `max_wait` is refused instead, so the implicit queue of sleepers is bounded
//! in time.
//!
//! Once the provider has answered 429, slots are paced [`HEADROOM_AFTER_429`]
//! under the current rate for the rest of the limiter's life. A provider that
//! counts requests in a sliding window admits exactly its limit per second:
//! pacing at exactly that rate leaves no room for network jitter, and every
//! request that arrives a millisecond early is refused again. Against a
//! 50 requests/s mock that meant a 429 every 1.2 to 1.8 s and runs 7% to 23%
//! over their floor (`docs/BENCHMARKS.md`, "Data platform"). The reported
//! [`rate`](AdaptiveLimiter::rate) stays the additive-increase,
//! multiplicative-decrease one.

use std::time::{Duration, Instant};

/// How far under the current rate slots are paced once the provider has
/// answered 429 (3%: 30 ms of slack per second at any rate).
pub const HEADROOM_AFTER_429: f64 = 0.03;

/// Limiter settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// The configured (and highest) rate, requests per second.
    pub rate: f64,
    /// The lowest rate 429s can push it to, requests per second.
    pub min_rate: f64,
    /// Requests that may go back to back after a quiet spell.
    pub burst: u32,
    /// Fraction of `rate` regained per success (0.1: ten successes from the
    /// floor to full speed at most).
    pub recovery: f64,
    /// The longest a call may wait for its slot before being refused.
    pub max_wait: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self { rate: 2.0, min_rate: 0.1, burst: 2, recovery: 0.1, max_wait: Duration::from_secs(30) }
    }
}

/// The limiter's state; the caller holds it under a lock.
#[derive(Debug, Clone)]
pub struct AdaptiveLimiter {
    config: LimiterConfig,
    rate: f64,
    /// The theoretical arrival time of the next request at the current rate.
    next_free: Option<Instant>,
    /// Whether the provider has ever answered 429 (then slots keep headroom).
    limited: bool,
}

impl AdaptiveLimiter {
    /// A limiter at full rate. A non-positive or non-finite rate is treated as
    /// one request per second, and the floor is kept at or below the rate.
    #[must_use]
    pub fn new(mut config: LimiterConfig) -> Self {
        if !(config.rate.is_finite() && config.rate > 0.0) {
            config.rate = 1.0;
        }
        if !(config.min_rate.is_finite() && config.min_rate > 0.0) || config.min_rate > config.rate {
            config.min_rate = config.rate;
        }
        config.burst = config.burst.max(1);
        Self { rate: config.rate, config, next_free: None, limited: false }
    }

    /// The current rate, requests per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The configured (highest) rate.
    #[must_use]
    pub fn configured_rate(&self) -> f64 {
        self.config.rate
    }

    /// The time between slots: one over the rate, less the headroom once limited.
    fn interval(&self) -> Duration {
        let pace = if self.limited { self.rate * (1.0 - HEADROOM_AFTER_429) } else { self.rate };
        Duration::from_secs_f64(1.0 / pace)
    }

    /// Reserves the next slot: `Ok(wait)` until it, or `Err(wait)` (and no
    /// reservation) when the wait would exceed `max_wait`.
    ///
    /// # Errors
    /// The refused wait, as above.
    pub fn reserve(&mut self, now: Instant) -> Result<Duration, Duration> {
        let interval = self.interval();
        let tat = self.next_free.map_or(now, |t| t.max(now));
        // Up to `burst - 1` intervals of credit may be spent at once.
        let tolerance = interval.saturating_mul(self.config.burst - 1);
        let allowed_at = tat.checked_sub(tolerance).unwrap_or(now).max(now);
        let wait = allowed_at - now;
        if wait > self.config.max_wait {
            return Err(wait);
        }
        self.next_free = Some(tat + interval);
        Ok(wait)
    }

    /// The provider said 429: halve the rate (not below the floor), keep
    /// headroom from now on, and push the next slot one new interval out, so
    /// the slowdown starts at once.
    pub fn on_rate_limited(&mut self, now: Instant) {
        self.rate = (self.rate / 2.0).max(self.config.min_rate);
        self.limited = true;
        let tat = self.next_free.map_or(now, |t| t.max(now));
        self.next_free = Some(tat + self.interval());
    }

    /// A successful answer: regain `recovery * rate`, up to the configured rate.
    pub fn on_success(&mut self) {
        self.rate = (self.rate + self.config.rate * self.config.recovery).min(self.config.rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32) -> AdaptiveLimiter {
        AdaptiveLimiter::new(LimiterConfig {
            rate: 10.0,
            min_rate: 1.0,
            burst,
            recovery: 0.1,
            max_wait: Duration::from_secs(1),
        })
    }

    #[test]
    fn spaces_requests_after_the_burst() {
        let mut l = limiter(2);
        let t0 = Instant::now();
        let waits: Vec<u128> = (0..4).map(|_| l.reserve(t0).map(|w| w.as_millis()).unwrap_or(u128::MAX)).collect();
        assert_eq!(waits, [0, 0, 100, 200]);
    }

    #[test]
    fn halves_on_429_bounded_by_the_floor_and_recovers() {
        let mut l = limiter(1);
        let t0 = Instant::now();
        l.on_rate_limited(t0);
        assert_eq!(l.rate(), 5.0);
        for _ in 0..10 {
            l.on_rate_limited(t0);
        }
        assert_eq!(l.rate(), 1.0);
        for _ in 0..20 {
            l.on_success();
        }
        assert_eq!(l.rate(), 10.0);
    }

    #[test]
    fn keeps_headroom_under_the_rate_once_limited() {
        let mut l = limiter(1);
        let t0 = Instant::now();
        l.on_rate_limited(t0);
        for _ in 0..10 {
            l.on_success();
        }
        assert_eq!(l.rate(), 10.0);
        // Slots 1/(10 * 0.97) s apart: 103.09 ms.
        let first = l.reserve(t0).unwrap_or(Duration::MAX);
        let second = l.reserve(t0).unwrap_or(Duration::MAX);
        assert_eq!((second - first).as_micros(), 103_092);
    }

    #[test]
    fn refuses_waits_beyond_the_bound() {
        let mut l = limiter(1);
        let t0 = Instant::now();
        for _ in 0..11 {
            assert!(l.reserve(t0).is_ok());
        }
        assert_eq!(l.reserve(t0), Err(Duration::from_millis(1100)));
    }
}
