//! The `/ws` live feed: one task per connection, speaking the protocol in
//! [`app::live::protocol`].
//!
//! Each connection is one [`Subscriber`] on the bus: its subscriptions are
//! registered per channel and symbol, so only the events it asked for reach its
//! bounded queue, pre-serialized, and are written as-is. One task per
//! connection serves both directions with `select!` (requests, queued frames,
//! heartbeat, shutdown); splitting reader and writer into two tasks would add a
//! task, a shared lock around the socket and a wake-up per frame for nothing.
//!
//! Slow clients: a session whose queue reaches [`Bus::capacity`] frames loses
//! them and gets `resync` with the count, then fresh snapshots; the connection
//! stays open. A client that overflows more than [`MAX_RESYNCS`] times within
//! [`RESYNC_WINDOW`] is closed with 1008 (policy) and a reason, and one that
//! accepts no bytes for [`WRITE_STALL`] is dropped. Neither ever blocks the
//! publisher or other sessions.
//!
//! Bad requests get an `error` frame and change nothing: malformed JSON, an
//! unknown channel or type, invalid symbols, binary frames, and requests over
//! [`MAX_REQUEST_BYTES`]. A frame over [`MAX_FRAME_BYTES`] is refused by the
//! transport before it is buffered; the stream cannot be resynchronised after
//! that, so the server sends an `error` frame and closes with 1009 (message too
//! big) and a reason. On server shutdown every session sends a close frame
//! (1001, going away) and ends.
//!
//! The session is generic over `Sink + Stream` of messages so tests can drive it
//! without a network.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use app::live::protocol::{ALL_SYMBOLS, Channel, ClientMessage, PROTOCOL_VERSION, ServerMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Delivery, Subscriber, encode};
use crate::state::AppState;
use crate::symbol::Symbol;

/// Largest request the server answers; subscriptions are small. Larger text
/// frames (up to [`MAX_FRAME_BYTES`]) get an `error` frame.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest frame (and message) the transport reads at all. A larger one closes
/// the connection with 1009 after an `error` frame.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Most symbols one connection may subscribe to per channel.
pub const MAX_SYMBOLS_PER_CHANNEL: usize = 1_000;
/// Silence after which the server sends a heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// Overflows tolerated within [`RESYNC_WINDOW`]; one more closes the connection.
pub const MAX_RESYNCS: u32 = 3;
/// See [`MAX_RESYNCS`].
pub const RESYNC_WINDOW: Duration = Duration::from_secs(60);
/// How long a write may wait for the client to accept bytes before the
/// connection is dropped.
pub const WRITE_STALL: Duration = Duration::from_secs(30);

/// Bytes the transport reads per call. Requests are tiny (a larger one reserves
/// what it needs), and tungstenite zero-fills the free part of this buffer on
/// every read attempt, so small is cheaper in memory and in time.
const READ_BUFFER_BYTES: usize = 512;
/// Frames are gathered up to this many bytes before a write, so a batch of
/// queued frames costs one system call.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Ceiling of the transport's write buffer; must exceed the largest snapshot.
const MAX_WRITE_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Upgrades `GET /ws` to a live-feed session.
///
/// Buffers are sized for many mostly-idle connections: tungstenite's defaults
/// reserve a 128 KiB read buffer per connection, while our requests are tiny.
/// The write buffer starts empty and grows to the largest batch written.
pub async fn handler(upgrade: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session(socket, state.bus.clone(), state.is_simulated(), state.shutdown.clone()))
}

/// Why a session ends.
enum End {
    /// Send this close frame, then stop.
    Close(u16, &'static str),
    /// Send this close frame, then wait [`LINGER`] before dropping the socket:
    /// the client's unread bytes would otherwise make the kernel reset the
    /// connection, and the client could lose our error and close frames.
    Refuse(u16, &'static str),
    /// Stop without another word: the client left or the transport failed.
    Quietly,
}

/// How long a refused connection stays open after its close frame.
const LINGER: Duration = Duration::from_secs(1);

/// A wake-up source polled only after it fired.
///
/// `select!` polls every branch whenever the task wakes. With ten thousand
/// sessions woken for each delivery, re-polling an idle socket reader (its
/// readiness, its wakers, a zero-fill of tungstenite's read buffer) and the
/// shared shutdown token (a mutex common to all sessions) on every frame costs
/// more than the frame. A gate gives the inner future its own waker, which
/// records that it fired before waking the task.
///
/// A closed gate costs one load: the task's waker is handed to the gate's
/// state only when it changed (a session is polled by one task, so once), not
/// on every poll; that registration, on a line of memory the delivery
/// otherwise never touches, used to be the largest user-space cost per
/// delivery.
struct Gate {
    state: Arc<GateState>,
    waker: Waker,
    /// The task's waker as last registered in `state`.
    registered: Option<Waker>,
}

struct GateState {
    fired: AtomicBool,
    /// The task to wake; kept (not taken) when woken, unlike an `AtomicWaker`,
    /// so that it is replaced only when the task's waker changes.
    task: Mutex<Option<Waker>>,
}

impl Wake for GateState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        if let Some(task) = &*self.task.lock().unwrap_or_else(PoisonError::into_inner) {
            task.wake_by_ref();
        }
    }
}

