//! The bot's `getUpdates` offset.

use super::super::{Db, StorageError, with_reader, with_writer};

/// Keeps the larger of the stored and the given offset.
pub(super) const SET_OFFSET: &str = "INSERT INTO telegram_state (key, value) VALUES ('update_offset', $1) \
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
