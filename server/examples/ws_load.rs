//! Load generator for the `/ws` live feed: many WebSocket clients on loopback,
//! a publisher of bar events, latency and loss measured per delivery, and the
//! server's resident memory per idle connection.
//!
//! Two processes, so the server's memory is its own:
//! - the **server** (this binary re-run with `--serve ours|reference`): either
//!   the real router (`server::http::router` over an `AppState` with a fresh
//!   SQLite database and no feed), or the reference, a minimal axum broadcast
//!   server (one task per client, a `tokio::sync::broadcast` receiver of every
//!   event filtered per client, 4 KiB read buffer, tungstenite's other
//!   defaults). In the same process, a publisher emits one `bars` event per
//!   symbol per second, the symbols spread evenly across each second (100
//!   symbols: one every 10 ms). Each event is a 1-second bar whose `ts` is its
//!   per-symbol sequence number (1, 2, ...) and whose `volume` carries the
//!   publish time in Unix microseconds, taken just before the event is handed
//!   to the bus (ours: `Bus::publish_bar`; reference: serialize once and
//!   `broadcast::Sender::send`).
//! - the **driver** (this binary without `--serve`): starts the server, reads
//!   its RSS (`VmRSS` of `/proc/<pid>/status`) with no client, opens `--clients`
//!   connections (tokio-tungstenite), each subscribing to `--watch` symbols of
//!   channel `bars`, so every symbol has clients/symbols*watch subscribers,
//!   waits until all are subscribed and settled, reads the RSS again (the
//!   difference over the client count is the memory per idle connection), then
//!   asks the server to publish `--warmup` + `--seconds` ticks.
//!
//! Only events of the last `--seconds` ticks are measured. For each, the client
//! records the latency (its receive time minus the publish time in the event;
//! both processes read the same clock). After the publisher stops, the clients
//! drain until no event has arrived for 2 s (at most 60 s), then:
//! deliveries/s = measured events received / seconds; lost = clients x watch x
//! seconds - measured events received (never delivered as events); resyncs =
//! `resync` frames received (with the total they report missed). Latencies go
//! into a shared log-linear histogram (1/32 resolution, about 3%). CPU is the
//! user + system time of each process while the publisher runs.
//!
//! ```text
//! ulimit -n 20000   # each process holds one descriptor per connection
//! cargo run --release -p server --example ws_load -- --clients 1000
//! cargo run --release -p server --example ws_load -- --clients 10000 --server reference
//! ```
//!
//! `server/bench/ws_load.sh` runs both servers at 1,000 and 10,000 clients and
//! prints a table. Lines starting with `RESULT` are for scripts:
//! `RESULT <server> <clients> <deliveries/s> <expected/s> <lost> <resyncs> <missed> <p50 ms> <p99 ms> <max ms>
//! <idle KiB/conn> <peak RSS MiB> <disconnected> <server cores> <client cores>`, where cores are CPU seconds per
//! second of publishing (user + system, from `/proc/<pid>/stat`).

use std::collections::HashSet;
use std::io::{BufRead, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use app::live::protocol::{BarUpdate, Channel, ClientMessage, PROTOCOL_VERSION, ServerMessage};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};
use quant::{Bar, Timeframe};
use serde::Deserialize;
use server::bus::{Bus, encode};
use server::config::{Config, DatabaseUrl, Feed};
use server::state::AppState;
use server::storage::Db;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

/// Which server handles `/ws`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Impl {
    /// Finstage's router, bus and sessions.
    Ours,
    /// A minimal axum broadcast server, for comparison.
    Reference,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Reference => "reference",
        }
    }
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Load-test the /ws live feed on loopback")]
struct Args {
    /// Run as the server process (started by the driver).
    #[arg(long, value_enum)]
    serve: Option<Impl>,
    /// The server to measure.
    #[arg(long, value_enum, default_value_t = Impl::Ours)]
    server: Impl,
    /// WebSocket clients.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// Symbols publishing one bar event per second each.
    #[arg(long, default_value_t = 100)]
    symbols: usize,
    /// Symbols each client subscribes to.
    #[arg(long, default_value_t = 10)]
    watch: usize,
    /// Ticks (seconds) published before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Ticks (seconds) measured.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Capacity of the reference server's broadcast channel, in events.
    #[arg(long, default_value_t = 1_024)]
    reference_capacity: usize,
    /// Set TCP_NODELAY on the server's accepted sockets (`finstage serve`
    /// leaves Nagle's algorithm on).
    #[arg(long)]
    nodelay: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.serve {
        Some(which) => runtime.block_on(serve(which, &args)),
        None => runtime.block_on(drive(&args)),
    }
}

