//! A session's outgoing bytes: written straight to its socket by whoever has
//! them, or queued (bounded) for the session's task when the socket is full.
//!
//! Almost every delivery finds its session idle: nothing queued, and a socket
//! that takes a few hundred bytes at once. The publisher then writes the
//! event's frame (encoded once for every session) to the socket itself, from
//! the publishing thread: one system call per delivery, and no queue, no task
//! wake-up, no poll of the session. Only when the socket does not take the
//! whole frame (the client reads slowly) does the frame, or what is left of
//! it, wait in the session's queue, and the session's task is woken to write
//! it once the socket drains.
//!
//! Every byte bound for a socket goes through its outbox under one lock, the
//! session's own replies included, so frames never interleave and leave in the
//! order they were handed over. A queue holding [`Bus::capacity`] events is
//! emptied of them and the session told how many it lost (see
//! [`Due::Overflowed`]); replies and a frame already partly on the wire are
//! kept, since dropping them would break the stream.
//!
//! [`Bus::capacity`]: super::Bus::capacity

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::time::Instant;

/// A socket the publisher may write to without waiting.
pub trait Wire: Send + Sync {
    /// Writes what the socket accepts now; `WouldBlock` when it accepts nothing.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

impl Wire for tokio::net::TcpStream {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Clears the cached write readiness on `WouldBlock`, so the session's
        // next `writable()` waits for the kernel to say so.
        tokio::net::TcpStream::try_write_vectored(self, bufs)
    }
}

/// Why a session's task was woken (see [`Outbox::poll_due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Frames are queued: the socket did not take them at once.
    Flush,
    /// The queue overflowed: `missed` events were dropped. The session should
    /// send `resync` and fresh snapshots.
    Overflowed {
        /// How many events were dropped.
        missed: u64,
    },
}

/// Frames per vectored write.
const SLICES: usize = 64;

#[derive(Default)]
pub(super) struct Outbox {
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = lock(&self.queue);
        f.debug_struct("Outbox").field("queued", &queue.items.len()).field("missed", &queue.missed).finish()
    }
}

#[derive(Default)]
struct Queue {
    /// Whole frames, oldest first; the first may be partly written.
    items: VecDeque<Item>,
    /// Bytes of `items[0]` already written.
    written: usize,
    /// Events among `items` (replies do not count against the capacity).
    events: usize,
    /// Events dropped since the session last looked; while non-zero, events
    /// are counted, not queued (the snapshot that follows covers them).
    missed: u64,
    /// The session's task, while it waits for something to do.
    waker: Option<Waker>,
    /// The socket, once the session attached it.
    wire: Option<Arc<dyn Wire>>,
    /// When bytes last reached the socket.
    last_write: Option<Instant>,
}

struct Item {
    frame: Bytes,
    /// An event (may be dropped on overflow) rather than a session's reply.
    event: bool,
}

impl Outbox {
    /// Hands an event's frame to the session: straight to its socket when
    /// nothing is queued, else into the queue (or the overflow count).
    pub(super) fn push_event(&self, frame: &Bytes, capacity: usize) {
        let waker = {
            let mut queue = lock(&self.queue);
            if queue.missed > 0 {
                queue.missed += 1;
                return;
            }
            // An empty queue holds no events, so this never drops what the
            // direct path below would have written.
            if queue.events >= capacity {
                queue.overflow();
            } else {
                if queue.items.is_empty()
                    && let Some(wire) = &queue.wire
                {
                    match wire.try_write_vectored(&[IoSlice::new(frame)]) {
                        Ok(n) if n == frame.len() => {
                            queue.last_write = Some(Instant::now());
                            return;
                        }
                        Ok(n) => {
                            queue.last_write = Some(Instant::now());
                            queue.written = n;
                        }
                        // `WouldBlock`, or a failure the session's own write
                        // will meet and end on.
                        Err(_) => {}
                    }
                }
                queue.items.push_back(Item { frame: frame.clone(), event: true });
                queue.events += 1;
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Queues a session's own frame, after everything queued before it. It
    /// is never dropped; the session writes it with [`Outbox::flush`].
    pub(super) fn push_reply(&self, frame: Bytes) {
        // An empty item would make a write of nothing, which looks like a
        // closed socket.
        if !frame.is_empty() {
            lock(&self.queue).items.push_back(Item { frame, event: false });
        }
    }

    /// Lets publishers write to `wire` directly from now on.
    pub(super) fn attach(&self, wire: Arc<dyn Wire>) {
        lock(&self.queue).wire = Some(wire);
    }

    /// When bytes last reached the socket, by anyone.
    pub(super) fn last_write(&self) -> Option<Instant> {
        lock(&self.queue).last_write
    }

    /// Ready when the session has work: an overflow to report, or frames the
    /// socket did not take.
    pub(super) fn poll_due(&self, cx: &mut Context<'_>) -> Poll<Due> {
        let mut queue = lock(&self.queue);
        if queue.missed > 0 {
            return Poll::Ready(Due::Overflowed { missed: std::mem::take(&mut queue.missed) });
        }
        if !queue.items.is_empty() {
            return Poll::Ready(Due::Flush);
        }
        match &mut queue.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Writes queued frames until the queue is empty (`Ok(true)`) or the
    /// socket is full (`Ok(false)`: wait until it is writable and call again).
    /// An error means the connection is unusable.
    pub(super) fn flush(&self) -> io::Result<bool> {
        let mut queue = lock(&self.queue);
        let queue = &mut *queue;
        let Some(wire) = &queue.wire else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no socket attached"));
        };
        while !queue.items.is_empty() {
            let mut slices = [IoSlice::new(&[]); SLICES];
            let mut count = 0;
            for (slot, item) in slices.iter_mut().zip(&queue.items) {
                let skip = if count == 0 { queue.written } else { 0 };
                *slot = IoSlice::new(&item.frame[skip..]);
                count += 1;
            }
            let mut n = match wire.try_write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            queue.last_write = Some(Instant::now());
            while n > 0 {
                let Some(head) = queue.items.front() else { break };
                let left = head.frame.len() - queue.written;
                if n < left {
                    queue.written += n;
                    break;
                }
                n -= left;
                queue.written = 0;
                if queue.items.pop_front().is_some_and(|item| item.event) {
                    queue.events -= 1;
                }
            }
        }
        if queue.items.capacity() > 64 {
            queue.items.shrink_to(8);
        }
        Ok(true)
    }

    /// The frames still queued, the first without its written part (tests).
    #[cfg(test)]
    pub(super) fn queued(&self) -> Vec<Bytes> {
        let queue = lock(&self.queue);
        let mut frames: Vec<Bytes> = queue.items.iter().map(|item| item.frame.clone()).collect();
        if let Some(first) = frames.first_mut() {
            *first = first.slice(queue.written..);
        }
        frames
    }
}

impl Queue {
    /// Drops the queued events (but not a frame partly on the wire) and
    /// starts counting what the session misses.
    fn overflow(&mut self) {
        let partial = self.written > 0;
        let before = self.items.len();
        let mut index = 0;
        self.items.retain(|item| {
            let keep = !item.event || (index == 0 && partial);
            index += 1;
            keep
        });
        let dropped = before - self.items.len();
        self.events -= dropped;
        // This event is missed too; the cache already holds it.
        self.missed = dropped as u64 + 1;
        self.items.shrink_to_fit();
    }
}

// The queue is left consistent by every step (one push, pop or retain at a
// time), so a panic elsewhere while holding the lock cannot leave it
// half-written: poisoning is safe to ignore.
fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}
