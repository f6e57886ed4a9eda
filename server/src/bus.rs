//! The in-process event bus: every live event is serialized once, shared, and
//! handed only to the sessions that asked for it.
//!
//! Publishers hand the bus an update; it becomes one JSON text frame
//! ([`Utf8Bytes`] is reference-counted, so a thousand subscribers share one
//! buffer). Delivery goes through a registry of topics, one per channel and
//! symbol, plus one "every symbol" list per channel: an event costs one lookup
//! and one queue push per interested session, and wakes nobody else. Ten
//! thousand sessions watching ten symbols each, with a hundred symbols ticking,
//! means a thousand pushes per event instead of ten thousand filter checks.
//!
//! Each session ([`Subscriber`]) owns an outbox: the publisher writes an event's
//! WebSocket frame straight to the session's socket when the socket takes it
//! at once, and queues it (bounded) for the session's task otherwise (see
//! [`outbox`]). A session that lets [`Bus::capacity`] events pile up has them
//! dropped and is told how many it lost, once; it then resynchronises from the
//! latest-state cache kept here, which also answers the snapshot sent on every
//! new subscription. A slow reader therefore costs at most `capacity` frame
//! handles of memory, and never slows the publisher or the other sessions.
//!
//! The cache is updated before an event is fanned out, so a snapshot taken after
//! an overflow always covers the frames that were dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use app::live::protocol::{ALL_SYMBOLS, BarUpdate, Channel, NewsItem, Quote, ServerMessage, SignalEvent};
use bytes::Bytes;
use quant::Timeframe;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tungstenite::Utf8Bytes;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

pub mod outbox;

use outbox::Outbox;
pub use outbox::{Due, Wire};

/// One serialized event with the keys it was published under, as seen by a
/// [`Bus::subscribe`] tap.
#[derive(Debug, Clone)]
pub struct Event {
    /// The channel it belongs to.
    pub channel: Channel,
    /// The symbol it is about (`"*"` for economy-wide news).
    pub symbol: Arc<str>,
    /// The JSON text, serialized once.
    pub frame: Utf8Bytes,
}

/// How many recent signals and headlines snapshots include.
pub const RECENT: usize = 50;

#[derive(Debug, Default)]
struct Latest {
    quotes: BTreeMap<String, Quote>,
    bars: BTreeMap<(String, Timeframe), BarUpdate>,
    /// Newest last.
    signals: VecDeque<SignalEvent>,
    /// Newest last.
    news: VecDeque<NewsItem>,
}

