//! The in-process event bus: every live event is serialized once and shared.
//!
//! Publishers hand the bus a [`ServerMessage`]; it becomes one JSON text frame
//! ([`Utf8Bytes`] is reference-counted, so a thousand subscribers share one
//! buffer) and goes out on a bounded broadcast channel. A subscriber that falls
//! more than [`Bus::capacity`] events behind is told how many it missed and
//! resynchronises from the latest-state cache kept here, which also answers the
//! snapshot sent on every new subscription.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use app::live::protocol::{BarUpdate, Channel, Quote, ServerMessage};
use axum::extract::ws::Utf8Bytes;
use quant::Timeframe;
use tokio::sync::broadcast;

/// One serialized event with the keys subscribers filter on.
#[derive(Debug, Clone)]
pub struct Event {
    /// The channel it belongs to.
    pub channel: Channel,
    /// The symbol it is about.
    pub symbol: Arc<str>,
    /// The JSON frame, serialized once.
    pub frame: Utf8Bytes,
}

#[derive(Debug, Default)]
struct Latest {
    quotes: BTreeMap<String, Quote>,
    bars: BTreeMap<(String, Timeframe), BarUpdate>,
}

/// Publishes events to every live subscriber; cheap to clone.
#[derive(Debug, Clone)]
pub struct Bus {
    sender: broadcast::Sender<Event>,
    latest: Arc<RwLock<Latest>>,
    capacity: usize,
}

impl Bus {
    /// A bus whose subscribers may fall at most `capacity` events behind.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender, latest: Arc::default(), capacity: capacity.max(1) }
    }

    /// How far a subscriber may fall behind before it must resync.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A new subscriber; it sees events published from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Publishes a quote and remembers it for snapshots.
    pub fn publish_quote(&self, quote: Quote) {
        let symbol: Arc<str> = quote.symbol.as_str().into();
        let message = ServerMessage::Quote(quote.clone());
        write_lock(&self.latest).quotes.insert(quote.symbol.clone(), quote);
        self.send(Channel::Quotes, symbol, &message);
    }

    /// Publishes a written bar and remembers it for snapshots.
    pub fn publish_bar(&self, update: BarUpdate) {
        let symbol: Arc<str> = update.symbol.as_str().into();
        let message = ServerMessage::Bar(update.clone());
        write_lock(&self.latest).bars.insert((update.symbol.clone(), update.timeframe), update);
        self.send(Channel::Bars, symbol, &message);
    }

    fn send(&self, channel: Channel, symbol: Arc<str>, message: &ServerMessage) {
        let frame = encode(message);
        // An error only means nobody is listening right now, which is fine.
        let _ = self.sender.send(Event { channel, symbol, frame });
    }

    /// The latest live quote of `symbol`, if one was published.
    #[must_use]
    pub fn latest_quote(&self, symbol: &str) -> Option<Quote> {
        self.latest.read().unwrap_or_else(std::sync::PoisonError::into_inner).quotes.get(symbol).cloned()
    }

    /// The current state of `channel` for the symbols `wanted` accepts.
    #[must_use]
    pub fn snapshot(&self, channel: Channel, wanted: impl Fn(&str) -> bool) -> ServerMessage {
        let latest = self.latest.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        match channel {
            Channel::Quotes => ServerMessage::Snapshot {
                channel,
                quotes: latest.quotes.values().filter(|q| wanted(&q.symbol)).cloned().collect(),
                bars: Vec::new(),
            },
            Channel::Bars => ServerMessage::Snapshot {
                channel,
                quotes: Vec::new(),
                bars: latest.bars.values().filter(|b| wanted(&b.symbol)).cloned().collect(),
            },
        }
    }
}

/// Serializes a message into a text frame. Our messages contain only strings and
/// finite numbers, so this cannot fail; should a non-finite number slip in,
/// serde_json writes `null`, which clients tolerate.
#[must_use]
pub fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message).unwrap_or_else(|e| format!(r#"{{"type":"error","message":"{e}"}}"#)).into()
}

/// The cache's lock: a panic elsewhere while holding it cannot leave the maps
/// half-written (each update is one insert), so poisoning is safe to ignore.
fn write_lock(lock: &RwLock<Latest>) -> std::sync::RwLockWriteGuard<'_, Latest> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quant::Bar;

    fn quote(symbol: &str, price: f64) -> Quote {
        Quote { symbol: symbol.into(), price, prev_close: Some(1.0), ts: 1 }
    }

    #[tokio::test]
    async fn events_are_serialized_once_and_shared() {
        let bus = Bus::new(8);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish_quote(quote("AAPL", 2.0));
        let (ea, eb) = (a.recv().await.unwrap(), b.recv().await.unwrap());
        assert_eq!(ea.frame.as_str().as_ptr(), eb.frame.as_str().as_ptr(), "one buffer for both");
        assert_eq!(ea.channel, Channel::Quotes);
        assert_eq!(&*ea.symbol, "AAPL");
        let parsed: ServerMessage = serde_json::from_str(ea.frame.as_str()).unwrap();
        assert_eq!(parsed, ServerMessage::Quote(quote("AAPL", 2.0)));
    }

    #[test]
    fn snapshots_hold_the_latest_state_of_wanted_symbols() {
        let bus = Bus::new(8);
        bus.publish_quote(quote("AAPL", 2.0));
        bus.publish_quote(quote("AAPL", 3.0));
        bus.publish_quote(quote("MSFT", 4.0));
        let bar = Bar { ts: 5, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
        bus.publish_bar(BarUpdate { symbol: "MSFT".into(), timeframe: Timeframe::D1, bar });
        match bus.snapshot(Channel::Quotes, |s| s == "AAPL") {
            ServerMessage::Snapshot { quotes, bars, .. } => {
                assert_eq!(quotes, vec![quote("AAPL", 3.0)]);
                assert!(bars.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        match bus.snapshot(Channel::Bars, |_| true) {
            ServerMessage::Snapshot { bars, .. } => assert_eq!(bars.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_slow_subscriber_learns_how_much_it_missed() {
        let bus = Bus::new(2);
        let mut slow = bus.subscribe();
        for i in 0..5 {
            bus.publish_quote(quote("AAPL", f64::from(i)));
        }
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 3),
            other => panic!("expected lag, got {other:?}"),
        }
    }
}
