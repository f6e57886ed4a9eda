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
//! Server to client: `hello` on connect; `quote` and `bar` events; `snapshot`;
//! `heartbeat` every few seconds of silence; `resync` when the client fell
//! behind and events were skipped (a fresh snapshot follows); `error` for a
//! request the server could not accept (the connection stays open).

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
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 2] = [Channel::Quotes, Channel::Bars];
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
    },
    /// A new price.
    Quote(Quote),
    /// A written bar.
    Bar(BarUpdate),
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
