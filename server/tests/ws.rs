//! The `/ws` live feed over real sockets: the real router served on loopback,
//! real WebSocket clients (tokio-tungstenite), events published on the state's bus.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::time::Duration;

use app::live::protocol::{BarUpdate, Channel, NewsItem, Quote, ServerMessage, SignalEvent};
use futures::{SinkExt, StreamExt};
use quant::{Bar, Timeframe};
use server::bus::Bus;
use server::config::Config;
use server::state::AppState;
use server::ws::{MAX_FRAME_BYTES, MAX_REQUEST_BYTES};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The real router on a free loopback port, with a bus of `capacity` frames.
struct Server {
    url: String,
    /// An admin's `Authorization` header value.
    token: String,
    bus: Bus,
    shutdown: CancellationToken,
    _db: common::TestDb,
}

impl Server {
    async fn start(capacity: usize) -> Self {
        let db = common::TestDb::sqlite().await;
        let shutdown = CancellationToken::new();
        let state = AppState::new(
            Config { database_url: db.url.clone(), ..Config::default() },
            db.db.clone(),
            shutdown.clone(),
        )
        .with(|s| s.bus = Bus::new(capacity));
        let bus = state.bus.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        // The server's own listener (TCP_NODELAY, timeouts), as `serve` runs it.
        let stop = shutdown.clone();
        let (edge, requests) = (state.config.http.clone(), state.metrics.requests().clone());
        tokio::spawn(async move {
            server::http::listen::serve(listener, server::http::router(state), &edge, requests, stop.cancelled_owned())
                .await;
        });
        let token = common::admin_token(&db.db).await;
        Self { url, token, bus, shutdown, _db: db }
    }