impl Gate {
    fn new() -> Self {
        let state = Arc::new(GateState { fired: AtomicBool::new(true), task: Mutex::new(None) });
        Self { waker: Waker::from(state.clone()), state, registered: None }
    }

    /// Marks the gate fired: the inner future was polled with another waker.
    fn open(&self) {
        self.state.fired.store(true, Ordering::Release);
    }

    /// Runs `inner` with the gate's waker if it fired since `inner` last
    /// returned `Pending`.
    fn poll<T>(&mut self, cx: &mut Context<'_>, inner: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        if !self.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *self.state.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        if !self.state.fired.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        // Cleared before `inner` runs, so a wake-up during the poll is kept.
        self.state.fired.store(false, Ordering::Release);
        let result = inner(&mut Context::from_waker(&self.waker));
        if result.is_ready() {
            // More may be ready without another wake-up: look again next time.
            self.open();
        }
        result
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // The inner future may outlive the session holding the gate's waker:
        // it must not keep the task alive.
        *self.state.task.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Runs one connection until the client leaves, the transport fails, the
/// client is too slow, or the server shuts down.
pub async fn session<S, E>(mut socket: S, bus: Bus, simulated: bool, shutdown: CancellationToken)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
    E: Display,
{
    let mut subscriber = bus.subscriber();
    let mut batch: VecDeque<Utf8Bytes> = VecDeque::new();
    let mut cancelled = pin!(shutdown.cancelled());
    let (mut reading, mut stopping) = (Gate::new(), Gate::new());
    let mut last_sent = Instant::now();
    let mut heartbeat = pin!(tokio::time::sleep_until(last_sent + HEARTBEAT_EVERY));
    let mut overflows = Overflows::default();

    let hello = ServerMessage::Hello { protocol: PROTOCOL_VERSION, simulated };
    if write(&mut socket, [Message::Text(encode(&hello))], cancelled.as_mut(), &stopping).await.is_err() {
        return;
    }
    let end = loop {
        // In this order: a closed gate costs a load, the queue a lock, the
        // timer a little more; and a busy queue cannot starve requests.
        let outgoing: Vec<Message> = tokio::select! {
            biased;
            () = poll_fn(|cx| stopping.poll(cx, |cx| cancelled.as_mut().poll(cx))) => {
                break End::Close(close_code::AWAY, "server shutting down");
            }
            incoming = poll_fn(|cx| reading.poll(cx, |cx| socket.poll_next_unpin(cx))) => match incoming {
                Some(Ok(Message::Text(text))) => handle_text(&mut subscriber, text.as_str()),
                Some(Ok(Message::Binary(_))) => vec![error_frame("binary frames are not supported; send JSON text")],
                // Pings are answered by the transport itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Vec::new(),
                Some(Ok(Message::Close(_))) | None => break End::Quietly,
                Some(Err(e)) => {
                    // The transport cannot read past a bad frame: say why, then close.
                    let (code, reason) = unreadable(&e.to_string());
                    let _ = write(&mut socket, [error_frame(reason)], cancelled.as_mut(), &stopping).await;
                    break End::Refuse(code, reason);
                }
            },
            delivery = subscriber.next(&mut batch) => match delivery {
                Delivery::Frames => {
                    let frames = batch.drain(..).map(Message::Text);
                    if write(&mut socket, frames, cancelled.as_mut(), &stopping).await.is_err() {
                        break End::Quietly;
                    }
                    if batch.capacity() > 64 {
                        batch.shrink_to(8);
                    }
                    last_sent = Instant::now();
                    continue;
                }
                Delivery::Overflowed { missed } => {
                    if !overflows.tolerate(Instant::now()) {
                        break End::Close(close_code::POLICY, "too slow: fell behind too often; reconnect");
                    }
                    let mut frames = vec![Message::Text(encode(&ServerMessage::Resync { missed }))];
                    frames.extend(subscriber.snapshots().iter().map(|m| Message::Text(encode(m))));
                    frames
                }
            },
            () = heartbeat.as_mut() => {
                let due = last_sent + HEARTBEAT_EVERY;
                if Instant::now() < due {
                    heartbeat.as_mut().reset(due);
                    continue;
                }
                vec![Message::Text(encode(&ServerMessage::Heartbeat { ts: unix_now() }))]
            }
        };
        if outgoing.is_empty() {
            continue;
        }
        if write(&mut socket, outgoing, cancelled.as_mut(), &stopping).await.is_err() {
            break End::Quietly;
        }
        last_sent = Instant::now();
        heartbeat.as_mut().reset(last_sent + HEARTBEAT_EVERY);
    };
    let (code, reason, linger) = match end {
        End::Close(code, reason) => (code, reason, false),
        End::Refuse(code, reason) => (code, reason, true),
        End::Quietly => return,
    };
    let frame = CloseFrame { code, reason: reason.into() };
    // Bounded: a client that reads nothing does not hold the task.
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(frame)))).await;
    if linger {
        tokio::select! {
            () = tokio::time::sleep(LINGER) => {}
            () = cancelled => {}
        }
    }
}

