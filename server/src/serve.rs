//! `finstage serve`: open the database, start the feed, serve HTTP, and shut
//! down in order on SIGTERM or Ctrl-C.
//!
//! Shutdown order: stop accepting connections and close every WebSocket with a
//! close frame (both driven by one cancellation token), let in-flight requests
//! finish, wait for the feed to finish its current write and the job workers to
//! finish their current jobs, close the database.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backfill::{Backfill, Source};
use crate::config::{Config, Feed};
use crate::http;
use crate::ingest::Ingest;
use crate::jobs::{self, Registry, RunnerConfig};
use crate::pipeline::Pipeline;
use crate::state::AppState;
use crate::storage::Db;
use crate::storage::jobs as queue;
use crate::storage::watchlist::Watchlist;
use crate::{backfill, feed, scheduler, schedules};

/// Runs the server until a shutdown signal arrives.
///
/// # Errors
/// When the database cannot be opened or migrated, or the address cannot be bound.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await.with_context(|| format!("opening {}", config.database_url))?;
    db.migrate().await.context("applying migrations")?;
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let shutdown = CancellationToken::new();
    let state = AppState::new(config, db.clone(), shutdown.clone());

    let config = state.config.clone();
    // The configured watchlist seeds the stored one (symbols never seeded
    // before); from then on the stored one is followed.
    let seeded = crate::storage::watchlist::seed(&db, &config.watchlist, config.feed == Feed::Sim, jobs::now_ms())
        .await
        .context("seeding the watchlist")?;
    let watchlist = state.watchlist.clone();
    let symbols = watchlist.symbols().await.context("reading the watchlist")?;
    tracing::info!(symbols = symbols.len(), seeded, "watchlist loaded");
    // The start-up jobs that write the watchlist's history (the Yahoo feed's
    // backfill): the schedules that read it start once these have settled.
    let mut history_jobs = Vec::new();
    let timeframes = config.signal_timeframes();
    let pipeline = if timeframes.is_empty() {
        None
    } else {
        Some(Pipeline::load(db.clone(), state.bus.clone()).await.context("loading the signal pipeline")?)
    };
    let state = state.with(|s| s.pipeline.clone_from(&pipeline));
    let ingest = Ingest::new(db.clone(), state.cache.clone())
        .publishing(state.bus.clone())
        .with_signals(pipeline.clone(), timeframes.clone());
    let feed = match config.feed {
        Feed::Sim => {
            let written = feed::backfill(&ingest, &symbols, &config.sim, chrono::Utc::now())
                .await
                .context("writing the simulated history")?;
            tracing::info!(symbols = symbols.len(), written, "simulated history backfilled");
            Some(tokio::spawn(feed::run_simulated(
                ingest.clone(),
                watchlist.clone(),
                config.sim.clone(),
                shutdown.clone(),
            )))
        }
        Feed::Yahoo => {
            history_jobs = enqueue_yahoo_history(&db, &symbols).await.context("queueing the Yahoo history backfill")?;
            tokio::spawn(follow_yahoo(db.clone(), watchlist.clone(), shutdown.clone()));
            None
        }
        Feed::None => None,
    };
    let news = if config.news.enabled {
        let crawler =
            crate::news::Crawler::new().context("building the news client")?.yahoo_base(&config.news.yahoo_base);
        Some((crawler, crate::news::publish_on(state.bus.clone())))
    } else {
        None
    };
    let parts = schedules::Parts {
        db: db.clone(),
        watchlist: watchlist.clone(),
        ingest: ingest.clone(),
        remote: state.remote.clone(),
        pipeline: pipeline.clone().map(|p| (p, timeframes.clone())),
        news,
    };
    let schedules::Built { now: schedules, after_history: need_history } = schedules::build(&config, parts);
    let scheduler = tokio::spawn(scheduler::run(db.clone(), schedules, shutdown.clone()));
    let after_history = tokio::spawn({
        let (db, shutdown) = (db.clone(), shutdown.clone());
        let recovering = (!history_jobs.is_empty()).then(|| state.recovery.begin("startup_backfill"));
        async move {
            if let Some(_recovering) = recovering {
                tracing::info!(jobs = history_jobs.len(), "history-based schedules wait for the start-up backfill");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = jobs::settled(&db, &history_jobs, Duration::from_secs(1)) => {}
                }
            }
            scheduler::run(db, need_history, shutdown).await;
        }
    });

    let mut registry = Registry::default();
    backfill::register(&mut registry, ingest.clone(), state.remote.clone());
    let telegram = if config.telegram.is_enabled() {
        let bot = crate::telegram::Telegram::new(db.clone(), &config.telegram, state.bus.clone(), state.cache.clone())
            .context("building the Telegram bot")?;
        if let Some(pipeline) = &pipeline {
            pipeline.add_sink(crate::telegram::alerts::sink(db.clone(), bot.waker()));
            // Alerts of signals stored just before a crash, not yet queued: in
            // the background, so the server answers (`/healthz`) at once.
            let recovering = state.recovery.begin("telegram_alert_catch_up");
            let (db, wake) = (db.clone(), bot.waker());
            tokio::spawn(async move {
                let _recovering = recovering;
                let now = jobs::now_ms();
                match crate::telegram::alerts::catch_up(&db, now - 15 * 60_000, now).await {
                    Ok(queued) => {
                        wake.wake();
                        tracing::info!(queued, "missed alerts caught up");
                    }
                    Err(e) => tracing::warn!(error = %e, "missed alerts not caught up"),
                }
            });
        }
        Some(bot.spawn(shutdown.clone()))
    } else {
        None
    };
    let runner = tokio::spawn(jobs::run(db.clone(), registry, RunnerConfig::default(), shutdown.clone()));

    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %state.config.database_url, feed = ?state.config.feed, "finstage listening on http://{addr}");
    // Open WebSockets hear of ended credentials (this process's changes and
    // other processes', the command line's included).
    let auth_watch = tokio::spawn(state.auth.clone().watch_epoch(shutdown.clone()));
    http::auth::announce_setup(&state, addr).await;
    let requests = state.metrics.requests().clone();
    let edge = state.config.http.clone();
    http::listen::serve(listener, http::router(state), &edge, requests, wait_for_signal(shutdown.clone())).await;
    auth_watch.abort();

    shutdown.cancel();
    if let Some(feed) = feed {
        match feed.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "feed stopped with an error"),
            Err(e) => tracing::error!(error = %e, "feed task panicked"),
        }
    }
    if let Some(bot) = telegram
        && let Err(e) = bot.await
    {
        tracing::error!(error = %e, "Telegram bot panicked");
    }
    for schedules in [scheduler, after_history] {
        if let Err(e) = schedules.await {
            tracing::error!(error = %e, "scheduler panicked");
        }
    }
    // Workers finish the job in hand before they stop.
    if let Err(e) = runner.await {
        tracing::error!(error = %e, "job runner panicked");
    }
    db.close().await;
    tracing::info!("finstage stopped");
    Ok(())
}