fn remember<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == RECENT {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Position of a channel in the per-channel arrays.
fn slot(channel: Channel) -> usize {
    match channel {
        Channel::Quotes => 0,
        Channel::Bars => 1,
        Channel::Signals => 2,
        Channel::News => 3,
    }
}

/// Who listens to one channel.
#[derive(Debug, Default)]
struct Listeners {
    /// Sessions subscribed to `"*"`. A session listed here is in no symbol list
    /// of the same channel, so it never gets an event twice.
    every_symbol: Vec<Arc<Outbox>>,
    /// Sessions per symbol. Entries disappear with their last session, so the
    /// map holds only symbols somebody watches right now.
    by_symbol: HashMap<Arc<str>, Vec<Arc<Outbox>>>,
}

fn forget(list: &mut Vec<Arc<Outbox>>, outbox: &Arc<Outbox>) {
    if let Some(at) = list.iter().position(|o| Arc::ptr_eq(o, outbox)) {
        list.swap_remove(at);
    }
}

#[derive(Debug)]
struct Shared {
    latest: RwLock<Latest>,
    registry: RwLock<[Listeners; 4]>,
    /// Every event, for [`Bus::subscribe`]; sessions do not use it.
    tap: broadcast::Sender<Event>,
    capacity: usize,
    sessions: AtomicUsize,
}

/// Publishes events to the sessions that want them; cheap to clone.
#[derive(Debug, Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl Bus {
    /// A bus whose sessions may queue at most `capacity` frames before they must
    /// resync.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (tap, _) = broadcast::channel(capacity.min(1_024));
        let shared = Shared {
            latest: RwLock::default(),
            registry: RwLock::default(),
            tap,
            capacity,
            sessions: AtomicUsize::new(0),
        };
        Self { shared: Arc::new(shared) }
    }

    /// How many frames a session may have queued before it must resync.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// How many sessions (and [`Bus::subscribe`] taps) are listening now.
    #[must_use]
    pub fn subscribers(&self) -> usize {
        self.shared.sessions.load(Ordering::Relaxed) + self.shared.tap.receiver_count()
    }

    /// A tap on every event published from now on, whatever its channel and
    /// symbol (for tests and tools). It lags, like any broadcast receiver, when
    /// it falls behind. Sessions use [`Bus::subscriber`] instead.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.tap.subscribe()
    }

    /// A new session with no subscriptions and an empty queue.
    #[must_use]
    pub fn subscriber(&self) -> Subscriber {
        self.shared.sessions.fetch_add(1, Ordering::Relaxed);
        Subscriber { bus: self.clone(), outbox: Arc::default(), interests: Default::default() }
    }

    /// Publishes a quote and remembers it for snapshots.
    pub fn publish_quote(&self, quote: Quote) {
        let (json, frame) = encode_event(&ServerMessage::Quote(quote.clone()));
        self.tap(Channel::Quotes, &quote.symbol, &json);
        let symbol = quote.symbol.clone();
        write(&self.shared.latest).quotes.insert(quote.symbol.clone(), quote);
        self.fan_out(Channel::Quotes, &symbol, &frame);
    }

    /// Publishes a written bar and remembers it for snapshots.
    pub fn publish_bar(&self, update: BarUpdate) {
        let (json, frame) = encode_event(&ServerMessage::Bar(update.clone()));
        self.tap(Channel::Bars, &update.symbol, &json);
        let symbol = update.symbol.clone();
        write(&self.shared.latest).bars.insert((update.symbol.clone(), update.timeframe), update);
        self.fan_out(Channel::Bars, &symbol, &frame);
    }

    /// Publishes a stored signal and remembers it for snapshots.
    pub fn publish_signal(&self, signal: SignalEvent) {
        let (json, frame) = encode_event(&ServerMessage::Signal(signal.clone()));
        self.tap(Channel::Signals, &signal.symbol, &json);
        let symbol = signal.symbol.clone();
        remember(&mut write(&self.shared.latest).signals, signal);
        self.fan_out(Channel::Signals, &symbol, &frame);
    }

    /// Publishes a stored headline and remembers it for snapshots. A session
    /// gets it once, however many of the item's symbols it watches; economy-wide
    /// items (no symbols) go to subscribers of `"*"`.
    pub fn publish_news(&self, item: NewsItem) {
        let (json, frame) = encode_event(&ServerMessage::News(item.clone()));
        if item.symbols.is_empty() {
            self.tap(Channel::News, ALL_SYMBOLS, &json);
        }
        for symbol in &item.symbols {
            self.tap(Channel::News, symbol, &json);
        }
        let symbols = item.symbols.clone();
        remember(&mut write(&self.shared.latest).news, item);

        let registry = read(&self.shared.registry);
        let listeners = &registry[slot(Channel::News)];
        let mut targets: Vec<&Arc<Outbox>> = listeners.every_symbol.iter().collect();
        for symbol in &symbols {
            targets.extend(listeners.by_symbol.get(symbol.as_str()).into_iter().flatten());
        }
        targets.sort_unstable_by_key(|o| Arc::as_ptr(o));
        targets.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for outbox in targets {
            outbox.push_event(&frame, self.shared.capacity);
        }
    }

    /// Hands `frame` to the sessions watching `symbol` or every symbol of `channel`.
    ///
    /// Most sessions are written to right here, on the publishing thread (see
    /// [`outbox`]): a publish with a thousand listeners makes a thousand small
    /// writes before it returns.
    fn fan_out(&self, channel: Channel, symbol: &str, frame: &Bytes) {
        let registry = read(&self.shared.registry);
        let listeners = &registry[slot(channel)];
        let watching = listeners.by_symbol.get(symbol).into_iter().flatten();
        for outbox in listeners.every_symbol.iter().chain(watching) {
            outbox.push_event(frame, self.shared.capacity);
        }
    }

    fn tap(&self, channel: Channel, symbol: &str, frame: &Utf8Bytes) {
        if self.shared.tap.receiver_count() > 0 {
            // An error only means the last tap went away meanwhile.
            let _ = self.shared.tap.send(Event { channel, symbol: symbol.into(), frame: frame.clone() });
        }
    }

    /// The latest live quote of `symbol`, if one was published.
    #[must_use]
    pub fn latest_quote(&self, symbol: &str) -> Option<Quote> {
        read(&self.shared.latest).quotes.get(symbol).cloned()
    }

    /// The current state of `channel` for the symbols `wanted` accepts.
    #[must_use]
    pub fn snapshot(&self, channel: Channel, wanted: impl Fn(&str) -> bool) -> ServerMessage {
        let latest = read(&self.shared.latest);
        let empty = || ServerMessage::Snapshot { channel, quotes: vec![], bars: vec![], signals: vec![], news: vec![] };
        let mut snapshot = empty();
        if let ServerMessage::Snapshot { quotes, bars, signals, news, .. } = &mut snapshot {
            match channel {
                Channel::Quotes => *quotes = latest.quotes.values().filter(|q| wanted(&q.symbol)).cloned().collect(),
                Channel::Bars => *bars = latest.bars.values().filter(|b| wanted(&b.symbol)).cloned().collect(),
                Channel::Signals => {
                    *signals = latest.signals.iter().rev().filter(|s| wanted(&s.symbol)).cloned().collect();
                }
                Channel::News => {
                    *news = latest
                        .news
                        .iter()
                        .rev()
                        .filter(|n| n.symbols.is_empty() || n.symbols.iter().any(|s| wanted(s)))
                        .cloned()
                        .collect();
                }
            }
        }
        snapshot
    }
}

