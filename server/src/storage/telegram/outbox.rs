//! The outbox: every message to deliver is a row first; flushes claim,
//! renew, send and mark them; the delivery loop finds due chats, caps
//! backlogs and purges delivered rows here.

use serde::Serialize;

use super::super::{Db, StorageError, with_reader, with_writer, write_transaction};
use super::ID_CHUNK;
use super::updates::SET_OFFSET;

/// What an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    /// A signal alert (digested with others when several wait).
    Alert,
    /// The answer to a command (always sent on its own).
    Reply,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    /// Row id: the order messages of a chat are sent in.
    pub id: i64,
    /// The chat.
    pub chat_id: i64,
    /// Alert or reply.
    pub kind: OutboxKind,
    /// Alerts: the signal.
    pub signal_id: Option<i64>,
    /// Replies: the update answered.
    pub update_id: Option<i64>,
    /// The whole message.
    pub text: String,
    /// Alerts: the line that stands for it in a digest.
    pub digest_line: Option<String>,
    /// Queued at, Unix ms.
    pub created_at: i64,
    /// Delivered (or dropped) at, Unix ms; `None` while pending.
    pub done_at: Option<i64>,
    /// `sent`, `muted`, `superseded` or `undeliverable` once done.
    pub outcome: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OutboxDbRow {
    id: i64,
    chat_id: i64,
    kind: String,
    signal_id: Option<i64>,
    update_id: Option<i64>,
    text: String,
    digest_line: Option<String>,
    created_at: i64,
    done_at: Option<i64>,
    outcome: Option<String>,
}

impl TryFrom<OutboxDbRow> for OutboxRow {
    type Error = StorageError;

    fn try_from(r: OutboxDbRow) -> Result<Self, StorageError> {
        let kind = match r.kind.as_str() {
            "alert" => OutboxKind::Alert,
            "reply" => OutboxKind::Reply,
            other => return Err(StorageError::Corrupt(format!("outbox {}: kind `{other}`", r.id))),
        };
        Ok(Self {
            id: r.id,
            chat_id: r.chat_id,
            kind,
            signal_id: r.signal_id,
            update_id: r.update_id,
            text: r.text,
            digest_line: r.digest_line,
            created_at: r.created_at,
            done_at: r.done_at,
            outcome: r.outcome,
        })
    }
}

const OUTBOX_COLUMNS: &str = "id, chat_id, kind, signal_id, update_id, text, digest_line, created_at, done_at, outcome";

fn outbox_rows(rows: Vec<OutboxDbRow>) -> Result<Vec<OutboxRow>, StorageError> {
    let mut rows = rows.into_iter().map(OutboxRow::try_from).collect::<Result<Vec<_>, _>>()?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Queues the alert of signal `signal_id` for a chat, once: `Some(id)` when
/// queued now, `None` when this chat already has (or had) it.
///
/// # Errors
/// [`StorageError`] on a database failure (e.g. the chat is not linked).
pub async fn add_alert(
    db: &Db,
    chat_id: i64,
    signal_id: i64,
    text: &str,
    digest_line: &str,
    now_ms: i64,
) -> Result<Option<i64>, StorageError> {
    const SQL: &str = "INSERT INTO telegram_outbox (chat_id, kind, signal_id, text, digest_line, created_at) \
         VALUES ($1, 'alert', $2, $3, $4, $5) ON CONFLICT (chat_id, signal_id) DO NOTHING RETURNING id";
    Ok(with_writer!(db, |pool| sqlx::query_scalar(SQL)
        .bind(chat_id)
        .bind(signal_id)
        .bind(text)
        .bind(digest_line)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?))
}

/// Queues the alert of signal `signal_id` for each of `chat_ids`, once per chat
/// (chats that already have or had it are skipped), in one transaction.
/// Returns the chats that got it now.
///
/// # Errors
/// [`StorageError`] on a database failure (e.g. a chat is not linked); then
/// nothing was queued.
pub async fn add_alerts(
    db: &Db,
    chat_ids: &[i64],
    signal_id: i64,
    text: &str,
    digest_line: &str,
    now_ms: i64,
) -> Result<Vec<i64>, StorageError> {
    if chat_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut queued = Vec::with_capacity(chat_ids.len());
    write_transaction!(db, |tx| {
        for chunk in chat_ids.chunks(ID_CHUNK) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("(${}, 'alert', $1, $2, $3, $4)", i + 5)).collect();
            let sql = format!(
                "INSERT INTO telegram_outbox (chat_id, kind, signal_id, text, digest_line, created_at) VALUES {} \
                 ON CONFLICT (chat_id, signal_id) DO NOTHING RETURNING chat_id",
                rows.join(", ")
            );
            let mut query = sqlx::query_scalar(&sql).bind(signal_id).bind(text).bind(digest_line).bind(now_ms);
            for chat_id in chunk {
                query = query.bind(chat_id);
            }
            let ids: Vec<i64> = query.fetch_all(&mut *tx).await?;
            queued.extend(ids);
        }
    });
    queued.sort_unstable();
    Ok(queued)
}

