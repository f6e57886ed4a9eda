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
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]

    use std::io::IoSlice;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use futures::FutureExt;
    use quant::Bar;

    fn quote(symbol: &str, price: f64) -> Quote {
        Quote { symbol: symbol.into(), price, prev_close: Some(1.0), ts: 1 }
    }

    fn news(id: i64, symbols: &[&str]) -> NewsItem {
        NewsItem {
            id,
            source: "wire".into(),
            url: String::new(),
            title: format!("item {id}"),
            summary: String::new(),
            published_at: 1,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// A socket double: keeps what is written, and accepts at most `room`
    /// more bytes (`WouldBlock` once none is left).
    struct Pipe {
        bytes: Mutex<Vec<u8>>,
        room: AtomicUsize,
    }

    impl Pipe {
        fn with_room(room: usize) -> Arc<Self> {
            Arc::new(Self { bytes: Mutex::default(), room: AtomicUsize::new(room) })
        }

        fn open() -> Arc<Self> {
            Self::with_room(usize::MAX)
        }

        fn set_room(&self, room: usize) {
            self.room.store(room, Ordering::Relaxed);
        }

        /// The complete frames written so far, parsed; the bytes are consumed.
        fn take(&self) -> Vec<ServerMessage> {
            let mut bytes = self.bytes.lock().unwrap();
            let mut messages = Vec::new();
            let mut at = 0;
            while let [b0, b1, rest @ ..] = &bytes[at..] {
                assert_eq!(*b0, 0x81, "a final, unmasked text frame");
                let (len, header) = match b1 {
                    126 => (usize::from(u16::from_be_bytes([rest[0], rest[1]])), 4),
                    127 => panic!("no test frame is that long"),
                    n => (usize::from(*n), 2),
                };
                let Some(payload) = bytes.get(at + header..at + header + len) else { break };
                messages.push(serde_json::from_slice(payload).unwrap());
                at += header + len;
            }
            bytes.drain(..at);
            messages
        }
    }

    impl Wire for Pipe {
        fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let room = self.room.load(Ordering::Relaxed);
            if room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut bytes = self.bytes.lock().unwrap();
            let mut written = 0;
            for buf in bufs {
                let take = buf.len().min(room - written);
                bytes.extend_from_slice(&buf[..take]);
                written += take;
            }
            if room != usize::MAX {
                self.room.fetch_sub(written, Ordering::Relaxed);
            }
            Ok(written)
        }
    }

    /// A subscriber writing to a socket double.
    fn attached(bus: &Bus, pipe: &Arc<Pipe>) -> Subscriber {
        let subscriber = bus.subscriber();
        subscriber.attach(pipe.clone());
        subscriber
    }

    #[test]
    fn events_are_serialized_once_and_shared() {
        let bus = Bus::new(8);
        let (full_a, full_b) = (Pipe::with_room(0), Pipe::with_room(0));
        let (mut a, mut b) = (attached(&bus, &full_a), attached(&bus, &full_b));
        a.subscribe(Channel::Quotes, ["AAPL"]);
        b.subscribe(Channel::Quotes, ["*"]);
        bus.publish_quote(quote("AAPL", 2.0));
        let (qa, qb) = (a.outbox.queued(), b.outbox.queued());
        assert_eq!(qa[0].as_ptr(), qb[0].as_ptr(), "one buffer for both");
        full_a.set_room(usize::MAX);
        assert!(a.flush().unwrap());
        assert_eq!(full_a.take(), vec![ServerMessage::Quote(quote("AAPL", 2.0))]);
    }

    #[test]
    fn a_session_whose_socket_keeps_up_is_written_to_directly_and_never_woken() {
        let bus = Bus::new(8);
        let pipe = Pipe::open();
        let mut s = attached(&bus, &pipe);
        s.subscribe(Channel::Quotes, ["AAPL"]);
        assert_eq!(s.last_write(), None);
        bus.publish_quote(quote("AAPL", 1.0));
        bus.publish_quote(quote("AAPL", 2.0));
        assert_eq!(
            pipe.take(),
            vec![ServerMessage::Quote(quote("AAPL", 1.0)), ServerMessage::Quote(quote("AAPL", 2.0))]
        );
        assert!(s.outbox.queued().is_empty());
        assert_eq!(s.due().now_or_never(), None, "nothing for the session to do");
        assert!(s.last_write().is_some());
    }

    #[test]
    fn events_reach_only_their_subscribers() {
        let bus = Bus::new(8);
        let (p1, p2) = (Pipe::open(), Pipe::open());
        let mut aapl = attached(&bus, &p1);
        aapl.subscribe(Channel::Quotes, ["AAPL"]);
        let mut bars = attached(&bus, &p2);
        bars.subscribe(Channel::Bars, ["AAPL"]);
        bus.publish_quote(quote("MSFT", 1.0));
        bus.publish_quote(quote("AAPL", 2.0));
        assert_eq!(p1.take(), vec![ServerMessage::Quote(quote("AAPL", 2.0))]);
        assert!(p2.take().is_empty(), "another channel");
        aapl.unsubscribe(Channel::Quotes, ["AAPL"]);
        bus.publish_quote(quote("AAPL", 3.0));
        assert!(p1.take().is_empty(), "unsubscribed");
        assert_eq!(bus.subscribers(), 2);
        drop((aapl, bars));
        assert_eq!(bus.subscribers(), 0);
        assert!(read(&bus.shared.registry).iter().all(|l| l.by_symbol.is_empty() && l.every_symbol.is_empty()));
    }

    #[test]
    fn every_symbol_and_single_symbols_never_double_deliver() {
        let bus = Bus::new(8);
        let pipe = Pipe::open();
        let mut s = attached(&bus, &pipe);
        s.subscribe(Channel::Quotes, ["AAPL", "MSFT"]);
        s.subscribe(Channel::Quotes, ["*"]);
        s.subscribe(Channel::Quotes, ["AAPL"]);
        assert_eq!(s.symbol_count(Channel::Quotes), 0, "`*` replaces single symbols");
        bus.publish_quote(quote("AAPL", 1.0));
        assert_eq!(pipe.take().len(), 1);
        s.unsubscribe(Channel::Quotes, ["*"]);
        assert!(!s.is_subscribed(Channel::Quotes));
        bus.publish_quote(quote("AAPL", 1.0));
        assert!(pipe.take().is_empty());
    }

    #[test]
    fn news_reaches_a_session_once_and_economy_news_reaches_every_symbol_subscribers() {
        let bus = Bus::new(8);
        let (p1, p2) = (Pipe::open(), Pipe::open());
        let mut both = attached(&bus, &p1);
        both.subscribe(Channel::News, ["AAPL", "MSFT"]);
        let mut all = attached(&bus, &p2);
        all.subscribe(Channel::News, ["*"]);
        bus.publish_news(news(1, &["AAPL", "MSFT"]));
        bus.publish_news(news(2, &[]));
        assert_eq!(p1.take(), vec![ServerMessage::News(news(1, &["AAPL", "MSFT"]))]);
        assert_eq!(p2.take().len(), 2);
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

    #[test]
    fn an_overflowing_session_learns_how_much_it_missed_and_others_are_untouched() {
        let bus = Bus::new(2);
        let (stuck, open) = (Pipe::with_room(0), Pipe::open());
        let mut slow = attached(&bus, &stuck);
        slow.subscribe(Channel::Quotes, ["AAPL"]);
        let mut fast = attached(&bus, &open);
        fast.subscribe(Channel::Quotes, ["AAPL"]);
        for i in 0..5 {
            bus.publish_quote(quote("AAPL", f64::from(i)));
        }
        assert_eq!(open.take().len(), 5, "the reader kept up");
        // The two queued events are dropped with the three that did not fit.
        assert_eq!(slow.due().now_or_never(), Some(Due::Overflowed { missed: 5 }));
        assert!(slow.outbox.queued().is_empty());
        // Back to normal once the socket drains.
        stuck.set_room(usize::MAX);
        bus.publish_quote(quote("AAPL", 9.0));
        assert_eq!(stuck.take(), vec![ServerMessage::Quote(quote("AAPL", 9.0))]);
    }

    #[test]
    fn a_frame_partly_written_is_finished_first_and_survives_an_overflow_with_the_replies() {
        let bus = Bus::new(1);
        let pipe = Pipe::with_room(10);
        let mut s = attached(&bus, &pipe);
        s.subscribe(Channel::Quotes, ["AAPL"]);
        bus.publish_quote(quote("AAPL", 1.0));
        s.send(&ServerMessage::Pong);
        // Over capacity: events go, the partial frame and the reply stay.
        bus.publish_quote(quote("AAPL", 2.0));
        assert_eq!(s.outbox.queued().len(), 2);
        assert_eq!(s.due().now_or_never(), Some(Due::Overflowed { missed: 1 }));
        assert!(!s.flush().unwrap(), "the socket is still full");
        pipe.set_room(usize::MAX);
        assert!(s.flush().unwrap());
        assert_eq!(pipe.take(), vec![ServerMessage::Quote(quote("AAPL", 1.0)), ServerMessage::Pong]);
    }

    #[test]
    fn replies_and_events_leave_in_the_order_they_were_handed_over() {
        let bus = Bus::new(8);
        let pipe = Pipe::with_room(0);
        let mut s = attached(&bus, &pipe);
        s.subscribe(Channel::Quotes, ["AAPL"]);
        bus.publish_quote(quote("AAPL", 1.0));
        s.send(&ServerMessage::Pong);
        bus.publish_quote(quote("AAPL", 2.0));
        assert_eq!(s.due().now_or_never(), Some(Due::Flush));
        pipe.set_room(usize::MAX);
        assert!(s.flush().unwrap());
        assert_eq!(
            pipe.take(),
            vec![
                ServerMessage::Quote(quote("AAPL", 1.0)),
                ServerMessage::Pong,
                ServerMessage::Quote(quote("AAPL", 2.0))
            ]
        );
    }

    #[tokio::test]
    async fn a_session_is_woken_when_its_socket_is_full() {
        let bus = Bus::new(8);
        let pipe = Pipe::with_room(0);
        let mut s = attached(&bus, &pipe);
        s.subscribe(Channel::Bars, ["AAPL"]);
        let publisher = bus.clone();
        let bar = Bar { ts: 5, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            publisher.publish_bar(BarUpdate { symbol: "AAPL".into(), timeframe: Timeframe::M1, bar });
        });
        assert_eq!(s.due().await, Due::Flush);
        assert_eq!(s.outbox.queued().len(), 1);
    }

    #[test]
    fn a_session_that_left_gets_nothing() {
        let bus = Bus::new(8);
        let pipe = Pipe::open();
        let mut s = attached(&bus, &pipe);
        s.subscribe(Channel::Quotes, ["*"]);
        s.leave();
        bus.publish_quote(quote("AAPL", 1.0));
        assert!(pipe.take().is_empty());
        assert!(!s.is_subscribed(Channel::Quotes));
    }

    #[test]
    fn the_tap_sees_every_event() {
        let bus = Bus::new(8);
        let mut tap = bus.subscribe();
        bus.publish_quote(quote("AAPL", 1.0));
        let event = tap.try_recv().unwrap();
        assert_eq!((event.channel, &*event.symbol), (Channel::Quotes, "AAPL"));
        let parsed: ServerMessage = serde_json::from_str(event.frame.as_str()).unwrap();
        assert_eq!(parsed, ServerMessage::Quote(quote("AAPL", 1.0)));
    }
}
