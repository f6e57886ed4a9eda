//! Backfills: filling a symbol's history for a time range, as a durable job.
//!
//! A backfill is enqueued with an idempotency key naming its source, symbol,
//! timeframe and range, so asking twice queues it once; its writes are bulk
//! upserts, so running it twice (after a crash) leaves the same rows as once.

use chrono::{DateTime, NaiveDate};
use quant::{Bar, Timeframe};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ingest::Ingest;
use crate::jobs::{JobError, Registry};
use crate::providers::HistoryRequest;
use crate::providers::remote::{Remote, RemoteKind};
use crate::providers::simulated;
use crate::storage::jobs::NewJob;
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
    pub async fn run(&self, ingest: &Ingest, remote: &Remote) -> Result<u64, JobError> {
        self.validate()?;
        let kind = match self.source {
            Source::Yahoo => RemoteKind::Yahoo,
            Source::Investing => RemoteKind::Investing,
            Source::Sim => return self.run_simulated(ingest).await,
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
        let within: Vec<Bar> = history.bars.into_iter().filter(|b| (start..=end).contains(&b.ts)).collect();
        Ok(ingest.history(&self.symbol, self.timeframe, &within, false).await?)
    }

    async fn run_simulated(&self, ingest: &Ingest) -> Result<u64, JobError> {
        let days = u32::try_from((self.to - self.from).num_days() + 1).unwrap_or(u32::MAX);
        if self.from < simulated::ANCHOR_DAY || days > simulated::MAX_HISTORY_DAYS {
            return Err(JobError::Payload(format!(
                "the simulator covers {} onwards, at most {} days",
                simulated::ANCHOR_DAY,
                simulated::MAX_HISTORY_DAYS
            )));
        }
        let history = simulated::daily_history(self.seed, self.symbol.as_str(), self.to, days);
        Ok(ingest.history(&self.symbol, Timeframe::D1, &history, true).await?)
    }
}

/// Registers the backfill handler. What follows a write (caches dropped, the
/// signal pipeline re-warmed, daily figures recomputed) is the ingest path's.
pub fn register(registry: &mut Registry, ingest: Ingest, remote: Remote) {
    registry.register(KIND, move |payload: Value| {
        let (ingest, remote) = (ingest.clone(), remote.clone());
        async move {
            let backfill: Backfill = serde_json::from_value(payload).map_err(|e| JobError::Payload(e.to_string()))?;
            let changed = backfill.run(&ingest, &remote).await?;
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
