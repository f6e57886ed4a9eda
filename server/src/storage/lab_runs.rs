//! The `lab_runs` table: backtest lab runs saved by name, for the lab page's
//! list and comparison and `/api/v1/lab/runs`. A row holds the run's whole
//! input (the flat JSON object the page keeps in its URL), so opening it
//! reproduces the run; its metrics and an optional sample of its equity
//! curve, so a list or a comparison needs no run. JSON is stored as text and
//! checked by the caller. Each row belongs to the user who saved it: every
//! read and delete is filtered by its [`Owner`] in the SQL.

use serde::Serialize;

use app::auth::Owner;

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
pub async fn insert(
    db: &Db,
    run: &NewLabRun<'_>,
    user_id: Option<i64>,
    now_ms: i64,
) -> Result<LabRunRow, StorageError> {
    let sql = format!(
        "INSERT INTO lab_runs (name, created_at, symbol, timeframe, strategy, input, metrics, equity, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
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
        .bind(user_id)
        .fetch_one(pool)
        .await?))
}

/// The rows `owner` may see: `$1` is the user, `$2` whether rows of nobody count.
const OWNED: &str = "(user_id = $1 OR ($2 AND user_id IS NULL))";

/// `owner`'s saved runs, newest first, at most `limit`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(db: &Db, owner: Owner, limit: usize) -> Result<Vec<LabRunRow>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM lab_runs WHERE {OWNED} ORDER BY id DESC LIMIT $3");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, LabRunRow>(&sql)
        .bind(owner.user_id)
        .bind(owner.admin)
        .bind(limit)
        .fetch_all(pool)
        .await?))
}

/// The run `id`, if `owner` may see it.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn get(db: &Db, owner: Owner, id: i64) -> Result<Option<LabRunRow>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM lab_runs WHERE {OWNED} AND id = $3");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, LabRunRow>(&sql)
        .bind(owner.user_id)
        .bind(owner.admin)
        .bind(id)
        .fetch_optional(pool)
        .await?))
}

/// Deletes the run `id` if it is `owner`'s; whether there was one.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn delete(db: &Db, owner: Owner, id: i64) -> Result<bool, StorageError> {
    let sql = format!("DELETE FROM lab_runs WHERE {OWNED} AND id = $3");
    Ok(with_writer!(db, |pool| sqlx::query(&sql)
        .bind(owner.user_id)
        .bind(owner.admin)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected())
        > 0)
}
