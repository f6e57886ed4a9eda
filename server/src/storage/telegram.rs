//! The Telegram bot's tables: linked chats and their settings, subscriptions,
//! one-time link codes, the outbox of messages to deliver, and the bot's
//! `getUpdates` offset. The bot itself is `crate::telegram`.
//!
//! The outbox is what makes deliveries durable. Every message (an alert for a
//! chat, a reply to a command) is a row before anything is sent. A flush
//! *claims* a chat's pending rows with a short lease (`claim`, `claimed_until`),
//! renews the lease while it works, sends them, then marks each done, fenced by
//! its claim. A flush that dies stops renewing, its lease expires within
//! seconds, and another flush takes the rows over: rows are sent at least once,
//! and twice only when the process dies between Telegram's answer and the
//! `done` write.
//!
//! The delivery loop finds its work here too ([`due_chats`]), keeps each
//! chat's backlog bounded ([`supersede_alerts`]) and purges delivered rows
//! after a while ([`purge_done`]).

use rand::Rng;
use serde::Serialize;

use super::{Db, StorageError, with_reader, with_writer};

/// How long a link code stays valid.
pub const LINK_CODE_TTL_MS: i64 = 15 * 60 * 1_000;
/// The `strategy` of a subscription to every strategy of a symbol.
pub const ANY_STRATEGY: &str = "*";
/// Letters and digits of link codes: no 0/O or 1/I to misread.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a link code: 32^8 = 2^40 codes, against at most a few live at a time.
const CODE_LEN: usize = 8;
/// Used codes and expired ones are kept this long (for inspection), then purged.
const CODE_RETENTION_MS: i64 = 24 * 3_600_000;
/// Rows bound per statement when a list of ids is bound.
const ID_CHUNK: usize = 500;
const DAY_MS: i64 = 86_400_000;

/// Quiet hours: a window of the day, in UTC, during which alerts wait. The
/// window may wrap midnight (`22:00-07:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuietHours {
    /// First quiet minute of the day, 0..1440.
    pub start_min: u16,
    /// First minute after the window, 0..1440.
    pub end_min: u16,
}

impl QuietHours {
    /// A window from `start_min` up to (excluding) `end_min`; `None` when a
    /// bound is not a minute of the day or the window is empty.
    #[must_use]
    pub fn new(start_min: u16, end_min: u16) -> Option<Self> {
        (start_min < 1_440 && end_min < 1_440 && start_min != end_min).then_some(Self { start_min, end_min })
    }

    /// Parses `HH:MM-HH:MM` (UTC).
    ///
    /// # Errors
    /// A message saying what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a window like 22:00-07:00 (UTC, start and end different)");
        let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
        let minute = |s: &str| {
            let time = chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
            u16::try_from(chrono::Timelike::hour(&time) * 60 + chrono::Timelike::minute(&time)).ok()
        };
        Self::new(minute(start).ok_or_else(bad)?, minute(end).ok_or_else(bad)?).ok_or_else(bad)
    }

    /// Whether `now_ms` (Unix ms) falls in the window.
    #[must_use]
    pub fn contains(&self, now_ms: i64) -> bool {
        let minute = now_ms.div_euclid(60_000).rem_euclid(1_440);
        let (start, end) = (i64::from(self.start_min), i64::from(self.end_min));
        if start < end { (start..end).contains(&minute) } else { minute >= start || minute < end }
    }

    /// The next moment after `now_ms` at which the window ends, Unix ms.
    #[must_use]
    pub fn end_after(&self, now_ms: i64) -> i64 {
        let end = now_ms - now_ms.rem_euclid(DAY_MS) + i64::from(self.end_min) * 60_000;
        if end > now_ms { end } else { end + DAY_MS }
    }
}

impl std::fmt::Display for QuietHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, e) = (self.start_min, self.end_min);
        write!(f, "{:02}:{:02}-{:02}:{:02} UTC", s / 60, s % 60, e / 60, e % 60)
    }
}

/// A chat linked to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedChat {
    /// Telegram's chat id (negative for groups).
    pub chat_id: i64,
    /// Group title, `@username` or first name, as last seen.
    pub title: Option<String>,
    /// When it was linked, Unix ms.
    pub linked_at: i64,
    /// No alerts while muted (commands are still answered).
    pub muted: bool,
    /// Alerts wait while these hours last.
    pub quiet: Option<QuietHours>,
}

