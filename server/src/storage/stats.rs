//! The `symbol_stats` table: all-time high, 52-week range and last close per
//! symbol, recomputed from stored daily bars by the `all_time_high` schedule.

use serde::Serialize;

use super::{Db, StorageError, with_reader, with_writer};

/// A year, for the 52-week range.
const YEAR_SECS: i64 = 365 * 86_400;

/// A symbol's figures.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SymbolStats {
    /// The ticker.
    pub symbol: String,
    /// The highest daily high stored.
    pub ath: f64,
    /// The day of that high, Unix seconds.
    pub ath_ts: i64,
    /// The highest high of the 365 days up to the last bar.
    pub high_52w: f64,
    /// The lowest low of the 365 days up to the last bar.
    pub low_52w: f64,
    /// The last daily close.
    pub last_close: f64,
    /// The last daily bar's day, Unix seconds.
    pub last_ts: i64,
    /// When these were computed, Unix ms.
    pub updated_at: i64,
}

/// Recomputes `symbol`'s figures from its daily bars and stores them. Returns
/// the new figures (`None` without daily bars) and the all-time high stored
/// before, so the caller can tell a new high.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn refresh(db: &Db, symbol: &str, now_ms: i64) -> Result<(Option<SymbolStats>, Option<f64>), StorageError> {
    const ATH: &str = "SELECT ts, high FROM bars WHERE symbol = $1 AND timeframe = '1d' ORDER BY high DESC, ts LIMIT 1";
    const LAST: &str = "SELECT ts, close FROM bars WHERE symbol = $1 AND timeframe = '1d' ORDER BY ts DESC LIMIT 1";
    const RANGE: &str = "SELECT MAX(high), MIN(low) FROM bars WHERE symbol = $1 AND timeframe = '1d' AND ts > $2";
    const UPSERT: &str = "INSERT INTO symbol_stats \
         (symbol, ath, ath_ts, high_52w, low_52w, last_close, last_ts, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (symbol) DO UPDATE SET \
         ath = excluded.ath, ath_ts = excluded.ath_ts, high_52w = excluded.high_52w, low_52w = excluded.low_52w, \
         last_close = excluded.last_close, last_ts = excluded.last_ts, updated_at = excluded.updated_at";
    let before = get(db, symbol).await?.map(|s| s.ath);
    let ath: Option<(i64, f64)> =
        with_reader!(db, |pool| sqlx::query_as(ATH).bind(symbol).fetch_optional(pool).await?);
    let last: Option<(i64, f64)> =
        with_reader!(db, |pool| sqlx::query_as(LAST).bind(symbol).fetch_optional(pool).await?);
    let (Some((ath_ts, ath)), Some((last_ts, last_close))) = (ath, last) else {
        return Ok((None, before));
    };
    let (high_52w, low_52w): (Option<f64>, Option<f64>) =
        with_reader!(db, |pool| sqlx::query_as(RANGE).bind(symbol).bind(last_ts - YEAR_SECS).fetch_one(pool).await?);
    let stats = SymbolStats {
        symbol: symbol.to_owned(),
        ath,
        ath_ts,
        high_52w: high_52w.unwrap_or(ath),
        low_52w: low_52w.unwrap_or(last_close),
        last_close,
        last_ts,
        updated_at: now_ms,
    };
    with_writer!(db, |pool| sqlx::query(UPSERT)
        .bind(&stats.symbol)
        .bind(stats.ath)
        .bind(stats.ath_ts)
        .bind(stats.high_52w)
        .bind(stats.low_52w)
        .bind(stats.last_close)
        .bind(stats.last_ts)
        .bind(stats.updated_at)
        .execute(pool)
        .await?
        .rows_affected());
    Ok((Some(stats), before))
}

/// The stored figures of `symbol`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn get(db: &Db, symbol: &str) -> Result<Option<SymbolStats>, StorageError> {
    const SQL: &str = "SELECT symbol, ath, ath_ts, high_52w, low_52w, last_close, last_ts, updated_at \
         FROM symbol_stats WHERE symbol = $1";
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, SymbolStats>(SQL).bind(symbol).fetch_optional(pool).await?))
}