fn symbol_name(i: usize) -> String {
    format!("S{i:03}")
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

// ---------------------------------------------------------------------------
// The server process.

/// Where the publisher hands its events.
enum Sink {
    Ours(Bus),
    Reference(broadcast::Sender<(Arc<str>, Utf8Bytes)>),
}

impl Sink {
    fn publish(&self, update: BarUpdate) {
        match self {
            Sink::Ours(bus) => bus.publish_bar(update),
            Sink::Reference(sender) => {
                let symbol: Arc<str> = update.symbol.as_str().into();
                let frame = encode(&ServerMessage::Bar(update));
                let _ = sender.send((symbol, frame));
            }
        }
    }
}

fn event(symbol: &str, seq: u64) -> BarUpdate {
    let price = 100.0 + (seq % 50) as f64 / 10.0;
    let bar = Bar {
        ts: i64::try_from(seq).unwrap_or(i64::MAX),
        open: price,
        high: price + 0.5,
        low: price - 0.5,
        close: price,
        // The publish time, Unix µs (exact in an f64 for millennia).
        volume: unix_micros() as f64,
    };
    BarUpdate { symbol: symbol.to_owned(), timeframe: Timeframe::S1, bar }
}

async fn serve(which: Impl, args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let (router, sink) = match which {
        Impl::Ours => {
            let url = DatabaseUrl::from(format!("sqlite://{}", dir.path().join("ws_load.db").display()).as_str());
            let db = Db::connect(&url).await?;
            db.migrate().await?;
            let config = Config { database_url: url, feed: Feed::None, watchlist: Vec::new(), ..Config::default() };
            let state = AppState::new(config, db, shutdown.clone());
            let bus = state.bus.clone();
            (server::http::router(state), Sink::Ours(bus))
        }
        Impl::Reference => {
            let (sender, _) = broadcast::channel(args.reference_capacity);
            (Router::new().route("/ws", get(reference_handler)).with_state(sender.clone()), Sink::Reference(sender))
        }
    };
    let symbols: Vec<String> = (0..args.symbols).map(symbol_name).collect();
    // Sequence 0 of every symbol, so that snapshots hold something.
    for symbol in &symbols {
        sink.publish(event(symbol, 0));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let nodelay = args.nodelay;
    let listener = listener.tap_io(move |tcp| {
        if nodelay {
            let _ = tcp.set_nodelay(true);
        }
    });
    let stop = shutdown.clone();
    let server =
        tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await });
    println!("ready {port}");
    std::io::stdout().flush()?;

    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|w| w.parse::<u64>().ok())) {
            (Some("start"), Some(ticks)) => {
                let published = publish(&sink, &symbols, ticks).await;
                println!("done {published}");
                std::io::stdout().flush()?;
            }
            _ => break,
        }
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(())
}

/// Publishes `ticks` rounds: symbol `i` of round `k` at `k` s + `i`/`symbols` s.
async fn publish(sink: &Sink, symbols: &[String], ticks: u64) -> u64 {
    let start = Instant::now() + Duration::from_millis(100);
    let step = Duration::from_secs(1) / u32::try_from(symbols.len().max(1)).unwrap_or(u32::MAX);
    let mut published = 0;
    for tick in 1..=ticks {
        let round = start + Duration::from_secs(tick - 1);
        for (i, symbol) in symbols.iter().enumerate() {
            tokio::time::sleep_until(round + step * u32::try_from(i).unwrap_or(u32::MAX)).await;
            sink.publish(event(symbol, tick));
            published += 1;
        }
    }
    published
}

