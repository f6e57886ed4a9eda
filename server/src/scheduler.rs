//! Named schedules: every interval, run a task for each symbol of a list with
//! bounded concurrency, and record the run (start, end, status, per-symbol
//! failures) in the `runs` table.
//!
//! Runs of one schedule never overlap: its loop awaits each run before taking
//! the next tick, and ticks missed meanwhile are skipped
//! (`MissedTickBehavior::Skip`), so a slow run delays the schedule instead of
//! stacking runs. Different schedules run independently.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use app::live::protocol::Quote;
use futures::StreamExt;
use quant::Timeframe;
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::jobs::now_ms;
use crate::providers::remote::{Remote, RemoteKind};
use crate::providers::{HistoryRequest, NamedRange};
use crate::storage::bars::{self, NewBar};
use crate::storage::{Db, StorageError, runs, symbols};
use crate::symbol::Symbol;

/// A per-symbol task's future; `Err` carries the text recorded with the run.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// What a schedule does for one symbol.
pub type Task = Arc<dyn Fn(Symbol) -> TaskFuture + Send + Sync>;

/// A named, periodic fan-out over symbols.
#[derive(Clone)]
pub struct Schedule {
    /// Name, as recorded in `runs`.
    pub name: String,
    /// Time between run starts (longer when a run overruns).
    pub every: Duration,
    /// Symbols processed at once.
    pub concurrency: usize,
    /// The symbols.
    pub symbols: Vec<Symbol>,
    /// The work per symbol.
    pub task: Task,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("every", &self.every)
            .field("concurrency", &self.concurrency)
            .field("symbols", &self.symbols.len())
            .finish_non_exhaustive()
    }
}

/// Runs `schedule` once over all its symbols and records the run; returns its id.
///
/// # Errors
/// [`StorageError`] when the run cannot be recorded (task failures are recorded, not returned).
pub async fn run_once(db: &Db, schedule: &Schedule) -> Result<i64, StorageError> {
    let id = runs::start(db, &schedule.name, now_ms()).await?;
    let mut outcomes: Vec<(Symbol, Result<(), String>)> = futures::stream::iter(schedule.symbols.iter().cloned())
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
        .filter_map(|(s, r)| r.as_ref().err().map(|e| json!({ "symbol": s.as_str(), "error": e })))
        .collect();
    let failed = i32::try_from(errors.len()).unwrap_or(i32::MAX);
    let succeeded = i32::try_from(outcomes.len()).unwrap_or(i32::MAX) - failed;
    runs::finish(db, id, (succeeded, failed), &serde_json::Value::Array(errors), now_ms()).await?;
    tracing::info!(schedule = %schedule.name, run = id, succeeded, failed, "scheduled run finished");
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
                let mut ticks = tokio::time::interval(schedule.every);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = ticks.tick() => {}
                    }
                    if let Err(e) = run_once(&db, &schedule).await {
                        tracing::error!(schedule = %schedule.name, error = %e, "run not recorded");
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

/// The `quote_refresh` schedule: for each symbol, fetch the last five days of
/// daily bars from Yahoo, store them, and publish the latest price.
#[must_use]
pub fn quote_refresh(
    db: Db,
    bus: Bus,
    remote: Remote,
    symbols: Vec<Symbol>,
    every: Duration,
    concurrency: usize,
) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let (db, bus, remote) = (db.clone(), bus.clone(), remote.clone());
        Box::pin(async move {
            let request = HistoryRequest::named(symbol.clone(), Timeframe::D1, NamedRange::Day5);
            let history = remote.history(RemoteKind::Yahoo, &request).await.map_err(|e| e.to_string())?;
            let [.., prev, last] = history.bars.as_slice() else {
                return Err("fewer than two daily bars returned".to_owned());
            };
            let (prev_close, last) = (prev.close, *last);
            symbols::upsert(&db, &symbol, None, false).await.map_err(|e| e.to_string())?;
            let rows: Vec<NewBar<'_>> = history
                .bars
                .iter()
                .map(|&bar| NewBar { symbol: symbol.as_str(), timeframe: Timeframe::D1, bar })
                .collect();
            bars::upsert(&db, &rows).await.map_err(|e| e.to_string())?;
            bus.publish_quote(Quote {
                symbol: symbol.as_str().to_owned(),
                price: last.close,
                prev_close: Some(prev_close),
                ts: now_ms() / 1000,
            });
            Ok(())
        })
    });
    Schedule { name: "quote_refresh".into(), every, concurrency, symbols, task }
}
