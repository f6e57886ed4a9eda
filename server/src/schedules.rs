//! The schedules `serve` runs, built in one place ([`build`]) on the engine in
//! [`crate::scheduler`]:
//!
//! - `quote_refresh` (feed `yahoo`): the last days of daily bars and the latest
//!   price of each watchlist symbol, every `schedule.quote_refresh_secs`,
//!   landed through [`crate::ingest`].
//! - `daily_backfill` (feed `yahoo`): daily at `schedule.daily_at`, queues a
//!   durable backfill of the last `schedule.backfill_days` days per symbol (late
//!   corrections) and one per gap found in the last `schedule.gap_scan_days`.
//! - `all_time_high` (any feed): at start-up and daily at `schedule.daily_at`,
//!   recomputes each symbol's all-time high and 52-week range and logs new highs.
//! - `strategy_backtests` (signals on): at start-up and daily, backtests every
//!   enabled strategy per symbol and followed timeframe ([`crate::pipeline::refresh_records`]).
//! - `news` (news on): crawls each symbol's headlines and each configured feed.
//!
//! The start-up runs of `all_time_high` and `strategy_backtests` read the
//! watchlist's history, so [`Built::after_history`] holds them apart: `serve`
//! starts them once the start-up backfill has settled.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use app::live::protocol::Quote;
use chrono::{NaiveTime, Utc};
use quant::Timeframe;

use crate::backfill::{Backfill, Source};
use crate::config::{Config, Feed};
use crate::gaps;
use crate::ingest::{Ingest, Live};
use crate::jobs::now_ms;
use crate::news::{Crawler, NewsSource, OnNews};
use crate::pipeline::Pipeline;
use crate::providers::remote::{Remote, RemoteKind};
use crate::providers::{HistoryRequest, NamedRange};
use crate::scheduler::{Cadence, Schedule, Symbols, Task, TaskError};
use crate::storage::jobs as queue;
use crate::storage::watchlist::Watchlist;
use crate::storage::{Db, stats, symbols};
use crate::symbol::Symbol;

/// What the schedules work with.
#[derive(Clone)]
pub struct Parts {
    /// The database.
    pub db: Db,
    /// The stored watchlist, which every schedule reads at the start of each run.
    pub watchlist: Watchlist,
    /// The ingest path (with the bus and the pipeline when they run).
    pub ingest: Ingest,
    /// The remote providers.
    pub remote: Remote,
    /// The signal pipeline and its timeframes, when signals are on.
    pub pipeline: Option<(Pipeline, Vec<Timeframe>)>,
    /// The news crawler and what to do with new headlines, when news is on.
    pub news: Option<(Crawler, OnNews)>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("pipeline", &self.pipeline.as_ref().map(|(_, timeframes)| timeframes))
            .field("news", &self.news.is_some())
            .finish_non_exhaustive()
    }
}

/// The schedules to run.
#[derive(Debug, Default)]
pub struct Built {
    /// Start at once.
    pub now: Vec<Schedule>,
    /// Start once the start-up backfill has settled (they read the history).
    pub after_history: Vec<Schedule>,
}

/// Builds every schedule `config` asks for.
#[must_use]
pub fn build(config: &Config, parts: Parts) -> Built {
    let schedule = &config.schedule;
    let watchlist = &parts.watchlist;
    let mut built = Built::default();
    if config.feed == Feed::Yahoo {
        built.now.push(quote_refresh(
            parts.ingest.clone(),
            parts.remote.clone(),
            watchlist.clone(),
            Duration::from_secs(schedule.quote_refresh_secs),
            schedule.concurrency,
        ));
        let plan = DailyBackfill {
            source: Source::Yahoo,
            recent_days: schedule.backfill_days,
            gap_scan_days: schedule.gap_scan_days,
            max_gaps: 20,
        };
        built.now.push(daily_backfill(
            parts.db.clone(),
            plan,
            watchlist.clone(),
            schedule.daily_time(),
            schedule.concurrency,
        ));
    }
    if config.feed != Feed::None {
        built.after_history.push(all_time_high(
            parts.db.clone(),
            watchlist.clone(),
            schedule.daily_time(),
            schedule.concurrency,
        ));
    }
    if let Some((pipeline, timeframes)) = parts.pipeline {
        built.after_history.push(strategy_backtests(
            parts.db.clone(),
            pipeline,
            watchlist.clone(),
            timeframes,
            schedule.daily_time(),
            schedule.concurrency,
        ));
    }
    if let Some((crawler, on_new)) = parts.news {
        let news_config = &config.news;
        built.now.push(news(
            parts.db.clone(),
            crawler,
            watchlist.clone(),
            news_config.feeds.clone(),
            Duration::from_secs(news_config.every_secs),
            news_config.concurrency,
            on_new,
        ));
    }
    built
}

/// The `strategy_backtests` schedule: at start-up and daily, per symbol,
/// [`crate::pipeline::refresh_records`] over the followed `timeframes`.
#[must_use]
pub fn strategy_backtests(
    db: Db,
    pipeline: Pipeline,
    symbols: impl Into<Symbols>,
    timeframes: Vec<Timeframe>,
    at: NaiveTime,
    concurrency: usize,
) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let (db, pipeline, timeframes) = (db.clone(), pipeline.clone(), timeframes.clone());
        Box::pin(async move {
            crate::pipeline::refresh_records(&db, &pipeline, &symbol, &timeframes)
                .await
                .map_err(|e| TaskError::Failed(e.to_string()))?;
            Ok(())
        })
    });
    Schedule {
        name: "strategy_backtests".into(),
        cadence: Cadence::StartupAndDailyAt(at),
        concurrency,
        symbols: symbols.into(),
        task,
    }
}