async fn reference_handler(
    upgrade: WebSocketUpgrade,
    State(sender): State<broadcast::Sender<(Arc<str>, Utf8Bytes)>>,
) -> Response {
    upgrade.read_buffer_size(4 * 1024).on_upgrade(move |socket| reference_session(socket, sender.subscribe()))
}

/// The reference session: every event of the server reaches every session,
/// which forwards those of its symbols.
async fn reference_session(mut socket: WebSocket, mut events: broadcast::Receiver<(Arc<str>, Utf8Bytes)>) {
    let mut wanted: HashSet<String> = HashSet::new();
    let hello = encode(&ServerMessage::Hello { protocol: PROTOCOL_VERSION, simulated: true });
    if socket.send(Message::Text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ClientMessage::Subscribe { channel, symbols }) = serde_json::from_str(text.as_str()) {
                        wanted.extend(symbols.iter().cloned());
                        let reply = encode(&ServerMessage::Subscribed { channel, symbols });
                        if socket.send(Message::Text(reply)).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            event = events.recv() => match event {
                Ok((symbol, frame)) => {
                    if wanted.contains(&*symbol) && socket.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let resync = encode(&ServerMessage::Resync { missed });
                    if socket.send(Message::Text(resync)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// The driver.

/// Latencies in µs: exact below 64, then 32 sub-buckets per power of two. One
/// shard per thread (chosen on first use), so that recording is an uncontended
/// lock instead of atomics shared by every thread.
struct Histogram {
    shards: Vec<Mutex<Shard>>,
}

#[derive(Clone)]
struct Shard {
    buckets: Vec<u64>,
    max: u64,
}

const SHARDS: usize = 16;

thread_local! {
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

impl Histogram {
    const SUB: u32 = 32;
    const BUCKETS: usize = 64 + 40 * Self::SUB as usize;

    fn new() -> Self {
        let shard = Shard { buckets: vec![0; Self::BUCKETS], max: 0 };
        Self { shards: (0..SHARDS).map(|_| Mutex::new(shard.clone())).collect() }
    }

    fn index(value: u64) -> usize {
        if value < 64 {
            return usize::try_from(value).unwrap_or(0);
        }
        let exp = 63 - value.leading_zeros(); // >= 6
        let sub = (value >> (exp - 5)) & u64::from(Self::SUB - 1);
        64 + ((exp - 6) * Self::SUB) as usize + usize::try_from(sub).unwrap_or(0)
    }

    /// The middle of bucket `index`.
    fn value(index: usize) -> f64 {
        if index < 64 {
            return index as f64;
        }
        let (exp, sub) = ((index - 64) / Self::SUB as usize + 6, (index - 64) % Self::SUB as usize);
        let width = 1u64 << (exp - 5);
        ((1u64 << exp) + sub as u64 * width) as f64 + width as f64 / 2.0
    }

    fn record(&self, micros: u64) {
        let index = Self::index(micros).min(Self::BUCKETS - 1);
        let mut shard = self.shards[SHARD.with(|s| *s)].lock().unwrap_or_else(PoisonError::into_inner);
        shard.buckets[index] += 1;
        shard.max = shard.max.max(micros);
    }

    /// All shards added up.
    fn merged(&self) -> Shard {
        let mut total = Shard { buckets: vec![0; Self::BUCKETS], max: 0 };
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            total.buckets.iter_mut().zip(&shard.buckets).for_each(|(t, b)| *t += b);
            total.max = total.max.max(shard.max);
        }
        total
    }

    /// The value at quantile `q`, in µs.
    fn quantile(&self, q: f64) -> f64 {
        let merged = self.merged();
        let total: u64 = merged.buckets.iter().sum();
        if total == 0 {
            return f64::NAN;
        }
        let rank = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, count) in merged.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(i);
            }
        }
        merged.max as f64
    }

    fn max(&self) -> u64 {
        self.merged().max
    }
}

/// What the clients saw, shared by all of them.
struct Tally {
    latency: Histogram,
    /// Measured events received.
    received: AtomicU64,
    resyncs: AtomicU64,
    missed: AtomicU64,
    /// Sequence gaps seen by clients (any tick).
    gaps: AtomicU64,
    /// Bar events received (any tick), added in steps of [`STEP`] per client:
    /// only to see when traffic stops.
    deliveries: AtomicU64,
    ready: AtomicUsize,
    disconnected: AtomicUsize,
}

/// The fields of a server frame the clients look at.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    symbol: Option<&'a str>,
    #[serde(default)]
    bar: Option<LiteBar>,
    #[serde(default)]
    missed: Option<u64>,
    #[serde(default, borrow)]
    bars: Vec<LiteUpdate<'a>>,
}

#[derive(Deserialize)]
struct LiteUpdate<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    bar: LiteBar,
}

