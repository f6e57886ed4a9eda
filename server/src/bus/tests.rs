//! The bus and its outboxes, with a socket double standing in for TCP.
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
    assert_eq!(pipe.take(), vec![ServerMessage::Quote(quote("AAPL", 1.0)), ServerMessage::Quote(quote("AAPL", 2.0))]);
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
        vec![ServerMessage::Quote(quote("AAPL", 1.0)), ServerMessage::Pong, ServerMessage::Quote(quote("AAPL", 2.0))]
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
