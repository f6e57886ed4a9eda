//! The `/ws` live feed: one task per connection, speaking the protocol in
//! [`app::live::protocol`].
//!
//! Each connection holds a bus receiver (bounded by [`Bus::capacity`]) and its
//! own subscription table. Events arrive pre-serialized and are forwarded as-is
//! when subscribed. A client that falls behind gets `resync` with the number of
//! missed events and fresh snapshots, and stays connected. Bad requests get an
//! `error` frame; nothing about them changes the subscription table. On server
//! shutdown every session sends a close frame (1001, going away) and ends.
//!
//! The session is generic over `Sink + Stream` of messages so tests can drive it
//! without a network.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use app::live::protocol::{ALL_SYMBOLS, Channel, ClientMessage, PROTOCOL_VERSION, ServerMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, encode};
use crate::state::AppState;
use crate::symbol::Symbol;

/// Largest request a client may send; subscriptions are small.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Most symbols one connection may subscribe to per channel.
pub const MAX_SYMBOLS_PER_CHANNEL: usize = 1_000;
/// Silence after which the server sends a heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

/// Upgrades `GET /ws` to a live-feed session.
///
/// Buffers are sized for many mostly-idle connections: tungstenite's defaults
/// reserve about 128 KiB per connection, while our requests are tiny and our
/// frames are written as soon as they are queued.
pub async fn handler(upgrade: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(MAX_REQUEST_BYTES)
        .max_frame_size(MAX_REQUEST_BYTES)
        .on_upgrade(move |socket| session(socket, state.bus.clone(), state.is_simulated(), state.shutdown.clone()))
}

/// Runs one connection until the client leaves, the transport fails or the
/// server shuts down.
pub async fn session<S, E>(mut socket: S, bus: Bus, simulated: bool, shutdown: CancellationToken)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let mut events = bus.subscribe();
    let mut subscriptions = Subscriptions::default();
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    if send(&mut socket, &ServerMessage::Hello { protocol: PROTOCOL_VERSION, simulated }).await.is_err() {
        return;
    }
    loop {
        let outgoing: Vec<Message> = tokio::select! {
            () = shutdown.cancelled() => {
                let frame = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                break;
            }
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => handle_request(&mut subscriptions, &bus, text.as_str())
                    .iter()
                    .map(|m| Message::Text(encode(m)))
                    .collect(),
                Some(Ok(Message::Binary(_))) => vec![error_frame("binary frames are not supported; send JSON text")],
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                // Pings are answered by the transport itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Vec::new(),
            },
            event = events.recv() => match event {
                Ok(event) if subscriptions.wants(event.channel, &event.symbol) => vec![Message::Text(event.frame)],
                Ok(_) => Vec::new(),
                Err(RecvError::Lagged(missed)) => {
                    let mut frames = vec![Message::Text(encode(&ServerMessage::Resync { missed }))];
                    frames.extend(subscriptions.snapshots(&bus).iter().map(|m| Message::Text(encode(m))));
                    frames
                }
                Err(RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => vec![Message::Text(encode(&ServerMessage::Heartbeat { ts: unix_now() }))],
        };
        if !outgoing.is_empty() {
            heartbeat.reset();
        }
        for frame in outgoing {
            if socket.feed(frame).await.is_err() {
                return;
            }
        }
        if socket.flush().await.is_err() {
            return;
        }
    }
}

async fn send<S: Sink<Message> + Unpin>(socket: &mut S, message: &ServerMessage) -> Result<(), S::Error> {
    socket.send(Message::Text(encode(message))).await
}

fn error_frame(message: &str) -> Message {
    Message::Text(encode(&ServerMessage::Error { message: message.to_owned() }))
}

/// Applies one client request and returns the replies.
fn handle_request(subscriptions: &mut Subscriptions, bus: &Bus, text: &str) -> Vec<ServerMessage> {
    let request: ClientMessage = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => return vec![ServerMessage::Error { message: format!("malformed request: {e}") }],
    };
    match request {
        ClientMessage::Ping => vec![ServerMessage::Pong],
        ClientMessage::Subscribe { channel, symbols } => match subscriptions.subscribe(channel, &symbols) {
            Ok(symbols) => {
                let snapshot = bus.snapshot(channel, |s| subscriptions.wants(channel, s));
                vec![ServerMessage::Subscribed { channel, symbols }, snapshot]
            }
            Err(message) => vec![ServerMessage::Error { message }],
        },
        ClientMessage::Unsubscribe { channel, symbols } => match parse_symbols(&symbols) {
            Ok(parsed) => {
                subscriptions.unsubscribe(channel, &parsed);
                vec![ServerMessage::Unsubscribed { channel, symbols: parsed.into_iter().collect() }]
            }
            Err(message) => vec![ServerMessage::Error { message }],
        },
    }
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

