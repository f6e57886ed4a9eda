//! Delivering the outbox: the `telegram_flush` job.
//!
//! A flush of one chat claims its pending rows under a lease, sends the
//! replies one by one and the alerts as one message (a digest when several
//! wait), each send through flood control, and marks each row sent right after
//! Telegram accepted it. Then:
//! - a 429 with a short `retry_after` (up to [`INLINE_RETRY_LIMIT`]) is waited
//!   out in place and the same message sent again; a longer one gives the rows
//!   back and queues a flush for when the wait is over;
//! - a 4xx (chat gone, bot blocked) marks the rows `undeliverable` and fails
//!   the job for good (it lands in the dead letter, for the operator to see);
//! - anything else gives the rows back and fails the job, which the queue
//!   retries with backoff.
//!
//! Alerts of a muted chat are dropped (`muted`); during quiet hours they stay
//! pending and a flush is queued for the end of the window (one per window).
//!
//! Jobs are keyed `telegram_flush:{chat}:{why}` so that a chat has one job per
//! reason, and [`schedule_alert_flush`] adds none while one that will run soon
//! is queued. A flush that finds rows held by another live flush fails
//! (retryable), so a job keeps existing until those rows are delivered even if
//! the other holder dies.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Telegram;
use super::alerts::{self, DIGEST_WINDOW_MS, MAX_MESSAGE_LEN};
use super::client::{ApiError, SentMessage};
use crate::jobs::{JobError, Registry, now_ms};
use crate::storage::jobs::{self, NewJob};
use crate::storage::telegram::{self as store, LinkedChat, OutboxKind, OutboxRow};
use crate::storage::{Db, StorageError};

/// The job kind.
pub const FLUSH_KIND: &str = "telegram_flush";
/// How long one flush may run; also the lease on the rows it claims.
pub const FLUSH_TIMEOUT_MS: i64 = 60_000;
/// Attempts of a flush job (backoff 1 s, 2 s, ... about 34 minutes in all).
const FLUSH_MAX_ATTEMPTS: i32 = 12;
/// Above backfills (1): alerts are time-sensitive and quick.
const FLUSH_PRIORITY: i32 = 3;
/// The longest 429 wait spent inside a flush; longer waits are rescheduled.
pub const INLINE_RETRY_LIMIT: Duration = Duration::from_secs(10);
/// A reply is flushed at once by the poller; this job is the safety net that
/// delivers it if that attempt fails or the process dies first.
pub(crate) const REPLY_SAFETY_DELAY_MS: i64 = 10_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlushPayload {
    chat_id: i64,
}

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
    /// When a queued flush will deliver what waits (quiet hours, flood control), Unix ms.
    pub deferred_until: Option<i64>,
}

/// Why a send did not go through.
enum SendError {
    /// Flood control: try again at this time (Unix ms).
    RetryAt(i64, ApiError),
    /// The chat cannot be written to.
    Undeliverable(ApiError),
    /// Worth retrying later.
    Failed(ApiError),
    /// Marking rows sent failed.
    Storage(StorageError),
}

fn key_prefix(chat_id: i64) -> String {
    format!("{FLUSH_KIND}:{chat_id}:")
}

/// Queues a flush of `chat_id` at `run_at`, keyed by `why` (the same key
/// queues once).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn enqueue_flush(db: &Db, chat_id: i64, why: &str, run_at: i64, now_ms: i64) -> Result<i64, StorageError> {
    let job = NewJob {
        priority: FLUSH_PRIORITY,
        max_attempts: FLUSH_MAX_ATTEMPTS,
        timeout_ms: FLUSH_TIMEOUT_MS,
        idempotency_key: Some(format!("{}{why}", key_prefix(chat_id))),
        run_at: Some(run_at),
        ..NewJob::new(FLUSH_KIND, json!(FlushPayload { chat_id }))
    };
    jobs::enqueue(db, &job, now_ms).await
}

