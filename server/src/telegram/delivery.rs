//! Delivering the outbox: one delivery loop per bot process.
//!
//! The loop (`run`, started by [`Telegram::spawn`]) looks for *due chats*
//! in the outbox ([`store::due_chats`]): chats with pending messages that no
//! live claim holds, replies at once, alerts once the first has waited
//! [`DIGEST_WINDOW_MS`] (so signals of one bar share a message) and not during
//! the chat's quiet hours. A chat is started when flood control would let a
//! message through to it now and no earlier failure asks it to wait; at most
//! [`MAX_IN_FLIGHT`] chats are flushed at once, each by one task. The loop
//! sleeps until the next chat becomes ready, a flush ends, a new message is
//! queued in this process ([`Wake`]), or [`POLL`] passes (messages queued by
//! other processes, quiet hours ending).
//!
//! A flush of one chat ([`Telegram::flush_chat`]):
//! 1. waits for flood control to let the chat's first message through, then
//!    claims the chat's pending rows (replies; alerts too unless muted or
//!    quiet) under a short lease (`telegram.claim_lease_ms`, 10 s by default),
//!    which it renews every third of the lease while it works. A process
//!    that dies stops renewing, and its rows are free again within one lease;
//! 2. sends the replies one by one and the alerts as one message (a digest
//!    when several wait), each through flood control, and marks each row sent
//!    right after Telegram accepted its message;
//! 3. on a 429, gives the rows back: flood control holds the chat for
//!    `retry_after` and the loop tries again then. On a 4xx (chat gone, bot
//!    blocked) the rows are marked `undeliverable`. On anything else the rows
//!    are given back and the loop retries the chat with backoff
//!    ([`FIRST_BACKOFF`] doubling up to [`MAX_BACKOFF`]).
//!
//! Before each send the flush checks that its lease still has a third of its
//! length to run (renewals are succeeding), so it never sends rows another
//! process may have taken over. Alerts of a muted chat are dropped (`muted`).
//!
//! Keeping things bounded: the durable job queue is not used at all, so it
//! cannot grow with the traffic. A chat's backlog is capped: pending alerts
//! beyond the newest [`MAX_PENDING_ALERTS`] are marked `superseded` (they would
//! only lengthen a digest nobody reads to the end; `/signals` lists the
//! latest). Done rows are purged after [`RETENTION_MS`].

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Telegram;
use super::alerts::{self, DIGEST_WINDOW_MS, MAX_MESSAGE_LEN};
use super::client::{ApiError, SentMessage};
use super::flood::ChatPermit;
pub use super::wake::Wake;
use crate::jobs::now_ms;
use crate::storage::telegram::{self as store, OutboxKind, OutboxRow};
use crate::storage::{Db, StorageError};

/// Chats flushed at once by one process. Flood control allows at most 30
/// sends a second anyway; this many covers Telegram's latency with room.
pub const MAX_IN_FLIGHT: usize = 16;
/// Pending alerts kept per chat; older ones are superseded.
pub const MAX_PENDING_ALERTS: usize = 100;
/// The loop looks for due chats at least this often.
pub const POLL: Duration = Duration::from_secs(1);
/// The least time between two looks, so a burst of wake-ups costs one.
const SCAN_GAP: Duration = Duration::from_millis(20);
/// Due chats read per look (oldest message first).
const SCAN_LIMIT: usize = 1_000;
/// First wait after a failed flush of a chat; doubles with each failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait after failed flushes.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long shutdown waits for flushes under way.
const DRAIN: Duration = Duration::from_secs(5);
/// How often backlogs are capped.
const TRIM_EVERY: Duration = Duration::from_secs(5);
/// Done rows are kept this long (for inspection, and so a signal caught up
/// after a restart is recognised as delivered), then purged.
pub const RETENTION_MS: i64 = 24 * 3_600_000;
/// How often done rows are purged, and how much at most each time.
const PURGE_EVERY: Duration = Duration::from_secs(60);
const PURGE_STEP: i64 = 2_000;
const PURGE_STEPS: usize = 50;
/// Attempts at marking rows sent before the flush gives up (the rows are then
/// sent again once their lease ends).
const MARK_ATTEMPTS: u32 = 3;