/// What one connection has asked to receive.
#[derive(Debug, Default)]
struct Subscriptions {
    by_channel: BTreeMap<Channel, BTreeSet<String>>,
}

impl Subscriptions {
    fn wants(&self, channel: Channel, symbol: &str) -> bool {
        self.by_channel.get(&channel).is_some_and(|s| s.contains(ALL_SYMBOLS) || s.contains(symbol))
    }

    /// Adds `symbols` to `channel`; refuses the whole request when any symbol is
    /// invalid or the limit would be exceeded.
    fn subscribe(&mut self, channel: Channel, symbols: &[String]) -> Result<Vec<String>, String> {
        let parsed = parse_symbols(symbols)?;
        let current = self.by_channel.get(&channel).map_or(0, BTreeSet::len);
        let added = parsed.iter().filter(|s| !self.wants_exactly(channel, s)).count();
        if current + added > MAX_SYMBOLS_PER_CHANNEL {
            return Err(format!("at most {MAX_SYMBOLS_PER_CHANNEL} symbols per channel; use \"*\" for all"));
        }
        self.by_channel.entry(channel).or_default().extend(parsed.iter().cloned());
        Ok(parsed.into_iter().collect())
    }

    fn wants_exactly(&self, channel: Channel, symbol: &str) -> bool {
        self.by_channel.get(&channel).is_some_and(|s| s.contains(symbol))
    }

    fn unsubscribe(&mut self, channel: Channel, symbols: &BTreeSet<String>) {
        if let Some(set) = self.by_channel.get_mut(&channel) {
            if symbols.contains(ALL_SYMBOLS) {
                set.clear();
            } else {
                set.retain(|s| !symbols.contains(s));
            }
        }
    }

    fn snapshots(&self, bus: &Bus) -> Vec<ServerMessage> {
        self.by_channel
            .iter()
            .filter(|(_, symbols)| !symbols.is_empty())
            .map(|(&channel, _)| bus.snapshot(channel, |s| self.wants(channel, s)))
            .collect()
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use app::live::protocol::Quote;
    use futures::channel::mpsc;

    use super::*;

    /// An in-memory socket: what the session sends arrives on `outbox`, what the
    /// test pushes into `inbox` the session receives.
    struct Duplex {
        inbox: mpsc::Receiver<Result<Message, ()>>,
        outbox: mpsc::Sender<Message>,
    }

    impl Stream for Duplex {
        type Item = Result<Message, ()>;
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
        to_server: mpsc::Sender<Result<Message, ()>>,
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
    }

    #[tokio::test]
    async fn bad_requests_get_error_frames_and_the_session_survives() {
        let bus = Bus::new(16);
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        for (request, expected) in [
            ("not json", "malformed request"),
            (r#"{"type":"subscribe","channel":"weather","symbols":["AAPL"]}"#, "unknown variant `weather`"),
            (r#"{"type":"subscribe","channel":"quotes","symbols":[]}"#, "at least one symbol"),
            (r#"{"type":"subscribe","channel":"quotes","symbols":["AAPL","no good"]}"#, "may only contain"),
        ] {
            client.say(request).await;
            match client.hear().await {
                ServerMessage::Error { message } => assert!(message.contains(expected), "{request}: {message}"),
                other => panic!("{request}: expected an error, got {other:?}"),
            }
        }
        // The refused subscription changed nothing: AAPL is not subscribed.
        bus.publish_quote(quote("AAPL", 1.0));
        client.say(r#"{"type":"ping"}"#).await;
        assert_eq!(client.hear().await, ServerMessage::Pong);
    }

    #[tokio::test]
    async fn a_lagging_client_is_resynced_not_dropped() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        // No reader on the outbox while events pile up: the session blocks on its
        // first send, so its bus receiver falls behind.
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
        assert!(saw_resync, "200 events into a 4-slot queue must lag");
    }

    #[tokio::test]
    async fn shutdown_sends_a_close_frame() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        let (mut client, task) = start(&bus, &shutdown);
        client.hear().await;
        shutdown.cancel();
        match client.from_server.next().await {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, close_code::AWAY),
            other => panic!("expected close, got {other:?}"),
        }
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_connections_get_heartbeats() {
        let bus = Bus::new(4);
        let shutdown = CancellationToken::new();
        let (mut client, _task) = start(&bus, &shutdown);
        client.hear().await;
        assert!(matches!(client.hear().await, ServerMessage::Heartbeat { .. }));
    }
}
