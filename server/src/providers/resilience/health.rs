//! A provider's health as the API and metrics read it: a plain serializable
//! snapshot, copied out under the resilience layer's lock.

use serde::Serialize;

use super::breaker::CircuitState;

/// One provider's health at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderHealth {
    /// The provider's name.
    pub provider: &'static str,
    /// The circuit breaker's state.
    pub state: CircuitState,
    /// Consecutive provider faults (the threshold while not closed).
    pub consecutive_failures: u32,
    /// The limiter's current rate, requests per second.
    pub current_rate: f64,
    /// The configured (highest) rate, requests per second.
    pub configured_rate: f64,
    /// When an attempt last succeeded, Unix seconds.
    pub last_success: Option<i64>,
    /// When an attempt last failed with a provider fault, Unix seconds.
    pub last_failure: Option<i64>,
    /// That failure's message.
    pub last_error: Option<String>,
    /// Attempts that succeeded.
    pub successes: u64,
    /// Attempts that failed with a provider fault.
    pub failures: u64,
    /// Retries made (attempts after the first of a call).
    pub retries: u64,
    /// Calls refused locally: circuit open or the limiter's wait too long.
    pub rejections: u64,
}
