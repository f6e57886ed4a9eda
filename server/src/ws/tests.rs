//! Sessions over real loopback sockets, with a tungstenite client on the other
//! end. The opening handshake is skipped (both ends start as WebSockets); the
//! HTTP upgrade is covered by `tests/ws.rs`.
#![allow(clippy::unwrap_used, reason = "test")]

use app::live::protocol::{NewsItem, Quote};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::*;

/// Both ends of a loopback connection: the session's and the client's. With
/// `small`, the kernel buffers between them hold only a few KiB, so a client
/// that does not read backs the session up quickly.
async fn pair(small: bool) -> (TcpStream, TcpStream) {
    let listening = TcpSocket::new_v4().unwrap();
    let connecting = TcpSocket::new_v4().unwrap();
    if small {
        // Accepted sockets inherit the listener's buffer sizes.
        listening.set_recv_buffer_size(4096).unwrap();
        connecting.set_send_buffer_size(4096).unwrap();
    }
    listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listening.listen(4).unwrap();
    let (session_end, accepted) = tokio::join!(connecting.connect(listener.local_addr().unwrap()), listener.accept());
    let session_end = session_end.unwrap();
    // Nagle's algorithm would hold a small write until the client's delayed
    // ACK, up to 40 ms of real time that a paused clock never waits for.
    session_end.set_nodelay(true).unwrap();
    (session_end, accepted.unwrap().0)
}

struct Client {
    socket: WebSocketStream<TcpStream>,
}

impl Client {
    async fn say(&mut self, text: &str) {
        self.socket.send(tungstenite::Message::text(text)).await.unwrap();
    }