    /// A connected client that has read the server's hello.
    async fn client(&self) -> Socket {
        let mut socket = common::ws_connect(&self.url, &self.token).await.unwrap();
        assert!(matches!(hear(&mut socket).await, ServerMessage::Hello { protocol: 1, .. }));
        socket
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The next frame, bounded in time so a missing message fails by name.
async fn next(socket: &mut Socket) -> Message {
    match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        Ok(Some(Ok(message))) => message,
        Ok(other) => panic!("connection ended: {other:?}"),
        Err(_) => panic!("no message within 10 s"),
    }
}

async fn hear(socket: &mut Socket) -> ServerMessage {
    match next(socket).await {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn say(socket: &mut Socket, text: &str) {
    socket.send(Message::Text(text.into())).await.unwrap();
}

/// The next `n` messages.
async fn hear_n(socket: &mut Socket, n: usize) -> Vec<ServerMessage> {
    let mut heard = Vec::with_capacity(n);
    for _ in 0..n {
        heard.push(hear(socket).await);
    }
    heard
}

/// A ping is answered (the session is alive and reading).
async fn answers_ping(socket: &mut Socket) {
    say(socket, r#"{"type":"ping"}"#).await;
    assert_eq!(hear(socket).await, ServerMessage::Pong);
}

async fn subscribe(socket: &mut Socket, channel: &str, symbols: &str) -> ServerMessage {
    say(socket, &format!(r#"{{"type":"subscribe","channel":"{channel}","symbols":{symbols}}}"#)).await;
    assert!(matches!(hear(socket).await, ServerMessage::Subscribed { .. }));
    hear(socket).await
}

fn quote(symbol: &str, price: f64) -> Quote {
    Quote { symbol: symbol.into(), price, prev_close: None, ts: 1 }
}

fn bar(symbol: &str, ts: i64) -> BarUpdate {
    let bar = Bar { ts, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
    BarUpdate { symbol: symbol.into(), timeframe: Timeframe::M1, bar }
}

fn signal(id: i64, symbol: &str) -> SignalEvent {
    SignalEvent {
        id,
        symbol: symbol.into(),
        timeframe: Timeframe::D1,
        strategy: "sma_cross".into(),
        params: serde_json::json!({}),
        params_hash: "00".into(),
        action: app::live::protocol::Action::Buy,
        bar_ts: 1,
        price: 1.0,
        evidence: Default::default(),
        backtest: None,
        created_at: 1,
    }
}

fn news(id: i64, symbols: &[&str], summary: String) -> NewsItem {
    NewsItem {
        id,
        source: "wire".into(),
        url: String::new(),
        title: format!("headline {id}"),
        summary,
        published_at: 1,
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_delivers_its_subscribed_symbols_after_a_snapshot() {
    let server = Server::start(64).await;
    let bus = &server.bus;
    bus.publish_quote(quote("AAPL", 1.0));
    bus.publish_bar(bar("AAPL", 60));
    bus.publish_signal(signal(1, "AAPL"));
    bus.publish_news(news(1, &["AAPL"], String::new()));
    let mut client = server.client().await;

    // Snapshots carry what was published before the subscription.
    match subscribe(&mut client, "quotes", r#"["AAPL"]"#).await {
        ServerMessage::Snapshot { channel: Channel::Quotes, quotes, .. } => assert_eq!(quotes, [quote("AAPL", 1.0)]),
        other => panic!("{other:?}"),
    }
    match subscribe(&mut client, "bars", r#"["*"]"#).await {
        ServerMessage::Snapshot { channel: Channel::Bars, bars, .. } => assert_eq!(bars, [bar("AAPL", 60)]),
        other => panic!("{other:?}"),
    }
    match subscribe(&mut client, "signals", r#"["MSFT","AAPL"]"#).await {
        ServerMessage::Snapshot { channel: Channel::Signals, signals, .. } => assert_eq!(signals[0].id, 1),
        other => panic!("{other:?}"),
    }
    match subscribe(&mut client, "news", r#"["MSFT"]"#).await {
        ServerMessage::Snapshot { channel: Channel::News, news, .. } => assert!(news.is_empty()),
        other => panic!("{other:?}"),
    }

    // Live events: only subscribed channels and symbols, in publication order.
    // A session's frames are delivered in order, so once the closing sentinel
    // arrives, anything wrongly delivered would have shown up before it.
    bus.publish_quote(quote("MSFT", 2.0));
    bus.publish_quote(quote("AAPL", 3.0));
    bus.publish_bar(bar("TSLA", 120));
    bus.publish_signal(signal(2, "TSLA"));
    bus.publish_signal(signal(3, "MSFT"));
    bus.publish_news(news(2, &["AAPL"], String::new()));
    bus.publish_news(news(3, &["AAPL", "MSFT"], String::new()));
    bus.publish_quote(quote("AAPL", 99.0));
    assert_eq!(
        hear_n(&mut client, 5).await,
        [
            ServerMessage::Quote(quote("AAPL", 3.0)),
            ServerMessage::Bar(bar("TSLA", 120)),
            ServerMessage::Signal(signal(3, "MSFT")),
            ServerMessage::News(news(3, &["AAPL", "MSFT"], String::new())),
            ServerMessage::Quote(quote("AAPL", 99.0)),
        ]
    );

    // Unsubscribing: one symbol, then "*" on a channel.
    say(&mut client, r#"{"type":"unsubscribe","channel":"signals","symbols":["MSFT"]}"#).await;
    assert!(matches!(hear(&mut client).await, ServerMessage::Unsubscribed { channel: Channel::Signals, .. }));
    say(&mut client, r#"{"type":"unsubscribe","channel":"bars","symbols":["*"]}"#).await;
    assert!(matches!(hear(&mut client).await, ServerMessage::Unsubscribed { channel: Channel::Bars, .. }));
    bus.publish_signal(signal(4, "MSFT"));
    bus.publish_signal(signal(5, "AAPL"));
    bus.publish_bar(bar("AAPL", 180));
    bus.publish_quote(quote("AAPL", 100.0));
    assert_eq!(
        hear_n(&mut client, 2).await,
        [ServerMessage::Signal(signal(5, "AAPL")), ServerMessage::Quote(quote("AAPL", 100.0))]
    );
    answers_ping(&mut client).await;
}

#[tokio::test]
async fn a_plain_http_request_to_the_feed_gets_426_with_the_reason() {
    let server = Server::start(16).await;
    let response = reqwest::Client::new()
        .get(server.url.replace("ws://", "http://"))
        .header("authorization", &server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    assert!(response.text().await.unwrap().contains("WebSocket endpoint"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_error_frames_and_the_server_stays_up() {
    let server = Server::start(64).await;
    let mut client = server.client().await;
    let too_long = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(MAX_REQUEST_BYTES));
    for (request, expected) in [
        ("{not json", "malformed request"),
        (r#"{"type":"subscribe","channel":"weather","symbols":["AAPL"]}"#, "unknown variant `weather`"),
        (r#"{"type":"dance"}"#, "unknown variant `dance`"),
        (too_long.as_str(), "at most 16384 bytes"),
    ] {
        say(&mut client, request).await;
        match hear(&mut client).await {
            ServerMessage::Error { message } => assert!(message.contains(expected), "{request:.40}: {message}"),
            other => panic!("{request:.40}: expected an error, got {other:?}"),
        }
    }
    answers_ping(&mut client).await;

    // A frame over the transport's limit: an error frame, then a close with a reason.
    say(&mut client, &"x".repeat(MAX_FRAME_BYTES + 1)).await;
    match hear(&mut client).await {
        ServerMessage::Error { message } => assert!(message.contains("frame too large"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
    match next(&mut client).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Size);
            assert!(frame.reason.contains("65536"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // Nobody else noticed.
    let mut other = server.client().await;
    answers_ping(&mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_resynced_while_a_fast_one_misses_nothing() {
    const EVENTS: i64 = 1_000;
    let server = Server::start(16).await;
    let mut slow = server.client().await;
    subscribe(&mut slow, "news", r#"["AAPL"]"#).await;
    let mut fast = server.client().await;
    subscribe(&mut fast, "news", r#"["AAPL"]"#).await;

    // The fast client reads everything as it comes and reports each id.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while (ids.len() as i64) < EVENTS {
            match hear(&mut fast).await {
                ServerMessage::News(item) => {
                    ids.push(item.id);
                    seen_tx.send(item.id).unwrap();
                }
                other => panic!("the fast client got {other:?}"),
            }
        }
        ids
    });

    // 1,000 frames of ~8 KB (8 MB, twice what loopback socket buffers hold)
    // overflow the slow client's socket and then its 16-frame queue. Publish in
    // steps the fast client keeps up with.
    let padding = "n".repeat(8_000);
    for id in 1..=EVENTS {
        server.bus.publish_news(news(id, &["AAPL"], padding.clone()));
        if id % 8 == 0 {
            while seen.recv().await.unwrap() < id {}
        }
    }
    let ids = tokio::time::timeout(Duration::from_secs(30), reader).await.unwrap().unwrap();
    assert_eq!(ids, (1..=EVENTS).collect::<Vec<_>>(), "the fast client got every event, in order");

    // The slow client now reads: some events, a resync saying how many were
    // dropped, a snapshot, and it is still connected.
    let mut received = 0;
    let missed = loop {
        match hear(&mut slow).await {
            ServerMessage::News(_) => received += 1,
            ServerMessage::Resync { missed } => break missed,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(missed > 0 && received + missed <= EVENTS as u64, "received {received}, missed {missed}");
    match hear(&mut slow).await {
        ServerMessage::Snapshot { channel: Channel::News, news, .. } => assert_eq!(news[0].id, EVENTS),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    say(&mut slow, r#"{"type":"ping"}"#).await;
    loop {
        match hear(&mut slow).await {
            ServerMessage::News(_) => {}
            ServerMessage::Pong => break,
            other => panic!("the slow client, resynced, got {other:?}"),
        }
    }
}

/// A seeded WebSocket fuzzer: clients send random bytes, random text, JSON of
/// the right shape with wrong values, oversized frames, floods of subscribe
/// requests and abrupt disconnects, while a well-behaved client is subscribed
/// to quotes. The server must not fall over, the good client must get every
/// quote in order, and once the fuzzing clients are gone the bus must hold no
/// session of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fuzzing_client_affects_nobody_else() {
    use rand::{Rng, SeedableRng};

    let server = Server::start(1_024).await;
    let mut good = server.client().await;
    subscribe(&mut good, "quotes", r#"["AAPL"]"#).await;
    let baseline = server.bus.subscribers();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20_261_207);
    let mut expected = Vec::new();
    for round in 0..40 {
        let mut fuzz = server.client().await;
        for _ in 0..25 {
            let frame = common::fuzz_frame(&mut rng);
            if fuzz.send(frame).await.is_err() {
                break; // the server closed this one (a frame it refuses); that is its right
            }
        }
        // Half the fuzzers vanish without a close frame.
        if rng.random_bool(0.5) {
            drop(fuzz);
        } else {
            let _ = fuzz.close(None).await;
        }
        let price = 100.0 + f64::from(round);
        server.bus.publish_quote(quote("AAPL", price));
        expected.push(price);
    }

    // The good client got every quote, in order, and still answers.
    for price in expected {
        match hear(&mut good).await {
            ServerMessage::Quote(q) => assert_eq!((q.symbol.as_str(), q.price), ("AAPL", price)),
            other => panic!("expected the quote at {price}, got {other:?}"),
        }
    }
    answers_ping(&mut good).await;

    // Every fuzzing session ended and left the bus.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.bus.subscribers() > baseline {
        assert!(std::time::Instant::now() < deadline, "{} sessions left behind", server.bus.subscribers() - baseline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut late = server.client().await;
    answers_ping(&mut late).await;
}