/// What one flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Rows this flush claimed.
    pub claimed: usize,
    /// Messages sent.
    pub messages: usize,
    /// Replies among them.
    pub replies: usize,
    /// Alerts delivered (several per message in a digest).
    pub alerts: usize,
    /// Alerts dropped because the chat is muted.
    pub muted: u64,
    /// Pending rows another flush holds.
    pub held_elsewhere: i64,
}

/// Why a flush stopped before delivering everything it claimed.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// Flood control: Telegram asked to wait; the rows wait, unclaimed.
    #[error("Telegram asked to wait until {retry_at} (Unix ms): {error}")]
    RetryAt {
        /// Not before this time, Unix ms.
        retry_at: i64,
        /// Telegram's answer.
        error: ApiError,
    },
    /// The chat cannot be written to; the rows are marked `undeliverable`.
    #[error("the chat cannot be written to: {0}")]
    Undeliverable(ApiError),
    /// Worth trying again later; the rows wait, unclaimed.
    #[error("sending failed: {0}")]
    Failed(ApiError),
    /// The database failed. When it failed marking a sent message, that
    /// message's rows stay claimed until the lease ends.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The lease could not be renewed in time; the flush stopped sending.
    #[error("the lease on the chat's messages could not be renewed")]
    LeaseLost,
    /// Shutdown: the rows not yet sent wait, unclaimed.
    #[error("stopped by shutdown")]
    Stopped,
}

/// A flush's hold on its rows: the claim and how long it is known to last.
#[derive(Debug)]
struct Lease {
    claim: String,
    length: Duration,
    /// Local time by which the lease surely ends (taken before the statement
    /// that set it, so never later than the stored one).
    valid_until: Mutex<Instant>,
}

impl Lease {
    fn new(length: Duration) -> Self {
        Self { claim: claim_token(), length, valid_until: Mutex::new(Instant::now() + length) }
    }

    fn length_ms(&self) -> i64 {
        i64::try_from(self.length.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Whether it is safe to send now: at least a third of the lease is left.
    /// Renewals come every third, so this fails only when they stopped working.
    fn holds(&self) -> bool {
        let until = *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner);
        until.saturating_duration_since(Instant::now()) >= self.length / 3
    }

    /// Renews the lease every third of its length, forever (dropped when the flush ends).
    async fn keep_renewed(&self, db: &Db) -> Infallible {
        loop {
            tokio::time::sleep(self.length / 3).await;
            let started = Instant::now();
            match store::renew(db, &self.claim, now_ms() + self.length_ms()).await {
                // Nothing left under the claim: all sent, or (after a lapse) taken over.
                Ok(0) => {}
                Ok(_) => *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner) = started + self.length,
                Err(e) => tracing::warn!(error = %e, "telegram: renewing a claim failed"),
            }
        }
    }
}

/// A fresh claim id: the process and a random number.
fn claim_token() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

impl Telegram {
    /// Delivers what is pending for `chat_id` now (see the module
    /// documentation), regardless of the digest window. Safe to call at any
    /// time and from several tasks or processes: rows are claimed, so each is
    /// sent by one flush. The delivery loop calls this for every due chat.
    ///
    /// # Errors
    /// [`FlushError`] when not everything claimed was delivered.
    pub async fn flush_chat(&self, chat_id: i64) -> Result<Flushed, FlushError> {
        self.flush(chat_id, &CancellationToken::new()).await
    }

