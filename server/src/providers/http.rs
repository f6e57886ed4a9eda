//! HTTP plumbing shared by the remote providers: the one client, bounded body
//! reads, `Retry-After`, Cloudflare detection and the mapping of transport
//! failures onto [`ProviderError`].
//!
//! One [`reqwest::Client`] is built and cloned into every provider: clones
//! share the connection pool, so providers reuse TLS sessions and the process
//! holds a bounded number of sockets.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER, SERVER};
use reqwest::{Response, StatusCode};

use super::error::ProviderError;

/// Default whole-request timeout; providers also set their own per request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest body read from a provider. A year of one-minute bars from
/// Yahoo is well under this; anything bigger is not an answer we want.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of an error body is kept in [`ProviderError::Status`].
const EXCERPT_CHARS: usize = 200;

/// A browser-like user agent: both Yahoo and Investing.com refuse requests
/// that announce a library.
pub const BROWSER_USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

/// Builds the shared client: rustls, connect and total timeouts, a small idle
/// pool per host.
///
/// # Errors
/// [`reqwest::Error`] when the TLS backend cannot be initialised.
pub fn shared_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(BROWSER_USER_AGENT)
        .connect_timeout(Duration::from_secs(5))
        .timeout(DEFAULT_TIMEOUT)
        .pool_max_idle_per_host(4)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
}

/// Maps a transport failure: timeouts to [`ProviderError::Timeout`], the rest
/// to [`ProviderError::Connection`] (retryable).
pub(crate) fn transport_error(provider: &'static str, timeout: Duration, err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        ProviderError::Timeout { provider, after: timeout }
    } else if err.is_builder() {
        ProviderError::InvalidRequest { provider, reason: err.to_string() }
    } else {
        ProviderError::Connection { provider, source: err }
    }
}

/// Reads a body up to [`MAX_BODY_BYTES`].
///
/// # Errors
/// Transport failures as in [`transport_error`], and
/// [`ProviderError::Malformed`] when the body is too large.
pub(crate) async fn read_body(
    provider: &'static str,
    timeout: Duration,
    mut response: Response,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(provider, timeout, e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ProviderError::Malformed {
                provider,
                reason: format!("body larger than {MAX_BODY_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An answer as read from a provider.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// Sends `request` and reads the answer. A Cloudflare challenge is
/// [`ProviderError::Blocked`] whatever the status (the interstitial may come
/// as 200): every provider fetches through here, so none can skip the check.
/// Other statuses are left to the provider, which may read its own error body.
///
/// # Errors
/// Transport failures ([`transport_error`]), an oversized body, a challenge.
pub(crate) async fn fetch(
    provider: &'static str,
    timeout: Duration,
    request: reqwest::RequestBuilder,
) -> Result<Answer, ProviderError> {
    let response = request.timeout(timeout).send().await.map_err(|e| transport_error(provider, timeout, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(provider, timeout, response).await?;
    if let Some(evidence) = cloudflare_challenge(status, &headers, &body) {
        return Err(ProviderError::Blocked { provider, evidence });
    }
    Ok(Answer { status, headers, body })
}

/// Parses `Retry-After`: delay seconds or an HTTP date (a date in the past
/// means "now"). Unparseable values are ignored.
#[must_use]
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is a subset of RFC 2822.
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Recognises a Cloudflare challenge instead of the API's answer: the
/// `cf-mitigated: challenge` header, or a 403/503 from `server: cloudflare`,
/// or the interstitial's "Just a moment..." text.
#[must_use]
pub fn cloudflare_challenge(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<&'static str> {
    let header_is = |name: &str, value: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case(value))
    };
    if header_is("cf-mitigated", "challenge") {
        return Some("cf-mitigated: challenge");
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    if text.contains("Just a moment") || text.contains("challenge-platform") {
        return Some("challenge page");
    }
    let blocked_status = matches!(status, StatusCode::FORBIDDEN | StatusCode::SERVICE_UNAVAILABLE);
    if blocked_status && headers.get(SERVER).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("cloudflare")) {
        return Some("server: cloudflare");
    }
    None
}

/// Maps a non-success status: 429 to [`ProviderError::RateLimited`], anything
/// else to [`ProviderError::Status`] with a body excerpt.
pub(crate) fn status_error(
    provider: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ProviderError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::RateLimited { provider, retry_after: retry_after(headers) };
    }
    ProviderError::Status {
        provider,
        status: status.as_u16(),
        excerpt: String::from_utf8_lossy(body).chars().take(EXCERPT_CHARS).collect(),
        retry_after: retry_after(headers),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(120)).to_rfc2822().replace("+0000", "GMT");
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap_or(HeaderValue::from_static("x")));
        let wait = retry_after(&headers).unwrap_or_default();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn cloudflare_needs_evidence() {
        let mut headers = HeaderMap::new();
        assert_eq!(cloudflare_challenge(StatusCode::FORBIDDEN, &headers, b"{}"), None);
        headers.insert(SERVER, HeaderValue::from_static("cloudflare"));
        assert!(cloudflare_challenge(StatusCode::FORBIDDEN, &headers, b"{}").is_some());
        assert_eq!(cloudflare_challenge(StatusCode::NOT_FOUND, &headers, b"{}"), None);
    }
}
