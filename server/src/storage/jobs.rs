//! The durable job queue: work that must survive crashes (backfills,
//! backtests), stored in the `jobs` table. (Telegram messages are not jobs:
//! their outbox is their queue, see `storage::telegram`.)
//!
//! Life of a job: `queued` -> (claimed) `running` -> `done`; a failure re-queues
//! it with exponential backoff until `max_attempts`, after which it is `dead`
//! (the dead letter, kept for inspection). A claim takes a short lease
//! (`locked_until`) that the worker renews while the job runs ([`renew`]); a
//! worker that crashes (even by SIGKILL) simply stops renewing it, and once it
//! expires the job is claimable again. Handlers must
//! therefore be idempotent, which our writes are (bar upserts, keyed deliveries).
//! Completion and failure are fenced by the claimer's id, so a worker whose lease
//! expired cannot overwrite the outcome of the worker that took over.
//!
//! An idempotency key makes enqueueing idempotent too: a second enqueue with the
//! same key returns the existing job. If that job is dead, the second enqueue
//! revives it with fresh attempts (asking again is how a person retries);
//! [`retry`] and [`retry_dead`] do the same by id.
//!
//! A job may also be *deferred* ([`defer`]): put back with a later `run_at`
//! without using up the attempt it was claimed for, when it could not even
//! start (its provider's circuit is open).
//!
//! On PostgreSQL many processes may claim at once: the claim selects its row
//! with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for, nor get,
//! the same job. SQLite has one writer, which serialises claims by itself.
//!
//! Why not a crate: the well-kept Rust queues are PostgreSQL-only (sqlxmq,
//! graphile_worker) or bring their own schema, migrations and worker runtime
//! (apalis), which would not share our `Db` pools, our single SQLite writer or
//! our migrations. What we need is about 200 lines of SQL and book-keeping.

use serde::Serialize;
use serde_json::Value;

use super::{Db, StorageError, with_reader, with_writer};

/// First retry delay; doubles with each attempt.
const BACKOFF_BASE_MS: i64 = 1_000;
/// Longest retry delay.
const BACKOFF_CAP_MS: i64 = 3_600_000;

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What handler runs it, e.g. `backfill`.
    pub kind: String,
    /// The handler's input, JSON.
    pub payload: String,
    /// Higher runs first.
    pub priority: i32,
    /// `queued`, `running`, `done` or `dead`.
    pub status: String,
    /// Claims so far (including the current one while running).
    pub attempts: i32,
    /// Claims allowed before the job is dead.
    pub max_attempts: i32,
    /// How long one attempt may run, ms.
    pub timeout_ms: i64,
    /// Not before this time, Unix ms.
    pub run_at: i64,
    /// Lease expiry while running, Unix ms.
    pub locked_until: Option<i64>,
    /// The claimer's id while running.
    pub locked_by: Option<String>,
    /// Deduplication key, when given.
    pub idempotency_key: Option<String>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Enqueued at, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

impl Job {
    /// The payload parsed as JSON.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] when the stored payload is not JSON.
    pub fn payload_json(&self) -> Result<Value, StorageError> {
        serde_json::from_str(&self.payload).map_err(|e| StorageError::Corrupt(format!("job {}: {e}", self.id)))
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// Higher runs first.
    pub priority: i32,
    /// Claims allowed before the job is dead.
    pub max_attempts: i32,
    /// How long one attempt may run, ms (the runner stops the handler then).
    pub timeout_ms: i64,
    /// Deduplication key.
    pub idempotency_key: Option<String>,
    /// Not before this time, Unix ms (`None`: now).
    pub run_at: Option<i64>,
}

impl NewJob {
    /// A job of `kind` with defaults: priority 0, 5 attempts, 5-minute timeout.
    #[must_use]
    pub fn new(kind: &str, payload: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            payload,
            priority: 0,
            max_attempts: 5,
            timeout_ms: 300_000,
            idempotency_key: None,
            run_at: None,
        }
    }
}

const COLUMNS: &str = "id, kind, payload, priority, status, attempts, max_attempts, timeout_ms, run_at, \
                       locked_until, locked_by, idempotency_key, last_error, created_at, updated_at";

