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
//! The schedules `serve` starts:
//! - `quote_refresh` (feed `yahoo`): the last days of daily bars and the latest
//!   price of each watchlist symbol, every `schedule.quote_refresh_secs`.
//! - `daily_backfill` (feed `yahoo`): daily at `schedule.daily_at`, queues a
//!   durable backfill of the last `schedule.backfill_days` days per symbol (late
//!   corrections) and one per gap found in the last `schedule.gap_scan_days`.
//! - `all_time_high` (any feed): daily at `schedule.daily_at`, and once at
//!   start-up, recomputes each symbol's all-time high and 52-week range from its
//!   daily bars and logs new highs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use app::live::protocol::Quote;
use chrono::{DateTime, NaiveTime, Utc};
use futures::StreamExt;
use quant::Timeframe;
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::backfill::{Backfill, Source};
use crate::gaps;
use crate::ingest::{Ingest, Live};
use crate::jobs::now_ms;
use crate::providers::remote::{Remote, RemoteKind};
use crate::providers::{HistoryRequest, NamedRange};
use crate::storage::jobs as queue;
use crate::storage::{Db, StorageError, runs, stats, symbols};
use crate::symbol::Symbol;

/// A per-symbol task's future; `Err` carries the text recorded with the run.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
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
    pub symbols: Vec<Symbol>,
    /// The work per symbol.
    pub task: Task,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cadence", &self.cadence)
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

/// The `quote_refresh` schedule: for each symbol, fetch the last five days of
/// daily bars from Yahoo, store them, feed the closed ones to the signal
/// pipeline, and publish the latest price.
#[must_use]
pub fn quote_refresh(
    ingest: Ingest,
    remote: Remote,
    symbols: Vec<Symbol>,
    every: Duration,
    concurrency: usize,
) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let (ingest, remote) = (ingest.clone(), remote.clone());
        Box::pin(async move {
            let request = HistoryRequest::named(symbol.clone(), Timeframe::D1, NamedRange::Day5);
            let history = remote.history(RemoteKind::Yahoo, &request).await.map_err(|e| e.to_string())?;
            let [.., prev, last] = history.bars.as_slice() else {
                return Err("fewer than two daily bars returned".to_owned());
            };
            let quote = Quote {
                symbol: symbol.as_str().to_owned(),
                price: last.close,
                prev_close: Some(prev.close),
                ts: now_ms() / 1000,
            };
            symbols::upsert(ingest.db(), &symbol, None, false).await.map_err(|e| e.to_string())?;
            let daily = |bars: &[quant::Bar]| bars.iter().map(|&bar| (symbol.clone(), Timeframe::D1, bar)).collect();
            // Every bar but the latest is final (the latest may be today's, still trading).
            let landing = Live {
                bars: daily(&history.bars),
                closed: daily(&history.bars[..history.bars.len() - 1]),
                quotes: vec![quote],
            };
            ingest.live(landing).await.map_err(|e| e.to_string())?;
            Ok(())
        })
    });
    Schedule { name: "quote_refresh".into(), cadence: Cadence::Every(every), concurrency, symbols, task }
}

/// What the daily backfill queues per symbol.
#[derive(Debug, Clone, Copy)]
pub struct DailyBackfill {
    /// Where bars come from.
    pub source: Source,
    /// Days back re-read every day.
    pub recent_days: u32,
    /// Days back searched for gaps.
    pub gap_scan_days: u32,
    /// At most this many gap backfills queued per symbol and run (the oldest wait).
    pub max_gaps: usize,
}

/// The `daily_backfill` schedule: per symbol, queue a durable backfill of the
/// recent days and one per gap in its stored daily bars (newest gaps first).
/// Each backfill's idempotency key names its range, so a gap the provider
/// cannot fill (a halt, a missing holiday) is asked for once, not every day.
#[must_use]
pub fn daily_backfill(
    db: Db,
    plan: DailyBackfill,
    symbols: Vec<Symbol>,
    at: NaiveTime,
    concurrency: usize,
) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let db = db.clone();
        Box::pin(async move {
            let today = Utc::now().date_naive();
            let recent_from = today - chrono::Duration::days(i64::from(plan.recent_days.max(1)));
            let scan_from = today - chrono::Duration::days(i64::from(plan.gap_scan_days));
            let start = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp());
            let mut found = gaps::scan(&db, symbol.as_str(), Timeframe::D1, start(scan_from), start(recent_from))
                .await
                .map_err(|e| e.to_string())?;
            found.reverse();
            let mut ranges = vec![(recent_from, today)];
            ranges.extend(found.iter().take(plan.max_gaps).map(gaps::Gap::days));
            for (from, to) in ranges {
                let job = Backfill {
                    symbol: symbol.clone(),
                    timeframe: Timeframe::D1,
                    from,
                    to,
                    source: plan.source,
                    seed: 0,
                }
                .job()
                .map_err(|e| e.to_string())?;
                queue::enqueue(&db, &job, now_ms()).await.map_err(|e| e.to_string())?;
            }
            if !found.is_empty() {
                tracing::info!(%symbol, gaps = found.len(), "gaps found; backfills queued");
            }
            Ok(())
        })
    });
    Schedule { name: "daily_backfill".into(), cadence: Cadence::DailyAt(at), concurrency, symbols, task }
}

/// The `all_time_high` schedule: per symbol, recompute the all-time high and
/// 52-week range from stored daily bars; a new high is logged.
#[must_use]
pub fn all_time_high(db: Db, symbols: Vec<Symbol>, at: NaiveTime, concurrency: usize) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let db = db.clone();
        Box::pin(async move {
            let (now, before) = stats::refresh(&db, symbol.as_str(), now_ms()).await.map_err(|e| e.to_string())?;
            let Some(now) = now else { return Err("no daily bars stored".to_owned()) };
            if before.is_some_and(|b| now.ath > b) {
                tracing::info!(%symbol, ath = now.ath, previous = before, "new all-time high");
            }
            Ok(())
        })
    });
    Schedule { name: "all_time_high".into(), cadence: Cadence::StartupAndDailyAt(at), concurrency, symbols, task }
}
