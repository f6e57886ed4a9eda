//! Messages on the `/ws` live feed (protocol version 1), JSON text frames tagged
//! by `type`.
//!
//! Client to server:
//! - `{"type":"subscribe","channel":"quotes","symbols":["AAPL","MSFT"]}`; the
//!   symbol `"*"` means every symbol. The server answers `subscribed` and then a
//!   `snapshot` of the channel's current state for those symbols.
//! - `{"type":"unsubscribe","channel":"quotes","symbols":["AAPL"]}`
//! - `{"type":"ping"}`, answered by `pong`.
//!
//! Channels: `quotes` (latest price per symbol), `bars` (every written bar),
//! `signals` (strategy signals on closed bars, with their evidence) and `news`
//! (crawled headlines, per symbol; economy-wide items have no symbol and reach
//! subscribers of `"*"`; an item about several watched symbols arrives once).
//! While `"*"` is subscribed on a channel, single symbols add nothing, and
//! unsubscribing `"*"` clears the channel.
//!
//! Server to client: `hello` on connect; `quote`, `bar`, `signal` and `news` events; `snapshot`;
//! `heartbeat` every few seconds of silence; `resync` when the client fell
//! behind (the events queued for it were dropped; `missed` counts them) followed
//! by a fresh snapshot of every subscribed channel; `error` for a request the
//! server could not accept (malformed JSON, unknown channel or type, invalid
//! symbol, binary frame, request over 16 KiB): nothing changes and the
//! connection stays open. Events are delivered in publication order; replies
//! to requests are not ordered against events.
//!
//! Close codes from the server: 1001 (going away) on shutdown; 1008 (policy)
//! when a client falls behind more than three times a minute; 1009 (too big),
//! after an `error` frame, for a frame over 64 KiB. Each carries a reason; the
//! browser client reconnects with backoff and subscribes again.

use quant::{Bar, Timeframe};
use serde::{Deserialize, Serialize};

/// The protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The symbol that subscribes to every symbol of a channel.
pub const ALL_SYMBOLS: &str = "*";

/// A stream of events a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Latest price per symbol.
    Quotes,
    /// Bars as they are written, every timeframe.
    Bars,
    /// Strategy signals on closed bars.
    Signals,
    /// News headlines.
    News,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 4] = [Channel::Quotes, Channel::Bars, Channel::Signals, Channel::News];
}

/// Which way a signal points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Enter or stay long.
    Buy,
    /// Exit a long (or go short).
    Sell,
}

/// A strategy's backtest over a symbol's stored history: the record a signal
/// carries so its reader can judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestRecord {
    /// Closed trades.
    pub trades: u32,
    /// Share of trades with a positive result, 0 to 1.
    pub win_rate: f64,
    /// Gross profit over gross loss; `None` when nothing was lost (infinite).
    pub profit_factor: Option<f64>,
    /// Annualised Sharpe ratio of daily returns.
    pub sharpe: f64,
    /// Total return over the period, as a fraction (0.25 = +25%).
    pub total_return: f64,
    /// First and last bar of the backtest, Unix seconds.
    pub from_ts: i64,
    /// See `from_ts`.
    pub to_ts: i64,
}

/// A signal: strategy `strategy` said `action` on the closed bar `bar_ts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalEvent {
    /// Stored id.
    pub id: i64,
    /// Ticker.
    pub symbol: String,
    /// Timeframe of the bar.
    pub timeframe: Timeframe,
    /// Catalog name of the strategy, e.g. `sma_cross`.
    pub strategy: String,
    /// The strategy's parameters (JSON object, defaults filled in).
    pub params: serde_json::Value,
    /// Hash of the canonical parameters (hex), telling parameter sets apart.
    pub params_hash: String,
    /// Buy or sell.
    pub action: Action,
    /// Opening time of the closed bar that caused it, Unix seconds.
    pub bar_ts: i64,
    /// That bar's close.
    pub price: f64,
    /// The indicator values behind the decision, e.g. `{"fast": 101.2, "slow": 100.7}`.
    pub evidence: std::collections::BTreeMap<String, f64>,
    /// The strategy's backtest on this symbol and timeframe, when one has run.
    pub backtest: Option<BacktestRecord>,
    /// When it was stored, Unix ms.
    pub created_at: i64,
}

