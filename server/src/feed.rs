//! Runs the configured live feed: today, the simulator.
//!
//! Start-up backfills daily history for the watchlist, then every
//! `sim.interval` the bar that just closed is generated for each symbol, folded
//! into the day's daily bar and handed to the ingest path ([`crate::ingest`]),
//! which stores, invalidates, publishes and feeds the signal pipeline. Shutdown
//! is checked between ticks, so a write in flight always completes.

use std::collections::HashMap;
use std::time::Duration;

use app::live::protocol::Quote;
use chrono::{DateTime, Utc};
use quant::{Bar, Timeframe};
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::ingest::{Ingest, Live};
use crate::providers::simulated::{self, Walker};
use crate::storage::bars;
use crate::storage::{Db, StorageError, symbols};
use crate::symbol::Symbol;

/// Display names for the default watchlist; other symbols show their ticker.
const KNOWN_NAMES: &[(&str, &str)] = &[
    ("AAPL", "Apple"),
    ("MSFT", "Microsoft"),
    ("GOOGL", "Alphabet"),
    ("TSLA", "Tesla"),
    ("NVDA", "NVIDIA"),
    ("SPY", "S&P 500 ETF"),
    ("BTC-USD", "Bitcoin"),
];

/// Per-symbol live state of the simulator.
#[derive(Debug)]
struct Tape {
    walker: Walker,
    /// Today's daily bar, as rolled up so far.
    today: Option<Bar>,
    /// The close of the last completed day.
    prev_close: Option<f64>,
}

/// Writes `history_days` of daily bars ending yesterday for every symbol.
/// Idempotent: the history for a seed is fixed, and unchanged rows are not rewritten.
///
/// # Errors
/// [`StorageError`] when the database refuses the writes.
pub async fn backfill(
    ingest: &Ingest,
    watchlist: &[Symbol],
    sim: &SimConfig,
    now: DateTime<Utc>,
) -> Result<u64, StorageError> {
    let yesterday = now.date_naive().pred_opt().unwrap_or(now.date_naive());
    let mut written = 0;
    for symbol in watchlist {
        let name = KNOWN_NAMES.iter().find(|(s, _)| *s == symbol.as_str()).map(|(_, n)| *n);
        symbols::upsert(ingest.db(), symbol, name, true).await?;
        let history = simulated::daily_history(sim.seed, symbol.as_str(), yesterday, sim.history_days);
        written += ingest.history(symbol, Timeframe::D1, &history, true).await?;
    }
    Ok(written)
}

/// Emits live bars until `shutdown` is cancelled (history is [`backfill`]ed first, by the caller).
///
/// # Errors
/// [`StorageError`] when the stored state cannot be read at start; live-tick
/// write failures are logged and the tick is skipped.
pub async fn run_simulated(
    ingest: Ingest,
    watchlist: Vec<Symbol>,
    sim: SimConfig,
    shutdown: CancellationToken,
) -> Result<(), StorageError> {
    let started = Utc::now();
    let interval = sim.interval;
    let mut tapes = HashMap::with_capacity(watchlist.len());
    for symbol in &watchlist {
        tapes.insert(symbol.clone(), resume(ingest.db(), symbol, &sim, started).await?);
    }
    loop {
        let now = Utc::now().timestamp_millis();
        let next_close_ms = (interval.bucket_start(now / 1000) + interval.seconds()) * 1000;
        let wait = Duration::from_millis(u64::try_from(next_close_ms - now).unwrap_or(0));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        let bar_ts = next_close_ms / 1000 - interval.seconds();
        if let Err(e) = tick(&ingest, &watchlist, &mut tapes, interval, bar_ts).await {
            tracing::error!(error = %e, "simulated tick not stored; skipping it");
        }
    }
    tracing::info!("simulated feed stopped");
    Ok(())
}

