//! The `runs` table: one row per run of a named schedule, with its outcome per
//! symbol, for the API and `finstage runs list`.

use serde::Serialize;

use super::{Db, StorageError, with_reader, with_writer};

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Run {
    /// Row id.
    pub id: i64,
    /// The schedule's name, e.g. `quote_refresh`.
    pub schedule: String,
    /// Start, Unix ms.
    pub started_at: i64,
    /// End, Unix ms (`None` while running).
    pub finished_at: Option<i64>,
    /// `running`, `ok` (no failures), `partial` (some) or `failed` (all, or the run itself).
    pub status: String,
    /// Symbols that succeeded.
    pub succeeded: i32,
    /// Symbols that failed.
    pub failed: i32,
    /// JSON list of `{"symbol", "error"}`.
    pub errors: String,
}

/// Records the start of a run; returns its id.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn start(db: &Db, schedule: &str, now_ms: i64) -> Result<i64, StorageError> {
    const SQL: &str = "INSERT INTO runs (schedule, started_at, status) VALUES ($1, $2, 'running') RETURNING id";
    Ok(with_writer!(db, |pool| sqlx::query_scalar(SQL).bind(schedule).bind(now_ms).fetch_one(pool).await?))
}

/// Records the end of a run.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn finish(
    db: &Db,
    id: i64,
    (succeeded, failed): (i32, i32),
    errors: &serde_json::Value,
    now_ms: i64,
) -> Result<(), StorageError> {
    const SQL: &str = "UPDATE runs SET finished_at = $2, succeeded = $3, failed = $4, errors = $5, \
         status = CASE WHEN $4 = 0 THEN 'ok' WHEN $3 = 0 THEN 'failed' ELSE 'partial' END WHERE id = $1";
    let errors = errors.to_string();
    with_writer!(db, |pool| sqlx::query(SQL)
        .bind(id)
        .bind(now_ms)
        .bind(succeeded)
        .bind(failed)
        .bind(&errors)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}

/// Runs, newest first, optionally of one schedule.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(db: &Db, schedule: Option<&str>, limit: usize) -> Result<Vec<Run>, StorageError> {
    const SQL: &str = "SELECT id, schedule, started_at, finished_at, status, succeeded, failed, errors FROM runs \
         WHERE ($1 IS NULL OR schedule = $1) ORDER BY id DESC LIMIT $2";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, Run>(SQL).bind(schedule).bind(limit).fetch_all(pool).await?))
}