/// A news headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewsItem {
    /// Stored id.
    pub id: i64,
    /// The feed's name.
    pub source: String,
    /// Link to the article.
    pub url: String,
    /// Headline.
    pub title: String,
    /// Plain-text summary (may be empty).
    pub summary: String,
    /// Publication time, Unix seconds.
    pub published_at: i64,
    /// Symbols it concerns; empty for economy-wide news.
    pub symbols: Vec<String>,
}

/// A request from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Start receiving `channel` for `symbols`.
    Subscribe {
        /// The channel to receive.
        channel: Channel,
        /// Tickers, or `"*"` for all.
        symbols: Vec<String>,
    },
    /// Stop receiving `channel` for `symbols`.
    Unsubscribe {
        /// The channel to stop.
        channel: Channel,
        /// Tickers, or `"*"` for all.
        symbols: Vec<String>,
    },
    /// Asks for a `pong`.
    Ping,
}

/// The latest price of a symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Ticker.
    pub symbol: String,
    /// The latest price.
    pub price: f64,
    /// The previous session's close, when there is one.
    pub prev_close: Option<f64>,
    /// Time of the price, Unix seconds.
    pub ts: i64,
}

/// A bar that was written (a new bar, or an update of the current one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarUpdate {
    /// Ticker.
    pub symbol: String,
    /// The bar's timeframe.
    pub timeframe: Timeframe,
    /// The bar.
    pub bar: Bar,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message of every connection.
    Hello {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Whether the server's market data is simulated.
        simulated: bool,
    },
    /// Confirms a subscription.
    Subscribed {
        /// The channel.
        channel: Channel,
        /// The symbols now subscribed (as requested, upper-cased).
        symbols: Vec<String>,
    },
    /// Confirms an unsubscription.
    Unsubscribed {
        /// The channel.
        channel: Channel,
        /// The symbols no longer subscribed.
        symbols: Vec<String>,
    },
    /// Current state of a channel for the subscribed symbols.
    Snapshot {
        /// The channel.
        channel: Channel,
        /// Latest quotes (channel `quotes`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        quotes: Vec<Quote>,
        /// Latest bar per symbol and timeframe (channel `bars`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bars: Vec<BarUpdate>,
        /// Latest signals, newest first (channel `signals`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        signals: Vec<SignalEvent>,
        /// Latest headlines, newest first (channel `news`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        news: Vec<NewsItem>,
    },
    /// A new price.
    Quote(Quote),
    /// A written bar.
    Bar(BarUpdate),
    /// A new signal.
    Signal(SignalEvent),
    /// A new headline.
    News(NewsItem),
    /// Sent when the connection has been quiet for a while.
    Heartbeat {
        /// Server time, Unix seconds.
        ts: i64,
    },
    /// The client fell behind; `missed` events were skipped and snapshots follow.
    Resync {
        /// How many events were skipped.
        missed: u64,
    },
    /// Answer to `ping`.
    Pong,
    /// A request was refused; nothing changed.
    Error {
        /// What was wrong, for a person to read.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_has_the_documented_shape() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","channel":"quotes","symbols":["AAPL"]}"#).unwrap();
        assert_eq!(msg, ClientMessage::Subscribe { channel: Channel::Quotes, symbols: vec!["AAPL".into()] });
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","channel":"weather","symbols":[]}"#).is_err()
        );
    }

    #[test]
    fn server_events_are_flat_tagged_objects() {
        let msg = ServerMessage::Quote(Quote { symbol: "AAPL".into(), price: 1.5, prev_close: None, ts: 7 });
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(json["type"], "quote");
        assert_eq!(json["symbol"], "AAPL");
        let back: ServerMessage = serde_json::from_value(json).unwrap();
        assert_eq!(back, msg);
    }
}
