//! Flood control for outgoing messages: at most one message per chat per
//! interval, and at most N messages in any one-second window over all chats
//! (Telegram's limits are about 1/s per chat and 30/s overall).
//!
//! Every send first takes a [`ChatPermit`] and gives it back (drops it) once
//! Telegram answered. Both limits count from the *end* of a send, and a send
//! still under way counts as if it ended now. That makes them hold at
//! Telegram's end whatever the network does: Telegram receives a request
//! between the moment it leaves and the moment its answer is back, so
//! - one chat: the next request leaves at least `interval` after the previous
//!   answer came back, hence reaches Telegram at least `interval` after the
//!   previous request did;
//! - overall: a request leaves only while fewer than N others are under way
//!   or were answered within the last second. Of any N + 1 requests, the last
//!   to leave found one of the others answered a second or more before it
//!   left, so no one-second window at Telegram's end holds N + 1 of them.
//!
//! (Counting from the moment a slot is taken instead, as a plain token bucket
//! does, lets network jitter push N + 1 arrivals into one second.)
//!
//! A 429's `retry_after` moves the chat's next allowed time further out.
//!
//! Why not `governor`: its keyed and direct limiters are separate, so a caller
//! waiting on both can still lose its per-chat spacing while it waits for the
//! global one, it has no notion of a request in flight, and no way to say "not
//! before T" after a 429. This is about a hundred lines with exactly the
//! semantics we need. Like any in-process limiter it counts this process only:
//! one process should run the bot.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedMutexGuard};
use tokio::time::Instant;

/// Idle chats are forgotten once this many are tracked.
const PRUNE_ABOVE: usize = 1_024;
const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Pace {
    /// Not before this instant.
    next_at: Option<Instant>,
}

/// The limiters shared by every sender in the process; cheap to clone.
#[derive(Debug, Clone)]
pub struct FloodControl {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_chat: Duration,
    per_second: usize,
    chats: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Pace>>>>,
    window: Mutex<Window>,
    /// Signalled whenever a send ends (a slot may have freed up).
    ended: Notify,
}

/// The global window: sends under way and when recent ones ended.
#[derive(Debug, Default)]
struct Window {
    in_flight: usize,
    /// End times within the last [`WINDOW`], oldest first.
    ended: VecDeque<Instant>,
}

impl Window {
    fn prune(&mut self, now: Instant) {
        while self.ended.front().is_some_and(|&t| t + WINDOW <= now) {
            self.ended.pop_front();
        }
    }
}

/// Leave to send one message to one chat. Hold it while sending; dropping it
/// records that the send ended (see [`ChatPermit::sent`]).
#[derive(Debug)]
pub struct ChatPermit {
    pace: OwnedMutexGuard<Pace>,
    flood: Arc<Inner>,
    /// Set by [`ChatPermit::hold_for`].
    hold: Option<Duration>,
    /// Set by [`ChatPermit::unused`]: nothing was sent.
    unused: bool,
}

impl ChatPermit {
    /// Records that the message went out (or may have): the chat's next
    /// message waits a full interval from now, and the send counts in the
    /// global window from now. Dropping the permit does the same.
    pub fn sent(self) {}

    /// Records that Telegram asked us to wait `wait` before writing to this chat again.
    pub fn hold_for(mut self, wait: Duration) {
        self.hold = Some(wait);
    }

    /// Gives the permit back without having sent anything: neither limit
    /// counts it.
    pub fn unused(mut self) {
        self.unused = true;
    }
}

impl Drop for ChatPermit {
    fn drop(&mut self) {
        let now = Instant::now();
        if !self.unused {
            let wait = self.hold.map_or(self.flood.per_chat, |w| w.max(self.flood.per_chat));
            self.pace.next_at = Some(now + wait);
        }
        {
            let mut window = self.flood.window.lock().unwrap_or_else(PoisonError::into_inner);
            window.in_flight = window.in_flight.saturating_sub(1);
            if !self.unused {
                window.ended.push_back(now);
            }
        }
        self.flood.ended.notify_waiters();
    }
}

impl FloodControl {
    /// At most one message per `per_chat` to a chat and `per_second` in any second overall.
    #[must_use]
    pub fn new(per_chat: Duration, per_second: u32) -> Self {
        let per_second = usize::try_from(per_second.max(1)).unwrap_or(usize::MAX);
        Self {
            inner: Arc::new(Inner {
                per_chat,
                per_second,
                chats: Mutex::new(HashMap::new()),
                window: Mutex::new(Window { in_flight: 0, ended: VecDeque::with_capacity(per_second) }),
                ended: Notify::new(),
            }),
        }
    }

    /// Waits until a message may be sent to `chat_id`, then takes a place in
    /// the global window for it.
    pub async fn acquire(&self, chat_id: i64) -> ChatPermit {
        let pace = self.pace(chat_id).lock_owned().await;
        if let Some(at) = pace.next_at {
            tokio::time::sleep_until(at).await;
        }
        self.global_slot().await;
        // Nothing awaits between taking the slot and building the permit, so
        // the slot cannot leak: the permit's drop gives it back.
        ChatPermit { pace, flood: Arc::clone(&self.inner), hold: None, unused: false }
    }

