//! Link codes, linked chats and their settings (quiet hours, mute).

use rand::Rng;
use serde::Serialize;

use super::super::{Db, StorageError, with_reader, with_writer, write_transaction};
use super::DAY_MS;

/// How long a link code stays valid.
pub const LINK_CODE_TTL_MS: i64 = 15 * 60 * 1_000;
/// Letters and digits of link codes: no 0/O or 1/I to misread.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a link code: 32^8 = 2^40 codes, against at most a few live at a time.
const CODE_LEN: usize = 8;
/// Used codes and expired ones are kept this long (for inspection), then purged.
const CODE_RETENTION_MS: i64 = 24 * 3_600_000;

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
pub(super) struct ChatRow {
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

pub(super) const CHAT_COLUMNS: &str = "chat_id, title, linked_at, muted, quiet_start_min, quiet_end_min";

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
    create_link_code_for(db, None, now_ms).await
}

/// Like [`create_link_code`], for `user_id`: the chat it links is theirs.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn create_link_code_for(db: &Db, user_id: Option<i64>, now_ms: i64) -> Result<String, StorageError> {
    const PURGE: &str = "DELETE FROM telegram_link_codes WHERE expires_at < $1";
    const INSERT: &str = "INSERT INTO telegram_link_codes (code, created_at, expires_at, user_id) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING";
    with_writer!(db, |pool| sqlx::query(PURGE).bind(now_ms - CODE_RETENTION_MS).execute(pool).await?.rows_affected());
    // A collision with a kept code is unlikely (2^40 codes); try a few times anyway.
    for _ in 0..8 {
        let code = random_code();
        let inserted = with_writer!(db, |pool| sqlx::query(INSERT)
            .bind(&code)
            .bind(now_ms)
            .bind(now_ms + LINK_CODE_TTL_MS)
            .bind(user_id)
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
    let outcome = write_transaction!(db, |tx| {
        let taken = sqlx::query(TAKE).bind(&code).bind(chat_id).bind(now_ms).execute(&mut *tx).await?.rows_affected();
        if taken == 1 {
            // The chat is the code's maker's (re-linked with another's code, it moves to them).
            sqlx::query(INSERT_CHAT_FROM_CODE)
                .bind(chat_id)
                .bind(title)
                .bind(now_ms)
                .bind(&code)
                .execute(&mut *tx)
                .await?;
            LinkOutcome::Linked
        } else {
            let used_by: Option<Option<i64>> = sqlx::query_scalar(USED_BY).bind(&code).fetch_optional(&mut *tx).await?;
            if used_by == Some(Some(chat_id)) { LinkOutcome::AlreadyLinked } else { LinkOutcome::Invalid }
        }
    });
    Ok(outcome)
}

const INSERT_CHAT: &str = "INSERT INTO telegram_chats (chat_id, title, linked_at) VALUES ($1, $2, $3) \
     ON CONFLICT (chat_id) DO UPDATE SET title = COALESCE(excluded.title, telegram_chats.title)";
const INSERT_CHAT_FROM_CODE: &str = "INSERT INTO telegram_chats (chat_id, title, linked_at, user_id) \
     SELECT $1, $2, $3, user_id FROM telegram_link_codes WHERE code = $4 \
     ON CONFLICT (chat_id) DO UPDATE SET title = COALESCE(excluded.title, telegram_chats.title), \
     user_id = COALESCE(excluded.user_id, telegram_chats.user_id)";

/// The chats `owner` may see: `$1` the user, `$2` whether chats of nobody count.
const OWNED: &str = "(user_id = $1 OR ($2 AND user_id IS NULL))";

/// `owner`'s linked chats, oldest link first.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn list_chats_of(db: &Db, owner: app::auth::Owner) -> Result<Vec<LinkedChat>, StorageError> {
    let sql = format!("SELECT {CHAT_COLUMNS} FROM telegram_chats WHERE {OWNED} ORDER BY linked_at, chat_id");
    let rows: Vec<ChatRow> =
        with_reader!(db, |pool| sqlx::query_as(&sql).bind(owner.user_id).bind(owner.admin).fetch_all(pool).await?);
    Ok(rows.into_iter().map(LinkedChat::from).collect())
}

/// The chat `chat_id` if it is linked and `owner`'s.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn get_chat_of(db: &Db, owner: app::auth::Owner, chat_id: i64) -> Result<Option<LinkedChat>, StorageError> {
    let sql = format!("SELECT {CHAT_COLUMNS} FROM telegram_chats WHERE {OWNED} AND chat_id = $3");
    let row: Option<ChatRow> = with_reader!(db, |pool| sqlx::query_as(&sql)
        .bind(owner.user_id)
        .bind(owner.admin)
        .bind(chat_id)
        .fetch_optional(pool)
        .await?);
    Ok(row.map(LinkedChat::from))
}

/// Links `chat_id` as `user_id`'s from the dashboard: `false` when the chat
/// is linked already and not theirs (another user's, or nobody's, which only
/// a link code moves).
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn link_chat_for(db: &Db, chat_id: i64, user_id: i64, now_ms: i64) -> Result<bool, StorageError> {
    const SQL: &str = "INSERT INTO telegram_chats (chat_id, linked_at, user_id) VALUES ($1, $2, $3) \
         ON CONFLICT (chat_id) DO UPDATE SET linked_at = telegram_chats.linked_at \
         WHERE telegram_chats.user_id = excluded.user_id";
    let n = with_writer!(db, |pool| sqlx::query(SQL)
        .bind(chat_id)
        .bind(now_ms)
        .bind(user_id)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

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