    async fn flush(&self, chat_id: i64, stop: &CancellationToken) -> Result<Flushed, FlushError> {
        let db = &self.inner.db;
        let _turn = self.inner.turns.lock(chat_id).await;
        let mut out = Flushed::default();
        let Some(chat) = store::get_chat(db, chat_id).await? else { return Ok(out) };
        if chat.muted {
            out.muted = store::drop_alerts(db, chat_id, "muted", now_ms()).await?;
        }
        // The first message's permit before the claim: nothing is held while
        // flood control makes us wait, and the message carries all that was
        // queued until it leaves.
        let permit = tokio::select! {
            permit = self.inner.flood.acquire(chat_id) => permit,
            () = stop.cancelled() => return Err(FlushError::Stopped),
        };
        let now = now_ms();
        let with_alerts = !chat.muted && !chat.quiet.is_some_and(|q| q.contains(now));
        let lease = Lease::new(self.lease_length());
        let rows = match store::claim(db, chat_id, &lease.claim, with_alerts, now, now + lease.length_ms()).await {
            Ok(rows) => rows,
            Err(e) => {
                permit.unused();
                return Err(e.into());
            }
        };
        out.claimed = rows.len();
        if rows.is_empty() {
            permit.unused();
            out.held_elsewhere = store::held_elsewhere(db, chat_id, with_alerts, now).await?;
            return Ok(out);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let delivered = {
            let deliver = self.deliver(chat_id, &lease, rows, permit, &mut out, stop);
            tokio::select! {
                delivered = deliver => delivered,
                never = lease.keep_renewed(db) => match never {},
            }
        };
        match delivered {
            Ok(()) => Ok(out),
            Err(FlushError::Undeliverable(e)) => {
                store::finish(db, &lease.claim, &ids, "undeliverable", now_ms()).await?;
                Err(FlushError::Undeliverable(e))
            }
            // One of the rows may have been sent and not marked: it stays
            // claimed until the lease ends rather than being sent again at once.
            Err(e @ FlushError::Storage(_)) => Err(e),
            Err(e) => {
                store::release(db, &lease.claim).await?;
                Err(e)
            }
        }
    }

    fn lease_length(&self) -> Duration {
        Duration::from_millis(self.inner.config.claim_lease_ms)
    }

    async fn deliver(
        &self,
        chat_id: i64,
        lease: &Lease,
        rows: Vec<OutboxRow>,
        first: ChatPermit,
        out: &mut Flushed,
        stop: &CancellationToken,
    ) -> Result<(), FlushError> {
        let (replies, alerts): (Vec<OutboxRow>, Vec<OutboxRow>) =
            rows.into_iter().partition(|r| r.kind == OutboxKind::Reply);
        let mut permit = Some(first);
        for reply in &replies {
            let text = alerts::truncate(&reply.text, MAX_MESSAGE_LEN);
            self.send_claimed(chat_id, &text, permit.take(), lease, stop).await?;
            self.mark_sent(chat_id, lease, &[reply.id]).await?;
            out.replies += 1;
            out.messages += 1;
        }
        if !alerts.is_empty() {
            self.send_claimed(chat_id, &alerts::digest(&alerts), permit.take(), lease, stop).await?;
            let ids: Vec<i64> = alerts.iter().map(|r| r.id).collect();
            self.mark_sent(chat_id, lease, &ids).await?;
            out.alerts += alerts.len();
            out.messages += 1;
            tracing::debug!(chat = chat_id, alerts = alerts.len(), "telegram alerts delivered");
        }
        Ok(())
    }

    /// Sends one message of claimed rows: with `permit`, else after taking one,
    /// and only while the lease holds and shutdown has not begun.
    async fn send_claimed(
        &self,
        chat_id: i64,
        text: &str,
        permit: Option<ChatPermit>,
        lease: &Lease,
        stop: &CancellationToken,
    ) -> Result<SentMessage, FlushError> {
        let permit = match permit {
            Some(permit) => permit,
            None => tokio::select! {
                permit = self.inner.flood.acquire(chat_id) => permit,
                () = stop.cancelled() => return Err(FlushError::Stopped),
            },
        };
        if stop.is_cancelled() {
            permit.unused();
            return Err(FlushError::Stopped);
        }
        if !lease.holds() {
            permit.unused();
            return Err(FlushError::LeaseLost);
        }
        self.send_with(chat_id, text, permit).await
    }

    /// Marks rows sent (fenced by the claim), trying a few times: until it
    /// succeeds, the message would be sent again once the lease ends.
    async fn mark_sent(&self, chat_id: i64, lease: &Lease, ids: &[i64]) -> Result<(), FlushError> {
        let mut attempt = 1;
        loop {
            match store::finish(&self.inner.db, &lease.claim, ids, "sent", now_ms()).await {
                Ok(marked) => {
                    if marked < ids.len() as u64 {
                        tracing::warn!(chat = chat_id, "telegram: sent rows were taken over by another flush");
                    }
                    return Ok(());
                }
                Err(e) if attempt < MARK_ATTEMPTS => {
                    tracing::warn!(chat = chat_id, error = %e, attempt, "telegram: marking a message sent failed");
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One `sendMessage` under `permit`, and what its answer means for flood control.
    async fn send_with(&self, chat_id: i64, text: &str, permit: ChatPermit) -> Result<SentMessage, FlushError> {
        match self.inner.api.send_message(chat_id, text).await {
            Ok(sent) => {
                permit.sent();
                Ok(sent)
            }
            Err(error) => match error.retry_after() {
                Some(wait) => {
                    permit.hold_for(wait);
                    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 4);
                    Err(FlushError::RetryAt { retry_at: now_ms().saturating_add(wait_ms), error })
                }
                None => {
                    permit.sent();
                    Err(if error.is_permanent() { FlushError::Undeliverable(error) } else { FlushError::Failed(error) })
                }
            },
        }
    }

    /// Sends a message that is not in the outbox (hints to unlinked chats):
    /// through flood control, once, failures only logged.
    pub(crate) async fn send_unrecorded(&self, chat_id: i64, text: &str) {
        let permit = self.inner.flood.acquire(chat_id).await;
        if let Err(e) = self.send_with(chat_id, text, permit).await {
            tracing::warn!(chat = chat_id, error = %e, "telegram hint not sent");
        }
    }
}

/// A chat's failed flushes: how many in a row, and when to try again.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    until: Instant,
}

/// What the loop keeps between looks.
struct LoopState {
    /// Chats being flushed, by their task.
    busy: HashMap<Id, i64>,
    busy_chats: HashSet<i64>,
    backoff: HashMap<i64, Backoff>,
    next_trim: Instant,
    next_purge: Instant,
    /// Where the next purge walk starts (row id).
    purge_from: i64,
}

type FlushResult = (i64, Result<Flushed, FlushError>);

/// The delivery loop; see the module documentation. Returns after `shutdown`,
/// once flushes under way have ended (or [`DRAIN`] passed).
pub(super) async fn run(bot: Telegram, shutdown: CancellationToken) {
    let wake = bot.inner.wake.clone();
    let now = Instant::now();
    let mut state = LoopState {
        busy: HashMap::new(),
        busy_chats: HashSet::new(),
        backoff: HashMap::new(),
        next_trim: now,
        next_purge: now + TRIM_EVERY,
        purge_from: 0,
    };
    let mut flushes: JoinSet<FlushResult> = JoinSet::new();
    tracing::info!(lease_ms = bot.inner.config.claim_lease_ms, "telegram delivery started");
    loop {
        let next_look = if flushes.len() < MAX_IN_FLIGHT {
            bot.start_due(&mut flushes, &mut state, &shutdown).await
        } else {
            Instant::now() + POLL
        };
        bot.housekeeping(&mut state).await;
        let looked = Instant::now();
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(joined) = flushes.join_next_with_id() => state.finished(joined),
            () = wake.woken() => {}
            () = tokio::time::sleep_until(next_look) => {}
        }
        // Let a burst of wake-ups settle into one look.
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(looked + SCAN_GAP) => {}
        }
    }
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(joined) = flushes.join_next_with_id().await {
            state.finished(joined);
        }
    })
    .await;
    if drained.is_err() {
        // Their claims lapse within one lease.
        flushes.shutdown().await;
    }
    tracing::info!("telegram delivery stopped");
}