#[derive(Deserialize)]
struct LiteBar {
    ts: u64,
    volume: f64,
}

/// Which ticks are measured.
#[derive(Clone, Copy)]
struct Window {
    first: u64,
    last: u64,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a connection and subscribes to `watch`; returns once the server
/// confirmed (a snapshot may follow).
async fn connect(url: &str, watch: &[String]) -> anyhow::Result<Socket> {
    // Small: tungstenite zero-fills the free part of its read buffer before
    // every read, and frames here are ~150 bytes.
    let config = WebSocketConfig::default().read_buffer_size(256);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    let subscribe = ClientMessage::Subscribe { channel: Channel::Bars, symbols: watch.to_vec() };
    socket.send(serde_json::to_string(&subscribe)?.into()).await?;
    loop {
        let message = socket.next().await.context("closed while subscribing")??;
        let Ok(text) = message.to_text() else { continue };
        match serde_json::from_str::<Frame<'_>>(text)?.kind {
            "subscribed" => return Ok(socket),
            "hello" => {}
            _ => bail!("unexpected while subscribing: {text}"),
        }
    }
}

/// How many deliveries a client counts before adding them to the shared tally.
const STEP: u64 = 8;

/// The number in a symbol name made by [`symbol_name`].
fn symbol_number(name: &str) -> Option<usize> {
    name.strip_prefix('S')?.parse().ok()
}

/// Reads events until `stop`, recording what arrives.
async fn listen(
    mut socket: Socket,
    watch: Vec<String>,
    window: Window,
    tally: Arc<Tally>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut received = 0;
    let result = receive(&mut socket, &watch, window, &tally, &stop, &mut received).await;
    tally.received.fetch_add(received, Ordering::Relaxed);
    result
}

/// The loop of [`listen`]; `received` counts the measured events.
async fn receive(
    socket: &mut Socket,
    watch: &[String],
    window: Window,
    tally: &Tally,
    stop: &CancellationToken,
    received: &mut u64,
) -> anyhow::Result<()> {
    let watch: Vec<usize> = watch.iter().filter_map(|s| symbol_number(s)).collect();
    let position = |symbol: &str| symbol_number(symbol).and_then(|n| watch.iter().position(|&w| w == n));
    let mut last = vec![0u64; watch.len()];
    let mut deliveries = 0u64;
    let mut stopped = std::pin::pin!(stop.cancelled());
    loop {
        let message = tokio::select! {
            () = stopped.as_mut() => break,
            message = socket.next() => match message {
                Some(Ok(message)) => message,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("server closed the connection"),
            },
        };
        let Ok(text) = message.to_text() else { continue };
        let received_at = unix_micros();
        let frame: Frame<'_> = serde_json::from_str(text)?;
        match frame.kind {
            "bar" => {
                let (Some(symbol), Some(bar)) = (frame.symbol, frame.bar) else { continue };
                let Some(at) = position(symbol) else { bail!("unsubscribed symbol {symbol}") };
                if bar.ts > last[at] + 1 {
                    tally.gaps.fetch_add(bar.ts - last[at] - 1, Ordering::Relaxed);
                }
                last[at] = last[at].max(bar.ts);
                deliveries += 1;
                if deliveries.is_multiple_of(STEP) {
                    tally.deliveries.fetch_add(STEP, Ordering::Relaxed);
                }
                if (window.first..=window.last).contains(&bar.ts) {
                    *received += 1;
                    tally.latency.record(received_at.saturating_sub(bar.volume as u64));
                }
            }
            "snapshot" => {
                for update in frame.bars {
                    if let Some(at) = position(update.symbol) {
                        last[at] = last[at].max(update.bar.ts);
                    }
                }
            }
            "resync" => {
                tally.resyncs.fetch_add(1, Ordering::Relaxed);
                tally.missed.fetch_add(frame.missed.unwrap_or(0), Ordering::Relaxed);
            }
            "error" => bail!("server error: {text}"),
            _ => {}
        }
    }
    Ok(())
}

