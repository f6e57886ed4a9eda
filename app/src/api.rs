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

use crate::live::protocol::NewsItem;
use crate::model::{Chart, ChatSettings, SignalQuery, SignalRow, StrategyRow, WatchRow};

/// How many characters of a client's input an error message quotes.
pub const EXCERPT_CHARS: usize = 32;

/// At most [`EXCERPT_CHARS`] characters of `input`, marked with `…` when cut,
/// for messages that name bad input without echoing a megabyte back.
#[must_use]
pub fn excerpt(input: &str) -> String {
    match input.char_indices().nth(EXCERPT_CHARS) {
        None => input.to_owned(),
        Some((cut, _)) => format!("{}…", &input[..cut]),
    }
}

/// A decoder's message about a client's request, cut to a readable length
/// (decoders may quote the input).
#[must_use]
pub fn excerpt_message(message: &str) -> String {
    const MAX: usize = 200;
    match message.char_indices().nth(MAX) {
        None => message.to_owned(),
        Some((cut, _)) => format!("{}…", &message[..cut]),
    }
}

/// The most bars one chart request returns (ten years of daily bars are 2,520).
pub const MAX_CHART_BARS: usize = 10_000;

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
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::MissingArg(msg) => Self::BadRequest(excerpt_message(&msg)),
            // On the server these describe the request the client sent (a body
            // that does not decode, a method the function does not take); in
            // the browser they describe the server's answer.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(msg) | ServerFnErrorErr::UnsupportedRequestMethod(msg) => {
                Self::BadRequest(excerpt_message(&msg))
            }
            other => Self::Transport(other.to_string()),
        }
    }
}

/// The caller's watchlist (the followed symbols for an anonymous viewer):
/// each symbol's latest price, recent closes, day and 52-week range.
#[server(prefix = "/api", endpoint = "watchlist")]
pub async fn get_watchlist() -> Result<Vec<WatchRow>, ApiError> {
    ssr::reply(async move { ssr::backend()?.watchlist(crate::auth::current_owner()).await }.await)
}

/// The most recent `limit` bars of `symbol` in `timeframe` (default `1d`).
#[server(prefix = "/api", endpoint = "chart")]
pub async fn get_chart(symbol: String, timeframe: Option<String>, limit: Option<usize>) -> Result<Chart, ApiError> {
    ssr::reply(
        async move {
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
        .await,
    )
}

/// Up to `limit` bars of `symbol` in `timeframe` that opened before `before`
/// (Unix seconds), oldest first: the page before the bars a chart holds.
#[server(prefix = "/api", endpoint = "older_bars")]
pub async fn get_older_bars(
    symbol: String,
    timeframe: String,
    before: i64,
    limit: Option<usize>,
) -> Result<Vec<quant::Bar>, ApiError> {
    ssr::reply(
        async move {
            let timeframe: quant::Timeframe =
                timeframe.parse().map_err(|e: quant::ParamError| ApiError::BadRequest(e.to_string()))?;
            let limit = limit.unwrap_or(MAX_CHART_BARS);
            if limit == 0 || limit > MAX_CHART_BARS {
                return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_CHART_BARS}")));
            }
            ssr::backend()?.older_bars(&symbol.to_ascii_uppercase(), timeframe, before, limit).await
        }
        .await,
    )
}

/// The most signals or headlines one request returns.
pub const MAX_LIST: usize = 500;

#[cfg_attr(not(feature = "ssr"), allow(dead_code, reason = "called from server function bodies"))]
fn check_limit(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > MAX_LIST {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIST}")));
    }
    Ok(limit)
}

/// The latest signals matching `query`, newest first.
#[server(prefix = "/api", endpoint = "signals")]
pub async fn get_signals(query: SignalQuery, limit: Option<usize>) -> Result<Vec<SignalRow>, ApiError> {
    ssr::reply(
        async move {
            let limit = check_limit(limit, 100)?;
            let query = SignalQuery {
                symbol: query.symbol.map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()),
                strategy: query.strategy.filter(|s| !s.is_empty()),
                ..query
            };
            ssr::backend()?.signals(query, limit).await
        }
        .await,
    )
}

