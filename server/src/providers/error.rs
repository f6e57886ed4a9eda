//! The one error type every remote market-data provider returns.
//!
//! A single enum (rather than one per provider) because the resilience layer
//! must decide, for any provider, whether to retry, how long to wait and
//! whether the failure says something about the provider's health. Those
//! decisions are the classifiers below; nothing else should match on variants
//! to make them.

use std::time::Duration;

use quant::Timeframe;

/// Why a history request to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider does not know the symbol (Yahoo's `chart.error` "Not
    /// Found", or a symbol missing from Investing.com's pair map).
    #[error("{provider}: unknown symbol `{symbol}`")]
    UnknownSymbol {
        /// The provider's name.
        provider: &'static str,
        /// The symbol asked for.
        symbol: String,
    },
    /// The provider has no bars of this timeframe.
    #[error("{provider}: timeframe {timeframe} is not offered")]
    UnsupportedTimeframe {
        /// The provider's name.
        provider: &'static str,
        /// The timeframe asked for.
        timeframe: Timeframe,
    },
    /// The request itself is unusable (an empty time range, a bad base URL).
    #[error("{provider}: invalid request: {reason}")]
    InvalidRequest {
        /// The provider's name.
        provider: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No answer within the time allowed.
    #[error("{provider}: no answer within {after:?}")]
    Timeout {
        /// The provider's name.
        provider: &'static str,
        /// The time allowed.
        after: Duration,
    },
    /// The connection could not be made or broke before the answer was read.
    #[error("{provider}: connection failed: {source}")]
    Connection {
        /// The provider's name.
        provider: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// HTTP 429: the provider asks us to slow down.
    #[error("{provider}: rate limited (retry after {retry_after:?})")]
    RateLimited {
        /// The provider's name.
        provider: &'static str,
        /// The wait the provider asked for in `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Any other non-success HTTP status.
    #[error("{provider}: HTTP {status}: {excerpt}")]
    Status {
        /// The provider's name.
        provider: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for diagnosis.
        excerpt: String,
        /// `Retry-After` on a 503, if any.
        retry_after: Option<Duration>,
    },
    /// A bot wall (Cloudflare challenge) answered instead of the API. Retrying
    /// soon only deepens the block, so this is never retried.
    #[error("{provider}: blocked by a bot challenge ({evidence})")]
    Blocked {
        /// The provider's name.
        provider: &'static str,
        /// What gave the challenge away (a header or the page text).
        evidence: &'static str,
    },
    /// The answer is not the shape we expect (malformed JSON, missing fields,
    /// a body over the size limit).
    #[error("{provider}: unexpected response: {reason}")]
    Malformed {
        /// The provider's name.
        provider: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The circuit breaker is open: the provider failed repeatedly and is
    /// being left alone until the cool-down ends.
    #[error("{provider}: circuit open, next probe in {retry_in:?}")]
    CircuitOpen {
        /// The provider's name.
        provider: &'static str,
        /// Time until a probe request will be let through.
        retry_in: Duration,
    },
    /// Our own rate limiter would make this call wait longer than allowed, so
    /// it is refused rather than queued without bound.
    #[error("{provider}: local rate limit, a slot is {wait:?} away")]
    Throttled {
        /// The provider's name.
        provider: &'static str,
        /// How long the call would have had to wait.
        wait: Duration,
    },
}

impl ProviderError {
    /// Whether trying the same request again later may succeed: timeouts,
    /// connection failures, 5xx, 429 and malformed answers (usually an answer
    /// cut short; every retry is bounded by the caller's attempts). Everything
    /// else is deterministic (bad symbol, bad request) or deliberate (blocked,
    /// circuit open).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Connection { .. } | Self::RateLimited { .. } | Self::Malformed { .. } => true,
            Self::Status { status, .. } => (500..600).contains(status),
            _ => false,
        }
    }

    /// When the call was refused on our side before it reached the provider
    /// (its circuit is open, or our own rate limit has no slot soon enough):
    /// how long to wait before asking again. Such a refusal says nothing new
    /// about the request, so a durable job waits rather than spending an attempt.
    #[must_use]
    pub fn deferral(&self) -> Option<Duration> {
        match self {
            Self::CircuitOpen { retry_in, .. } => Some(*retry_in),
            Self::Throttled { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    /// Whether this is the provider telling us to slow down (HTTP 429).
    #[must_use]
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }

    /// The wait the provider asked for (`Retry-After`), if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the failure says the provider is unhealthy and so counts
    /// towards opening its circuit. A bad request or an unknown symbol is the
    /// caller's problem and does not; nor do our own local rejections.
    #[must_use]
    pub fn is_provider_fault(&self) -> bool {
        !matches!(
            self,
            Self::UnknownSymbol { .. }
                | Self::UnsupportedTimeframe { .. }
                | Self::InvalidRequest { .. }
                | Self::CircuitOpen { .. }
                | Self::Throttled { .. }
        )
    }
}
