//! The `/ws` live feed: one task per connection, speaking the protocol in
//! [`app::live::protocol`].
//!
//! Each connection is one [`Subscriber`] on the bus: its subscriptions are
//! registered per channel and symbol, so only the events it asked for reach
//! it. Events do not pass through the session's task at all while its client
//! keeps up: the publisher writes each event's frame, encoded once, straight
//! to the socket (see [`crate::bus::outbox`]). The task wakes only for what
//! needs it: a request to read, frames the socket did not take at once, an
//! overflow, a heartbeat, shutdown. The socket is taken from the upgraded HTTP
//! connection ([`upgrade`]); tungstenite reads the client's frames, and every
//! byte written goes through the subscriber's outbox, in order.
//!
//! Slow clients: a session whose queue reaches [`Bus::capacity`] events loses
//! them and gets `resync` with the count, then fresh snapshots; the connection
//! stays open. A client that overflows more than [`MAX_RESYNCS`] times within
//! [`RESYNC_WINDOW`] is closed with 1008 (policy) and a reason, and one that
//! accepts no bytes for [`WRITE_STALL`] is dropped. Neither ever blocks the
//! publisher or other sessions.
//!
//! Bad requests get an `error` frame and change nothing: malformed JSON, an
//! unknown channel or type, invalid symbols, binary frames, and requests over
//! [`MAX_REQUEST_BYTES`]. A frame over [`MAX_FRAME_BYTES`] is refused before it
//! is buffered; the stream cannot be resynchronised after that, so the server
//! sends an `error` frame and closes with 1009 (message too big) and a reason,
//! as it does for a frame that breaks the protocol (1002) and for text that
//! is not UTF-8 (1007). A session answers at most [`REQUESTS_PER_READ`]
//! requests before writing the answers, so a client that sends much and reads
//! nothing holds little memory. On server shutdown every session sends a close
//! frame (1001, going away) and ends.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use app::live::protocol::{ALL_SYMBOLS, Channel, ClientMessage, PROTOCOL_VERSION, ServerMessage};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tungstenite::Message;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};

use crate::accounts::live::Credential;
use crate::bus::{Bus, Due, Subscriber};
use crate::state::AppState;
use crate::symbol::Symbol;

mod upgrade;

/// Largest request the server answers; subscriptions are small. Larger text
/// frames (up to [`MAX_FRAME_BYTES`]) get an `error` frame.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest frame (and message) read at all. A larger one closes the
/// connection with 1009 after an `error` frame.
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

/// Bytes read from the socket per call. Requests are tiny (a larger one
/// reserves what it needs), and a connection's read buffer lives as long as
/// the connection: tungstenite's default is 128 KiB.
const READ_BUFFER_BYTES: usize = 512;

/// Requests answered before the answers are written. A snapshot can be large
/// and a request small, so reading everything a client sent before writing
/// anything would let it queue any amount of memory; after this many, the
/// session writes (waiting for the client to read) before it reads more.
const REQUESTS_PER_READ: usize = 16;

/// How long a refused connection stays open after its close frame: the
/// client's unread bytes would otherwise make the kernel reset the connection,
/// and the client could lose our error and close frames.
const LINGER: Duration = Duration::from_secs(1);
/// How long a closing session tries to write its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Upgrades `GET /ws` to a live-feed session; a request that is not a valid
/// WebSocket handshake gets a 4xx saying why.
pub async fn handler(State(state): State<AppState>, request: Request) -> Response {
    let request_credential = request.extensions().get::<Credential>().cloned();
    let (response, on_upgrade) = match upgrade::accept(request) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let credential = request_credential.unwrap_or(Credential::Anonymous);
    let (bus, simulated, shutdown) = (state.bus.clone(), state.is_simulated(), state.shutdown.clone());
    let ended = CancellationToken::new();
    tokio::spawn(async move {
        match upgrade::connection(on_upgrade).await {
            Ok((socket, read_ahead)) => {
                // Watches the credential while the session runs; stops with it.
                let watch = tokio::spawn(watch_credential(state, credential, ended.clone()));
                session(socket, read_ahead, bus, simulated, shutdown, ended).await;
                watch.abort();
            }
            Err(e) => tracing::warn!(error = %e, "WebSocket upgrade failed"),
        }
    });
    response
}