/// Picks up where the stored data ends: today's daily bar if there is one, else
/// the last daily close.
async fn resume(db: &Db, symbol: &Symbol, sim: &SimConfig, now: DateTime<Utc>) -> Result<Tape, StorageError> {
    let recent = bars::latest(db, symbol.as_str(), Timeframe::D1, 2).await?;
    let today_ts = Timeframe::D1.bucket_start(now.timestamp());
    let (today, prev_close) = match recent.as_slice() {
        [.., prev, last] if last.ts == today_ts => (Some(*last), Some(prev.close)),
        [last] if last.ts == today_ts => (Some(*last), None),
        [.., last] => (None, Some(last.close)),
        [] => (None, None),
    };
    let start =
        today.map(|b| b.close).or(prev_close).unwrap_or(simulated::Profile::for_symbol(symbol.as_str()).start_price);
    let stream = u64::try_from(now.timestamp()).unwrap_or_default();
    Ok(Tape { walker: Walker::new(sim.seed, symbol.as_str(), stream, start), today, prev_close })
}

/// One interval: generate each symbol's bar and hand them to the ingest path.
async fn tick(
    ingest: &Ingest,
    watchlist: &[Symbol],
    tapes: &mut HashMap<Symbol, Tape>,
    interval: Timeframe,
    bar_ts: i64,
) -> Result<(), StorageError> {
    let mut landing = Live::default();
    let mut closed_now = Vec::with_capacity(watchlist.len());
    for symbol in watchlist {
        let Some(tape) = tapes.get_mut(symbol) else { continue };
        let bar = tape.walker.next_bar(bar_ts, interval.seconds() as f64);
        let day = Timeframe::D1.bucket_start(bar_ts);
        // This bar opened a new day: yesterday's daily bar (stored by earlier
        // ticks) is now closed, and goes to the pipeline first.
        if let Some(done) = tape.today.filter(|t| t.ts != day) {
            tape.prev_close = Some(done.close);
            landing.closed.push((symbol.clone(), Timeframe::D1, done));
        }
        let daily = simulated::roll_into_daily(tape.today, &bar);
        tape.today = Some(daily);
        landing.bars.push((symbol.clone(), interval, bar));
        landing.bars.push((symbol.clone(), Timeframe::D1, daily));
        landing.quotes.push(Quote {
            symbol: symbol.as_str().to_owned(),
            price: bar.close,
            prev_close: tape.prev_close,
            ts: bar.ts + interval.seconds(),
        });
        closed_now.push((symbol.clone(), interval, bar));
    }
    landing.closed.extend(closed_now);
    ingest.live(landing).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Bus;
    use crate::cache::MarketCache;
    use crate::config::DatabaseUrl;

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).expect("symbol")
    }

    /// Before the fix, one symbol the database refused (its row deleted behind
    /// the feed's back) failed the whole tick's transaction, and no symbol got
    /// a bar again.
    #[tokio::test]
    async fn a_symbol_the_database_refuses_costs_only_its_own_bar() {
        let db = Db::connect(&DatabaseUrl::from("sqlite::memory:")).await.expect("open");
        db.migrate().await.expect("migrate");
        let watchlist = vec![sym("AAPL"), sym("TSLA")];
        let sim = SimConfig { history_days: 30, ..SimConfig::default() };
        let now = Utc::now();
        let ingest0 = Ingest::new(db.clone(), MarketCache::new(&Default::default()));
        backfill(&ingest0, &watchlist, &sim, now).await.expect("backfill");
        let bus = Bus::new(64);
        let ingest = Ingest::new(db.clone(), MarketCache::new(&Default::default())).publishing(bus.clone());
        let mut tapes = HashMap::new();
        for s in &watchlist {
            tapes.insert(s.clone(), resume(&db, s, &sim, now).await.expect("resume"));
        }
        assert!(symbols::delete(&db, "TSLA").await.expect("delete"));

        let interval = sim.interval;
        let bar_ts = interval.bucket_start(now.timestamp());
        tick(&ingest, &watchlist, &mut tapes, interval, bar_ts).await.expect("the tick stores AAPL");

        let aapl = bars::latest(&db, "AAPL", interval, 1).await.expect("read");
        assert_eq!(aapl.first().map(|b| b.ts), Some(bar_ts), "AAPL's bar was stored");
        assert!(bars::latest(&db, "TSLA", interval, 1).await.expect("read").is_empty());
        assert!(bus.latest_quote("AAPL").is_some(), "AAPL's quote was published");
        assert!(bus.latest_quote("TSLA").is_none(), "nothing unstored is published");
    }
}
