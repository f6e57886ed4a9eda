//! Named schedules: every interval, run a task for each symbol of a list with
//! bounded concurrency, and record the run (start, end, status, per-symbol
//! failures) in the `runs` table.
//!
//! A schedule runs on a [`Cadence`]: every so many seconds, or daily at a time
//! of day (UTC). Runs of one schedule never overlap: its loop awaits each run
//! before taking the next tick, and ticks missed meanwhile are skipped
//! (`MissedTickBehavior::Skip`), so a slow run delays the schedule instead of
//! stacking runs. Different schedules run independently.
//!
//! This is the engine only; the schedules `serve` runs are built in
//! [`crate::schedules`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use futures::StreamExt;
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::jobs::now_ms;
use crate::providers::ProviderError;
use crate::storage::watchlist::Watchlist;
use crate::storage::{Db, StorageError, runs};
use crate::symbol::Symbol;

/// Why a task failed for one symbol; its text is recorded with the run.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A market-data provider failed (after its own retries).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Anything else, said in words.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for TaskError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for TaskError {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_owned())
    }
}

/// A per-symbol task's future.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<(), TaskError>> + Send>>;
/// What a schedule does for one symbol.
pub type Task = Arc<dyn Fn(Symbol) -> TaskFuture + Send + Sync>;

/// When a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// At start-up, then this long after each run's start (longer when a run overruns).
    Every(Duration),
    /// Every day at this time (UTC); the first run is the next such time.
    DailyAt(NaiveTime),
    /// At start-up, then daily at this time (UTC).
    StartupAndDailyAt(NaiveTime),
}

impl Cadence {
    /// How long after `now` the next daily run is due.
    #[must_use]
    pub fn until_daily(at: NaiveTime, now: DateTime<Utc>) -> Duration {
        let today = now.date_naive().and_time(at).and_utc();
        let next = if today > now { today } else { today + chrono::Duration::days(1) };
        (next - now).to_std().unwrap_or(Duration::ZERO)
    }
}

/// The symbols a schedule runs over: a fixed list, or the stored watchlist as
/// it is when a run starts (with extra keys, such as news feeds), so symbols
/// added or removed from the dashboard are followed from the next run on.
#[derive(Debug, Clone)]
pub enum Symbols {
    /// These, always.
    Fixed(Vec<Symbol>),
    /// The watchlist at the start of each run, then these extra keys.
    Followed(Watchlist, Vec<Symbol>),
}

impl From<Vec<Symbol>> for Symbols {
    fn from(symbols: Vec<Symbol>) -> Self {
        Self::Fixed(symbols)
    }
}

impl From<Watchlist> for Symbols {
    fn from(watchlist: Watchlist) -> Self {
        Self::Followed(watchlist, Vec::new())
    }
}

impl Symbols {
    /// The symbols of a run starting now, each once.
    ///
    /// # Errors
    /// [`StorageError`] when the watchlist cannot be read.
    pub async fn current(&self) -> Result<Vec<Symbol>, StorageError> {
        match self {
            Self::Fixed(symbols) => Ok(symbols.clone()),
            Self::Followed(watchlist, extra) => {
                let mut symbols = watchlist.symbols().await?;
                for key in extra {
                    if !symbols.contains(key) {
                        symbols.push(key.clone());
                    }
                }
                Ok(symbols)
            }
        }
    }
}

/// A named, periodic fan-out over symbols.
#[derive(Clone)]
pub struct Schedule {
    /// Name, as recorded in `runs`.
    pub name: String,
    /// When it runs.
    pub cadence: Cadence,
    /// Symbols processed at once.
    pub concurrency: usize,
    /// The symbols.
    pub symbols: Symbols,
    /// The work per symbol.
    pub task: Task,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cadence", &self.cadence)
            .field("concurrency", &self.concurrency)
            .field("symbols", &self.symbols)
            .finish_non_exhaustive()
    }
}

/// Runs `schedule` once over all its symbols (as they are now) and records the
/// run; returns its id.
///
/// # Errors
/// [`StorageError`] when the symbols cannot be read or the run cannot be
/// recorded (task failures are recorded, not returned).
pub async fn run_once(db: &Db, schedule: &Schedule) -> Result<i64, StorageError> {
    let symbols = schedule.symbols.current().await?;
    let id = runs::start(db, &schedule.name, now_ms()).await?;
    let mut outcomes: Vec<(Symbol, Result<(), TaskError>)> = futures::stream::iter(symbols)
        .map(|symbol| {
            let task = schedule.task.clone();
            async move {
                let outcome = task(symbol.clone()).await;
                (symbol, outcome)
            }
        })
        .buffer_unordered(schedule.concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    let errors: Vec<serde_json::Value> = outcomes
        .iter()
        .filter_map(|(s, r)| r.as_ref().err().map(|e| json!({ "symbol": s.as_str(), "error": e.to_string() })))
        .collect();
    let failed = i32::try_from(errors.len()).unwrap_or(i32::MAX);
    let succeeded = i32::try_from(outcomes.len()).unwrap_or(i32::MAX) - failed;
    // The first failure says what went wrong; the run's row has them all.
    let first = errors.first().map(ToString::to_string).unwrap_or_default();
    runs::finish(db, id, (succeeded, failed), &serde_json::Value::Array(errors), now_ms()).await?;
    if failed > 0 {
        tracing::warn!(schedule = %schedule.name, run = id, succeeded, failed, first, "scheduled run had failures");
    } else {
        tracing::info!(schedule = %schedule.name, run = id, succeeded, "scheduled run finished");
    }
    Ok(id)
}

/// Runs every schedule on its interval until `shutdown`; a run in progress
/// completes before its loop stops.
pub async fn run(db: Db, schedules: Vec<Schedule>, shutdown: CancellationToken) {
    let loops: Vec<_> = schedules
        .into_iter()
        .map(|schedule| {
            let (db, shutdown) = (db.clone(), shutdown.clone());
            tokio::spawn(async move {
                let run = || async {
                    if let Err(e) = run_once(&db, &schedule).await {
                        tracing::error!(schedule = %schedule.name, error = %e, "run not recorded");
                    }
                };
                match schedule.cadence {
                    Cadence::Every(every) => {
                        let mut ticks = tokio::time::interval(every);
                        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                        loop {
                            tokio::select! {
                                () = shutdown.cancelled() => break,
                                _ = ticks.tick() => run().await,
                            }
                        }
                    }
                    Cadence::DailyAt(at) | Cadence::StartupAndDailyAt(at) => {
                        if matches!(schedule.cadence, Cadence::StartupAndDailyAt(_)) {
                            run().await;
                        }
                        loop {
                            let wait = Cadence::until_daily(at, Utc::now());
                            tokio::select! {
                                () = shutdown.cancelled() => break,
                                () = tokio::time::sleep(wait) => run().await,
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for l in loops {
        if let Err(e) = l.await {
            tracing::error!(error = %e, "schedule loop panicked");
        }
    }
}