/// Ends the session (`ended`) once its credential stops holding: checked
/// again whenever the auth epoch moves (a logout, a disabled user, a revoked
/// token, in this process or another).
async fn watch_credential(state: AppState, credential: Credential, ended: CancellationToken) {
    if credential == Credential::Anonymous {
        return;
    }
    let mut epoch = state.auth.epoch();
    while epoch.changed().await.is_ok() {
        if !state.auth.still_valid(&credential).await {
            ended.cancel();
            return;
        }
    }
}

/// Why a session ends.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Send this close frame, then stop.
    Close(CloseCode, &'static str),
    /// Send this close frame, then wait [`LINGER`] before dropping the socket.
    Refuse(CloseCode, &'static str),
    /// The client closed: our reply to its close frame is queued; send it and stop.
    Closed,
    /// Stop without another word: the client left or the socket failed.
    Quietly,
}

/// What tungstenite reads from and writes to: reads come from the socket,
/// writes (its pongs and close frames) join the session's outbox.
struct Io<'a> {
    socket: &'a TcpStream,
    subscriber: &'a Subscriber,
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `WouldBlock` clears the socket's readiness: the session's next
        // `poll_read_ready` waits for more.
        self.socket.try_read(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tungstenite hands over whole frames (it is never told of a partial
        // write), so each queued piece starts and ends on a frame boundary.
        self.subscriber.send_raw(Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs one connection, whose opening handshake is done, until the client
/// leaves, the socket fails, the client is too slow, or the server shuts
/// down. `read_ahead` holds bytes the client sent that were read with its
/// handshake.
pub async fn session(
    socket: TcpStream,
    read_ahead: Bytes,
    bus: Bus,
    simulated: bool,
    shutdown: CancellationToken,
    ended: CancellationToken,
) {
    let socket = Arc::new(socket);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Every frame goes to the outbox at once.
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let mut ws = if read_ahead.is_empty() {
        WebSocketContext::new(Role::Server, Some(config))
    } else {
        WebSocketContext::from_partially_read(read_ahead.to_vec(), Role::Server, Some(config))
    };
    // Even empty, the bytes may hold on to the HTTP server's read buffer (8 KiB
    // or more), which would then live as long as the session.
    drop(read_ahead);
    let mut subscriber = bus.subscriber();
    subscriber.attach(socket.clone());
    let mut cancelled = pin!(shutdown.cancelled());
    let mut credential_ended = pin!(ended.cancelled());
    let mut heartbeat = pin!(tokio::time::sleep(HEARTBEAT_EVERY));
    let mut overflows = Overflows::default();

    subscriber.send(&ServerMessage::Hello { protocol: PROTOCOL_VERSION, simulated });
    // Requests sent along with the handshake.
    let mut end = read_requests(&mut ws, &socket, &mut subscriber);
    let end = loop {
        if let Some(end) = end.take() {
            break end;
        }
        // Write what the last step queued; rarely does that need a wait.
        match subscriber.flush() {
            Ok(true) => {}
            Ok(false) => tokio::select! {
                biased;
                () = cancelled.as_mut() => break End::Close(CloseCode::Away, "server shutting down"),
                drained = drain(&socket, &subscriber, WRITE_STALL) => {
                    if drained.is_err() {
                        break End::Quietly;
                    }
                }
            },
            Err(_) => break End::Quietly,
        }
        tokio::select! {
            biased;
            () = cancelled.as_mut() => break End::Close(CloseCode::Away, "server shutting down"),
            () = credential_ended.as_mut() => break End::Close(CloseCode::Policy, "logged out or access revoked"),
            readable = poll_fn(|cx| socket.poll_read_ready(cx)) => {
                end = match readable {
                    Ok(()) => read_requests(&mut ws, &socket, &mut subscriber),
                    Err(_) => Some(End::Quietly),
                };
            }
            due = subscriber.due() => {
                if let Due::Overflowed { missed } = due {
                    if !overflows.tolerate(Instant::now()) {
                        break End::Close(CloseCode::Policy, "too slow: fell behind too often; reconnect");
                    }
                    subscriber.send(&ServerMessage::Resync { missed });
                    for snapshot in subscriber.snapshots() {
                        subscriber.send(&snapshot);
                    }
                }
            }
            () = heartbeat.as_mut() => {
                // Publishers write without telling the session: look when
                // the socket last got bytes.
                let now = Instant::now();
                match subscriber.last_write().map(|at| at + HEARTBEAT_EVERY) {
                    Some(due) if due > now => heartbeat.as_mut().reset(due),
                    _ => {
                        subscriber.send(&ServerMessage::Heartbeat { ts: unix_now() });
                        heartbeat.as_mut().reset(now + HEARTBEAT_EVERY);
                    }
                }
            }
        }
    };
    // No event may follow the close frame.
    subscriber.leave();
    let linger = match end {
        End::Close(code, reason) | End::Refuse(code, reason) => {
            let _ = ws.close(
                &mut Io { socket: &socket, subscriber: &subscriber },
                Some(CloseFrame { code, reason: reason.into() }),
            );
            matches!(end, End::Refuse(..))
        }
        End::Closed => false,
        End::Quietly => return,
    };
    // Bounded: a client that reads nothing does not hold the task.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain(&socket, &subscriber, CLOSE_TIMEOUT)).await;
    if linger {
        tokio::select! {
            () = tokio::time::sleep(LINGER) => {}
            () = cancelled => {}
        }
    }
}

/// Writes everything queued, waiting for the socket as needed; fails when the
/// socket accepts nothing for `stall` (while it drains, however slowly, and
/// publishers keep adding, it may take longer in all).
async fn drain(socket: &TcpStream, subscriber: &Subscriber, stall: Duration) -> io::Result<()> {
    while !subscriber.flush()? {
        tokio::time::timeout(stall, socket.writable()).await.map_err(|_| io::ErrorKind::TimedOut)??;
    }
    Ok(())
}

/// Reads and answers the requests the socket holds, at most
/// [`REQUESTS_PER_READ`] at a time; `Some` when the session must end.
fn read_requests(ws: &mut WebSocketContext, socket: &TcpStream, subscriber: &mut Subscriber) -> Option<End> {
    for _ in 0..REQUESTS_PER_READ {
        let read = ws.read(&mut Io { socket, subscriber });
        match read {
            Ok(Message::Text(text)) => handle_text(subscriber, text.as_str()),
            Ok(Message::Binary(_)) => subscriber.send(&error("binary frames are not supported; send JSON text")),
            Ok(Message::Close(_)) => {
                // Off the bus first (this waits for a fan-out in progress),
                // so no event can be queued behind the close reply.
                subscriber.leave();
                // tungstenite holds its reply; this hands it to the outbox.
                let _ = ws.flush(&mut Io { socket, subscriber });
                return Some(End::Closed);
            }
            // Pings are answered by tungstenite (the pong is queued).
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Io(_)
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            ) => return Some(End::Quietly),
            Err(WsError::Capacity(_)) => {
                let reason = "frame too large: at most 65536 bytes";
                subscriber.send(&error(reason));
                return Some(End::Refuse(CloseCode::Size, reason));
            }
            Err(WsError::Utf8(_)) => {
                let reason = "text frame is not valid UTF-8";
                subscriber.send(&error(reason));
                return Some(End::Refuse(CloseCode::Invalid, reason));
            }
            Err(_) => {
                let reason = "unreadable WebSocket frame";
                subscriber.send(&error(reason));
                return Some(End::Refuse(CloseCode::Protocol, reason));
            }
        }
    }
    // More may be waiting: the socket stays readable, and the session reads
    // again once these answers are written.
    None
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

fn error(message: &str) -> ServerMessage {
    ServerMessage::Error { message: message.to_owned() }
}

/// Answers one text frame: the replies join the session's queue.
fn handle_text(subscriber: &mut Subscriber, text: &str) {
    if text.len() > MAX_REQUEST_BYTES {
        let message = format!("request of {} bytes refused: at most {MAX_REQUEST_BYTES} bytes", text.len());
        return subscriber.send(&error(&message));
    }
    for reply in handle_request(subscriber, text) {
        subscriber.send(&reply);
    }
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
mod tests;
