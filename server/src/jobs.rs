//! Runs durable jobs: a few workers claim jobs from the queue
//! ([`crate::storage::jobs`]), run the handler registered for each job's kind
//! under the job's timeout, and record the outcome (done, retry later, or dead).
//!
//! A worker that is told to stop finishes the job in hand first, so shutdown
//! never abandons a half-written job. A claim holds a [`LEASE_MS`] lease that
//! the worker renews every third of it while the handler runs; a worker that
//! is killed stops renewing, and within the lease another worker (this
//! process restarted, or another) picks the job up again (handlers are
//! idempotent).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::storage::jobs::{self, Job};
use crate::storage::{Db, StorageError};

/// A claim's lease, renewed every third of it while the job runs: how long a
/// killed worker's job waits before another worker takes it over.
pub const LEASE_MS: i64 = 15_000;
/// The shortest deferral, so a job whose provider says "now" is not claimed
/// in a tight loop.
const MIN_DEFER_MS: i64 = 1_000;

/// Why a job's handler failed; the message is stored with the job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The payload does not fit the handler.
    #[error("bad payload: {0}")]
    Payload(String),
    /// Storage failed while the job ran.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A failure that may pass on a later attempt (a timeout, a 5xx).
    #[error("{0}")]
    Failed(String),
    /// A failure no retry can fix (an unknown symbol, a blocked provider): the
    /// job goes to the dead letter at once.
    #[error("{0}")]
    Permanent(String),
    /// The job could not start yet (its provider's circuit is open): it goes
    /// back to the queue for `wait` without using up an attempt.
    #[error("deferred {wait:?}: {reason}")]
    Deferred {
        /// Why, as recorded in the job's last error.
        reason: String,
        /// How long to wait before it is tried again.
        wait: Duration,
    },
}

impl JobError {
    /// Whether retrying the job could help.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Failed(_) | Self::Storage(_) | Self::Deferred { .. } => true,
            Self::Payload(_) | Self::Permanent(_) => false,
        }
    }
}

/// A handler's future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
/// Runs one job of a kind, given its payload.
pub type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

/// Job kinds and their handlers.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("kinds", &self.handlers.keys().collect::<Vec<_>>()).finish()
    }
}

impl Registry {
    /// Registers `handler` for jobs of `kind`.
    pub fn register<F, Fut>(&mut self, kind: &str, handler: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.handlers.insert(kind.to_owned(), Arc::new(move |payload| Box::pin(handler(payload))));
    }
}

/// How workers poll and identify themselves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Concurrent workers.
    pub workers: usize,
    /// Sleep between polls of an empty queue.
    pub idle_poll: Duration,
    /// Prefix of worker names (the process id is appended), shown in `locked_by`.
    pub name: String,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self { workers: 2, idle_poll: Duration::from_millis(500), name: "worker".into() }
    }
}

/// What one call to [`run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No job was ready.
    Idle,
    /// A job ran and succeeded.
    Done(i64),
    /// A job ran and failed (re-queued or dead).
    Failed(i64),
    /// A job could not start and was put back without using an attempt.
    Deferred(i64),
}

/// Claims and runs at most one job as `worker`.
///
/// # Errors
/// [`StorageError`] when the queue itself cannot be read or written.
pub async fn run_once(db: &Db, registry: &Registry, worker: &str) -> Result<Step, StorageError> {
    jobs::reap(db, now_ms()).await?;
    let kinds: Vec<String> = registry.handlers.keys().cloned().collect();
    let Some(job) = jobs::claim_of(db, worker, now_ms(), LEASE_MS, Some(&kinds)).await? else {
        return Ok(Step::Idle);
    };
    let outcome = {
        let run = execute(registry, &job);
        tokio::pin!(run);
        let mut renewal = tokio::time::interval(Duration::from_millis(LEASE_MS.unsigned_abs() / 3));
        renewal.tick().await; // the first tick is immediate; the claim is fresh
        loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = renewal.tick() => match jobs::renew(db, job.id, worker, now_ms() + LEASE_MS).await {
                    Ok(true) => {}
                    // Taken over: the outcome will be refused (fenced); let the handler finish its idempotent work.
                    Ok(false) => tracing::warn!(job = job.id, "job lease lost to another worker"),
                    Err(e) => tracing::warn!(job = job.id, error = %e, "job lease not renewed"),
                },
            }
        }
    };
    match outcome {
        Ok(()) => {
            jobs::complete(db, job.id, worker, now_ms()).await?;
            tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job done");
            Ok(Step::Done(job.id))
        }
        Err(JobError::Deferred { reason, wait }) => {
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX).max(MIN_DEFER_MS);
            let now = now_ms();
            jobs::defer(db, &job, worker, &reason, now.saturating_add(wait_ms), now).await?;
            tracing::info!(job = job.id, kind = %job.kind, wait_ms, reason = %reason, "job deferred");
            Ok(Step::Deferred(job.id))
        }
        Err(e) => {
            let message = e.to_string();
            jobs::fail(db, &job, worker, &message, !e.is_retryable(), now_ms()).await?;
            tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %message, "job failed");
            Ok(Step::Failed(job.id))
        }
    }
}

async fn execute(registry: &Registry, job: &Job) -> Result<(), JobError> {
    let handler = registry
        .handlers
        .get(&job.kind)
        .ok_or_else(|| JobError::Failed(format!("no handler for job kind `{}`", job.kind)))?;
    let payload = job.payload_json()?;
    let limit = Duration::from_millis(u64::try_from(job.timeout_ms).unwrap_or(1));
    tokio::time::timeout(limit, handler(payload))
        .await
        .map_err(|_| JobError::Failed(format!("timed out after {} ms", job.timeout_ms)))?
}

/// Runs `config.workers` workers until `shutdown`; each finishes its current job
/// before stopping.
pub async fn run(db: Db, registry: Registry, config: RunnerConfig, shutdown: CancellationToken) {
    let registry = Arc::new(registry);
    let workers: Vec<_> = (0..config.workers.max(1))
        .map(|i| {
            let (db, registry, shutdown) = (db.clone(), registry.clone(), shutdown.clone());
            let name = format!("{}-{}-{i}", config.name, std::process::id());
            let idle = config.idle_poll;
            tokio::spawn(async move {
                while !shutdown.is_cancelled() {
                    match run_once(&db, &registry, &name).await {
                        Ok(Step::Done(_) | Step::Failed(_) | Step::Deferred(_)) => continue,
                        Ok(Step::Idle) => {}
                        Err(e) => tracing::error!(error = %e, worker = %name, "job queue unavailable"),
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(idle) => {}
                    }
                }
            })
        })
        .collect();
    for w in workers {
        if let Err(e) = w.await {
            tracing::error!(error = %e, "job worker panicked");
        }
    }
}

/// Resolves once every job of `ids` is done or dead (or gone), checking every
/// `poll`; a queue that cannot be read is checked again later. Start-up work
/// that needs the data of start-up jobs waits on this.
pub async fn settled(db: &Db, ids: &[i64], poll: Duration) {
    let mut pending: Vec<i64> = ids.to_vec();
    loop {
        let mut still = Vec::with_capacity(pending.len());
        for &id in &pending {
            match jobs::get(db, id).await {
                Ok(Some(job)) if job.status != "done" && job.status != "dead" => still.push(id),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "cannot read the job queue; checking again");
                    still.push(id);
                }
            }
        }
        if still.is_empty() {
            return;
        }
        pending = still;
        tokio::time::sleep(poll).await;
    }
}

/// Now, in Unix milliseconds (the queue's clock).
#[must_use]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
