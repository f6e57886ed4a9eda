//! Runs the configured live feed: today, the simulator.
//!
//! Start-up backfills daily history for the watchlist, then every
//! `sim.interval` the bar that just closed is generated for each symbol, folded
//! into the day's daily bar and handed to the ingest path ([`crate::ingest`]),
//! which stores, invalidates, publishes and feeds the signal pipeline. Shutdown
//! is checked between ticks, so a write in flight always completes.
//!
//! The feed follows the stored watchlist ([`Watchlist`]): a symbol added while
//! it runs gets its simulated history and then live bars from the next tick,
//! and a removed one gets no more bars.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use app::live::protocol::Quote;
use chrono::{DateTime, Utc};
use quant::{Bar, Timeframe};
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::ingest::{Ingest, Live};
use crate::providers::simulated::{self, Walker};
use crate::storage::bars;
use crate::storage::watchlist::Watchlist;
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

/// Ticks the database refused are kept (oldest first) and stored before the
/// next tick's bars, up to this many; at a 1 s interval, an hour's outage.
const MAX_UNSTORED_TICKS: usize = 3_600;

/// Emits live bars for the symbols of `watchlist` until `shutdown` is
/// cancelled (history is [`backfill`]ed first, by the caller). A symbol added
/// to the watchlist meanwhile is backfilled here, then ticks with the others.
///
/// A tick the database refuses (it is down, locked by another process, or
/// its disk is full) is not lost: it waits, with the ticks after it, and they
/// are stored in order once the database takes writes again, so no bar is
/// missing or stored twice after an outage. Past [`MAX_UNSTORED_TICKS`], the
/// oldest waiting tick is dropped, with a warning.
///
/// # Errors
/// [`StorageError`] when the stored state cannot be read at start.
pub async fn run_simulated(
    ingest: Ingest,
    watchlist: Watchlist,
    sim: SimConfig,
    shutdown: CancellationToken,
) -> Result<(), StorageError> {
    let started = Utc::now();
    let interval = sim.interval;
    let mut changes = watchlist.changes();
    let mut symbols = watchlist.symbols().await?;
    let mut tapes = HashMap::with_capacity(symbols.len());
    for symbol in &symbols {
        tapes.insert(symbol.clone(), resume(ingest.db(), symbol, &sim, started).await?);
    }
    // The watchlist changed and the tapes do not match it yet (retried every
    // tick while the database refuses).
    let mut stale = false;
    let mut unstored: VecDeque<Live> = VecDeque::new();
    // The bar in progress. Every interval gets its bar: when a write held the
    // loop past several closes (a database that does not answer), the missed
    // bars are made at once, in order.
    let mut bar_ts = interval.bucket_start(started.timestamp());
    loop {
        let now = Utc::now().timestamp();
        if (now - bar_ts) / interval.seconds() > MAX_UNSTORED_TICKS as i64 {
            // Asleep (a suspended laptop), not held by a write: carry on from now.
            tracing::warn!(from = bar_ts, to = now, "simulated feed was paused; the bars in between are skipped");
            bar_ts = interval.bucket_start(now);
        }
        let close_ms = (bar_ts + interval.seconds()) * 1000;
        let wait = Duration::from_millis(u64::try_from(close_ms - Utc::now().timestamp_millis()).unwrap_or(0));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            Ok(()) = changes.changed() => {
                stale = true;
            }
        }
        if stale {
            match follow(&ingest, &watchlist, &sim, &mut symbols, &mut tapes).await {
                Ok(()) => stale = false,
                Err(e) => tracing::error!(error = %e, "the simulated feed could not follow the watchlist's change"),
            }
        }
        if Utc::now().timestamp_millis() < close_ms {
            // Woken by a change of the watchlist: the bar is not closed yet.
            continue;
        }
        unstored.push_back(tick(&symbols, &mut tapes, interval, bar_ts));
        bar_ts += interval.seconds();
        if unstored.len() > MAX_UNSTORED_TICKS {
            unstored.pop_front();
            tracing::warn!(
                kept = MAX_UNSTORED_TICKS,
                "the database refused writes for too long; the oldest waiting tick is dropped"
            );
        }
        store_waiting(&ingest, &mut unstored).await;
    }
    if !unstored.is_empty() {
        tracing::warn!(ticks = unstored.len(), "simulated feed stopped with ticks the database refused");
    }
    tracing::info!("simulated feed stopped");
    Ok(())
}