/// Enqueues a job; with an idempotency key already present, returns the
/// existing job's id instead of adding another.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn enqueue(db: &Db, job: &NewJob, now_ms: i64) -> Result<i64, StorageError> {
    const INSERT: &str = "INSERT INTO jobs (kind, payload, priority, max_attempts, timeout_ms, run_at, \
         idempotency_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (idempotency_key) DO UPDATE SET status = 'queued', attempts = 0, run_at = excluded.run_at, \
         updated_at = excluded.updated_at WHERE jobs.status = 'dead' RETURNING id";
    const EXISTING: &str = "SELECT id FROM jobs WHERE idempotency_key = $1";
    let payload = job.payload.to_string();
    let run_at = job.run_at.unwrap_or(now_ms);
    let inserted: Option<i64> = with_writer!(db, |pool| sqlx::query_scalar(INSERT)
        .bind(&job.kind)
        .bind(&payload)
        .bind(job.priority)
        .bind(job.max_attempts.max(1))
        .bind(job.timeout_ms.max(1))
        .bind(run_at)
        .bind(&job.idempotency_key)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?);
    match (inserted, &job.idempotency_key) {
        (Some(id), _) => Ok(id),
        (None, Some(key)) => {
            Ok(with_writer!(db, |pool| sqlx::query_scalar(EXISTING).bind(key).fetch_one(pool).await?))
        }
        (None, None) => Err(StorageError::Corrupt("insert returned no id".into())),
    }
}

/// Claims the next ready job for `worker`: a queued job that is due, or a
/// running one whose lease expired (its worker died), with attempts left. The
/// claim counts an attempt and holds a lease until `now_ms + lease_ms`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn claim(db: &Db, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, StorageError> {
    claim_of(db, worker, now_ms, lease_ms, None).await
}

/// [`claim`], limited to jobs of the given `kinds` when some are named: a
/// worker never takes a job it has no handler for (which would spend the
/// job's attempts in a process that cannot run it).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn claim_of(
    db: &Db,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    kinds: Option<&[String]>,
) -> Result<Option<Job>, StorageError> {
    let kinds_json = kinds.map(|k| serde_json::Value::from(k.to_vec()).to_string());
    let pick = |kinds_filter: &str, lock: &str| {
        format!(
            "SELECT id FROM jobs WHERE attempts < max_attempts AND \
             ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND locked_until < $2)) \
             AND ($4 IS NULL OR kind IN ({kinds_filter})) \
             ORDER BY priority DESC, run_at, id LIMIT 1{lock}"
        )
    };
    let update = |pick: String| {
        format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2 + $3, updated_at = $2 WHERE id = ({pick}) RETURNING {COLUMNS}"
        )
    };
    let job = match db {
        Db::Sqlite { writer, .. } => {
            sqlx::query_as::<_, Job>(&update(pick("SELECT value FROM json_each($4)", "")))
                .bind(worker)
                .bind(now_ms)
                .bind(lease_ms)
                .bind(&kinds_json)
                .fetch_optional(writer)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as::<_, Job>(&update(pick(
                "SELECT jsonb_array_elements_text($4::jsonb)",
                " FOR UPDATE SKIP LOCKED",
            )))
            .bind(worker)
            .bind(now_ms)
            .bind(lease_ms)
            .bind(&kinds_json)
            .fetch_optional(pool)
            .await?
        }
    };
    Ok(job)
}

