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
//!   connections, each subscribing to `--watch` symbols of
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
//! `resync` frames received (with the total they report missed). Every measured
//! latency is kept (4 bytes each) and the quantiles are exact (nearest rank).
//! CPU is the user + system time of each process while the publisher runs.
//!
//! The clients are cheap on purpose, because they share the two cores with the
//! server they measure: a minimal RFC 6455 client ([`client::Client`]) instead of a
//! full library, and a few receive loops (`--client-threads`, default two)
//! that each serve thousands of connections, reading only the sockets whose
//! wakers fired, instead of one task per connection. Bar frames are read by
//! position ([`bar_fields`]); everything else goes through serde. Both servers
//! are measured with the same client.
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
//!
//! For soaks (`server/bench/soak.sh`), the server's RSS is also read right
//! after the warm-up ticks (when the publisher starts its first measured
//! tick) and right after the last tick is published (before the drain), and
//! printed as `SOAK <warm-up RSS KiB> <end RSS KiB> <end / warm-up> <peak RSS
//! KiB>`. With `--rss-every N`, a line `RSS <seconds since publishing began>
//! <RSS KiB> <1-minute load average>` is printed every N seconds while the
//! publisher runs.

use std::collections::HashSet;
use std::io::{BufRead, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Waker;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use app::live::protocol::{BarUpdate, ClientMessage, PROTOCOL_VERSION, ServerMessage};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use clap::{Parser, ValueEnum};
use quant::{Bar, Timeframe};
use serde::Deserialize;
use server::bus::{Bus, encode};
use server::config::{Config, DatabaseUrl, Feed};
use server::state::AppState;
use server::storage::Db;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod client;
mod receive;

use receive::{Conn, Ready, ReadyWaker, Window, connect, receive, symbol_number};

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
    /// Threads running the clients, each with one receive loop (1: a
    /// current-thread runtime). Two, as many as the machine has cores: with one,
    /// the clients' own queueing dominates the latency at 10,000 clients.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Print the server's RSS every this many seconds while publishing (0: never).
    #[arg(long, default_value_t = 0)]
    rss_every: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.serve {
        Some(which) => tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(which, &args)),
        None if args.client_threads <= 1 => {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(drive(&args))
        }
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
            .block_on(drive(&args)),
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
                let frame = reference_text(&ServerMessage::Bar(update));
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
    let sink = Arc::new(sink);
    let symbols: Arc<[String]> = (0..args.symbols).map(symbol_name).collect();
    // Sequence 0 of every symbol, so that snapshots hold something.
    for symbol in symbols.iter() {
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
                // On a worker, like the product's feed task (not on this
                // thread, outside the runtime's workers).
                let published = tokio::spawn(publish(sink.clone(), symbols.clone(), ticks)).await?;
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
async fn publish(sink: Arc<Sink>, symbols: Arc<[String]>, ticks: u64) -> u64 {
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

/// A message as the reference server sends it: serialized once, by the same
/// serde code as ours, into axum's text type.
fn reference_text(message: &ServerMessage) -> Utf8Bytes {
    encode(message).as_str().into()
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
    let hello = reference_text(&ServerMessage::Hello { protocol: PROTOCOL_VERSION, simulated: true });
    if socket.send(Message::Text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ClientMessage::Subscribe { channel, symbols }) = serde_json::from_str(text.as_str()) {
                        wanted.extend(symbols.iter().cloned());
                        let reply = reference_text(&ServerMessage::Subscribed { channel, symbols });
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
                    let resync = reference_text(&ServerMessage::Resync { missed });
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

/// What the clients of one receive loop saw, merged by the driver at the end.
#[derive(Debug, Default)]
struct Seen {
    /// Latency of each measured event received, µs (so its length is the
    /// number of measured events received).
    latencies: Vec<u32>,
    /// `resync` frames received.
    resyncs: u64,
    /// Events those frames reported missed.
    missed: u64,
    /// Sequence gaps (any tick).
    gaps: u64,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        self.latencies.extend(other.latencies);
        self.resyncs += other.resyncs;
        self.missed += other.missed;
        self.gaps += other.gaps;
    }
}

/// The value at quantile `q` of `sorted` (nearest rank), µs.
fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1])
}

/// Shared by the driver and the receive loops, touched rarely.
struct Tally {
    /// Bar events received (any tick), added once per batch of sockets read:
    /// only to see when traffic stops.
    deliveries: AtomicU64,
    ready: AtomicUsize,
    disconnected: AtomicUsize,
}

/// The fields of a server frame the clients look at, when
/// [`bar_fields`] does not apply.
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

/// Symbol, sequence number (`ts`) and publish time (`volume`) of a `bar`
/// frame as both servers write it (`bus::encode`: the tag first, then the
/// fields in declaration order, `volume` last, no white space), without a
/// JSON parser. `None` for anything else, which then goes through serde.
fn bar_fields(text: &str) -> Option<(&str, u64, f64)> {
    let rest = text.strip_prefix(r#"{"type":"bar","symbol":""#)?;
    let (symbol, rest) = rest.split_once('"')?;
    let (_, rest) = rest.split_once('{')?;
    let rest = rest.strip_prefix(r#""ts":"#)?;
    let (ts, _) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit())?);
    let (head, volume) = text.strip_suffix("}}")?.rsplit_once(':')?;
    if !head.ends_with(r#","volume""#) {
        return None;
    }
    Some((symbol, ts.parse().ok()?, volume.parse().ok()?))
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

/// The 1-minute load average, as `/proc/loadavg` writes it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Reads the server's RSS once the warm-up ticks are published (into
/// `warm`, KiB), and with `every` > 0 prints an `RSS` line every `every`
/// seconds from `publishing` on, until aborted.
async fn sample_rss(pid: u32, publishing: std::time::Instant, warmup: u64, every: u64, warm: Arc<AtomicU64>) {
    // The publisher starts 100 ms after the command; tick k is published
    // during its k-th second.
    let warm_at = publishing + Duration::from_millis(100) + Duration::from_secs(warmup);
    let mut next = (every > 0).then(|| publishing + Duration::from_secs(every));
    let sample = |at: std::time::Instant| {
        if let Ok((rss, _)) = rss_kib(pid) {
            println!("RSS {} {rss} {}", (at - publishing).as_secs(), load_average());
            std::io::stdout().flush().ok();
        }
    };
    while let Some(at) = next.filter(|&at| at < warm_at) {
        tokio::time::sleep_until(at.into()).await;
        sample(at);
        next = Some(at + Duration::from_secs(every));
    }
    tokio::time::sleep_until(warm_at.into()).await;
    if let Ok((rss, _)) = rss_kib(pid) {
        warm.store(rss, Ordering::Relaxed);
        eprintln!("server RSS {rss} KiB after the {warmup} s warm-up");
    }
    while let Some(at) = next {
        tokio::time::sleep_until(at.into()).await;
        sample(at);
        next = Some(at + Duration::from_secs(every));
    }
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
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_empty, _) = rss_kib(pid)?;

    let window = Window { first: args.warmup + 1, last: args.warmup + args.seconds };
    let tally = Arc::new(Tally {
        deliveries: AtomicU64::new(0),
        ready: AtomicUsize::new(0),
        disconnected: AtomicUsize::new(0),
    });
    let started = std::time::Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let spacing = args.symbols / args.watch;
    let mut connecting = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let watch: Vec<String> = (0..args.watch).map(|j| symbol_name((c + j * spacing) % args.symbols)).collect();
        let (tally, gate) = (tally.clone(), gate.clone());
        let mask = (u32::try_from(c).unwrap_or(u32::MAX).wrapping_mul(0x9e37_79b9) | 1).to_be_bytes();
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let connected = connect(addr, mask, &watch).await;
            match &connected {
                Ok(_) => tally.ready.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    if tally.disconnected.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("client {c}: {e:#}");
                    }
                    0
                }
            };
            connected.map(|client| (client, watch))
        }));
    }
    while tally.ready.load(Ordering::Relaxed) + tally.disconnected.load(Ordering::Relaxed) < args.clients {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("only {} of {} clients subscribed within 300 s", tally.ready.load(Ordering::Relaxed), args.clients);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The subscribed connections, dealt round-robin to the receive loops.
    let loops = args.client_threads.max(1);
    let mut shares: Vec<(Vec<Conn>, Arc<Ready>)> = (0..loops).map(|_| (Vec::new(), Arc::default())).collect();
    for (c, connected) in connecting.into_iter().enumerate() {
        let Ok((client, watch)) = connected.await? else { continue };
        let (conns, ready) = &mut shares[c % loops];
        let waker = Waker::from(Arc::new(ReadyWaker { index: conns.len(), ready: ready.clone() }));
        let watch = watch.iter().filter_map(|s| symbol_number(s)).map(|n| (n, 0)).collect();
        conns.push(Conn { client, waker, watch, open: true });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::with_capacity(loops);
    for (conns, ready) in shares {
        let receiving = receive(conns, ready.clone(), window, tally.clone(), stop.clone());
        receivers.push((ready, tokio::spawn(tokio::task::coop::unconstrained(receiving))));
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
    let rss_warm = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_rss(pid, publishing, args.warmup, args.rss_every, rss_warm.clone()));
    let done = server.reply(Duration::from_secs(ticks + 120)).await?;
    let (rss_end, _) = rss_kib(pid)?;
    sampler.abort();
    let rss_warm = rss_warm.load(Ordering::Relaxed);
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
    stop.store(true, Ordering::Release);
    let mut seen = Seen::default();
    for (ready, receiver) in receivers {
        ready.task.wake();
        seen.merge(receiver.await?);
    }
    server.command("quit")?;
    let _ = tokio::task::spawn_blocking(move || server.child.wait()).await;

    seen.latencies.sort_unstable();
    let received = seen.latencies.len() as u64;
    let expected = (args.clients * args.watch) as u64 * args.seconds;
    let ms = |q: f64| quantile(&seen.latencies, q) / 1000.0;
    let max_ms = seen.latencies.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0);
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
        seen.gaps
    );
    println!("  resyncs       {} ({} events reported missed)", seen.resyncs, seen.missed);
    println!(
        "  latency       p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {max_ms:.2} ms",
        ms(0.5),
        ms(0.99),
        ms(0.999)
    );
    println!("  idle memory   {idle_kib:.1} KiB per connection ({rss_empty} -> {rss_idle} KiB)");
    println!("  peak RSS      {:.1} MiB; clients disconnected: {disconnected}", rss_peak as f64 / 1024.0);
    let soak_ratio = rss_end as f64 / rss_warm.max(1) as f64;
    println!(
        "  RSS           {rss_warm} KiB after warm-up, {rss_end} KiB at the end ({:+.1}%)",
        (soak_ratio - 1.0) * 100.0
    );
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
        seen.resyncs,
        seen.missed,
        ms(0.5),
        ms(0.99),
        rss_peak as f64 / 1024.0,
    );
    println!("SOAK {rss_warm} {rss_end} {soak_ratio:.4} {rss_peak}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]

    use super::*;

    #[test]
    fn bar_fields_reads_what_the_servers_write_and_agrees_with_serde() {
        for (seq, published) in [(1, 1_735_689_600_123_456.0), (42, 5.0), (7, 0.25)] {
            let mut update = event("S042", seq);
            update.bar.volume = published;
            let frame = encode(&ServerMessage::Bar(update));
            let text = frame.as_str();
            let parsed: Frame<'_> = serde_json::from_str(text).unwrap();
            let bar = parsed.bar.unwrap();
            assert_eq!(bar_fields(text), Some(("S042", bar.ts, bar.volume)), "{text}");
            assert_eq!(bar_fields(text), Some(("S042", seq, published)));
        }
        for other in [
            encode(&ServerMessage::Heartbeat { ts: 5 }),
            encode(&ServerMessage::Resync { missed: 3 }),
            encode(&ServerMessage::Hello { protocol: PROTOCOL_VERSION, simulated: true }),
        ] {
            assert_eq!(bar_fields(other.as_str()), None, "{other}");
        }
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&sorted, 0.5), 50.0);
        assert_eq!(quantile(&sorted, 0.99), 99.0);
        assert_eq!(quantile(&sorted, 1.0), 100.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
