//! Exponential back-off with full jitter: the n-th retry waits a uniformly
//! random time in `[0, min(max, base * 2^n)]`.
//!
//! Hand-written rather than taken from `backon`: the retry loop must also
//! honour `Retry-After`, consult the circuit breaker before every attempt and
//! sleep through an injectable [`Clock`](super::Clock); the policy itself is
//! two lines, and full jitter (rather than `backon`'s additive jitter) is what
//! spreads retries of many callers best.

use std::time::Duration;

/// The back-off policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The ceiling of the first retry's wait.
    pub base: Duration,
    /// The largest ceiling.
    pub max: Duration,
}

impl Backoff {
    /// The ceiling for retry number `retry` (0 for the first retry):
    /// `min(max, base * 2^retry)`.
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.base.saturating_mul(2u32.saturating_pow(retry.min(31))).min(self.max)
    }

    /// The wait before retry number `retry`, drawn with `unit` in `[0, 1)`.
    #[must_use]
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before retry number `retry`, with a fresh random draw.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_max() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) };
        let ceilings: Vec<u128> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
        assert_eq!(b.delay_with(1, 0.5), Duration::from_millis(100));
        assert!((0..100).all(|_| b.delay(3) <= Duration::from_millis(800)));
    }
}
