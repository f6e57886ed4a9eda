//! Server functions: the dashboard's typed calls into the server.
//!
//! Each function's body runs on the server only. It reaches the server's data
//! through the [`ssr::Backend`] port, provided as context when the server mounts
//! the app; the app crate cannot depend on the server crate, so the server
//! implements this port instead.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::model::{Chart, QuoteRow};

/// The most bars one chart request returns.
pub const MAX_CHART_BARS: usize = 2_000;

/// What a server function can fail with, as the browser sees it. Internal
/// details stay in the server's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// The request names something that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The server failed; the log has the cause.
    #[error("internal error; see the server log")]
    Internal,
    /// The call itself failed (network, encoding).
    #[error("request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::MissingArg(msg) => Self::BadRequest(msg),
            other => Self::Transport(other.to_string()),
        }
    }
}

/// The watchlist with each symbol's latest price.
#[server(prefix = "/api", endpoint = "watchlist")]
pub async fn get_watchlist() -> Result<Vec<QuoteRow>, ApiError> {
    ssr::backend()?.watchlist().await
}

/// The most recent `limit` bars of `symbol` in `timeframe` (default `1d`).
#[server(prefix = "/api", endpoint = "chart")]
pub async fn get_chart(symbol: String, timeframe: Option<String>, limit: Option<usize>) -> Result<Chart, ApiError> {
    let timeframe = match timeframe.as_deref() {
        None | Some("") => quant::Timeframe::D1,
        Some(tf) => tf.parse().map_err(|e: quant::ParamError| ApiError::BadRequest(e.to_string()))?,
    };
    let limit = limit.unwrap_or(250);
    if limit == 0 || limit > MAX_CHART_BARS {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_CHART_BARS}")));
    }
    ssr::backend()?.chart(&symbol.to_ascii_uppercase(), timeframe, limit).await
}

/// The server side of the server functions.
#[cfg(feature = "ssr")]
pub mod ssr {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use leptos::prelude::use_context;
    use quant::Timeframe;

    use super::ApiError;
    use crate::model::{Chart, QuoteRow};

    /// A boxed future, so that [`Backend`] can be used as a trait object.
    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    /// What the server functions need from the server. The server provides an
    /// `Arc<dyn Backend>` as Leptos context; tests can provide their own.
    pub trait Backend: Send + Sync + 'static {
        /// Rows of the watchlist, in watchlist order.
        fn watchlist(&self) -> BoxFuture<'_, Result<Vec<QuoteRow>, ApiError>>;
        /// The latest `limit` bars of `symbol` in `timeframe`; `NotFound` for an unknown symbol.
        fn chart<'a>(
            &'a self,
            symbol: &'a str,
            timeframe: Timeframe,
            limit: usize,
        ) -> BoxFuture<'a, Result<Chart, ApiError>>;
    }

    /// The backend handle the server puts into context.
    pub type SharedBackend = Arc<dyn Backend>;

    /// The backend from context.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the server did not provide one (a wiring bug).
    pub fn backend() -> Result<SharedBackend, ApiError> {
        use_context::<SharedBackend>().ok_or(ApiError::Internal)
    }
}