#[derive(sqlx::FromRow)]
struct ChatRow {
    chat_id: i64,
    title: Option<String>,
    linked_at: i64,
    muted: bool,
    quiet_start_min: Option<i64>,
    quiet_end_min: Option<i64>,
}

impl From<ChatRow> for LinkedChat {
    fn from(r: ChatRow) -> Self {
        let minute = |m: Option<i64>| m.and_then(|m| u16::try_from(m).ok());
        let quiet = match (minute(r.quiet_start_min), minute(r.quiet_end_min)) {
            (Some(start), Some(end)) => QuietHours::new(start, end),
            _ => None,
        };
        Self { chat_id: r.chat_id, title: r.title, linked_at: r.linked_at, muted: r.muted, quiet }
    }
}

const CHAT_COLUMNS: &str = "chat_id, title, linked_at, muted, quiet_start_min, quiet_end_min";

/// A fresh random link code (not stored).
fn random_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN).map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())])).collect()
}

/// Creates a one-time link code, valid for [`LINK_CODE_TTL_MS`]: a chat that
/// sends `/start CODE` to the bot in that time is linked. Old codes are purged.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn create_link_code(db: &Db, now_ms: i64) -> Result<String, StorageError> {
    const PURGE: &str = "DELETE FROM telegram_link_codes WHERE expires_at < $1";
    const INSERT: &str = "INSERT INTO telegram_link_codes (code, created_at, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (code) DO NOTHING";
    with_writer!(db, |pool| sqlx::query(PURGE).bind(now_ms - CODE_RETENTION_MS).execute(pool).await?.rows_affected());
    // A collision with a kept code is unlikely (2^40 codes); try a few times anyway.
    for _ in 0..8 {
        let code = random_code();
        let inserted = with_writer!(db, |pool| sqlx::query(INSERT)
            .bind(&code)
            .bind(now_ms)
            .bind(now_ms + LINK_CODE_TTL_MS)
            .execute(pool)
            .await?
            .rows_affected());
        if inserted == 1 {
            return Ok(code);
        }
    }
    Err(StorageError::Corrupt("could not find an unused link code".into()))
}

/// What redeeming a link code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The chat is now linked.
    Linked,
    /// The code was already used by this very chat (the same `/start` seen again).
    AlreadyLinked,
    /// Unknown, expired, or used by another chat.
    Invalid,
}

/// Redeems `code` for `chat_id`: when the code is known, unused and unexpired,
/// marks it used and links the chat, in one transaction.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn redeem_code(
    db: &Db,
    code: &str,
    chat_id: i64,
    title: Option<&str>,
    now_ms: i64,
) -> Result<LinkOutcome, StorageError> {
    const TAKE: &str = "UPDATE telegram_link_codes SET used_by = $2, used_at = $3 \
         WHERE code = $1 AND used_by IS NULL AND expires_at > $3";
    const USED_BY: &str = "SELECT used_by FROM telegram_link_codes WHERE code = $1";
    let code = code.trim().to_ascii_uppercase();
    let outcome = with_writer!(db, |pool| {
        let mut tx = pool.begin().await?;
        let taken = sqlx::query(TAKE).bind(&code).bind(chat_id).bind(now_ms).execute(&mut *tx).await?.rows_affected();
        let outcome = if taken == 1 {
            sqlx::query(INSERT_CHAT).bind(chat_id).bind(title).bind(now_ms).execute(&mut *tx).await?;
            LinkOutcome::Linked
        } else {
            let used_by: Option<Option<i64>> = sqlx::query_scalar(USED_BY).bind(&code).fetch_optional(&mut *tx).await?;
            if used_by == Some(Some(chat_id)) { LinkOutcome::AlreadyLinked } else { LinkOutcome::Invalid }
        };
        tx.commit().await?;
        outcome
    });
    Ok(outcome)
}

const INSERT_CHAT: &str = "INSERT INTO telegram_chats (chat_id, title, linked_at) VALUES ($1, $2, $3) \
     ON CONFLICT (chat_id) DO UPDATE SET title = COALESCE(excluded.title, telegram_chats.title)";

/// Links a chat without a code (a chat of `telegram.allowed_chats`, or an
/// operator's choice); keeps its settings when it is linked already. Returns
/// whether it was new.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn link_chat(db: &Db, chat_id: i64, title: Option<&str>, now_ms: i64) -> Result<bool, StorageError> {
    let existed = get_chat(db, chat_id).await?.is_some();
    with_writer!(db, |pool| sqlx::query(INSERT_CHAT)
        .bind(chat_id)
        .bind(title)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(!existed)
}