/// Makes sure a flush will deliver the alert just queued as row `outbox_id`:
/// at the end of the chat's quiet hours when they are on, else after the
/// digest window, unless a queued flush will run by then anyway (it claims
/// every pending row when it runs, this one included).
pub(crate) async fn schedule_alert_flush(
    db: &Db,
    chat: &LinkedChat,
    outbox_id: i64,
    now_ms: i64,
) -> Result<(), StorageError> {
    if let Some(quiet) = chat.quiet.filter(|q| q.contains(now_ms)) {
        let end = quiet.end_after(now_ms);
        enqueue_flush(db, chat.chat_id, &format!("quiet:{end}"), end, now_ms).await?;
        return Ok(());
    }
    let run_at = now_ms + DIGEST_WINDOW_MS;
    if !store::queued_job_due(db, &key_prefix(chat.chat_id), run_at).await? {
        enqueue_flush(db, chat.chat_id, &outbox_id.to_string(), run_at, now_ms).await?;
    }
    Ok(())
}

/// Queues a flush for every chat with pending messages and no flush due soon:
/// after a restart, or when earlier jobs ran out of attempts. Returns how many.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn resume(db: &Db, now_ms: i64) -> Result<usize, StorageError> {
    let mut queued = 0;
    for chat_id in store::pending_chats(db).await? {
        if !store::queued_job_due(db, &key_prefix(chat_id), now_ms + DIGEST_WINDOW_MS).await? {
            enqueue_flush(db, chat_id, &format!("resume:{now_ms}"), now_ms, now_ms).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Registers the `telegram_flush` handler.
pub(crate) fn register(bot: &Telegram, registry: &mut Registry) {
    let bot = bot.clone();
    registry.register(FLUSH_KIND, move |payload: Value| {
        let bot = bot.clone();
        async move {
            let payload: FlushPayload =
                serde_json::from_value(payload).map_err(|e| JobError::Payload(e.to_string()))?;
            let flushed = bot.flush_chat(payload.chat_id).await?;
            if flushed.claimed == 0 && flushed.held_elsewhere > 0 {
                // Retry until that flush finished, or its lease ran out and we take over.
                return Err(JobError::Failed(format!(
                    "{} messages for chat {} are held by another flush",
                    flushed.held_elsewhere, payload.chat_id
                )));
            }
            Ok(())
        }
    });
}

impl Telegram {
    /// Delivers what is pending for `chat_id` (see the module documentation).
    /// Safe to call at any time and from several tasks or processes: rows are
    /// claimed, so each is sent by one flush.
    ///
    /// # Errors
    /// [`JobError::Failed`] when a send failed (the rows wait for a retry),
    /// [`JobError::Permanent`] when the chat cannot be written to,
    /// [`JobError::Storage`] on a database failure.
    pub async fn flush_chat(&self, chat_id: i64) -> Result<Flushed, JobError> {
        let db = &self.inner.db;
        let _turn = self.inner.turns.lock(chat_id).await;
        let mut out = Flushed::default();
        let Some(chat) = store::get_chat(db, chat_id).await? else { return Ok(out) };
        let now = now_ms();
        if chat.muted {
            out.muted = store::drop_alerts(db, chat_id, "muted", now).await?;
        }
        let quiet_end = chat.quiet.filter(|q| q.contains(now)).map(|q| q.end_after(now));
        let with_alerts = !chat.muted && quiet_end.is_none();
        let claim = claim_token();
        let rows = store::claim(db, chat_id, &claim, with_alerts, now, now + FLUSH_TIMEOUT_MS).await?;
        out.claimed = rows.len();
        if rows.is_empty() {
            out.held_elsewhere = store::held_elsewhere(db, chat_id, with_alerts, now).await?;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        match self.deliver(chat_id, &claim, rows, &mut out).await {
            Ok(()) => {}
            Err(SendError::RetryAt(at, e)) => {
                store::release(db, &claim).await?;
                enqueue_flush(db, chat_id, &format!("retry:{at}"), at, now_ms()).await?;
                tracing::warn!(chat = chat_id, error = %e, retry_at = at, "Telegram asked to wait; delivery rescheduled");
                out.deferred_until = Some(at);
            }
            Err(SendError::Undeliverable(e)) => {
                store::finish(db, &claim, &ids, "undeliverable", now_ms()).await?;
                return Err(JobError::Permanent(format!("chat {chat_id} cannot be written to: {e}")));
            }
            Err(SendError::Failed(e)) => {
                store::release(db, &claim).await?;
                return Err(JobError::Failed(format!("sending to chat {chat_id}: {e}")));
            }
            // The rows stay claimed until their lease ends; one of them may
            // have been sent, and retrying at once would send it again.
            Err(SendError::Storage(e)) => return Err(e.into()),
        }
        if let Some(end) = quiet_end
            && !chat.muted
            && store::pending_count(db, Some(chat_id)).await? > 0
        {
            enqueue_flush(db, chat_id, &format!("quiet:{end}"), end, now_ms()).await?;
            out.deferred_until = Some(out.deferred_until.map_or(end, |at| at.min(end)));
        }
        Ok(out)
    }

    async fn deliver(
        &self,
        chat_id: i64,
        claim: &str,
        rows: Vec<OutboxRow>,
        out: &mut Flushed,
    ) -> Result<(), SendError> {
        let db = &self.inner.db;
        let (replies, alerts): (Vec<OutboxRow>, Vec<OutboxRow>) =
            rows.into_iter().partition(|r| r.kind == OutboxKind::Reply);
        for reply in &replies {
            self.send(chat_id, &alerts::truncate(&reply.text, MAX_MESSAGE_LEN)).await?;
            store::finish(db, claim, &[reply.id], "sent", now_ms()).await.map_err(SendError::Storage)?;
            out.replies += 1;
            out.messages += 1;
        }
        if !alerts.is_empty() {
            self.send(chat_id, &alerts::digest(&alerts)).await?;
            let ids: Vec<i64> = alerts.iter().map(|r| r.id).collect();
            store::finish(db, claim, &ids, "sent", now_ms()).await.map_err(SendError::Storage)?;
            out.alerts += alerts.len();
            out.messages += 1;
            tracing::info!(chat = chat_id, alerts = alerts.len(), "telegram alerts delivered");
        }
        Ok(())
    }

    /// Sends one message through flood control, waiting out short 429s.
    async fn send(&self, chat_id: i64, text: &str) -> Result<SentMessage, SendError> {
        let mut waited = Duration::ZERO;
        loop {
            let permit = self.inner.flood.acquire(chat_id).await;
            match self.inner.api.send_message(chat_id, text).await {
                Ok(sent) => {
                    permit.sent();
                    return Ok(sent);
                }
                Err(e) => match e.retry_after() {
                    Some(wait) => {
                        permit.hold_for(wait);
                        if waited + wait <= INLINE_RETRY_LIMIT {
                            waited += wait;
                            tracing::info!(
                                chat = chat_id,
                                wait_ms = wait.as_millis(),
                                "Telegram flood control: waiting"
                            );
                            continue;
                        }
                        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                        return Err(SendError::RetryAt(now_ms().saturating_add(wait_ms), e));
                    }
                    None => {
                        permit.sent();
                        return Err(if e.is_permanent() { SendError::Undeliverable(e) } else { SendError::Failed(e) });
                    }
                },
            }
        }
    }

    /// Sends a message that is not in the outbox (hints to unlinked chats):
    /// through flood control, once, failures only logged.
    pub(crate) async fn send_unrecorded(&self, chat_id: i64, text: &str) {
        let error = match self.send(chat_id, text).await {
            Ok(_) => return,
            Err(SendError::RetryAt(_, e) | SendError::Undeliverable(e) | SendError::Failed(e)) => e.to_string(),
            Err(SendError::Storage(e)) => e.to_string(),
        };
        tracing::warn!(chat = chat_id, error = %error, "telegram hint not sent");
    }
}

/// A fresh claim id: the process and a random number.
fn claim_token() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}