/// What one session receives on one channel.
#[derive(Debug, Default)]
struct Interest {
    /// Subscribed to `"*"`; `symbols` is then empty.
    every_symbol: bool,
    /// Sorted; each name shares the registry's allocation.
    symbols: Vec<Arc<str>>,
}

/// One session on the bus: its subscriptions and its outbox. Dropping it
/// unsubscribes everything.
#[derive(Debug)]
pub struct Subscriber {
    bus: Bus,
    outbox: Arc<Outbox>,
    interests: [Interest; 4],
}

impl Subscriber {
    /// Whether an event of `channel` about `symbol` reaches this session.
    #[must_use]
    pub fn wants(&self, channel: Channel, symbol: &str) -> bool {
        let interest = &self.interests[slot(channel)];
        interest.every_symbol || interest.symbols.binary_search_by(|s| (**s).cmp(symbol)).is_ok()
    }

    /// Whether `symbol` itself (not `"*"`) is subscribed on `channel`.
    #[must_use]
    pub fn wants_exactly(&self, channel: Channel, symbol: &str) -> bool {
        let interest = &self.interests[slot(channel)];
        if symbol == ALL_SYMBOLS {
            interest.every_symbol
        } else {
            interest.symbols.binary_search_by(|s| (**s).cmp(symbol)).is_ok()
        }
    }

    /// How many single symbols are subscribed on `channel`.
    #[must_use]
    pub fn symbol_count(&self, channel: Channel) -> usize {
        self.interests[slot(channel)].symbols.len()
    }

    /// Whether anything is subscribed on `channel`.
    #[must_use]
    pub fn is_subscribed(&self, channel: Channel) -> bool {
        let interest = &self.interests[slot(channel)];
        interest.every_symbol || !interest.symbols.is_empty()
    }

