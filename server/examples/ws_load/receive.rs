//! The load generator's receive side: subscribed connections served by a few
//! receive loops, each reading only the sockets whose wakers fired, and the
//! bookkeeping of every delivery they read.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use anyhow::{Context as _, bail};
use app::live::protocol::{Channel, ClientMessage};
use futures::task::AtomicWaker;

use super::client::{Client, OP_TEXT};
use super::{Frame, Seen, Tally, bar_fields, unix_micros};

/// Which ticks are measured.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) first: u64,
    pub(crate) last: u64,
}

/// Opens a connection and subscribes to `watch`; returns once the server
/// confirmed (a snapshot may follow, still buffered).
pub(crate) async fn connect(addr: SocketAddr, mask: [u8; 4], watch: &[String]) -> anyhow::Result<Client> {
    let mut client = Client::open(addr, mask).await?;
    let subscribe = ClientMessage::Subscribe { channel: Channel::Bars, symbols: watch.to_vec() };
    client.send(OP_TEXT, serde_json::to_string(&subscribe)?.as_bytes()).await?;
    loop {
        while let Some(frame) = client.frame()? {
            if frame.opcode != OP_TEXT {
                client.control(frame)?;
                continue;
            }
            let text = std::str::from_utf8(&client.buf[frame.payload]).context("text frame")?;
            match serde_json::from_str::<Frame<'_>>(text)?.kind {
                "subscribed" => return Ok(client),
                "hello" => {}
                _ => bail!("unexpected while subscribing: {text}"),
            }
        }
        if poll_fn(|cx| client.poll_fill(cx)).await? == 0 {
            bail!("closed while subscribing");
        }
    }
}

/// The number in a symbol name made by [`symbol_name`].
pub(crate) fn symbol_number(name: &str) -> Option<usize> {
    name.strip_prefix('S')?.parse().ok()
}

/// One subscribed connection, as the receive loop sees it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    /// Wakes the receive loop for this connection (see [`Ready`]).
    pub(crate) waker: Waker,
    /// The watched symbols' numbers, each with the last sequence number seen.
    pub(crate) watch: Vec<(usize, u64)>,
    pub(crate) open: bool,
}

/// The connections whose sockets woke since the receive loop last looked.
///
/// One receive loop (one task) serves many connections: each socket is polled
/// with a waker of its own that lists it here, so the loop reads exactly the
/// sockets that have something, without a task per connection to schedule.
#[derive(Default)]
pub(crate) struct Ready {
    pub(crate) list: Mutex<Vec<usize>>,
    pub(crate) task: AtomicWaker,
}

/// The waker of connection `index` of one receive loop.
pub(crate) struct ReadyWaker {
    pub(crate) index: usize,
    pub(crate) ready: Arc<Ready>,
}

impl Wake for ReadyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let first = {
            let mut list = self.ready.list.lock().unwrap_or_else(PoisonError::into_inner);
            list.push(self.index);
            list.len() == 1
        };
        if first {
            self.ready.task.wake();
        }
    }
}

/// Reads the connections listed in [`Ready`] until `stop` is set, recording
/// what arrives.
pub(crate) async fn receive(
    mut conns: Vec<Conn>,
    ready: Arc<Ready>,
    window: Window,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> Seen {
    let measured = conns.first().map_or(0, |c| c.watch.len()) * (window.last + 1 - window.first) as usize;
    let mut seen = Seen { latencies: Vec::with_capacity(conns.len() * measured), ..Seen::default() };
    // Every connection first: frames buffered while subscribing, and each
    // socket learns its waker.
    let mut batch: Vec<usize> = (0..conns.len()).collect();
    loop {
        let mut delivered = 0;
        for &index in &batch {
            let conn = &mut conns[index];
            if !conn.open {
                continue;
            }
            if let Err(e) = pump(conn, window, &mut seen, &mut delivered) {
                conn.open = false;
                if tally.disconnected.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("client: {e:#}");
                }
            }
        }
        batch.clear();
        if delivered > 0 {
            tally.deliveries.fetch_add(delivered, Ordering::Relaxed);
        }
        let stopped = poll_fn(|cx| {
            ready.task.register(cx.waker());
            if stop.load(Ordering::Acquire) {
                return Poll::Ready(true);
            }
            let mut list = ready.list.lock().unwrap_or_else(PoisonError::into_inner);
            if list.is_empty() {
                return Poll::Pending;
            }
            std::mem::swap(&mut *list, &mut batch);
            Poll::Ready(false)
        })
        .await;
        if stopped {
            return seen;
        }
    }
}

/// Handles a connection's buffered frames, then reads and handles until its
/// socket has nothing more.
pub(crate) fn pump(conn: &mut Conn, window: Window, seen: &mut Seen, delivered: &mut u64) -> anyhow::Result<()> {
    let mut cx = Context::from_waker(&conn.waker);
    let mut received_at = unix_micros();
    loop {
        handle_frames(&mut conn.client, &mut conn.watch, received_at, window, seen, delivered)?;
        match conn.client.poll_fill(&mut cx) {
            Poll::Ready(Ok(0)) => bail!("server closed the connection"),
            Poll::Ready(Ok(_)) => received_at = unix_micros(),
            Poll::Ready(Err(e)) => return Err(e.into()),
            Poll::Pending => return Ok(()),
        }
    }
}

/// Handles the complete frames in `client`'s buffer, read at `received_at`.
pub(crate) fn handle_frames(
    client: &mut Client,
    watch: &mut [(usize, u64)],
    received_at: u64,
    window: Window,
    seen: &mut Seen,
    delivered: &mut u64,
) -> anyhow::Result<()> {
    while let Some(frame) = client.frame()? {
        if frame.opcode != OP_TEXT {
            client.control(frame)?;
            continue;
        }
        let text = std::str::from_utf8(&client.buf[frame.payload]).context("text frame")?;
        let last = |watch: &[(usize, u64)], symbol: &str| {
            let number = symbol_number(symbol);
            watch.iter().position(|&(n, _)| Some(n) == number)
        };
        let (symbol, ts, published) = match bar_fields(text) {
            Some(fields) => fields,
            None => {
                let frame: Frame<'_> = serde_json::from_str(text)?;
                match frame.kind {
                    "bar" => match frame.symbol.zip(frame.bar) {
                        Some((symbol, bar)) => (symbol, bar.ts, bar.volume),
                        None => bail!("bar frame without symbol or bar: {text}"),
                    },
                    "snapshot" => {
                        for update in frame.bars {
                            if let Some(at) = last(watch, update.symbol) {
                                watch[at].1 = watch[at].1.max(update.bar.ts);
                            }
                        }
                        continue;
                    }
                    "resync" => {
                        seen.resyncs += 1;
                        seen.missed += frame.missed.unwrap_or(0);
                        continue;
                    }
                    "error" => bail!("server error: {text}"),
                    _ => continue,
                }
            }
        };
        let Some(at) = last(watch, symbol) else { bail!("unsubscribed symbol {symbol}") };
        let previous = &mut watch[at].1;
        if ts > *previous + 1 {
            seen.gaps += ts - *previous - 1;
        }
        *previous = (*previous).max(ts);
        *delivered += 1;
        if (window.first..=window.last).contains(&ts) {
            let micros = received_at.saturating_sub(published as u64);
            seen.latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
    Ok(())
}