/// The latest headlines, of one symbol or of all, newest first.
#[server(prefix = "/api", endpoint = "news")]
pub async fn get_news(symbol: Option<String>, limit: Option<usize>) -> Result<Vec<NewsItem>, ApiError> {
    ssr::reply(
        async move {
            let limit = check_limit(limit, 20)?;
            let symbol = symbol.map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty());
            ssr::backend()?.news(symbol, limit).await
        }
        .await,
    )
}

/// Every strategy with its minimum quality.
#[server(prefix = "/api", endpoint = "strategies")]
pub async fn get_strategies() -> Result<Vec<StrategyRow>, ApiError> {
    ssr::reply(async move { ssr::backend()?.strategies().await }.await)
}

/// Reads an optional form field: absent or blank is `None`.
#[cfg_attr(not(feature = "ssr"), allow(dead_code, reason = "called from server function bodies"))]
fn field<T: std::str::FromStr>(name: &str, value: Option<String>) -> Result<Option<T>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{name}: `{}` is not a number", excerpt(text)))),
    }
}

/// Changes whether a strategy runs and the minimum backtest quality its signals
/// need. Form-shaped: blank minimums are removed, `enabled` is present when on.
#[server(prefix = "/api", endpoint = "strategy")]
pub async fn set_strategy(
    name: String,
    enabled: Option<String>,
    min_trades: Option<String>,
    min_win_rate: Option<String>,
    min_profit_factor: Option<String>,
    min_sharpe: Option<String>,
) -> Result<StrategyRow, ApiError> {
    ssr::reply(
        async move {
            let row = StrategyRow {
                name,
                summary: String::new(),
                enabled: enabled.is_some_and(|v| v != "false"),
                min_trades: field("min_trades", min_trades)?,
                min_win_rate: field("min_win_rate", min_win_rate)?,
                min_profit_factor: field("min_profit_factor", min_profit_factor)?,
                min_sharpe: field("min_sharpe", min_sharpe)?,
            };
            let valid = |v: Option<f64>, lo: f64, hi: f64| v.is_none_or(|x| x.is_finite() && (lo..=hi).contains(&x));
            if !valid(row.min_win_rate, 0.0, 1.0)
                || !valid(row.min_profit_factor, 0.0, 1_000.0)
                || !valid(row.min_sharpe, -100.0, 100.0)
                || row.min_trades.is_some_and(|n| !(0..=1_000_000).contains(&n))
            {
                return Err(ApiError::BadRequest(
                    "minimums: trades 0 to 1000000, win rate 0 to 1, profit factor 0 to 1000, Sharpe -100 to 100"
                        .into(),
                ));
            }
            ssr::backend()?.set_strategy(row).await
        }
        .await,
    )
}

/// The linked Telegram chats and their subscriptions.
#[server(prefix = "/api", endpoint = "telegram")]
pub async fn get_telegram() -> Result<Vec<ChatSettings>, ApiError> {
    ssr::reply(ssr::backend()?.telegram(crate::auth::current_owner()).await)
}

/// A one-time code: send `/start CODE` to the bot within 15 minutes to link that chat.
#[server(prefix = "/api", endpoint = "telegram_code")]
pub async fn new_link_code() -> Result<String, ApiError> {
    ssr::reply(ssr::backend()?.link_code(crate::auth::current_owner()).await)
}

