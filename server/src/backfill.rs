//! Backfills: filling a symbol's history for a time range, as a durable job.
//!
//! A backfill is enqueued with an idempotency key naming its source, symbol,
//! timeframe and range, so asking twice queues it once; its writes are bulk
//! upserts, so running it twice (after a crash) leaves the same rows as once.

use chrono::{DateTime, NaiveDate};
use quant::Timeframe;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::MarketCache;
use crate::jobs::{JobError, Registry};
use crate::pipeline::Pipeline;
use crate::providers::HistoryRequest;
use crate::providers::remote::{Remote, RemoteKind};
use crate::providers::simulated;
use crate::storage::bars::{self, NewBar};
use crate::storage::jobs::NewJob;
use crate::storage::{Db, stats, symbols};
use crate::symbol::Symbol;

/// The job kind.
pub const KIND: &str = "backfill";

/// Where a backfill reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The built-in simulator (daily bars; the seed is the configured `sim.seed`).
    Sim,
    /// Yahoo Finance's chart API.
    Yahoo,
    /// Investing.com (symbols need a pair id in `providers.investing.pairs`).
    Investing,
}

/// A backfill's parameters: the job payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backfill {
    /// The symbol (added to `symbols` if missing).
    pub symbol: Symbol,
    /// The bars' timeframe.
    pub timeframe: Timeframe,
    /// First day, inclusive.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// The source.
    pub source: Source,
    /// Seed for the simulator.
    #[serde(default)]
    pub seed: u64,
}

impl Backfill {
    /// The queue entry for this backfill, deduplicated by source, symbol,
    /// timeframe and range.
    ///
    /// # Errors
    /// [`JobError::Payload`] when the range is inverted or the timeframe unsupported.
    pub fn job(&self) -> Result<NewJob, JobError> {
        self.validate()?;
        let payload = serde_json::to_value(self).map_err(|e| JobError::Payload(e.to_string()))?;
        let key = format!("{KIND}:{:?}:{}:{}:{}:{}", self.source, self.symbol, self.timeframe, self.from, self.to);
        Ok(NewJob { idempotency_key: Some(key), priority: 1, ..NewJob::new(KIND, payload) })
    }

    fn validate(&self) -> Result<(), JobError> {
        if self.from > self.to {
            return Err(JobError::Payload(format!("inverted range: {} is after {}", self.from, self.to)));
        }
        if self.source == Source::Sim && self.timeframe != Timeframe::D1 {
            return Err(JobError::Payload("the simulator backfills daily (1d) bars only".into()));
        }
        Ok(())
    }

    /// Runs the backfill; returns the number of rows changed.
    ///
    /// # Errors
    /// [`JobError`] when the payload is invalid, the provider fails (after its
    /// own retries) or storage fails.
    pub async fn run(&self, db: &Db, remote: &Remote) -> Result<u64, JobError> {
        self.validate()?;
        let kind = match self.source {
            Source::Yahoo => RemoteKind::Yahoo,
            Source::Investing => RemoteKind::Investing,
            Source::Sim => return self.run_simulated(db).await,
        };
        let start = self.from.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp());
        let end = self.to.and_hms_opt(23, 59, 59).map_or(0, |t| t.and_utc().timestamp());
        let request = HistoryRequest::between(self.symbol.clone(), self.timeframe, start, end);
        let history = remote.history(kind, &request).await.map_err(|e| {
            // The provider already retried what retrying soon can fix; the
            // queue's own back-off covers what may pass later.
            if let Some(wait) = e.deferral() {
                JobError::Deferred { reason: e.to_string(), wait }
            } else if e.is_retryable() {
                JobError::Failed(e.to_string())
            } else {
                JobError::Permanent(e.to_string())
            }
        })?;
        symbols::upsert(db, &self.symbol, None, false).await?;
        let rows: Vec<NewBar<'_>> = history
            .bars
            .iter()
            .filter(|b| (start..=end).contains(&b.ts))
            .map(|&bar| NewBar { symbol: self.symbol.as_str(), timeframe: self.timeframe, bar })
            .collect();
        Ok(bars::upsert(db, &rows).await?)
    }

    async fn run_simulated(&self, db: &Db) -> Result<u64, JobError> {
        let days = u32::try_from((self.to - self.from).num_days() + 1).unwrap_or(u32::MAX);
        if self.from < simulated::ANCHOR_DAY || days > simulated::MAX_HISTORY_DAYS {
            return Err(JobError::Payload(format!(
                "the simulator covers {} onwards, at most {} days",
                simulated::ANCHOR_DAY,
                simulated::MAX_HISTORY_DAYS
            )));
        }
        symbols::upsert(db, &self.symbol, None, true).await?;
        let history = simulated::daily_history(self.seed, self.symbol.as_str(), self.to, days);
        let rows: Vec<NewBar<'_>> =
            history.iter().map(|&bar| NewBar { symbol: self.symbol.as_str(), timeframe: Timeframe::D1, bar }).collect();
        Ok(bars::upsert(db, &rows).await?)
    }
}

/// Registers the backfill handler. When a backfill changes bars, the symbol's
/// cached figures are dropped, its daily figures recomputed, and the signal
/// pipeline (if any) warms the symbol's series up again from the new history.
pub fn register(registry: &mut Registry, db: Db, remote: Remote, cache: MarketCache, pipeline: Option<Pipeline>) {
    registry.register(KIND, move |payload: Value| {
        let (db, remote, cache, pipeline) = (db.clone(), remote.clone(), cache.clone(), pipeline.clone());
        async move {
            let backfill: Backfill = serde_json::from_value(payload).map_err(|e| JobError::Payload(e.to_string()))?;
            let changed = backfill.run(&db, &remote).await?;
            if changed > 0 {
                cache.bars_landed(backfill.symbol.as_str());
                if let Some(pipeline) = &pipeline {
                    pipeline.invalidate(backfill.symbol.as_str()).await;
                }
                if backfill.timeframe == Timeframe::D1 {
                    stats::refresh(&db, backfill.symbol.as_str(), crate::jobs::now_ms()).await?;
                }
            }
            tracing::info!(symbol = %backfill.symbol, changed, "backfill written");
            Ok(())
        }
    });
}

/// Parses a day for the CLI: `YYYY-MM-DD` or RFC 3339.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| DateTime::parse_from_rfc3339(text).map(|d| d.date_naive()))
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))
}
