//! Runs the configured live feed: today, the simulator.
//!
//! Start-up backfills daily history for the watchlist, then every
//! `sim.interval` the bar that just closed is generated for each symbol, folded
//! into the day's daily bar, written in one transaction, and only then published
//! on the bus (so nothing is shown that is not stored). Shutdown is checked
//! between ticks, so a write in flight always completes.

use std::collections::HashMap;
use std::time::Duration;

use app::live::protocol::{BarUpdate, Quote};
use chrono::{DateTime, Utc};
use quant::{Bar, Timeframe};
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::cache::MarketCache;
use crate::config::SimConfig;
use crate::pipeline::Pipeline;
use crate::providers::simulated::{self, Walker};
use crate::storage::bars::{self, NewBar};
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

/// Where a feed's output goes besides the database.
#[derive(Debug, Clone)]
pub struct Outlets {
    /// Live events.
    pub bus: Bus,
    /// Cached figures to invalidate.
    pub cache: MarketCache,
    /// The signal pipeline, with the timeframes it follows.
    pub pipeline: Option<(Pipeline, Vec<Timeframe>)>,
}

impl Outlets {
    /// Feeds closed bars of followed timeframes to the pipeline; failures are
    /// logged (the bars are stored; the next bar of the series carries on).
    pub async fn signals(&self, closed: Vec<(Symbol, Timeframe, Bar)>) {
        let Some((pipeline, timeframes)) = &self.pipeline else { return };
        for (symbol, timeframe, bar) in closed {
            if !timeframes.contains(&timeframe) {
                continue;
            }
            if let Err(e) = pipeline.on_closed_bar(symbol.as_str(), timeframe, bar).await {
                tracing::error!(%symbol, %timeframe, error = %e, "signal pipeline failed on a bar");
            }
        }
    }
}

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
pub async fn backfill(db: &Db, watchlist: &[Symbol], sim: &SimConfig, now: DateTime<Utc>) -> Result<u64, StorageError> {
    let yesterday = now.date_naive().pred_opt().unwrap_or(now.date_naive());
    let mut written = 0;
    for symbol in watchlist {
        let name = KNOWN_NAMES.iter().find(|(s, _)| *s == symbol.as_str()).map(|(_, n)| *n);
        symbols::upsert(db, symbol, name, true).await?;
        let history = simulated::daily_history(sim.seed, symbol.as_str(), yesterday, sim.history_days);
        let rows: Vec<NewBar<'_>> =
            history.iter().map(|&bar| NewBar { symbol: symbol.as_str(), timeframe: Timeframe::D1, bar }).collect();
        written += bars::upsert(db, &rows).await?;
    }
    Ok(written)
}