/// Resolves on Ctrl-C, SIGTERM or an earlier cancellation, and cancels `token`
/// so every task sees the same shutdown.
pub async fn wait_for_signal(token: CancellationToken) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
        () = token.cancelled() => {}
    }
    token.cancel();
}

/// Queues a five-year daily backfill from Yahoo for each of `symbols`;
/// returns the jobs. The idempotency key includes the day, so restarts the
/// same day queue nothing new (and revive a job that died).
async fn enqueue_yahoo_history(db: &Db, symbols: &[crate::symbol::Symbol]) -> anyhow::Result<Vec<i64>> {
    let today = chrono::Utc::now().date_naive();
    let mut ids = Vec::with_capacity(symbols.len());
    for symbol in symbols {
        let request = Backfill {
            symbol: symbol.clone(),
            timeframe: quant::Timeframe::D1,
            from: today - chrono::Duration::days(5 * 365),
            to: today,
            source: Source::Yahoo,
            seed: 0,
        };
        ids.push(queue::enqueue(db, &request.job()?, jobs::now_ms()).await?);
    }
    Ok(ids)
}

/// With the Yahoo feed, a symbol added to the watchlist while the server runs
/// gets the same history backfill as the watchlist at start-up (its quotes
/// come with the next `quote_refresh` run). Runs until `shutdown`.
async fn follow_yahoo(db: Db, watchlist: Watchlist, shutdown: CancellationToken) {
    let mut changes = watchlist.changes();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        // Queueing is idempotent per symbol and day: the symbols queued
        // before are not queued again.
        let queued = match watchlist.symbols().await {
            Ok(symbols) => enqueue_yahoo_history(&db, &symbols).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = queued {
            tracing::error!(error = %e, "history backfill for the changed watchlist not queued");
        }
    }
}