/// Counts overflows in a fixed window.
#[derive(Debug, Default)]
struct Overflows {
    since: Option<Instant>,
    count: u32,
}

impl Overflows {
    /// Records one overflow; `false` once there were too many in the window.
    fn tolerate(&mut self, now: Instant) -> bool {
        match self.since {
            Some(since) if now.duration_since(since) < RESYNC_WINDOW => self.count += 1,
            _ => (self.since, self.count) = (Some(now), 1),
        }
        self.count <= MAX_RESYNCS
    }
}

/// Close code and reason for a frame the transport refused.
fn unreadable(error: &str) -> (u16, &'static str) {
    // tungstenite reports size limits as "Space limit exceeded: Message too long: N > M".
    if error.contains("Space limit") || error.contains("too long") {
        (close_code::SIZE, "frame too large: at most 65536 bytes")
    } else {
        (close_code::PROTOCOL, "unreadable WebSocket frame")
    }
}

/// Writes `frames` and flushes them. The usual case (the socket takes the bytes
/// at once) costs no timer; a backed-up socket is given [`WRITE_STALL`], and
/// shutdown interrupts the wait. `Err` means the connection is unusable.
async fn write<S, F>(
    socket: &mut S,
    frames: impl IntoIterator<Item = Message>,
    cancelled: Pin<&mut F>,
    stopping: &Gate,
) -> Result<(), ()>
where
    S: Sink<Message> + Unpin,
    F: Future<Output = ()>,
{
    let mut work = pin!(async {
        for frame in frames {
            socket.feed(frame).await.map_err(drop)?;
        }
        socket.flush().await.map_err(drop)
    });
    if let Poll::Ready(result) = futures::poll!(work.as_mut()) {
        return result;
    }
    // `cancelled` now learns this task's own waker: have the session's loop
    // poll it again to hand it the gate's.
    stopping.open();
    tokio::select! {
        result = tokio::time::timeout(WRITE_STALL, work) => result.map_err(drop)?,
        () = cancelled => Err(()),
    }
}

fn error_frame(message: &str) -> Message {
    Message::Text(encode(&ServerMessage::Error { message: message.to_owned() }))
}

/// Answers one text frame.
fn handle_text(subscriber: &mut Subscriber, text: &str) -> Vec<Message> {
    if text.len() > MAX_REQUEST_BYTES {
        let message = format!("request of {} bytes refused: at most {MAX_REQUEST_BYTES} bytes", text.len());
        return vec![error_frame(&message)];
    }
    handle_request(subscriber, text).iter().map(|m| Message::Text(encode(m))).collect()
}

/// Applies one client request and returns the replies.
fn handle_request(subscriber: &mut Subscriber, text: &str) -> Vec<ServerMessage> {
    let request: ClientMessage = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => return vec![ServerMessage::Error { message: format!("malformed request: {e}") }],
    };
    match request {
        ClientMessage::Ping => vec![ServerMessage::Pong],
        ClientMessage::Subscribe { channel, symbols } => match subscribe(subscriber, channel, &symbols) {
            Ok(symbols) => vec![ServerMessage::Subscribed { channel, symbols }, subscriber.snapshot(channel)],
            Err(message) => vec![ServerMessage::Error { message }],
        },
        ClientMessage::Unsubscribe { channel, symbols } => match parse_symbols(&symbols) {
            Ok(parsed) => {
                subscriber.unsubscribe(channel, parsed.iter().map(String::as_str));
                vec![ServerMessage::Unsubscribed { channel, symbols: parsed.into_iter().collect() }]
            }
            Err(message) => vec![ServerMessage::Error { message }],
        },
    }
}