/// Emits live bars until `shutdown` is cancelled (history is [`backfill`]ed first, by the caller).
///
/// # Errors
/// [`StorageError`] when the stored state cannot be read at start; live-tick
/// write failures are logged and the tick is skipped.
pub async fn run_simulated(
    db: Db,
    outlets: Outlets,
    watchlist: Vec<Symbol>,
    sim: SimConfig,
    shutdown: CancellationToken,
) -> Result<(), StorageError> {
    let started = Utc::now();
    let interval = sim.interval;
    let mut tapes = HashMap::with_capacity(watchlist.len());
    for symbol in &watchlist {
        tapes.insert(symbol.clone(), resume(&db, symbol, &sim, started).await?);
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
        if let Err(e) = tick(&db, &outlets, &watchlist, &mut tapes, interval, bar_ts).await {
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

/// One interval: generate, store, then publish what was stored.
async fn tick(
    db: &Db,
    outlets: &Outlets,
    watchlist: &[Symbol],
    tapes: &mut HashMap<Symbol, Tape>,
    interval: Timeframe,
    bar_ts: i64,
) -> Result<(), StorageError> {
    let mut produced = Vec::with_capacity(watchlist.len());
    let mut days_closed = Vec::new();
    for symbol in watchlist {
        let Some(tape) = tapes.get_mut(symbol) else { continue };
        let bar = tape.walker.next_bar(bar_ts, interval.seconds() as f64);
        let day = Timeframe::D1.bucket_start(bar_ts);
        if let Some(done) = tape.today.filter(|t| t.ts != day) {
            tape.prev_close = Some(done.close);
            days_closed.push((symbol, done));
        }
        let daily = simulated::roll_into_daily(tape.today, &bar);
        tape.today = Some(daily);
        produced.push((symbol, bar, daily, tape.prev_close));
    }
    let stored = store(db, interval, &produced).await?;
    produced.retain(|(symbol, ..)| stored.contains(symbol));
    days_closed.retain(|(symbol, _)| stored.contains(symbol));
    let Outlets { bus, cache, .. } = outlets;
    for (symbol, bar, daily, prev_close) in &produced {
        cache.bars_landed(symbol.as_str());
        let symbol = symbol.as_str().to_owned();
        bus.publish_bar(BarUpdate { symbol: symbol.clone(), timeframe: interval, bar: *bar });
        bus.publish_bar(BarUpdate { symbol: symbol.clone(), timeframe: Timeframe::D1, bar: *daily });
        bus.publish_quote(Quote { symbol, price: bar.close, prev_close: *prev_close, ts: bar.ts + interval.seconds() });
    }
    // Signals after publishing: the interval bar just closed; a daily bar closed
    // when this bar opened a new day.
    let closed: Vec<(Symbol, Timeframe, Bar)> = days_closed
        .into_iter()
        .map(|(symbol, done)| (symbol.clone(), Timeframe::D1, done))
        .chain(produced.iter().map(|(symbol, bar, _, _)| ((*symbol).clone(), interval, *bar)))
        .collect();
    outlets.signals(closed).await;
    Ok(())
}

/// A symbol's generated interval bar, its daily roll-up and the previous close.
type Produced<'a> = (&'a Symbol, Bar, Bar, Option<f64>);

/// Writes a tick's bars in one transaction; if that fails, symbol by symbol,
/// so one symbol the database refuses (removed behind the feed's back, say)
/// costs that symbol its bar and not every other symbol theirs. Returns the
/// symbols whose bars are stored.
///
/// # Errors
/// [`StorageError`] when not one symbol could be stored.
async fn store<'a>(db: &Db, interval: Timeframe, produced: &[Produced<'a>]) -> Result<Vec<&'a Symbol>, StorageError> {
    let rows_of = |symbol: &'a Symbol, bar: Bar, daily: Bar| {
        [
            NewBar { symbol: symbol.as_str(), timeframe: interval, bar },
            NewBar { symbol: symbol.as_str(), timeframe: Timeframe::D1, bar: daily },
        ]
    };
    let all: Vec<NewBar<'_>> = produced.iter().flat_map(|&(s, bar, daily, _)| rows_of(s, bar, daily)).collect();
    let whole = match bars::upsert(db, &all).await {
        Ok(_) => return Ok(produced.iter().map(|(s, ..)| *s).collect()),
        Err(e) => e,
    };
    let mut stored = Vec::with_capacity(produced.len());
    for &(symbol, bar, daily, _) in produced {
        match bars::upsert(db, &rows_of(symbol, bar, daily)).await {
            Ok(_) => stored.push(symbol),
            Err(e) => tracing::warn!(%symbol, error = %e, "simulated bar not stored; the symbol skips this tick"),
        }
    }
    if stored.is_empty() && !produced.is_empty() {
        return Err(whole);
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        backfill(&db, &watchlist, &sim, now).await.expect("backfill");
        let outlets = Outlets { bus: Bus::new(64), cache: MarketCache::new(&Default::default()), pipeline: None };
        let mut tapes = HashMap::new();
        for s in &watchlist {
            tapes.insert(s.clone(), resume(&db, s, &sim, now).await.expect("resume"));
        }
        assert!(symbols::delete(&db, "TSLA").await.expect("delete"));

        let interval = sim.interval;
        let bar_ts = interval.bucket_start(now.timestamp());
        tick(&db, &outlets, &watchlist, &mut tapes, interval, bar_ts).await.expect("the tick stores AAPL");

        let aapl = bars::latest(&db, "AAPL", interval, 1).await.expect("read");
        assert_eq!(aapl.first().map(|b| b.ts), Some(bar_ts), "AAPL's bar was stored");
        assert!(bars::latest(&db, "TSLA", interval, 1).await.expect("read").is_empty());
        assert!(outlets.bus.latest_quote("AAPL").is_some(), "AAPL's quote was published");
        assert!(outlets.bus.latest_quote("TSLA").is_none(), "nothing unstored is published");
    }
}
