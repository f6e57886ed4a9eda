//! Flood control for outgoing messages: at most one message per chat per
//! interval, and at most N messages per second over all chats (Telegram's
//! limits are about 1/s per chat and 30/s overall).
//!
//! Every send first takes a [`ChatPermit`]. The permit holds the chat's lock,
//! so sends to one chat are strictly one after the other, and the interval is
//! counted from the *end* of the previous send: the next request cannot reach
//! Telegram sooner than `interval` after the previous one was answered. The
//! global limit is a sliding window of the last second's send times. A 429's
//! `retry_after` moves the chat's next allowed time further out.
//!
//! Why not `governor`: its keyed and direct limiters are separate, so a caller
//! waiting on both can still lose its per-chat spacing while it waits for the
//! global one, and they have no way to say "not before T" after a 429. This is
//! about sixty lines with exactly the semantics we need. Like any in-process
//! limiter it counts this process only: one process should run the bot.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
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
    recent: Mutex<VecDeque<Instant>>,
}

/// Leave to send one message to one chat; hold it while sending.
#[derive(Debug)]
pub struct ChatPermit {
    pace: OwnedMutexGuard<Pace>,
    per_chat: Duration,
}

impl ChatPermit {
    /// Records that the message went out (or may have): the chat's next
    /// message waits a full interval from now.
    pub fn sent(mut self) {
        self.pace.next_at = Some(Instant::now() + self.per_chat);
    }

    /// Records that Telegram asked us to wait `wait` before writing to this chat again.
    pub fn hold_for(mut self, wait: Duration) {
        self.pace.next_at = Some(Instant::now() + wait.max(self.per_chat));
    }
}

impl FloodControl {
    /// At most one message per `per_chat` to a chat and `per_second` overall.
    #[must_use]
    pub fn new(per_chat: Duration, per_second: u32) -> Self {
        let per_second = usize::try_from(per_second.max(1)).unwrap_or(usize::MAX);
        Self {
            inner: Arc::new(Inner {
                per_chat,
                per_second,
                chats: Mutex::new(HashMap::new()),
                recent: Mutex::new(VecDeque::with_capacity(per_second)),
            }),
        }
    }

    /// Waits until a message may be sent to `chat_id`, then reserves the
    /// global slot for it.
    pub async fn acquire(&self, chat_id: i64) -> ChatPermit {
        let pace = self.pace(chat_id).lock_owned().await;
        if let Some(at) = pace.next_at {
            tokio::time::sleep_until(at).await;
        }
        self.global_slot().await;
        ChatPermit { pace, per_chat: self.inner.per_chat }
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
            let wait_until = {
                let mut recent = self.inner.recent.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                while recent.front().is_some_and(|&t| t + WINDOW <= now) {
                    recent.pop_front();
                }
                if recent.len() < self.inner.per_second {
                    recent.push_back(now);
                    return;
                }
                recent.front().map_or(now, |&t| t + WINDOW)
            };
            tokio::time::sleep_until(wait_until).await;
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
        // The send takes 300 ms: the next one waits a full second after it ended.
        tokio::time::advance(Duration::from_millis(300)).await;
        permit.sent();
        flood.acquire(7).await.sent();
        assert_eq!(start.elapsed(), Duration::from_millis(1_300));
        // Another chat does not wait.
        let before = Instant::now();
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
    async fn retry_after_holds_the_chat() {
        let flood = FloodControl::new(Duration::from_millis(100), 30);
        flood.acquire(1).await.hold_for(Duration::from_secs(5));
        let before = Instant::now();
        flood.acquire(1).await.sent();
        assert_eq!(before.elapsed(), Duration::from_secs(5));
    }
}