/// Queues the reply to update `update_id` (when there is one to send) and
/// moves the update offset to `next_offset`, in one transaction: once the
/// offset moved, the reply is in the outbox. Returns the reply's row id when it
/// was queued now (`None` when this update was answered before).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn record_update(
    db: &Db,
    chat_id: i64,
    update_id: i64,
    reply: Option<&str>,
    next_offset: i64,
    now_ms: i64,
) -> Result<Option<i64>, StorageError> {
    const INSERT: &str = "INSERT INTO telegram_outbox (chat_id, kind, update_id, text, created_at) \
         VALUES ($1, 'reply', $2, $3, $4) ON CONFLICT (chat_id, update_id) DO NOTHING RETURNING id";
    let id = write_transaction!(db, |tx| {
        let id: Option<i64> = match reply {
            Some(text) => {
                sqlx::query_scalar(INSERT)
                    .bind(chat_id)
                    .bind(update_id)
                    .bind(text)
                    .bind(now_ms)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        };
        sqlx::query(SET_OFFSET).bind(next_offset).execute(&mut *tx).await?;
        id
    });
    Ok(id)
}

/// Claims a chat's pending messages for one flush (identified by `claim`) until
/// `until_ms`: replies, and alerts too when `with_alerts`. Rows another flush
/// holds are left alone until its lease ends. Oldest first.
///
/// # Errors
/// [`StorageError`] on a database failure or an unreadable row.
pub async fn claim(
    db: &Db,
    chat_id: i64,
    claim: &str,
    with_alerts: bool,
    now_ms: i64,
    until_ms: i64,
) -> Result<Vec<OutboxRow>, StorageError> {
    let sql = format!(
        "UPDATE telegram_outbox SET claim = $2, claimed_until = $4 WHERE chat_id = $1 AND done_at IS NULL \
         AND (claimed_until IS NULL OR claimed_until < $3) AND (kind = 'reply' OR $5) RETURNING {OUTBOX_COLUMNS}"
    );
    let rows: Vec<OutboxDbRow> = with_writer!(db, |pool| sqlx::query_as(&sql)
        .bind(chat_id)
        .bind(claim)
        .bind(now_ms)
        .bind(until_ms)
        .bind(with_alerts)
        .fetch_all(pool)
        .await?);
    outbox_rows(rows)
}

/// How many of a chat's pending messages (replies, and alerts when
/// `with_alerts`) another flush holds right now.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn held_elsewhere(db: &Db, chat_id: i64, with_alerts: bool, now_ms: i64) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT COUNT(*) FROM telegram_outbox WHERE chat_id = $1 AND done_at IS NULL \
         AND claimed_until >= $2 AND (kind = 'reply' OR $3)";
    Ok(with_reader!(db, |pool| sqlx::query_scalar(SQL)
        .bind(chat_id)
        .bind(now_ms)
        .bind(with_alerts)
        .fetch_one(pool)
        .await?))
}

/// Marks claimed rows done with `outcome` (`sent`, `undeliverable`), fenced by
/// the claim: rows another flush took over are left to it. Returns how many.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn finish(db: &Db, claim: &str, ids: &[i64], outcome: &str, now_ms: i64) -> Result<u64, StorageError> {
    let mut done = 0;
    for chunk in ids.chunks(ID_CHUNK) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "UPDATE telegram_outbox SET done_at = $1, outcome = $2, claim = NULL, claimed_until = NULL \
             WHERE claim = $3 AND done_at IS NULL AND id IN ({})",
            placeholders.join(", ")
        );
        done += with_writer!(db, |pool| {
            let mut query = sqlx::query(&sql).bind(now_ms).bind(outcome).bind(claim);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(pool).await?.rows_affected()
        });
    }
    Ok(done)
}