impl Telegram {
    /// Starts a flush for every due chat that may be written to now (up to
    /// [`MAX_IN_FLIGHT`] at once). Returns when to look again at the latest.
    async fn start_due(
        &self,
        flushes: &mut JoinSet<FlushResult>,
        state: &mut LoopState,
        stop: &CancellationToken,
    ) -> Instant {
        let now = Instant::now();
        let now_ms = now_ms();
        let mut next = now + POLL;
        let due = match store::due_chats(&self.inner.db, now_ms, SCAN_LIMIT).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "telegram: cannot read the outbox");
                return next;
            }
        };
        for chat in due {
            if state.busy_chats.contains(&chat.chat_id) {
                continue;
            }
            let due_ms = match (chat.first_reply_at, chat.first_alert_at) {
                (None, Some(first_alert)) if !chat.muted => first_alert + DIGEST_WINDOW_MS,
                _ => now_ms,
            };
            let mut ready = now + Duration::from_millis(u64::try_from(due_ms - now_ms).unwrap_or(0));
            if let Some(at) = self.inner.flood.ready_at(chat.chat_id) {
                ready = ready.max(at);
            }
            if let Some(backoff) = state.backoff.get(&chat.chat_id) {
                ready = ready.max(backoff.until);
            }
            if ready > now {
                next = next.min(ready);
                continue;
            }
            if flushes.len() >= MAX_IN_FLIGHT {
                // A flush that ends wakes the loop.
                break;
            }
            let (bot, stop, chat_id) = (self.clone(), stop.clone(), chat.chat_id);
            let task = flushes.spawn(async move { (chat_id, bot.flush(chat_id, &stop).await) });
            state.busy.insert(task.id(), chat_id);
            state.busy_chats.insert(chat_id);
        }
        next
    }

    /// Caps backlogs and purges old rows when their time has come.
    async fn housekeeping(&self, state: &mut LoopState) {
        let db = &self.inner.db;
        let now = Instant::now();
        if now >= state.next_trim {
            state.next_trim = now + TRIM_EVERY;
            match store::trim_backlogs(db, MAX_PENDING_ALERTS, now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(alerts = n, "telegram: old pending alerts superseded (backlog cap)"),
                Err(e) => tracing::warn!(error = %e, "telegram: capping backlogs failed"),
            }
        }
        if now >= state.next_purge {
            state.next_purge = now + PURGE_EVERY;
            let before = now_ms() - RETENTION_MS;
            match store::purge_done(db, state.purge_from, before, PURGE_STEP, PURGE_STEPS).await {
                Ok((deleted, next_from)) => {
                    state.purge_from = next_from;
                    if deleted > 0 {
                        tracing::info!(rows = deleted, "telegram: delivered messages purged");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "telegram: purging delivered messages failed"),
            }
        }
    }
}