    /// When `chat_id` may next be written to: `None` when it may be now. A
    /// chat being written to right now is a full interval away.
    #[must_use]
    pub fn ready_at(&self, chat_id: i64) -> Option<Instant> {
        let pace = {
            let chats = self.inner.chats.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(chats.get(&chat_id)?)
        };
        let now = Instant::now();
        match pace.try_lock() {
            Ok(pace) => pace.next_at.filter(|&at| at > now),
            Err(_) => Some(now + self.inner.per_chat),
        }
    }

    fn pace(&self, chat_id: i64) -> Arc<tokio::sync::Mutex<Pace>> {
        let mut chats = self.inner.chats.lock().unwrap_or_else(PoisonError::into_inner);
        if chats.len() > PRUNE_ABOVE {
            let now = Instant::now();
            chats.retain(|_, pace| {
                Arc::strong_count(pace) > 1 || pace.try_lock().map_or(true, |p| p.next_at.is_some_and(|at| at > now))
            });
        }
        Arc::clone(chats.entry(chat_id).or_default())
    }

    async fn global_slot(&self) {
        loop {
            // Registered before looking, so an end between the look and the wait is not missed.
            let ended = self.inner.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let wait_until = {
                let mut window = self.inner.window.lock().unwrap_or_else(PoisonError::into_inner);
                window.prune(Instant::now());
                if window.in_flight + window.ended.len() < self.inner.per_second {
                    window.in_flight += 1;
                    return;
                }
                // Full: the oldest end leaves the window, or a send under way ends.
                window.ended.front().map(|&t| t + WINDOW)
            };
            match wait_until {
                Some(at) => {
                    tokio::select! {
                        () = &mut ended => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => ended.await,
            }
        }
    }
}

/// One async lock per chat: flushes of a chat take turns, so its messages leave
/// in outbox order even when several flushes start at once.
#[derive(Debug, Default)]
pub struct ChatLocks {
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl ChatLocks {
    /// Waits for `chat_id`'s turn; the turn lasts as long as the guard.
    pub async fn lock(&self, chat_id: i64) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            if locks.len() > PRUNE_ABOVE {
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            Arc::clone(locks.entry(chat_id).or_default())
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_chat_is_spaced_from_the_end_of_each_send() {
        let flood = FloodControl::new(Duration::from_millis(1_000), 30);
        let start = Instant::now();
        let permit = flood.acquire(7).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(flood.ready_at(7).is_some(), "a chat being written to is not ready");
        // The send takes 300 ms: the next one waits a full second after it ended.
        tokio::time::advance(Duration::from_millis(300)).await;
        permit.sent();
        assert_eq!(flood.ready_at(7), Some(start + Duration::from_millis(1_300)));
        flood.acquire(7).await.sent();
        assert_eq!(start.elapsed(), Duration::from_millis(1_300));
        // Another chat does not wait.
        let before = Instant::now();
        assert_eq!(flood.ready_at(8), None);
        flood.acquire(8).await.sent();
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_window_admits_n_per_second() {
        let flood = FloodControl::new(Duration::from_millis(1_000), 3);
        let start = Instant::now();
        let mut times = Vec::new();
        for chat in 0..7 {
            flood.acquire(chat).await.sent();
            times.push(start.elapsed().as_millis());
        }
        assert_eq!(times, [0, 0, 0, 1_000, 1_000, 1_000, 2_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn sends_under_way_count_until_a_second_after_they_end() {
        let flood = FloodControl::new(Duration::from_millis(1_000), 2);
        let start = Instant::now();
        let (a, b) = (flood.acquire(1).await, flood.acquire(2).await);
        let third = tokio::spawn({
            let flood = flood.clone();
            async move {
                flood.acquire(3).await.sent();
                start.elapsed()
            }
        });
        // Both sends take 700 ms; the first to end frees its place 1 s later.
        tokio::time::advance(Duration::from_millis(700)).await;
        a.sent();
        tokio::time::advance(Duration::from_millis(50)).await;
        b.sent();
        assert_eq!(third.await.unwrap(), Duration::from_millis(1_700));
        // An unused permit frees its place at once and does not pace its chat.
        let before = Instant::now();
        flood.acquire(4).await.unused();
        assert_eq!(flood.ready_at(4), None);
        assert_eq!(before.elapsed(), Duration::from_millis(50), "waited for the second send's end + 1 s");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_the_chat() {
        let flood = FloodControl::new(Duration::from_millis(100), 30);
        flood.acquire(1).await.hold_for(Duration::from_secs(5));
        let before = Instant::now();
        flood.acquire(1).await.sent();
        assert_eq!(before.elapsed(), Duration::from_secs(5));
    }
}