/// Extends the lease of the rows `claim` still holds (pending ones) to
/// `until_ms`. Returns how many; 0 when none are left, or when another flush
/// took them over after the lease ran out.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn renew(db: &Db, claim: &str, until_ms: i64) -> Result<u64, StorageError> {
    const SQL: &str = "UPDATE telegram_outbox SET claimed_until = $2 WHERE claim = $1 AND done_at IS NULL";
    Ok(with_writer!(db, |pool| sqlx::query(SQL).bind(claim).bind(until_ms).execute(pool).await?.rows_affected()))
}

/// Gives back the rows a flush still holds (it failed before sending them).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn release(db: &Db, claim: &str) -> Result<u64, StorageError> {
    const SQL: &str =
        "UPDATE telegram_outbox SET claim = NULL, claimed_until = NULL WHERE claim = $1 AND done_at IS NULL";
    Ok(with_writer!(db, |pool| sqlx::query(SQL).bind(claim).execute(pool).await?.rows_affected()))
}

/// Drops a chat's pending, unclaimed alerts with `outcome` (a muted chat's).
/// Returns how many.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn drop_alerts(db: &Db, chat_id: i64, outcome: &str, now_ms: i64) -> Result<u64, StorageError> {
    const SQL: &str = "UPDATE telegram_outbox SET done_at = $3, outcome = $2 WHERE chat_id = $1 AND kind = 'alert' \
         AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)";
    Ok(with_writer!(db, |pool| sqlx::query(SQL)
        .bind(chat_id)
        .bind(outcome)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected()))
}

/// A chat with messages a flush could take now (see [`due_chats`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueChat {
    /// The chat.
    pub chat_id: i64,
    /// Its oldest such message's row id.
    pub first_id: i64,
    /// When its oldest such reply was queued, Unix ms.
    pub first_reply_at: Option<i64>,
    /// When its oldest such alert was queued, Unix ms.
    pub first_alert_at: Option<i64>,
    /// How many such alerts.
    pub alerts: i64,
    /// Whether the chat is muted (its alerts are to be dropped).
    pub muted: bool,
}

/// Chats with pending messages that no live claim holds: replies, and alerts
/// unless the chat is in its quiet hours at `now_ms` (a muted chat's alerts
/// count: they are due to be dropped). At most `limit` chats, the one with the
/// oldest message first, so a chat waiting for long is not passed over.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn due_chats(db: &Db, now_ms: i64, limit: usize) -> Result<Vec<DueChat>, StorageError> {
    // $2 is the minute of the day (UTC); a quiet window may wrap midnight.
    const SQL: &str = "SELECT o.chat_id AS chat_id, MIN(o.id) AS first_id, \
         MIN(CASE WHEN o.kind = 'reply' THEN o.created_at END) AS first_reply_at, \
         MIN(CASE WHEN o.kind = 'alert' THEN o.created_at END) AS first_alert_at, \
         SUM(CASE WHEN o.kind = 'alert' THEN 1 ELSE 0 END) AS alerts, c.muted AS muted \
         FROM telegram_outbox o JOIN telegram_chats c ON c.chat_id = o.chat_id \
         WHERE o.done_at IS NULL AND (o.claimed_until IS NULL OR o.claimed_until < $1) \
         AND (o.kind = 'reply' OR c.muted OR c.quiet_start_min IS NULL \
              OR (c.quiet_start_min < c.quiet_end_min AND ($2 < c.quiet_start_min OR $2 >= c.quiet_end_min)) \
              OR (c.quiet_start_min > c.quiet_end_min AND $2 >= c.quiet_end_min AND $2 < c.quiet_start_min)) \
         GROUP BY o.chat_id, c.muted ORDER BY first_id LIMIT $3";
    let minute = now_ms.div_euclid(60_000).rem_euclid(1_440);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(with_reader!(db, |pool| sqlx::query_as(SQL).bind(now_ms).bind(minute).bind(limit).fetch_all(pool).await?))
}

