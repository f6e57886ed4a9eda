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
//! Each session ([`Subscriber`]) owns a bounded queue of frames. A session that
//! lets [`Bus::capacity`] frames pile up has its queue emptied and is told how
//! many frames it lost, once; it then resynchronises from the latest-state
//! cache kept here, which also answers the snapshot sent on every new
//! subscription. A slow reader therefore costs at most `capacity` frame handles
//! of memory, and never slows the publisher or the other sessions.
//!
//! The cache is updated before an event is fanned out, so a snapshot taken after
//! an overflow always covers the frames that were dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll, Waker};

use app::live::protocol::{ALL_SYMBOLS, BarUpdate, Channel, NewsItem, Quote, ServerMessage, SignalEvent};
use axum::extract::ws::Utf8Bytes;
use quant::Timeframe;
use tokio::sync::broadcast;

/// One serialized event with the keys it was published under, as seen by a
/// [`Bus::subscribe`] tap.
#[derive(Debug, Clone)]
pub struct Event {
    /// The channel it belongs to.
    pub channel: Channel,
    /// The symbol it is about (`"*"` for economy-wide news).
    pub symbol: Arc<str>,
    /// The JSON frame, serialized once.
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
        let frame = encode_with(|| ServerMessage::Quote(quote.clone()));
        self.tap(Channel::Quotes, &quote.symbol, &frame);
        let symbol = quote.symbol.clone();
        write(&self.shared.latest).quotes.insert(quote.symbol.clone(), quote);
        self.fan_out(Channel::Quotes, &symbol, &frame);
    }

    /// Publishes a written bar and remembers it for snapshots.
    pub fn publish_bar(&self, update: BarUpdate) {
        let frame = encode_with(|| ServerMessage::Bar(update.clone()));
        self.tap(Channel::Bars, &update.symbol, &frame);
        let symbol = update.symbol.clone();
        write(&self.shared.latest).bars.insert((update.symbol.clone(), update.timeframe), update);
        self.fan_out(Channel::Bars, &symbol, &frame);
    }

    /// Publishes a stored signal and remembers it for snapshots.
    pub fn publish_signal(&self, signal: SignalEvent) {
        let frame = encode_with(|| ServerMessage::Signal(signal.clone()));
        self.tap(Channel::Signals, &signal.symbol, &frame);
        let symbol = signal.symbol.clone();
        remember(&mut write(&self.shared.latest).signals, signal);
        self.fan_out(Channel::Signals, &symbol, &frame);
    }

    /// Publishes a stored headline and remembers it for snapshots. A session
    /// gets it once, however many of the item's symbols it watches; economy-wide
    /// items (no symbols) go to subscribers of `"*"`.
    pub fn publish_news(&self, item: NewsItem) {
        let frame = encode_with(|| ServerMessage::News(item.clone()));
        if item.symbols.is_empty() {
            self.tap(Channel::News, ALL_SYMBOLS, &frame);
        }
        for symbol in &item.symbols {
            self.tap(Channel::News, symbol, &frame);
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
            outbox.push(&frame, self.shared.capacity);
        }
    }

    /// Hands `frame` to the sessions watching `symbol` or every symbol of `channel`.
    fn fan_out(&self, channel: Channel, symbol: &str, frame: &Utf8Bytes) {
        let registry = read(&self.shared.registry);
        let listeners = &registry[slot(channel)];
        let watching = listeners.by_symbol.get(symbol).into_iter().flatten();
        for outbox in listeners.every_symbol.iter().chain(watching) {
            outbox.push(frame, self.shared.capacity);
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

/// A session's bounded queue of frames, filled by publishers and drained by
/// the session's task.
#[derive(Debug, Default)]
struct Outbox {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    /// Frames dropped since the session last looked; while non-zero, nothing
    /// is queued (the snapshot that follows covers it).
    missed: u64,
    /// The session's task, when it waits for frames.
    waker: Option<Waker>,
}

impl Outbox {
    fn push(&self, frame: &Utf8Bytes, capacity: usize) {
        let waker = {
            let mut queue = lock(&self.queue);
            if queue.missed > 0 {
                queue.missed += 1;
            } else if queue.frames.len() >= capacity {
                // Overflow: drop what is queued (and free its memory); the
                // session resyncs from the cache, which already holds this event.
                queue.missed = queue.frames.len() as u64 + 1;
                queue.frames = VecDeque::new();
            } else {
                queue.frames.push_back(frame.clone());
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Moves the queued frames into `batch`, or reports an overflow, or waits.
    fn poll_take(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Utf8Bytes>) -> Poll<Delivery> {
        let mut queue = lock(&self.queue);
        if queue.missed > 0 {
            return Poll::Ready(Delivery::Overflowed { missed: std::mem::take(&mut queue.missed) });
        }
        if queue.frames.is_empty() {
            match &mut queue.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        if batch.is_empty() {
            // Swapping keeps both buffers' capacity: no allocation per delivery.
            std::mem::swap(&mut queue.frames, batch);
        } else {
            batch.extend(queue.frames.drain(..));
        }
        Poll::Ready(Delivery::Frames)
    }
}

/// What [`Subscriber::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Frames were moved into the batch, oldest first.
    Frames,
    /// The queue overflowed: `missed` frames were dropped (the batch is
    /// untouched). The session should send `resync` and fresh snapshots.
    Overflowed {
        /// How many frames were dropped.
        missed: u64,
    },
}

/// What one session receives on one channel.
#[derive(Debug, Default)]
struct Interest {
    /// Subscribed to `"*"`; `symbols` is then empty.
    every_symbol: bool,
    /// Sorted; each name shares the registry's allocation.
    symbols: Vec<Arc<str>>,
}

/// One session on the bus: its subscriptions and its bounded queue of frames.
/// Dropping it unsubscribes everything.
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

    /// Waits for queued frames and moves them into `batch` (whose buffer is
    /// reused: keep passing the same one), or reports an overflow.
    pub fn next<'a>(&'a self, batch: &'a mut VecDeque<Utf8Bytes>) -> impl Future<Output = Delivery> + 'a {
        std::future::poll_fn(move |cx| self.outbox.poll_take(cx, batch))
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
        if self.interests.iter().any(|i| i.every_symbol || !i.symbols.is_empty()) {
            let mut registry = write(&self.bus.shared.registry);
            for (listeners, interest) in registry.iter_mut().zip(&mut self.interests) {
                if interest.every_symbol {
                    forget(&mut listeners.every_symbol, &self.outbox);
                }
                for symbol in interest.symbols.drain(..) {
                    unlist(listeners, &symbol, &self.outbox);
                }
            }
        }
        self.bus.shared.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serializes a message into a text frame. Our messages contain only strings and
/// finite numbers, so this cannot fail; should a non-finite number slip in,
/// serde_json writes `null`, which clients tolerate.
#[must_use]
pub fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message).unwrap_or_else(|e| format!(r#"{{"type":"error","message":"{e}"}}"#)).into()
}

fn encode_with(message: impl FnOnce() -> ServerMessage) -> Utf8Bytes {
    encode(&message())
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

fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]

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

    /// The frames queued for `subscriber` right now, parsed.
    fn drain(subscriber: &Subscriber) -> Vec<ServerMessage> {
        let mut batch = VecDeque::new();
        match subscriber.next(&mut batch).now_or_never() {
            None => Vec::new(),
            Some(Delivery::Frames) => batch.iter().map(|f| serde_json::from_str(f.as_str()).unwrap()).collect(),
            Some(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn events_are_serialized_once_and_shared() {
        let bus = Bus::new(8);
        let (mut a, mut b) = (bus.subscriber(), bus.subscriber());
        a.subscribe(Channel::Quotes, ["AAPL"]);
        b.subscribe(Channel::Quotes, ["*"]);
        bus.publish_quote(quote("AAPL", 2.0));
        let (mut fa, mut fb) = (VecDeque::new(), VecDeque::new());
        assert_eq!(a.next(&mut fa).now_or_never(), Some(Delivery::Frames));
        assert_eq!(b.next(&mut fb).now_or_never(), Some(Delivery::Frames));
        assert_eq!(fa[0].as_str().as_ptr(), fb[0].as_str().as_ptr(), "one buffer for both");
        let parsed: ServerMessage = serde_json::from_str(fa[0].as_str()).unwrap();
        assert_eq!(parsed, ServerMessage::Quote(quote("AAPL", 2.0)));
    }

    #[test]
    fn events_reach_only_their_subscribers() {
        let bus = Bus::new(8);
        let mut aapl = bus.subscriber();
        aapl.subscribe(Channel::Quotes, ["AAPL"]);
        let mut bars = bus.subscriber();
        bars.subscribe(Channel::Bars, ["AAPL"]);
        bus.publish_quote(quote("MSFT", 1.0));
        bus.publish_quote(quote("AAPL", 2.0));
        assert_eq!(drain(&aapl), vec![ServerMessage::Quote(quote("AAPL", 2.0))]);
        assert!(drain(&bars).is_empty(), "another channel");
        aapl.unsubscribe(Channel::Quotes, ["AAPL"]);
        bus.publish_quote(quote("AAPL", 3.0));
        assert!(drain(&aapl).is_empty(), "unsubscribed");
        assert_eq!(bus.subscribers(), 2);
        drop((aapl, bars));
        assert_eq!(bus.subscribers(), 0);
        assert!(read(&bus.shared.registry).iter().all(|l| l.by_symbol.is_empty() && l.every_symbol.is_empty()));
    }

    #[test]
    fn every_symbol_and_single_symbols_never_double_deliver() {
        let bus = Bus::new(8);
        let mut s = bus.subscriber();
        s.subscribe(Channel::Quotes, ["AAPL", "MSFT"]);
        s.subscribe(Channel::Quotes, ["*"]);
        s.subscribe(Channel::Quotes, ["AAPL"]);
        assert_eq!(s.symbol_count(Channel::Quotes), 0, "`*` replaces single symbols");
        bus.publish_quote(quote("AAPL", 1.0));
        assert_eq!(drain(&s).len(), 1);
        s.unsubscribe(Channel::Quotes, ["*"]);
        assert!(!s.is_subscribed(Channel::Quotes));
        bus.publish_quote(quote("AAPL", 1.0));
        assert!(drain(&s).is_empty());
    }

    #[test]
    fn news_reaches_a_session_once_and_economy_news_reaches_every_symbol_subscribers() {
        let bus = Bus::new(8);
        let mut both = bus.subscriber();
        both.subscribe(Channel::News, ["AAPL", "MSFT"]);
        let mut all = bus.subscriber();
        all.subscribe(Channel::News, ["*"]);
        bus.publish_news(news(1, &["AAPL", "MSFT"]));
        bus.publish_news(news(2, &[]));
        assert_eq!(drain(&both), vec![ServerMessage::News(news(1, &["AAPL", "MSFT"]))]);
        assert_eq!(drain(&all).len(), 2);
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
        let mut slow = bus.subscriber();
        slow.subscribe(Channel::Quotes, ["AAPL"]);
        let mut fast = bus.subscriber();
        fast.subscribe(Channel::Quotes, ["AAPL"]);
        let mut batch = VecDeque::new();
        for i in 0..5 {
            bus.publish_quote(quote("AAPL", f64::from(i)));
            assert_eq!(fast.next(&mut batch).now_or_never(), Some(Delivery::Frames));
        }
        assert_eq!(batch.len(), 5, "the reader kept up");
        let mut slow_batch = VecDeque::new();
        // The two queued frames are dropped with the three that did not fit.
        assert_eq!(slow.next(&mut slow_batch).now_or_never(), Some(Delivery::Overflowed { missed: 5 }));
        assert!(slow_batch.is_empty());
        // Back to normal afterwards.
        bus.publish_quote(quote("AAPL", 9.0));
        assert_eq!(drain(&slow), vec![ServerMessage::Quote(quote("AAPL", 9.0))]);
    }

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_a_publish() {
        let bus = Bus::new(8);
        let mut s = bus.subscriber();
        s.subscribe(Channel::Bars, ["AAPL"]);
        let publisher = bus.clone();
        let bar = Bar { ts: 5, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            publisher.publish_bar(BarUpdate { symbol: "AAPL".into(), timeframe: Timeframe::M1, bar });
        });
        let mut batch = VecDeque::new();
        assert_eq!(s.next(&mut batch).await, Delivery::Frames);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn the_tap_sees_every_event() {
        let bus = Bus::new(8);
        let mut tap = bus.subscribe();
        bus.publish_quote(quote("AAPL", 1.0));
        let event = tap.try_recv().unwrap();
        assert_eq!((event.channel, &*event.symbol), (Channel::Quotes, "AAPL"));
    }
}