impl LoopState {
    fn finished(&mut self, joined: Result<(Id, FlushResult), tokio::task::JoinError>) {
        let (id, result) = match joined {
            Ok((id, (_, result))) => (id, Some(result)),
            Err(e) => {
                tracing::error!(error = %e, "telegram: a flush panicked");
                (e.id(), None)
            }
        };
        let Some(chat_id) = self.busy.remove(&id) else { return };
        self.busy_chats.remove(&chat_id);
        match result {
            Some(Ok(_)) => {
                self.backoff.remove(&chat_id);
            }
            Some(Err(FlushError::RetryAt { retry_at, error })) => {
                // Flood control holds the chat until then.
                self.backoff.remove(&chat_id);
                tracing::warn!(chat = chat_id, %error, retry_at, "Telegram asked to wait; delivery deferred");
            }
            Some(Err(FlushError::Undeliverable(error))) => {
                self.backoff.remove(&chat_id);
                tracing::warn!(chat = chat_id, %error, "telegram: chat cannot be written to; its messages are undeliverable");
            }
            Some(Err(FlushError::Stopped)) => {}
            Some(Err(error)) => self.failed(chat_id, &error.to_string()),
            None => self.failed(chat_id, "the flush panicked"),
        }
    }

    fn failed(&mut self, chat_id: i64, error: &str) {
        let failures = self.backoff.get(&chat_id).map_or(0, |b| b.failures) + 1;
        let wait = FIRST_BACKOFF.saturating_mul(1 << (failures - 1).min(16)).min(MAX_BACKOFF);
        self.backoff.insert(chat_id, Backoff { failures, until: Instant::now() + wait });
        tracing::warn!(
            chat = chat_id,
            error,
            failures,
            retry_in_ms = wait.as_millis(),
            "telegram delivery failed; will retry"
        );
    }
}