/// Changes one chat's settings (form-shaped): `op` is `link`, `unlink`,
/// `subscribe`, `unsubscribe`, `quiet` (blank `value` turns quiet hours off),
/// `mute` or `unmute`; `symbol` and `strategy` (blank: every strategy) name a
/// subscription.
#[server(prefix = "/api", endpoint = "telegram_chat")]
pub async fn change_chat(
    chat_id: String,
    op: String,
    symbol: Option<String>,
    strategy: Option<String>,
    value: Option<String>,
) -> Result<(), ApiError> {
    ssr::reply(
        async move {
            let chat_id: i64 = chat_id
                .trim()
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("chat id `{}` is not a number", excerpt(&chat_id))))?;
            let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            let change = match op.as_str() {
                "link" => ChatChange::Link,
                "unlink" => ChatChange::Unlink,
                "mute" => ChatChange::Mute(true),
                "unmute" => ChatChange::Mute(false),
                "quiet" => ChatChange::Quiet(blank(value)),
                "subscribe" | "unsubscribe" => {
                    let symbol = blank(symbol).ok_or_else(|| ApiError::BadRequest("a symbol is required".into()))?;
                    let strategy = blank(strategy);
                    if let Some(name) = &strategy
                        && !quant::strategies::CATALOG.iter().any(|e| e.name == name)
                    {
                        return Err(ApiError::BadRequest(format!("unknown strategy `{}`", excerpt(name))));
                    }
                    if op == "subscribe" {
                        ChatChange::Subscribe(symbol.to_ascii_uppercase(), strategy)
                    } else {
                        ChatChange::Unsubscribe(symbol.to_ascii_uppercase(), strategy)
                    }
                }
                other => return Err(ApiError::BadRequest(format!("unknown operation `{}`", excerpt(other)))),
            };
            ssr::backend()?.change_chat(crate::auth::current_owner(), chat_id, change).await
        }
        .await,
    )
}

/// One change to a chat's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatChange {
    /// Link the chat as the caller's (refused when another user linked it).
    Link,
    /// Unlink it; its subscriptions go too.
    Unlink,
    /// Mute (`true`) or unmute alerts.
    Mute(bool),
    /// Quiet hours `HH:MM-HH:MM` (UTC), or off.
    Quiet(Option<String>),
    /// Subscribe to a symbol's signals, of one strategy or all.
    Subscribe(String, Option<String>),
    /// Remove that subscription.
    Unsubscribe(String, Option<String>),
}

/// Puts a symbol on the caller's watchlist (at the end); the live feed and
/// the schedules follow it from then on. Answers whether it was added (`false`:
/// it was on the list already, and nothing changed).
#[server(prefix = "/api", endpoint = "watchlist_add")]
pub async fn add_to_watchlist(symbol: String) -> Result<bool, ApiError> {
    ssr::reply(async move { ssr::backend()?.watch(crate::auth::current_owner(), symbol).await }.await)
}