/// The `quote_refresh` schedule: for each symbol, fetch the last five days of
/// daily bars from Yahoo, store them, feed the closed ones to the signal
/// pipeline, and publish the latest price.
#[must_use]
pub fn quote_refresh(
    ingest: Ingest,
    remote: Remote,
    symbols: impl Into<Symbols>,
    every: Duration,
    concurrency: usize,
) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let (ingest, remote) = (ingest.clone(), remote.clone());
        Box::pin(async move {
            let request = HistoryRequest::named(symbol.clone(), Timeframe::D1, NamedRange::Day5);
            let history = remote.history(RemoteKind::Yahoo, &request).await?;
            let [.., prev, last] = history.bars.as_slice() else {
                return Err("fewer than two daily bars returned".into());
            };
            let quote = Quote {
                symbol: symbol.as_str().to_owned(),
                price: last.close,
                prev_close: Some(prev.close),
                ts: now_ms() / 1000,
            };
            symbols::upsert(ingest.db(), &symbol, None, false).await?;
            let daily = |bars: &[quant::Bar]| bars.iter().map(|&bar| (symbol.clone(), Timeframe::D1, bar)).collect();
            // Every bar but the latest is final (the latest may be today's, still trading).
            let landing = Live {
                bars: daily(&history.bars),
                closed: daily(&history.bars[..history.bars.len() - 1]),
                quotes: vec![quote],
            };
            ingest.live(landing).await?;
            Ok(())
        })
    });
    Schedule {
        name: "quote_refresh".into(),
        cadence: Cadence::Every(every),
        concurrency,
        symbols: symbols.into(),
        task,
    }
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
    symbols: impl Into<Symbols>,
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
            let mut found =
                gaps::scan(&db, symbol.as_str(), Timeframe::D1, start(scan_from), start(recent_from)).await?;
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
                .map_err(|e| TaskError::Failed(e.to_string()))?;
                queue::enqueue(&db, &job, now_ms()).await?;
            }
            if !found.is_empty() {
                tracing::info!(%symbol, gaps = found.len(), "gaps found; backfills queued");
            }
            Ok(())
        })
    });
    Schedule {
        name: "daily_backfill".into(),
        cadence: Cadence::DailyAt(at),
        concurrency,
        symbols: symbols.into(),
        task,
    }
}

/// The `all_time_high` schedule: per symbol, recompute the all-time high and
/// 52-week range from stored daily bars; a new high is logged.
#[must_use]
pub fn all_time_high(db: Db, symbols: impl Into<Symbols>, at: NaiveTime, concurrency: usize) -> Schedule {
    let task: Task = Arc::new(move |symbol: Symbol| {
        let db = db.clone();
        Box::pin(async move {
            let (now, before) = stats::refresh(&db, symbol.as_str(), now_ms()).await?;
            let Some(now) = now else { return Err("no daily bars stored".into()) };
            if before.is_some_and(|b| now.ath > b) {
                tracing::info!(%symbol, ath = now.ath, previous = before, "new all-time high");
            }
            Ok(())
        })
    });
    Schedule {
        name: "all_time_high".into(),
        cadence: Cadence::StartupAndDailyAt(at),
        concurrency,
        symbols: symbols.into(),
        task,
    }
}

/// The `news` schedule: every `every`, crawl the Yahoo headline feed of each of
/// `symbols` and each of `feeds`, at most `concurrency` at once; store what is
/// new and pass each new item to `on_new`.
///
/// Configured feeds run in the same schedule as the symbols, each under the
/// key `NewsSource::run_key` (`_FED` for a feed named `fed`), so one run
/// records every feed's outcome next to the symbols' and one concurrency
/// bound covers all requests. A feed that fails is recorded as that key's
/// failure and logged; the others are unaffected.
#[must_use]
pub fn news(
    db: Db,
    crawler: Crawler,
    symbols: impl Into<Symbols>,
    feeds: Vec<NewsSource>,
    every: Duration,
    concurrency: usize,
    on_new: OnNews,
) -> Schedule {
    let by_key: HashMap<Symbol, NewsSource> = feeds.into_iter().map(|f| (f.run_key().clone(), f)).collect();
    let feed_keys: BTreeSet<Symbol> = by_key.keys().cloned().collect();
    let symbols = match symbols.into() {
        Symbols::Fixed(symbols) => {
            let keys: BTreeSet<Symbol> = symbols.into_iter().chain(feed_keys).collect();
            Symbols::Fixed(keys.into_iter().collect())
        }
        Symbols::Followed(watchlist, mut extra) => {
            extra.extend(feed_keys);
            Symbols::Followed(watchlist, extra)
        }
    };
    let task: Task = Arc::new(move |key: Symbol| {
        let source = by_key.get(&key).cloned().unwrap_or_else(|| crawler.symbol_source(&key));
        let (db, crawler, on_new) = (db.clone(), crawler.clone(), on_new.clone());
        Box::pin(async move {
            match crawler.crawl(&db, &source).await {
                Ok(inserted) => {
                    tracing::debug!(key = %key, feed = source.name(), new = inserted.created.len(),
                        linked = inserted.linked, "news feed crawled");
                    for item in &inserted.created {
                        on_new(item);
                    }
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!(key = %key, feed = source.name(), url = source.url(), error = %e,
                        "news feed skipped");
                    Err(TaskError::Failed(e.to_string()))
                }
            }
        })
    });
    Schedule { name: crate::news::SCHEDULE_NAME.to_owned(), cadence: Cadence::Every(every), concurrency, symbols, task }
}