    /// The next frame; bounded so a missing one fails by name (longer than a
    /// heartbeat, which paused-clock tests wait for).
    async fn next(&mut self) -> Message {
        match tokio::time::timeout(HEARTBEAT_EVERY * 2, self.socket.next()).await {
            Ok(Some(Ok(message))) => message,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    async fn hear(&mut self) -> ServerMessage {
        match self.next().await {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn expect_error(&mut self, containing: &str) {
        match self.hear().await {
            ServerMessage::Error { message } => assert!(message.contains(containing), "{message}"),
            other => panic!("expected an error about {containing:?}, got {other:?}"),
        }
    }

    async fn expect_close(&mut self, code: CloseCode) -> String {
        match self.next().await {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, code, "{}", frame.reason);
                frame.reason.to_string()
            }
            other => panic!("expected close {code}, got {other:?}"),
        }
    }
}

async fn start_with(
    bus: &Bus,
    shutdown: &CancellationToken,
    small: bool,
    read_ahead: Bytes,
) -> (Client, tokio::task::JoinHandle<()>) {
    let (session_end, client_end) = pair(small).await;
    let task =
        tokio::spawn(session(session_end, read_ahead, bus.clone(), true, shutdown.clone(), CancellationToken::new()));
    let socket = WebSocketStream::from_raw_socket(client_end, Role::Client, None).await;
    (Client { socket }, task)
}

async fn start(bus: &Bus, shutdown: &CancellationToken) -> (Client, tokio::task::JoinHandle<()>) {
    start_with(bus, shutdown, false, Bytes::new()).await
}

fn quote(symbol: &str, price: f64) -> Quote {
    Quote { symbol: symbol.into(), price, prev_close: None, ts: 1 }
}

fn news(id: i64, symbols: &[&str], summary: &str) -> NewsItem {
    NewsItem {
        id,
        source: "wire".into(),
        url: String::new(),
        title: "t".into(),
        summary: summary.into(),
        published_at: 1,
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// A text frame as a client sends it (masked), of any bytes.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Frame::message(payload.to_vec(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some([7, 1, 2, 3]);
    let mut bytes = Vec::new();
    frame.format(&mut bytes).unwrap();
    bytes
}

#[tokio::test]
async fn subscribe_gets_a_snapshot_then_only_subscribed_events() {
    let bus = Bus::new(16);
    bus.publish_quote(quote("AAPL", 1.0));
    let shutdown = CancellationToken::new();
    let (mut client, _task) = start(&bus, &shutdown).await;
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
async fn requests_sent_with_the_handshake_are_answered() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let read_ahead = Bytes::from(client_frame(br#"{"type":"ping"}"#));
    let (mut client, _task) = start_with(&bus, &shutdown, false, read_ahead).await;
    assert!(matches!(client.hear().await, ServerMessage::Hello { .. }));
    assert_eq!(client.hear().await, ServerMessage::Pong);
}

#[tokio::test]
async fn bad_requests_get_error_frames_and_the_session_survives() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let (mut client, _task) = start(&bus, &shutdown).await;
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
    client.socket.send(tungstenite::Message::binary(vec![1, 2])).await.unwrap();
    client.expect_error("binary frames").await;
    // The refused subscription changed nothing: AAPL is not subscribed.
    bus.publish_quote(quote("AAPL", 1.0));
    client.say(r#"{"type":"ping"}"#).await;
    assert_eq!(client.hear().await, ServerMessage::Pong);
}

#[tokio::test]
async fn an_oversized_frame_gets_an_error_frame_and_a_close_with_a_reason() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let (mut client, task) = start(&bus, &shutdown).await;
    client.hear().await;
    client.say(&"x".repeat(MAX_FRAME_BYTES + 1)).await;
    client.expect_error("frame too large").await;
    let reason = client.expect_close(CloseCode::Size).await;
    assert!(reason.contains(&MAX_FRAME_BYTES.to_string()), "{reason}");
    task.await.unwrap();
    assert_eq!(bus.subscribers(), 0, "the session left the bus");
}

#[tokio::test]
async fn a_frame_that_breaks_the_protocol_gets_an_error_frame_and_a_close() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let (mut client, task) = start(&bus, &shutdown).await;
    client.hear().await;
    // Clients must mask their frames; this one is not masked.
    client.socket.get_mut().write_all(&[0x81, 2, b'h', b'i']).await.unwrap();
    client.expect_error("unreadable WebSocket frame").await;
    client.expect_close(CloseCode::Protocol).await;
    task.await.unwrap();
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_gets_an_error_frame_and_a_close_1007() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let (mut client, task) = start(&bus, &shutdown).await;
    client.hear().await;
    client.socket.get_mut().write_all(&client_frame(&[b'{', 0xff, 0xfe])).await.unwrap();
    client.expect_error("not valid UTF-8").await;
    client.expect_close(CloseCode::Invalid).await;
    task.await.unwrap();
}

#[tokio::test]
async fn a_burst_of_requests_is_answered_in_full_and_in_order() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    // Small buffers: the answers back up while the client is still sending.
    let (mut client, _task) = start_with(&bus, &shutdown, true, Bytes::new()).await;
    client.hear().await;
    let mut burst = Vec::new();
    for i in 0..200 {
        let symbol = format!("S{i}");
        burst.extend(client_frame(
            format!(r#"{{"type":"subscribe","channel":"quotes","symbols":["{symbol}"]}}"#).as_bytes(),
        ));
    }
    // Sent in one go, while the answers are read on the other half.
    let (reader, mut writer) = client.socket.into_inner().into_split();
    // The half is handed back: dropping it would end the connection (FIN).
    let sender = tokio::spawn(async move {
        writer.write_all(&burst).await.unwrap();
        writer
    });
    let mut answers =
        WebSocketStream::from_raw_socket(tokio::io::join(reader, tokio::io::sink()), Role::Client, None).await;
    for i in 0..200 {
        for expected in ["subscribed", "snapshot"] {
            let answer = tokio::time::timeout(Duration::from_secs(10), answers.next()).await;
            let Ok(Some(Ok(Message::Text(text)))) = answer else { panic!("no answer to request {i}: {answer:?}") };
            let message: ServerMessage = serde_json::from_str(text.as_str()).unwrap();
            match (expected, message) {
                ("subscribed", ServerMessage::Subscribed { symbols, .. }) => assert_eq!(symbols, vec![format!("S{i}")]),
                ("snapshot", ServerMessage::Snapshot { .. }) => {}
                (_, other) => panic!("request {i}: expected {expected}, got {other:?}"),
            }
        }
    }
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn a_client_that_closes_gets_a_close_reply_and_the_session_ends() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let (mut client, task) = start(&bus, &shutdown).await;
    client.hear().await;
    client.say(r#"{"type":"subscribe","channel":"quotes","symbols":["*"]}"#).await;
    client.hear().await;
    client.hear().await;
    client.socket.close(None).await.unwrap();
    assert!(matches!(client.next().await, Message::Close(_)), "the server answered the close");
    task.await.unwrap();
    assert_eq!(bus.subscribers(), 0);
}

#[tokio::test]
async fn every_channel_can_be_subscribed_per_symbol_or_for_all() {
    let bus = Bus::new(16);
    let shutdown = CancellationToken::new();
    let (mut client, _task) = start(&bus, &shutdown).await;
    client.hear().await;
    for request in [
        r#"{"type":"subscribe","channel":"signals","symbols":["AAPL"]}"#,
        r#"{"type":"subscribe","channel":"news","symbols":["*"]}"#,
    ] {
        client.say(request).await;
        assert!(matches!(client.hear().await, ServerMessage::Subscribed { .. }));
        assert!(matches!(client.hear().await, ServerMessage::Snapshot { .. }));
    }
    bus.publish_news(news(1, &[], ""));
    bus.publish_news(news(2, &["TSLA"], ""));
    assert!(matches!(client.hear().await, ServerMessage::News(n) if n.id == 1));
    assert!(matches!(client.hear().await, ServerMessage::News(n) if n.id == 2));
    client.say(r#"{"type":"unsubscribe","channel":"news","symbols":["*"]}"#).await;
    assert!(matches!(client.hear().await, ServerMessage::Unsubscribed { channel: Channel::News, .. }));
    bus.publish_news(news(3, &["AAPL"], ""));
    client.say(r#"{"type":"ping"}"#).await;
    assert_eq!(client.hear().await, ServerMessage::Pong);
}

#[tokio::test]
async fn a_lagging_client_is_resynced_not_dropped() {
    let bus = Bus::new(4);
    let shutdown = CancellationToken::new();
    let (mut client, _task) = start_with(&bus, &shutdown, true, Bytes::new()).await;
    client.hear().await;
    client.say(r#"{"type":"subscribe","channel":"news","symbols":["*"]}"#).await;
    client.hear().await;
    client.hear().await;
    // 200 KB while the client reads nothing and the session cannot run (this
    // task holds the only thread): the socket fills, then the queue overflows.
    let summary = "s".repeat(1_000);
    for id in 1..=200 {
        bus.publish_news(news(id, &["AAPL"], &summary));
    }
    let mut saw_resync = false;
    let mut newest = 0;
    while newest != 200 {
        match client.hear().await {
            ServerMessage::Resync { missed } => {
                assert!(missed > 0);
                saw_resync = true;
            }
            ServerMessage::News(item) => newest = item.id,
            ServerMessage::Snapshot { news, .. } => newest = news[0].id,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_resync, "200 KB into a few KiB of socket and a 4-event queue must overflow");
    client.say(r#"{"type":"ping"}"#).await;
    assert_eq!(client.hear().await, ServerMessage::Pong, "still connected");
}

#[tokio::test]
async fn a_client_that_keeps_falling_behind_is_closed_with_a_reason() {
    let bus = Bus::new(2);
    let shutdown = CancellationToken::new();
    let (mut client, task) = start_with(&bus, &shutdown, true, Bytes::new()).await;
    client.hear().await;
    client.say(r#"{"type":"subscribe","channel":"news","symbols":["AAPL"]}"#).await;
    client.hear().await;
    client.hear().await;
    let summary = "s".repeat(1_000);
    for round in 1..=MAX_RESYNCS + 1 {
        // The session cannot run while this task publishes: it overflows.
        for id in 0..100 {
            bus.publish_news(news(id, &["AAPL"], &summary));
        }
        loop {
            match client.next().await {
                Message::Text(t) if t.as_str().contains(r#""type":"resync""#) => break,
                Message::Text(_) => {}
                Message::Close(Some(frame)) => {
                    assert_eq!(round, MAX_RESYNCS + 1, "closed too early");
                    assert_eq!(frame.code, CloseCode::Policy);
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
    let (mut client, task) = start(&bus, &shutdown).await;
    client.hear().await;
    shutdown.cancel();
    client.expect_close(CloseCode::Away).await;
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn quiet_connections_get_heartbeats() {
    let bus = Bus::new(4);
    let shutdown = CancellationToken::new();
    let (mut client, _task) = start(&bus, &shutdown).await;
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
    let (mut client, _task) = start(&bus, &shutdown).await;
    client.hear().await;
    client.say(r#"{"type":"subscribe","channel":"quotes","symbols":["AAPL"]}"#).await;
    client.hear().await;
    client.hear().await;
    tokio::time::sleep(HEARTBEAT_EVERY - Duration::from_secs(1)).await;
    // Written by the publisher, not the session: the session must notice.
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
