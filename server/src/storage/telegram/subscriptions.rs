//! Which chats follow which symbols and strategies.

use serde::Serialize;

use super::super::{Db, StorageError, with_reader, with_writer};
use super::chats::{CHAT_COLUMNS, ChatRow, LinkedChat};

/// The `strategy` of a subscription to every strategy of a symbol.
pub const ANY_STRATEGY: &str = "*";

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