/// Records a linked chat's current title (groups get renamed, users change names).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn set_title(db: &Db, chat_id: i64, title: &str) -> Result<(), StorageError> {
    const SQL: &str = "UPDATE telegram_chats SET title = $2 WHERE chat_id = $1 AND (title IS NULL OR title <> $2)";
    with_writer!(db, |pool| sqlx::query(SQL).bind(chat_id).bind(title).execute(pool).await?.rows_affected());
    Ok(())
}

/// A linked chat, if `chat_id` is one.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn get_chat(db: &Db, chat_id: i64) -> Result<Option<LinkedChat>, StorageError> {
    let sql = format!("SELECT {CHAT_COLUMNS} FROM telegram_chats WHERE chat_id = $1");
    let row: Option<ChatRow> = with_reader!(db, |pool| sqlx::query_as(&sql).bind(chat_id).fetch_optional(pool).await?);
    Ok(row.map(LinkedChat::from))
}

/// Every linked chat, oldest link first.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn list_chats(db: &Db) -> Result<Vec<LinkedChat>, StorageError> {
    let sql = format!("SELECT {CHAT_COLUMNS} FROM telegram_chats ORDER BY linked_at, chat_id");
    let rows: Vec<ChatRow> = with_reader!(db, |pool| sqlx::query_as(&sql).fetch_all(pool).await?);
    Ok(rows.into_iter().map(LinkedChat::from).collect())
}

/// Unlinks a chat: its subscriptions and undelivered messages go with it.
/// Returns whether it was linked.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn unlink(db: &Db, chat_id: i64) -> Result<bool, StorageError> {
    const SQL: &str = "DELETE FROM telegram_chats WHERE chat_id = $1";
    let n = with_writer!(db, |pool| sqlx::query(SQL).bind(chat_id).execute(pool).await?.rows_affected());
    Ok(n == 1)
}

/// Mutes or unmutes a chat's alerts. Returns whether the chat is linked.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn set_muted(db: &Db, chat_id: i64, muted: bool) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE telegram_chats SET muted = $2 WHERE chat_id = $1";
    let n = with_writer!(db, |pool| sqlx::query(SQL).bind(chat_id).bind(muted).execute(pool).await?.rows_affected());
    Ok(n == 1)
}

/// Sets (or with `None` clears) a chat's quiet hours. Returns whether the chat is linked.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn set_quiet(db: &Db, chat_id: i64, quiet: Option<QuietHours>) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE telegram_chats SET quiet_start_min = $2, quiet_end_min = $3 WHERE chat_id = $1";
    let start = quiet.map(|q| i64::from(q.start_min));
    let end = quiet.map(|q| i64::from(q.end_min));
    let n = with_writer!(db, |pool| sqlx::query(SQL)
        .bind(chat_id)
        .bind(start)
        .bind(end)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// How many chats are linked.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn count_chats(db: &Db) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT COUNT(*) FROM telegram_chats";
    Ok(with_reader!(db, |pool| sqlx::query_scalar(SQL).fetch_one(pool).await?))
}

/// One subscription of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// The ticker.
    pub symbol: String,
    /// One strategy, or `None` for every strategy.
    pub strategy: Option<String>,
}

/// Subscribes a chat to a symbol's signals, of one strategy or (`None`) of all.
/// Returns whether the subscription is new.
///
/// # Errors
/// [`StorageError`] on a database failure (e.g. the chat is not linked).
pub async fn subscribe(
    db: &Db,
    chat_id: i64,
    symbol: &str,
    strategy: Option<&str>,
    now_ms: i64,
) -> Result<bool, StorageError> {
    const SQL: &str = "INSERT INTO telegram_subscriptions (chat_id, symbol, strategy, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (chat_id, symbol, strategy) DO NOTHING";
    let n = with_writer!(db, |pool| sqlx::query(SQL)
        .bind(chat_id)
        .bind(symbol)
        .bind(strategy.unwrap_or(ANY_STRATEGY))
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Removes a chat's subscriptions: of one symbol (`None`: every symbol), of one
/// strategy (`None`: every strategy, [`ANY_STRATEGY`]: the "any" subscription
/// only). Returns how many were removed.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn unsubscribe(
    db: &Db,
    chat_id: i64,
    symbol: Option<&str>,
    strategy: Option<&str>,
) -> Result<u64, StorageError> {
    const SQL: &str = "DELETE FROM telegram_subscriptions WHERE chat_id = $1 \
         AND ($2 IS NULL OR symbol = $2) AND ($3 IS NULL OR strategy = $3)";
    Ok(with_writer!(db, |pool| sqlx::query(SQL)
        .bind(chat_id)
        .bind(symbol)
        .bind(strategy)
        .execute(pool)
        .await?
        .rows_affected()))
}

/// A chat's subscriptions, by symbol.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn subscriptions(db: &Db, chat_id: i64) -> Result<Vec<Subscription>, StorageError> {
    const SQL: &str =
        "SELECT symbol, strategy FROM telegram_subscriptions WHERE chat_id = $1 ORDER BY symbol, strategy";
    let rows: Vec<(String, String)> =
        with_reader!(db, |pool| sqlx::query_as(SQL).bind(chat_id).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .map(|(symbol, strategy)| Subscription { symbol, strategy: (strategy != ANY_STRATEGY).then_some(strategy) })
        .collect())
}