/// Adds `symbols` to `channel`; refuses the whole request when any symbol is
/// invalid or the limit would be exceeded.
fn subscribe(subscriber: &mut Subscriber, channel: Channel, symbols: &[String]) -> Result<Vec<String>, String> {
    let parsed = parse_symbols(symbols)?;
    if !parsed.contains(ALL_SYMBOLS) && !subscriber.wants_exactly(channel, ALL_SYMBOLS) {
        let added = parsed.iter().filter(|s| !subscriber.wants_exactly(channel, s)).count();
        if subscriber.symbol_count(channel) + added > MAX_SYMBOLS_PER_CHANNEL {
            return Err(format!("at most {MAX_SYMBOLS_PER_CHANNEL} symbols per channel; use \"*\" for all"));
        }
    }
    subscriber.subscribe(channel, parsed.iter().map(String::as_str));
    Ok(parsed.into_iter().collect())
}

/// Validates requested symbols; `"*"` passes through.
fn parse_symbols(symbols: &[String]) -> Result<BTreeSet<String>, String> {
    if symbols.is_empty() {
        return Err("`symbols` must name at least one symbol, or \"*\" for all".into());
    }
    symbols
        .iter()
        .map(|s| {
            if s == ALL_SYMBOLS {
                Ok(ALL_SYMBOLS.to_owned())
            } else {
                Symbol::parse(s).map(String::from).map_err(|e| e.to_string())
            }
        })
        .collect()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]

    use std::pin::Pin;
    use std::task::Context;

    use app::live::protocol::{NewsItem, Quote};
    use futures::channel::mpsc;

    use super::*;

    /// An in-memory socket: what the session sends arrives on `outbox`, what the
    /// test pushes into `inbox` the session receives.
    struct Duplex {
        inbox: mpsc::Receiver<Result<Message, String>>,
        outbox: mpsc::Sender<Message>,
    }

    impl Stream for Duplex {
        type Item = Result<Message, String>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.inbox.poll_next_unpin(cx)
        }
    }

    impl Sink<Message> for Duplex {
        type Error = mpsc::SendError;
        fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.outbox.poll_ready_unpin(cx)
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.outbox.start_send_unpin(item)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.outbox.poll_flush_unpin(cx)
        }
        fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.outbox.poll_close_unpin(cx)
        }
    }

    struct Client {
        to_server: mpsc::Sender<Result<Message, String>>,
        from_server: mpsc::Receiver<Message>,
    }

    impl Client {
        async fn say(&mut self, text: &str) {
            self.to_server.send(Ok(Message::Text(text.into()))).await.unwrap();
        }
        async fn hear(&mut self) -> ServerMessage {
            match self.from_server.next().await {
                Some(Message::Text(t)) => serde_json::from_str(t.as_str()).unwrap(),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
        async fn expect_error(&mut self, containing: &str) {
            match self.hear().await {
                ServerMessage::Error { message } => assert!(message.contains(containing), "{message}"),
                other => panic!("expected an error about {containing:?}, got {other:?}"),
            }
        }
        async fn expect_close(&mut self, code: u16) -> String {
            match self.from_server.next().await {
                Some(Message::Close(Some(frame))) => {
                    assert_eq!(frame.code, code, "{}", frame.reason);
                    frame.reason.to_string()
                }
                other => panic!("expected close {code}, got {other:?}"),
            }
        }
    }

    fn start(bus: &Bus, shutdown: &CancellationToken) -> (Client, tokio::task::JoinHandle<()>) {
        let (to_server, inbox) = mpsc::channel(16);
        let (outbox, from_server) = mpsc::channel(64);
        let task = tokio::spawn(session(Duplex { inbox, outbox }, bus.clone(), true, shutdown.clone()));
        (Client { to_server, from_server }, task)
    }

    fn quote(symbol: &str, price: f64) -> Quote {
        Quote { symbol: symbol.into(), price, prev_close: None, ts: 1 }
    }

    #[tokio::test]
    async fn subscribe_gets_a_snapshot_then_only_subscribed_events() {
        let bus = Bus::new(16);
        bus.publish_quote(quote("AAPL", 1.0));
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        assert_eq!(client.hear().await, ServerMessage::Hello { protocol: 1, simulated: true });
        client.say(r#"{"type":"subscribe","channel":"quotes","symbols":["aapl"]}"#).await;
        assert_eq!(
            client.hear().await,
            ServerMessage::Subscribed { channel: Channel::Quotes, symbols: vec!["AAPL".into()] }
        );
        match client.hear().await {
            ServerMessage::Snapshot { quotes, .. } => assert_eq!(quotes, vec![quote("AAPL", 1.0)]),
            other => panic!("expected snapshot, got {other:?}"),
        }
        bus.publish_quote(quote("MSFT", 2.0));
        bus.publish_quote(quote("AAPL", 3.0));
        assert_eq!(client.hear().await, ServerMessage::Quote(quote("AAPL", 3.0)));
        client.say(r#"{"type":"unsubscribe","channel":"quotes","symbols":["AAPL"]}"#).await;
        assert_eq!(
            client.hear().await,
            ServerMessage::Unsubscribed { channel: Channel::Quotes, symbols: vec!["AAPL".into()] }
        );
        bus.publish_quote(quote("AAPL", 4.0));
        client.say(r#"{"type":"ping"}"#).await;
        assert_eq!(client.hear().await, ServerMessage::Pong, "nothing after unsubscribing");
    }

    #[tokio::test]
    async fn bad_requests_get_error_frames_and_the_session_survives() {
        let bus = Bus::new(16);
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        let oversized = format!(r#"{{"type":"ping","pad":"{}"}}"#, " ".repeat(MAX_REQUEST_BYTES));
        for (request, expected) in [
            ("not json", "malformed request"),
            (r#"{"type":"subscribe","channel":"weather","symbols":["AAPL"]}"#, "unknown variant `weather`"),
            (r#"{"type":"subscribe","channel":"quotes","symbols":[]}"#, "at least one symbol"),
            (r#"{"type":"subscribe","channel":"quotes","symbols":["AAPL","no good"]}"#, "may only contain"),
            (oversized.as_str(), "at most 16384 bytes"),
        ] {
            client.say(request).await;
            client.expect_error(expected).await;
        }
        client.to_server.send(Ok(Message::Binary(vec![1, 2].into()))).await.unwrap();
        client.expect_error("binary frames").await;
        // The refused subscription changed nothing: AAPL is not subscribed.
        bus.publish_quote(quote("AAPL", 1.0));
        client.say(r#"{"type":"ping"}"#).await;
        assert_eq!(client.hear().await, ServerMessage::Pong);
    }

    #[tokio::test]
    async fn a_frame_the_transport_refuses_gets_an_error_frame_and_a_close_with_a_reason() {
        let bus = Bus::new(16);
        let shutdown = CancellationToken::new();
        let (mut client, task) = start(&bus, &shutdown);
        client.hear().await;
        let refusal = "Space limit exceeded: Message too long: 70000 > 65536".to_owned();
        client.to_server.send(Err(refusal)).await.unwrap();
        client.expect_error("frame too large").await;
        let reason = client.expect_close(close_code::SIZE).await;
        assert!(reason.contains(&MAX_FRAME_BYTES.to_string()), "{reason}");
        task.await.unwrap();
        assert_eq!(bus.subscribers(), 0, "the session left the bus");
    }

    #[tokio::test]
    async fn every_channel_can_be_subscribed_per_symbol_or_for_all() {
        let bus = Bus::new(16);
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        for request in [
            r#"{"type":"subscribe","channel":"signals","symbols":["AAPL"]}"#,
            r#"{"type":"subscribe","channel":"news","symbols":["*"]}"#,
        ] {
            client.say(request).await;
            assert!(matches!(client.hear().await, ServerMessage::Subscribed { .. }));
            assert!(matches!(client.hear().await, ServerMessage::Snapshot { .. }));
        }
        let item = |id: i64, symbols: Vec<String>| NewsItem {
            id,
            source: "wire".into(),
            url: String::new(),
            title: "t".into(),
            summary: String::new(),
            published_at: 1,
            symbols,
        };
        bus.publish_news(item(1, vec![]));
        bus.publish_news(item(2, vec!["TSLA".into()]));
        assert!(matches!(client.hear().await, ServerMessage::News(n) if n.id == 1));
        assert!(matches!(client.hear().await, ServerMessage::News(n) if n.id == 2));
        client.say(r#"{"type":"unsubscribe","channel":"news","symbols":["*"]}"#).await;
        assert!(matches!(client.hear().await, ServerMessage::Unsubscribed { channel: Channel::News, .. }));
        bus.publish_news(item(3, vec!["AAPL".into()]));
        client.say(r#"{"type":"ping"}"#).await;
        assert_eq!(client.hear().await, ServerMessage::Pong);
    }

    #[tokio::test]
    async fn a_lagging_client_is_resynced_not_dropped() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        // No reader on the outbox while events pile up: the session blocks on its
        // first send, so its queue overflows.
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        client.say(r#"{"type":"subscribe","channel":"quotes","symbols":["*"]}"#).await;
        client.hear().await;
        client.hear().await;
        for i in 0..200 {
            bus.publish_quote(quote("AAPL", f64::from(i)));
        }
        let mut saw_resync = false;
        let mut last_price = None;
        while last_price != Some(199.0) {
            match client.hear().await {
                ServerMessage::Resync { missed } => {
                    assert!(missed > 0);
                    saw_resync = true;
                }
                ServerMessage::Quote(q) => last_price = Some(q.price),
                ServerMessage::Snapshot { quotes, .. } => last_price = quotes.last().map(|q| q.price),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(saw_resync, "200 events into a 4-slot queue must overflow");
        client.say(r#"{"type":"ping"}"#).await;
        assert_eq!(client.hear().await, ServerMessage::Pong, "still connected");
    }

    #[tokio::test]
    async fn a_client_that_keeps_falling_behind_is_closed_with_a_reason() {
        let bus = Bus::new(2);
        let shutdown = CancellationToken::new();
        let (mut client, task) = start(&bus, &shutdown);
        client.hear().await;
        client.say(r#"{"type":"subscribe","channel":"quotes","symbols":["AAPL"]}"#).await;
        client.hear().await;
        client.hear().await;
        for round in 1..=MAX_RESYNCS + 1 {
            // The session cannot run while this task publishes: its queue overflows.
            for i in 0..10 {
                bus.publish_quote(quote("AAPL", f64::from(i)));
            }
            loop {
                match client.from_server.next().await {
                    Some(Message::Text(t)) if t.as_str().contains(r#""type":"resync""#) => break,
                    Some(Message::Text(_)) => {}
                    Some(Message::Close(Some(frame))) => {
                        assert_eq!(round, MAX_RESYNCS + 1, "closed too early");
                        assert_eq!(frame.code, close_code::POLICY);
                        assert!(frame.reason.contains("too slow"), "{}", frame.reason);
                        task.await.unwrap();
                        return;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        panic!("still open after {} overflows", MAX_RESYNCS + 1);
    }

    #[tokio::test]
    async fn shutdown_sends_a_close_frame() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        let (mut client, task) = start(&bus, &shutdown);
        client.hear().await;
        shutdown.cancel();
        client.expect_close(close_code::AWAY).await;
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_connections_get_heartbeats() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        let before = Instant::now();
        assert!(matches!(client.hear().await, ServerMessage::Heartbeat { .. }));
        assert!(before.elapsed() >= HEARTBEAT_EVERY - Duration::from_millis(1));
        assert!(matches!(client.hear().await, ServerMessage::Heartbeat { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_postpones_the_heartbeat() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        client.say(r#"{"type":"subscribe","channel":"quotes","symbols":["AAPL"]}"#).await;
        client.hear().await;
        client.hear().await;
        tokio::time::sleep(HEARTBEAT_EVERY - Duration::from_secs(1)).await;
        bus.publish_quote(quote("AAPL", 1.0));
        let sent = Instant::now();
        assert!(matches!(client.hear().await, ServerMessage::Quote(_)));
        assert!(matches!(client.hear().await, ServerMessage::Heartbeat { .. }));
        assert!(sent.elapsed() >= HEARTBEAT_EVERY - Duration::from_millis(1), "{:?}", sent.elapsed());
    }

    #[test]
    fn overflows_are_tolerated_a_few_times_per_window() {
        let mut overflows = Overflows::default();
        let t = Instant::now();
        assert!((0..MAX_RESYNCS).all(|_| overflows.tolerate(t)));
        assert!(!overflows.tolerate(t + Duration::from_secs(1)));
        assert!(overflows.tolerate(t + RESYNC_WINDOW + Duration::from_secs(1)), "a new window");
    }
}