/// Matches the tapes to the stored watchlist: a new symbol is backfilled and
/// gets a tape, a removed one loses its tape. `symbols` becomes the symbols
/// with a tape, in watchlist order, also when a backfill fails (the rest then
/// waits for the next call).
async fn follow(
    ingest: &Ingest,
    watchlist: &Watchlist,
    sim: &SimConfig,
    symbols: &mut Vec<Symbol>,
    tapes: &mut HashMap<Symbol, Tape>,
) -> Result<(), StorageError> {
    let wanted = watchlist.symbols().await?;
    tapes.retain(|symbol, _| wanted.contains(symbol));
    let mut outcome = Ok(());
    for symbol in &wanted {
        if tapes.contains_key(symbol) {
            continue;
        }
        let now = Utc::now();
        let added = async {
            backfill(ingest, std::slice::from_ref(symbol), sim, now).await?;
            resume(ingest.db(), symbol, sim, now).await
        };
        match added.await {
            Ok(tape) => {
                tapes.insert(symbol.clone(), tape);
                tracing::info!(%symbol, "the simulated feed follows a symbol added to the watchlist");
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    *symbols = wanted.into_iter().filter(|s| tapes.contains_key(s)).collect();
    outcome
}

/// Stores the waiting ticks in order, stopping at the first the database refuses.
async fn store_waiting(ingest: &Ingest, unstored: &mut VecDeque<Live>) {
    let waiting = unstored.len();
    while let Some(landing) = unstored.front() {
        match ingest.live(landing.clone()).await {
            Ok(_) => {
                unstored.pop_front();
            }
            Err(e) => {
                // Once per outage, and again every minute of it at a 1 s interval.
                if unstored.len() == 1 || unstored.len().is_multiple_of(60) {
                    tracing::error!(error = %e, waiting = unstored.len(), "simulated ticks not stored; kept to retry");
                }
                return;
            }
        }
    }
    if waiting > 1 {
        tracing::warn!(ticks = waiting, "the database takes writes again; waiting ticks stored in order");
    }
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

/// One interval: each symbol's bar, with its day's rolled-up bar and quote, for the ingest path.
fn tick(watchlist: &[Symbol], tapes: &mut HashMap<Symbol, Tape>, interval: Timeframe, bar_ts: i64) -> Live {
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
    landing
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
        ingest.live(tick(&watchlist, &mut tapes, interval, bar_ts)).await.expect("the tick stores AAPL");

        let aapl = bars::latest(&db, "AAPL", interval, 1).await.expect("read");
        assert_eq!(aapl.first().map(|b| b.ts), Some(bar_ts), "AAPL's bar was stored");
        assert!(bars::latest(&db, "TSLA", interval, 1).await.expect("read").is_empty());
        assert!(bus.latest_quote("AAPL").is_some(), "AAPL's quote was published");
        assert!(bus.latest_quote("TSLA").is_none(), "nothing unstored is published");
    }

    /// Ticks the database refuses wait and are stored in order once it takes
    /// writes again: no bar of the outage is lost, none is stored twice, and
    /// the day's bar ends as the last tick rolled it. The refusal here is the
    /// bars table renamed away; a stopped server, a lock or a full disk are in
    /// `server/tests/faults.rs`.
    #[tokio::test]
    async fn refused_ticks_wait_and_land_in_order() {
        let db = Db::connect(&DatabaseUrl::from("sqlite::memory:")).await.expect("open");
        db.migrate().await.expect("migrate");
        let watchlist = vec![sym("AAPL"), sym("MSFT")];
        let sim = SimConfig { history_days: 5, ..SimConfig::default() };
        let now = Utc::now();
        let bus = Bus::new(64);
        let ingest = Ingest::new(db.clone(), MarketCache::new(&Default::default())).publishing(bus.clone());
        backfill(&ingest, &watchlist, &sim, now).await.expect("backfill");
        let mut tapes = HashMap::new();
        for s in &watchlist {
            tapes.insert(s.clone(), resume(&db, s, &sim, now).await.expect("resume"));
        }
        let interval = sim.interval;
        let first = interval.bucket_start(now.timestamp());
        let sql = |q: &'static str| {
            let db = db.clone();
            async move {
                let Db::Sqlite { writer, .. } = &db else { unreachable!("an in-memory SQLite database") };
                sqlx::query(q).execute(writer).await.expect(q)
            }
        };

        sql("ALTER TABLE bars RENAME TO bars_away").await;
        let mut unstored = VecDeque::new();
        for i in 0..3 {
            unstored.push_back(tick(&watchlist, &mut tapes, interval, first + i * interval.seconds()));
            store_waiting(&ingest, &mut unstored).await;
        }
        assert_eq!(unstored.len(), 3, "every refused tick waits");
        assert!(bus.latest_quote("AAPL").is_none(), "nothing unstored is published");

        sql("ALTER TABLE bars_away RENAME TO bars").await;
        unstored.push_back(tick(&watchlist, &mut tapes, interval, first + 3 * interval.seconds()));
        store_waiting(&ingest, &mut unstored).await;
        assert!(unstored.is_empty());
        for symbol in &watchlist {
            let stored = bars::latest(&db, symbol.as_str(), interval, 10).await.expect("read");
            let ts: Vec<i64> = stored.iter().map(|b| b.ts).collect();
            let want: Vec<i64> = (0..4).map(|i| first + i * interval.seconds()).collect();
            assert_eq!(ts, want, "{symbol}: every tick once, in order");
            let day = bars::latest(&db, symbol.as_str(), Timeframe::D1, 1).await.expect("read");
            assert_eq!(day.first().copied(), tapes[symbol].today, "{symbol}: the day as the last tick rolled it");
        }
        assert_eq!(bus.latest_quote("AAPL").map(|q| q.ts), Some(first + 4 * interval.seconds()));
    }
}