/// The linked chats subscribed to `symbol` with `strategy` (or with any
/// strategy), muted ones included.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn subscribers(db: &Db, symbol: &str, strategy: &str) -> Result<Vec<LinkedChat>, StorageError> {
    let sql = format!(
        "SELECT {CHAT_COLUMNS} FROM telegram_chats c WHERE EXISTS (SELECT 1 FROM telegram_subscriptions s \
         WHERE s.chat_id = c.chat_id AND s.symbol = $1 AND (s.strategy = $2 OR s.strategy = '{ANY_STRATEGY}')) \
         ORDER BY chat_id"
    );
    let rows: Vec<ChatRow> =
        with_reader!(db, |pool| sqlx::query_as(&sql).bind(symbol).bind(strategy).fetch_all(pool).await?);
    Ok(rows.into_iter().map(LinkedChat::from).collect())
}

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
    with_writer!(db, |pool| {
        let mut tx = pool.begin().await?;
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
        tx.commit().await?;
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
    let id = with_writer!(db, |pool| {
        let mut tx = pool.begin().await?;
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
        tx.commit().await?;
        id
    });
    Ok(id)
}

/// Keeps the larger of the stored and the given offset.
const SET_OFFSET: &str = "INSERT INTO telegram_state (key, value) VALUES ('update_offset', $1) \
     ON CONFLICT (key) DO UPDATE SET value = CASE WHEN excluded.value > telegram_state.value \
     THEN excluded.value ELSE telegram_state.value END";

/// The `getUpdates` offset: one more than the last update handled (0 at first).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn update_offset(db: &Db) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT value FROM telegram_state WHERE key = 'update_offset'";
    let value: Option<i64> = with_reader!(db, |pool| sqlx::query_scalar(SQL).fetch_optional(pool).await?);
    Ok(value.unwrap_or(0))
}

/// Moves the `getUpdates` offset forward (never back).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn set_update_offset(db: &Db, offset: i64) -> Result<(), StorageError> {
    with_writer!(db, |pool| sqlx::query(SET_OFFSET).bind(offset).execute(pool).await?.rows_affected());
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn quiet_hours_wrap_midnight() {
        let q = QuietHours::parse("22:00-07:30").unwrap();
        assert_eq!((q.start_min, q.end_min), (22 * 60, 7 * 60 + 30));
        let day = 20_000 * DAY_MS;
        assert!(q.contains(day + 23 * 60 * MIN));
        assert!(q.contains(day + 3 * 60 * MIN));
        assert!(!q.contains(day + (7 * 60 + 30) * MIN));
        assert!(!q.contains(day + 12 * 60 * MIN));
        // At 23:00 the window ends tomorrow at 07:30; at 03:00, today.
        assert_eq!(q.end_after(day + 23 * 60 * MIN), day + DAY_MS + 450 * MIN);
        assert_eq!(q.end_after(day + 3 * 60 * MIN), day + 450 * MIN);
        let day_window = QuietHours::parse("09:00-17:00").unwrap();
        assert!(day_window.contains(day + 9 * 60 * MIN) && !day_window.contains(day + 17 * 60 * MIN));
        assert_eq!(q.to_string(), "22:00-07:30 UTC");
        for bad in ["", "22:00", "25:00-01:00", "10:00-10:00", "ab-cd"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        let code = random_code();
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert_ne!(random_code(), code);
    }
}
