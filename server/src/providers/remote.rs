//! The remote providers this process uses, built once from configuration: one
//! shared HTTP client (one connection pool), each provider behind its own
//! resilience layer (so Yahoo's 429s never slow Investing.com down).

use std::sync::Arc;
use std::time::Duration;

use super::history::{History, HistoryProvider, HistoryRequest};
use super::investing::{Investing, InvestingConfig};
use super::resilience::{LimiterConfig, ProviderHealth, ResilienceConfig, Resilient};
use super::yahoo::{Yahoo, YahooConfig};
use super::{ProviderError, http};
use crate::config::ProvidersConfig;
use crate::symbol::Symbol;

/// Which remote provider to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// Yahoo Finance.
    Yahoo,
    /// Investing.com.
    Investing,
}

/// The remote providers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Remote {
    yahoo: Arc<Resilient<Yahoo>>,
    investing: Arc<Resilient<Investing>>,
}

impl Remote {
    /// Builds the providers from configuration.
    ///
    /// # Errors
    /// [`ProviderError`] when the HTTP client cannot be built (TLS set-up).
    pub fn from_config(config: &ProvidersConfig) -> Result<Self, ProviderError> {
        let client =
            http::shared_client().map_err(|source| ProviderError::Connection { provider: "http client", source })?;
        let resilience = |rate: f64| ResilienceConfig {
            limiter: LimiterConfig { rate, ..LimiterConfig::default() },
            ..ResilienceConfig::default()
        };
        let yahoo = Yahoo::new(
            client.clone(),
            YahooConfig {
                base_url: config.yahoo.base_url.clone(),
                timeout: Duration::from_secs(config.yahoo.timeout_secs),
            },
        );
        let pairs = config
            .investing
            .pairs
            .iter()
            .filter_map(|(symbol, id)| Symbol::parse(symbol).ok().map(|s| (s, *id)))
            .collect();
        let investing = Investing::new(
            client,
            InvestingConfig {
                base_url: config.investing.remote.base_url.clone(),
                timeout: Duration::from_secs(config.investing.remote.timeout_secs),
                pairs,
            },
        );
        Ok(Self {
            yahoo: Arc::new(Resilient::new(yahoo, resilience(config.yahoo.requests_per_second))),
            investing: Arc::new(Resilient::new(investing, resilience(config.investing.remote.requests_per_second))),
        })
    }

    /// Asks `kind` for history.
    ///
    /// # Errors
    /// [`ProviderError`] after the resilience layer gave up.
    pub async fn history(&self, kind: RemoteKind, request: &HistoryRequest) -> Result<History, ProviderError> {
        match kind {
            RemoteKind::Yahoo => self.yahoo.history(request).await,
            RemoteKind::Investing => self.investing.history(request).await,
        }
    }

    /// Each provider's name and health.
    #[must_use]
    pub fn health(&self) -> Vec<(&'static str, ProviderHealth)> {
        vec![("yahoo", self.yahoo.health()), ("investing", self.investing.health())]
    }
}
