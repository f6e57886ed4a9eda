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
use crate::jobs::{self, Registry, RunnerConfig};
use crate::state::AppState;
use crate::storage::Db;
use crate::storage::jobs as queue;
use crate::{backfill, feed, scheduler};

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

    let feed = match state.config.feed {
        Feed::Sim => Some(tokio::spawn(feed::run_simulated(
            db.clone(),
            state.bus.clone(),
            state.config.watchlist.clone(),
            state.config.sim.clone(),
            shutdown.clone(),
        ))),
        Feed::Yahoo => {
            enqueue_yahoo_history(&db, &state.config).await.context("queueing the Yahoo history backfill")?;
            let schedule = scheduler::quote_refresh(
                db.clone(),
                state.bus.clone(),
                state.remote.clone(),
                state.config.watchlist.clone(),
                Duration::from_secs(state.config.schedule.quote_refresh_secs),
                state.config.schedule.concurrency,
            );
            let (db, shutdown) = (db.clone(), shutdown.clone());
            Some(tokio::spawn(async move {
                scheduler::run(db, vec![schedule], shutdown).await;
                Ok(())
            }))
        }
        Feed::None => None,
    };

    let mut registry = Registry::default();
    backfill::register(&mut registry, db.clone(), state.remote.clone());
    let runner = tokio::spawn(jobs::run(db.clone(), registry, RunnerConfig::default(), shutdown.clone()));

    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %state.config.database_url, feed = ?state.config.feed, "finstage listening on http://{addr}");
    axum::serve(listener, http::router(state)).with_graceful_shutdown(wait_for_signal(shutdown.clone())).await?;

    shutdown.cancel();
    if let Some(feed) = feed {
        match feed.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "feed stopped with an error"),
            Err(e) => tracing::error!(error = %e, "feed task panicked"),
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
async fn wait_for_signal(token: CancellationToken) {
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

/// Queues a five-year daily backfill from Yahoo for every watchlist symbol.
/// The idempotency key includes the day, so restarts the same day queue nothing.
async fn enqueue_yahoo_history(db: &Db, config: &Config) -> anyhow::Result<()> {
    let today = chrono::Utc::now().date_naive();
    for symbol in &config.watchlist {
        let request = Backfill {
            symbol: symbol.clone(),
            timeframe: quant::Timeframe::D1,
            from: today - chrono::Duration::days(5 * 365),
            to: today,
            source: Source::Yahoo,
            seed: 0,
        };
        queue::enqueue(db, &request.job()?, jobs::now_ms()).await?;
    }
    Ok(())
}