/// Resident set of process `pid`, KiB (`VmRSS`), and its peak (`VmHWM`).
fn rss_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) used so far by process `pid` (`"self"` for this
/// one), seconds. `/proc/<pid>/stat` counts in clock ticks, 100 per second on
/// Linux.
fn cpu_secs(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, so the 12th and 13th after it.
    let rest = stat.rsplit_once(')').context("unexpected /proc/<pid>/stat")?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let mut tick = || fields.next().and_then(|f| f.parse::<u64>().ok()).context("unexpected /proc/<pid>/stat");
    let ticks = tick()? + tick()?;
    Ok(ticks as f64 / 100.0)
}

/// The soft limit on open files of this process.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The server child: its stdin (commands) and stdout (replies).
struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    replies: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ServerProcess {
    fn start(which: Impl, args: &Args) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve", which.name(), "--symbols", &args.symbols.to_string()])
            .args(["--reference-capacity", &args.reference_capacity.to_string()])
            .args(args.nodelay.then_some("--nodelay"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the server process")?;
        let stdin = child.stdin.take().context("server stdin")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, replies) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, stdin, replies })
    }

    async fn reply(&mut self, within: Duration) -> anyhow::Result<String> {
        tokio::time::timeout(within, self.replies.recv())
            .await
            .context("the server did not answer in time")?
            .context("the server process ended")
    }

    fn command(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{line}")?;
        Ok(self.stdin.flush()?)
    }
}