    /// Subscribes to `symbols` of `channel` (`"*"` for all). Symbols are
    /// expected to be valid already. While `"*"` is held, single symbols add
    /// nothing.
    pub fn subscribe<'a>(&mut self, channel: Channel, symbols: impl IntoIterator<Item = &'a str>) {
        let symbols = symbols.into_iter();
        let mut registry = write(&self.bus.shared.registry);
        let listeners = &mut registry[slot(channel)];
        let interest = &mut self.interests[slot(channel)];
        // Exact size: the list lives as long as the connection.
        interest.symbols.reserve_exact(symbols.size_hint().0);
        for symbol in symbols {
            if interest.every_symbol {
                break;
            }
            if symbol == ALL_SYMBOLS {
                for symbol in interest.symbols.drain(..) {
                    unlist(listeners, &symbol, &self.outbox);
                }
                listeners.every_symbol.push(self.outbox.clone());
                interest.every_symbol = true;
                break;
            }
            let Err(at) = interest.symbols.binary_search_by(|s| (**s).cmp(symbol)) else { continue };
            let name = match listeners.by_symbol.get_key_value(symbol) {
                Some((name, _)) => name.clone(),
                None => Arc::from(symbol),
            };
            listeners.by_symbol.entry(name.clone()).or_default().push(self.outbox.clone());
            interest.symbols.insert(at, name);
        }
    }

    /// Unsubscribes from `symbols` of `channel`; `"*"` among them clears the
    /// channel. Single symbols are ignored while `"*"` is held.
    pub fn unsubscribe<'a>(&mut self, channel: Channel, symbols: impl IntoIterator<Item = &'a str>) {
        let mut registry = write(&self.bus.shared.registry);
        let listeners = &mut registry[slot(channel)];
        let interest = &mut self.interests[slot(channel)];
        for symbol in symbols {
            if symbol == ALL_SYMBOLS {
                if interest.every_symbol {
                    forget(&mut listeners.every_symbol, &self.outbox);
                    interest.every_symbol = false;
                }
                for symbol in interest.symbols.drain(..) {
                    unlist(listeners, &symbol, &self.outbox);
                }
                return;
            }
            if let Ok(at) = interest.symbols.binary_search_by(|s| (**s).cmp(symbol)) {
                let name = interest.symbols.remove(at);
                unlist(listeners, &name, &self.outbox);
            }
        }
    }

    /// A snapshot of every channel with subscriptions.
    #[must_use]
    pub fn snapshots(&self) -> Vec<ServerMessage> {
        Channel::ALL
            .into_iter()
            .filter(|&channel| self.is_subscribed(channel))
            .map(|channel| self.snapshot(channel))
            .collect()
    }

    /// A snapshot of `channel` for this session's symbols.
    #[must_use]
    pub fn snapshot(&self, channel: Channel) -> ServerMessage {
        self.bus.snapshot(channel, |s| self.wants(channel, s))
    }

    /// Lets publishers write this session's events to `wire` directly
    /// whenever nothing is queued before them.
    pub fn attach(&self, wire: Arc<dyn Wire>) {
        self.outbox.attach(wire);
    }

    /// Queues `message` as a text frame after everything handed over before
    /// it; [`Subscriber::flush`] writes it.
    pub fn send(&self, message: &ServerMessage) {
        self.outbox.push_reply(text_frame(&encode(message)));
    }

    /// Queues bytes that are whole WebSocket frames (a close or a pong).
    pub fn send_raw(&self, frames: Bytes) {
        self.outbox.push_reply(frames);
    }

    /// Waits until the socket did not take queued frames at once, or the
    /// queue overflowed.
    pub fn due(&self) -> impl Future<Output = Due> + '_ {
        std::future::poll_fn(|cx| self.outbox.poll_due(cx))
    }

    /// Writes what is queued: `Ok(true)` once all of it went out, `Ok(false)`
    /// when the socket is full (call again once it is writable).
    ///
    /// # Errors
    /// The socket failed, or none is attached.
    pub fn flush(&self) -> io::Result<bool> {
        self.outbox.flush()
    }

    /// When bytes last reached the socket (`None`: never).
    #[must_use]
    pub fn last_write(&self) -> Option<Instant> {
        self.outbox.last_write()
    }

    /// Unsubscribes from everything: no further events reach the outbox.
    pub fn leave(&mut self) {
        if self.interests.iter().any(|i| i.every_symbol || !i.symbols.is_empty()) {
            let mut registry = write(&self.bus.shared.registry);
            for (listeners, interest) in registry.iter_mut().zip(&mut self.interests) {
                if interest.every_symbol {
                    forget(&mut listeners.every_symbol, &self.outbox);
                    interest.every_symbol = false;
                }
                for symbol in interest.symbols.drain(..) {
                    unlist(listeners, &symbol, &self.outbox);
                }
            }
        }
    }
}

/// Removes `outbox` from the list of `symbol`, and the list once empty.
fn unlist(listeners: &mut Listeners, symbol: &str, outbox: &Arc<Outbox>) {
    if let Some(list) = listeners.by_symbol.get_mut(symbol) {
        forget(list, outbox);
        if list.is_empty() {
            listeners.by_symbol.remove(symbol);
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.leave();
        self.bus.shared.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serializes a message into JSON text. Our messages contain only strings and
/// finite numbers, so this cannot fail; should a non-finite number slip in,
/// serde_json writes `null`, which clients tolerate.
#[must_use]
pub fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message).unwrap_or_else(|e| format!(r#"{{"type":"error","message":"{e}"}}"#)).into()
}

/// The WebSocket text frame (server to client: unmasked) carrying `text`.
#[must_use]
pub fn text_frame(text: &Utf8Bytes) -> Bytes {
    let frame = Frame::message(text.clone(), OpCode::Data(Data::Text), true);
    let mut wire = Vec::with_capacity(frame.len());
    // Writing into a Vec cannot fail.
    let _ = frame.format(&mut wire);
    wire.into()
}

/// An event as JSON (for taps) and as the frame every session shares.
fn encode_event(message: &ServerMessage) -> (Utf8Bytes, Bytes) {
    let json = encode(message);
    let frame = text_frame(&json);
    (json, frame)
}

// The locks guard maps and queues that every update leaves consistent (one
// insert, push or removal at a time), so a panic elsewhere while holding one
// cannot leave them half-written: poisoning is safe to ignore.

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