/// Extends `worker`'s lease on running job `id` to `until_ms`. Returns `false`
/// when `worker` no longer holds it (the lease lapsed and another worker took
/// over, or the job ended).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn renew(db: &Db, id: i64, worker: &str, until_ms: i64) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE jobs SET locked_until = $3 WHERE id = $1 AND locked_by = $2 AND status = 'running'";
    let updated = with_writer!(db, |pool| sqlx::query(SQL)
        .bind(id)
        .bind(worker)
        .bind(until_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(updated == 1)
}

/// Marks a claimed job done. Returns `false` when `worker` no longer holds it
/// (its lease expired and another worker took over): the outcome is then theirs.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn complete(db: &Db, id: i64, worker: &str, now_ms: i64) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE jobs SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $3 \
         WHERE id = $1 AND status = 'running' AND locked_by = $2";
    let n = with_writer!(db, |pool| sqlx::query(SQL)
        .bind(id)
        .bind(worker)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Records a failed attempt: re-queued after an exponential backoff, or dead
/// when no attempts are left or the failure is `permanent`. Fenced like
/// [`complete`].
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn fail(
    db: &Db,
    job: &Job,
    worker: &str,
    error: &str,
    permanent: bool,
    now_ms: i64,
) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE jobs SET \
         status = CASE WHEN attempts >= max_attempts OR $6 THEN 'dead' ELSE 'queued' END, \
         run_at = $3, locked_until = NULL, locked_by = NULL, last_error = $4, updated_at = $5 \
         WHERE id = $1 AND status = 'running' AND locked_by = $2";
    let retry_at = now_ms + backoff_ms(job.attempts);
    let error: String = error.chars().take(2_000).collect();
    let n = with_writer!(db, |pool| sqlx::query(SQL)
        .bind(job.id)
        .bind(worker)
        .bind(retry_at)
        .bind(&error)
        .bind(now_ms)
        .bind(permanent)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Puts a claimed job back in the queue until `run_at` without counting the
/// attempt: it never started. Fenced like [`complete`].
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn defer(
    db: &Db,
    job: &Job,
    worker: &str,
    reason: &str,
    run_at: i64,
    now_ms: i64,
) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE jobs SET status = 'queued', attempts = MAX_OF(attempts - 1, 0), run_at = $3, \
         locked_until = NULL, locked_by = NULL, last_error = $4, updated_at = $5 \
         WHERE id = $1 AND status = 'running' AND locked_by = $2";
    let sql = match db {
        Db::Sqlite { .. } => SQL.replace("MAX_OF", "MAX"),
        Db::Postgres(_) => SQL.replace("MAX_OF", "GREATEST"),
    };
    let reason: String = reason.chars().take(2_000).collect();
    let n = with_writer!(db, |pool| sqlx::query(&sql)
        .bind(job.id)
        .bind(worker)
        .bind(run_at)
        .bind(&reason)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// What [`retry`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The job was dead and is queued again with fresh attempts.
    Requeued,
    /// No job has that id.
    Missing,
    /// The job is not dead (queued, running or done); nothing changed.
    NotDead,
}

/// Queues a dead job again with fresh attempts, due now; its last error is
/// kept until it next runs.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn retry(db: &Db, id: i64, now_ms: i64) -> Result<Retry, StorageError> {
    const SQL: &str = "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, locked_until = NULL, \
         locked_by = NULL, updated_at = $2 WHERE id = $1 AND status = 'dead'";
    let n = with_writer!(db, |pool| sqlx::query(SQL).bind(id).bind(now_ms).execute(pool).await?.rows_affected());
    if n == 1 {
        return Ok(Retry::Requeued);
    }
    Ok(if get(db, id).await?.is_some() { Retry::NotDead } else { Retry::Missing })
}

/// Queues every dead job again with fresh attempts; returns how many.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn retry_dead(db: &Db, now_ms: i64) -> Result<u64, StorageError> {
    const SQL: &str = "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, locked_until = NULL, \
         locked_by = NULL, updated_at = $1 WHERE status = 'dead'";
    Ok(with_writer!(db, |pool| sqlx::query(SQL).bind(now_ms).execute(pool).await?.rows_affected()))
}

/// Moves running jobs whose lease expired with no attempts left to the dead
/// letter (they would never be claimed again). Returns how many.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn reap(db: &Db, now_ms: i64) -> Result<u64, StorageError> {
    const SQL: &str = "UPDATE jobs SET status = 'dead', locked_until = NULL, locked_by = NULL, \
         last_error = COALESCE(last_error, 'lease expired'), updated_at = $1 \
         WHERE status = 'running' AND locked_until < $1 AND attempts >= max_attempts";
    Ok(with_writer!(db, |pool| sqlx::query(SQL).bind(now_ms).execute(pool).await?.rows_affected()))
}

/// One job by id.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn get(db: &Db, id: i64) -> Result<Option<Job>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, Job>(&sql).bind(id).fetch_optional(pool).await?))
}

/// Jobs, newest first, optionally of one status.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(db: &Db, status: Option<&str>, limit: usize) -> Result<Vec<Job>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, Job>(&sql).bind(status).bind(limit).fetch_all(pool).await?))
}

/// How many jobs are in each state (states with none are absent).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn counts(db: &Db) -> Result<Vec<(String, i64)>, StorageError> {
    const SQL: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status";
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(pool).await?))
}

/// The delay before retry number `attempts + 1`: 1 s, 2 s, 4 s, ... capped at an hour.
#[must_use]
pub fn backoff_ms(attempts: i32) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
    BACKOFF_BASE_MS.saturating_mul(1_i64 << exponent).min(BACKOFF_CAP_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!([1, 2, 3, 4].map(backoff_ms), [1_000, 2_000, 4_000, 8_000]);
        assert_eq!(backoff_ms(40), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(0), 1_000);
    }
}