/// Keeps a chat's backlog bounded: of its pending alerts no claim holds, all
/// but the newest `keep` are marked done with outcome `superseded` (a digest
/// of the newest stands for them). Returns how many.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn supersede_alerts(db: &Db, chat_id: i64, keep: usize, now_ms: i64) -> Result<u64, StorageError> {
    const SQL: &str = "UPDATE telegram_outbox SET done_at = $3, outcome = 'superseded' \
         WHERE chat_id = $1 AND kind = 'alert' AND done_at IS NULL \
         AND (claimed_until IS NULL OR claimed_until < $3) \
         AND id <= (SELECT id FROM telegram_outbox WHERE chat_id = $1 AND kind = 'alert' AND done_at IS NULL \
                    ORDER BY id DESC LIMIT 1 OFFSET $2)";
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    Ok(with_writer!(db, |pool| sqlx::query(SQL)
        .bind(chat_id)
        .bind(keep)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected()))
}

/// Applies [`supersede_alerts`] to every chat with more than `keep` pending
/// alerts. Returns how many alerts were superseded.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn trim_backlogs(db: &Db, keep: usize, now_ms: i64) -> Result<u64, StorageError> {
    const OVER: &str = "SELECT chat_id FROM telegram_outbox WHERE done_at IS NULL AND kind = 'alert' \
         GROUP BY chat_id HAVING COUNT(*) > $1";
    let limit = i64::try_from(keep).unwrap_or(i64::MAX);
    let chats: Vec<i64> = with_reader!(db, |pool| sqlx::query_scalar(OVER).bind(limit).fetch_all(pool).await?);
    let mut superseded = 0;
    for chat_id in chats {
        superseded += supersede_alerts(db, chat_id, keep, now_ms).await?;
    }
    Ok(superseded)
}

/// Deletes done rows (sent or dropped) queued before `before_ms`, walking row
/// ids upwards from `from_id`, `step` ids at a time, at most `max_steps`
/// steps, and stopping at the first row queued at or after `before_ms`. Every
/// step is a range of the primary key, so the cost does not grow with the
/// table. Returns how many rows went and where the next walk starts. Rows
/// still pending are walked past (a later walk from 0, after a restart, takes
/// them once they are done).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn purge_done(
    db: &Db,
    from_id: i64,
    before_ms: i64,
    step: i64,
    max_steps: usize,
) -> Result<(u64, i64), StorageError> {
    const FIRST: &str = "SELECT MIN(id) FROM telegram_outbox WHERE id >= $1";
    const NEWER: &str = "SELECT MIN(id) FROM telegram_outbox WHERE id >= $1 AND id < $2 AND created_at >= $3";
    // The age is checked again: a row committed after NEWER looked may have an id in range.
    const DELETE: &str = "DELETE FROM telegram_outbox WHERE id >= $1 AND id < $2 \
         AND done_at IS NOT NULL AND created_at < $3";
    let step = step.max(1);
    let mut from = from_id;
    let mut deleted = 0;
    for _ in 0..max_steps {
        let first: Option<i64> = with_reader!(db, |pool| sqlx::query_scalar(FIRST).bind(from).fetch_one(pool).await?);
        let Some(first) = first else { break };
        let end = first.saturating_add(step);
        let newer: Option<i64> = with_reader!(db, |pool| sqlx::query_scalar(NEWER)
            .bind(first)
            .bind(end)
            .bind(before_ms)
            .fetch_one(pool)
            .await?);
        let until = newer.unwrap_or(end);
        if until > first {
            deleted += with_writer!(db, |pool| sqlx::query(DELETE)
                .bind(first)
                .bind(until)
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected());
        }
        from = until;
        if newer.is_some() {
            break;
        }
    }
    Ok((deleted, from))
}

/// Pending messages: of one chat, or of all with `None`.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn pending_count(db: &Db, chat_id: Option<i64>) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT COUNT(*) FROM telegram_outbox WHERE done_at IS NULL AND ($1 IS NULL OR chat_id = $1)";
    Ok(with_reader!(db, |pool| sqlx::query_scalar(SQL).bind(chat_id).fetch_one(pool).await?))
}

/// A chat's outbox, newest first (delivered and pending).
///
/// # Errors
/// [`StorageError`] on a database failure or an unreadable row.
pub async fn outbox(db: &Db, chat_id: i64, limit: usize) -> Result<Vec<OutboxRow>, StorageError> {
    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM telegram_outbox WHERE chat_id = $1 ORDER BY id DESC LIMIT $2");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<OutboxDbRow> =
        with_reader!(db, |pool| sqlx::query_as(&sql).bind(chat_id).bind(limit).fetch_all(pool).await?);
    let mut rows = outbox_rows(rows)?;
    rows.reverse();
    Ok(rows)
}