async fn drive(args: &Args) -> anyhow::Result<()> {
    if args.watch == 0 || args.watch > args.symbols {
        bail!("--watch must be between 1 and --symbols");
    }
    let needed = args.clients as u64 + 64;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        bail!(
            "{} clients need {needed} open files per process, the limit is {limit}: run `ulimit -n {needed}` first",
            args.clients
        );
    }
    let mut server = ServerProcess::start(args.server, args)?;
    let pid = server.child.id();
    let ready = server.reply(Duration::from_secs(60)).await?;
    let port: u16 = ready.strip_prefix("ready ").context("unexpected greeting")?.parse()?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_empty, _) = rss_kib(pid)?;

    let window = Window { first: args.warmup + 1, last: args.warmup + args.seconds };
    let tally = Arc::new(Tally {
        latency: Histogram::new(),
        received: AtomicU64::new(0),
        resyncs: AtomicU64::new(0),
        missed: AtomicU64::new(0),
        gaps: AtomicU64::new(0),
        deliveries: AtomicU64::new(0),
        ready: AtomicUsize::new(0),
        disconnected: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let started = std::time::Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let spacing = args.symbols / args.watch;
    let mut clients = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let watch: Vec<String> = (0..args.watch).map(|j| symbol_name((c + j * spacing) % args.symbols)).collect();
        let (url, tally, stop, gate) = (url.clone(), tally.clone(), stop.clone(), gate.clone());
        clients.push(tokio::spawn(async move {
            let connected = {
                let _permit = gate.acquire().await;
                connect(&url, &watch).await
            };
            let result = match connected {
                Ok(socket) => {
                    tally.ready.fetch_add(1, Ordering::Relaxed);
                    listen(socket, watch, window, tally.clone(), stop).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result
                && tally.disconnected.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("client {c}: {e:#}");
            }
        }));
    }
    while tally.ready.load(Ordering::Relaxed) + tally.disconnected.load(Ordering::Relaxed) < args.clients {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("only {} of {} clients subscribed within 300 s", tally.ready.load(Ordering::Relaxed), args.clients);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_idle, _) = rss_kib(pid)?;
    let idle_kib = (rss_idle.saturating_sub(rss_empty)) as f64 / args.clients.max(1) as f64;
    eprintln!(
        "{} clients subscribed in {connect_secs:.1} s; server RSS {rss_empty} KiB empty, {rss_idle} KiB idle",
        args.clients
    );

    let ticks = args.warmup + args.seconds;
    let (server_cpu, driver_cpu, publishing) =
        (cpu_secs(&pid.to_string())?, cpu_secs("self")?, std::time::Instant::now());
    server.command(&format!("start {ticks}"))?;
    let done = server.reply(Duration::from_secs(ticks + 120)).await?;
    let elapsed = publishing.elapsed().as_secs_f64();
    let server_cores = (cpu_secs(&pid.to_string())? - server_cpu) / elapsed;
    let driver_cores = (cpu_secs("self")? - driver_cpu) / elapsed;
    // Drain: wait until nothing has arrived for 2 s (at most 60 s), so that
    // late events count as late, not lost.
    let drain = std::time::Instant::now();
    let mut quiet_since = (tally.deliveries.load(Ordering::Relaxed), std::time::Instant::now());
    while quiet_since.1.elapsed() < Duration::from_secs(2) && drain.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = tally.deliveries.load(Ordering::Relaxed);
        if now != quiet_since.0 {
            quiet_since = (now, std::time::Instant::now());
        }
    }
    let (_, rss_peak) = rss_kib(pid)?;
    stop.cancel();
    for client in clients {
        let _ = client.await;
    }
    server.command("quit")?;
    let _ = tokio::task::spawn_blocking(move || server.child.wait()).await;

    let received = tally.received.load(Ordering::Relaxed);
    let expected = (args.clients * args.watch) as u64 * args.seconds;
    let ms = |q: f64| tally.latency.quantile(q) / 1000.0;
    let max_ms = tally.latency.max() as f64 / 1000.0;
    let per_sec = received as f64 / args.seconds as f64;
    let disconnected = tally.disconnected.load(Ordering::Relaxed);
    println!(
        "server {}{}: {} clients x {} of {} symbols, {} s measured after {} s warm-up ({done})",
        args.server.name(),
        if args.nodelay { " (TCP_NODELAY)" } else { "" },
        args.clients,
        args.watch,
        args.symbols,
        args.seconds,
        args.warmup
    );
    println!("  deliveries/s  {per_sec:.0} (expected {:.0})", expected as f64 / args.seconds as f64);
    println!(
        "  lost          {} of {expected} measured events; {} sequence gaps overall",
        expected.saturating_sub(received),
        tally.gaps.load(Ordering::Relaxed)
    );
    println!(
        "  resyncs       {} ({} events reported missed)",
        tally.resyncs.load(Ordering::Relaxed),
        tally.missed.load(Ordering::Relaxed)
    );
    println!(
        "  latency       p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {max_ms:.2} ms",
        ms(0.5),
        ms(0.99),
        ms(0.999)
    );
    println!("  idle memory   {idle_kib:.1} KiB per connection ({rss_empty} -> {rss_idle} KiB)");
    println!("  peak RSS      {:.1} MiB; clients disconnected: {disconnected}", rss_peak as f64 / 1024.0);
    let per_delivery = |cores: f64| cores * 1e6 / (expected as f64 / args.seconds as f64);
    println!(
        "  CPU           server {server_cores:.2} cores ({:.1} µs per delivery), clients {driver_cores:.2} cores ({:.1} µs)",
        per_delivery(server_cores),
        per_delivery(driver_cores)
    );
    println!(
        "RESULT {} {} {per_sec:.0} {:.0} {} {} {} {:.2} {:.2} {max_ms:.2} {idle_kib:.2} {:.1} {disconnected} \
         {server_cores:.2} {driver_cores:.2}",
        args.server.name(),
        args.clients,
        expected as f64 / args.seconds as f64,
        expected.saturating_sub(received),
        tally.resyncs.load(Ordering::Relaxed),
        tally.missed.load(Ordering::Relaxed),
        ms(0.5),
        ms(0.99),
        rss_peak as f64 / 1024.0,
    );
    Ok(())
}
