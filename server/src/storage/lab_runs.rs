//! The `lab_runs` table: backtest lab runs saved by name, for the lab page's
//! list and comparison and `/api/v1/lab/runs`. A row holds the run's whole
//! input (the flat JSON object the page keeps in its URL), so opening it
//! reproduces the run; its metrics and an optional sample of its equity
//! curve, so a list or a comparison needs no run. JSON is stored as text and
//! checked by the caller.

use serde::Serialize;

use super::{Db, StorageError, with_reader, with_writer};

/// A saved run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LabRunRow {
    /// Row id.
    pub id: i64,
    /// The name it was saved under.
    pub name: String,
    /// When it was saved, Unix ms.
    pub created_at: i64,
    /// The input's symbol.
    pub symbol: String,
    /// The input's timeframe.
    pub timeframe: String,
    /// The input's strategy.
    pub strategy: String,
    /// The input, a JSON object.
    pub input: String,
    /// Its metrics, a JSON object.
    pub metrics: Option<String>,
    /// A sample of its equity curve, a JSON array of numbers.
    pub equity: Option<String>,
}

/// A run to save.
#[derive(Debug, Clone, Copy)]
pub struct NewLabRun<'a> {
    /// The name.
    pub name: &'a str,
    /// The input's symbol, timeframe and strategy (for listing).
    pub symbol: &'a str,
    /// See `symbol`.
    pub timeframe: &'a str,
    /// See `symbol`.
    pub strategy: &'a str,
    /// The input, JSON.
    pub input: &'a str,
    /// Metrics, JSON.
    pub metrics: Option<&'a str>,
    /// Equity sample, JSON.
    pub equity: Option<&'a str>,
}

const COLUMNS: &str = "id, name, created_at, symbol, timeframe, strategy, input, metrics, equity";

/// Saves a run; returns the stored row.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn insert(db: &Db, run: &NewLabRun<'_>, now_ms: i64) -> Result<LabRunRow, StorageError> {
    let sql = format!(
        "INSERT INTO lab_runs (name, created_at, symbol, timeframe, strategy, input, metrics, equity) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    Ok(with_writer!(db, |pool| sqlx::query_as::<_, LabRunRow>(&sql)
        .bind(run.name)
        .bind(now_ms)
        .bind(run.symbol)
        .bind(run.timeframe)
        .bind(run.strategy)
        .bind(run.input)
        .bind(run.metrics)
        .bind(run.equity)
        .fetch_one(pool)
        .await?))
}

/// Saved runs, newest first, at most `limit`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(db: &Db, limit: usize) -> Result<Vec<LabRunRow>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM lab_runs ORDER BY id DESC LIMIT $1");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, LabRunRow>(&sql).bind(limit).fetch_all(pool).await?))
}

/// The run `id`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn get(db: &Db, id: i64) -> Result<Option<LabRunRow>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM lab_runs WHERE id = $1");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, LabRunRow>(&sql).bind(id).fetch_optional(pool).await?))
}

/// Deletes the run `id`; whether there was one.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn delete(db: &Db, id: i64) -> Result<bool, StorageError> {
    const SQL: &str = "DELETE FROM lab_runs WHERE id = $1";
    Ok(with_writer!(db, |pool| sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected()) > 0)
}