/// Takes a symbol off the caller's watchlist (its stored bars stay; the feed
/// stops following it once no user's list holds it). Answers whether it
/// was on the list (`false`: it was not, and nothing changed).
#[server(prefix = "/api", endpoint = "watchlist_remove")]
pub async fn remove_from_watchlist(symbol: String) -> Result<bool, ApiError> {
    ssr::reply(async move { ssr::backend()?.unwatch(crate::auth::current_owner(), symbol).await }.await)
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
    use super::ChatChange;
    use crate::live::protocol::NewsItem;
    use crate::model::{Chart, ChatSettings, SignalQuery, SignalRow, StrategyRow, WatchRow};

    /// A boxed future, so that [`Backend`] can be used as a trait object.
    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    /// What the server functions need from the server. The server provides an
    /// `Arc<dyn Backend>` as Leptos context; tests can provide their own.
    pub trait Backend: Send + Sync + 'static {
        /// Rows of the watchlist, in watchlist order.
        fn watchlist(&self, owner: crate::auth::Owner) -> BoxFuture<'_, Result<Vec<WatchRow>, ApiError>>;
        /// The latest `limit` bars of `symbol` in `timeframe`; `NotFound` for an unknown symbol.
        fn chart<'a>(
            &'a self,
            symbol: &'a str,
            timeframe: Timeframe,
            limit: usize,
        ) -> BoxFuture<'a, Result<Chart, ApiError>>;
        /// Up to `limit` bars opened before `before`, oldest first; `NotFound` for an unknown symbol.
        fn older_bars<'a>(
            &'a self,
            symbol: &'a str,
            timeframe: Timeframe,
            before: i64,
            limit: usize,
        ) -> BoxFuture<'a, Result<Vec<quant::Bar>, ApiError>>;
        /// The latest `limit` signals matching `query`, newest first.
        fn signals(&self, query: SignalQuery, limit: usize) -> BoxFuture<'_, Result<Vec<SignalRow>, ApiError>>;
        /// The latest `limit` headlines (of `symbol` when given), newest first.
        fn news(&self, symbol: Option<String>, limit: usize) -> BoxFuture<'_, Result<Vec<NewsItem>, ApiError>>;
        /// Every catalog strategy with its settings.
        fn strategies(&self) -> BoxFuture<'_, Result<Vec<StrategyRow>, ApiError>>;
        /// Stores a strategy's settings; `NotFound` for an unknown strategy.
        fn set_strategy(&self, row: StrategyRow) -> BoxFuture<'_, Result<StrategyRow, ApiError>>;
        /// The linked Telegram chats with their subscriptions.
        fn telegram(&self, owner: crate::auth::Owner) -> BoxFuture<'_, Result<Vec<ChatSettings>, ApiError>>;
        /// A new one-time link code.
        fn link_code(&self, owner: crate::auth::Owner) -> BoxFuture<'_, Result<String, ApiError>>;
        /// Applies a change to a chat; `NotFound` when it is not linked (except `Link`).
        fn change_chat(
            &self,
            owner: crate::auth::Owner,
            chat_id: i64,
            change: ChatChange,
        ) -> BoxFuture<'_, Result<(), ApiError>>;
        /// Puts the ticker `symbol` (as typed) on the watchlist; `BadRequest`
        /// for a malformed ticker, `NotFound` for one the provider does not
        /// know. `Ok(false)` when it is on the list already.
        fn watch(&self, owner: crate::auth::Owner, symbol: String) -> BoxFuture<'_, Result<bool, ApiError>>;
        /// Takes `symbol` off the watchlist; `Ok(false)` when it was not on it.
        fn unwatch(&self, owner: crate::auth::Owner, symbol: String) -> BoxFuture<'_, Result<bool, ApiError>>;
        /// The audit log, newest first: at most `limit` entries older than `before`.
        fn audit(
            &self,
            before: Option<i64>,
            limit: usize,
        ) -> BoxFuture<'_, Result<Vec<crate::auth::AuditEntry>, ApiError>>;
    }

    /// The backend handle the server puts into context.
    pub type SharedBackend = Arc<dyn Backend>;

    /// The HTTP status of a failed call: 400 bad request, 404 not found, 500
    /// otherwise.
    #[must_use]
    pub fn status_of(error: &ApiError) -> u16 {
        match error {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Internal | ApiError::Transport(_) => 500,
        }
    }

    /// Gives a failed call its HTTP status ([`status_of`]; server functions
    /// answer 500 for every error by default). Errors raised before the
    /// function runs (its arguments do not decode) get theirs from the
    /// server's edge, which reads the same mapping.
    pub fn reply<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &result
            && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        {
            let status = match e {
                ApiError::BadRequest(_) => leptos::server_fn::http_export::StatusCode::BAD_REQUEST,
                ApiError::NotFound(_) => leptos::server_fn::http_export::StatusCode::NOT_FOUND,
                ApiError::Internal | ApiError::Transport(_) => {
                    leptos::server_fn::http_export::StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            response.set_status(status);
        }
        result
    }

    /// The backend from context.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the server did not provide one (a wiring bug).
    pub fn backend() -> Result<SharedBackend, ApiError> {
        use_context::<SharedBackend>().ok_or(ApiError::Internal)
    }
}
