//! The one path by which bars enter the system.
//!
//! Every writer of bars (the simulated feed, the quote refresh, backfill jobs,
//! CSV imports, the simulator's start-up history) hands them to [`Ingest`],
//! which owns what must follow a write, in this order:
//!
//! 1. **store**: one bulk upsert; a live batch of several symbols whose rows
//!    the database refuses (a constraint) is retried symbol by symbol, so one
//!    bad symbol (its row deleted behind the feed's back) costs only that
//!    symbol its bars; a database that cannot write at all (down, locked,
//!    disk full) fails the whole landing, which its writer keeps and retries;
//! 2. **invalidate**: the symbols' cached quotes and series are dropped
//!    ([`MarketCache::bars_landed`]) when rows changed;
//! 3. **publish** (live landings): the newest bar of each series and the
//!    quotes go to the bus, only once stored, so nothing shown live is missing
//!    from the database;
//! 4. **signals**: closed bars of followed timeframes go to the signal
//!    pipeline (live landings); a history landing that changed rows makes the
//!    pipeline re-warm the symbol from the new history instead, and a daily
//!    one recomputes the symbol's daily figures (all-time high, 52-week range).
//!
//! Writers differ only in what they hand over: a [`Live`] batch as bars close,
//! or a symbol's [`Ingest::history`].

use std::collections::HashMap;

use app::live::protocol::{BarUpdate, Quote};
use quant::{Bar, Timeframe};

use crate::bus::Bus;
use crate::cache::MarketCache;
use crate::pipeline::Pipeline;
use crate::storage::bars::{self, NewBar};
use crate::storage::{Db, StorageError, stats, symbols};
use crate::symbol::Symbol;

/// Where landed bars go besides the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ingest {
    db: Db,
    cache: MarketCache,
    bus: Option<Bus>,
    pipeline: Option<(Pipeline, Vec<Timeframe>)>,
}

/// Bars arriving as they happen.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Rows to store; the newest of each series is published.
    pub bars: Vec<(Symbol, Timeframe, Bar)>,
    /// Bars that closed with this landing (stored now or earlier), for the
    /// signal pipeline, oldest first.
    pub closed: Vec<(Symbol, Timeframe, Bar)>,
    /// Latest prices, published once their symbol's bars are stored.
    pub quotes: Vec<Quote>,
}

impl Ingest {
    /// An ingest path that stores and invalidates; add live outlets with
    /// [`Ingest::publishing`] and [`Ingest::with_signals`].
    #[must_use]
    pub fn new(db: Db, cache: MarketCache) -> Self {
        Self { db, cache, bus: None, pipeline: None }
    }

    /// Publishes live landings on `bus`.
    #[must_use]
    pub fn publishing(mut self, bus: Bus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Feeds closed bars of `timeframes` to `pipeline`.
    #[must_use]
    pub fn with_signals(mut self, pipeline: Option<Pipeline>, timeframes: Vec<Timeframe>) -> Self {
        self.pipeline = pipeline.map(|p| (p, timeframes));
        self
    }

    /// The database bars are stored in.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Lands live bars (see the module documentation); returns the symbols
    /// whose bars were stored. Symbols must already have their row.
    ///
    /// # Errors
    /// [`StorageError`] when the database could not write, or refused every symbol's bars.
    pub async fn live(&self, landing: Live) -> Result<Vec<Symbol>, StorageError> {
        let Live { bars, closed, quotes } = landing;
        let stored = self.store_live(&bars).await?;
        let landed = |symbol: &Symbol| stored.contains(symbol);
        for symbol in &stored {
            self.cache.bars_landed(symbol.as_str());
        }
        if let Some(bus) = &self.bus {
            for (symbol, timeframe, bar) in newest_per_series(&bars) {
                if landed(symbol) {
                    bus.publish_bar(BarUpdate { symbol: symbol.as_str().to_owned(), timeframe, bar });
                }
            }
            for quote in quotes {
                if stored.iter().any(|s| s.as_str() == quote.symbol) {
                    bus.publish_quote(quote);
                }
            }
        }
        if let Some((pipeline, timeframes)) = &self.pipeline {
            for (symbol, timeframe, bar) in closed.into_iter().filter(|(s, ..)| landed(s)) {
                if !timeframes.contains(&timeframe) {
                    continue;
                }
                // The bar is stored; the next bar of the series carries on.
                if let Err(e) = pipeline.on_closed_bar(symbol.as_str(), timeframe, bar).await {
                    tracing::error!(%symbol, %timeframe, error = %e, "signal pipeline failed on a bar");
                }
            }
        }
        Ok(stored)
    }

    /// Lands a symbol's history (a backfill, an import); returns how many rows
    /// changed. Adds the symbol's row if missing (`simulated` labels it).
    ///
    /// # Errors
    /// [`StorageError`] when the database refuses the writes.
    pub async fn history(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        history: &[Bar],
        simulated: bool,
    ) -> Result<u64, StorageError> {
        symbols::upsert(&self.db, symbol, None, simulated).await?;
        let rows: Vec<NewBar<'_>> =
            history.iter().map(|&bar| NewBar { symbol: symbol.as_str(), timeframe, bar }).collect();
        let changed = bars::upsert(&self.db, &rows).await?;
        if changed > 0 {
            self.cache.bars_landed(symbol.as_str());
            if let Some((pipeline, _)) = &self.pipeline {
                pipeline.invalidate(symbol.as_str()).await;
            }
            if timeframe == Timeframe::D1 {
                stats::refresh(&self.db, symbol.as_str(), crate::jobs::now_ms()).await?;
            }
        }
        Ok(changed)
    }

    /// Stores a live batch in one transaction, or symbol by symbol when that
    /// fails; returns the symbols stored.
    async fn store_live(&self, batch: &[(Symbol, Timeframe, Bar)]) -> Result<Vec<Symbol>, StorageError> {
        let mut symbols: Vec<&Symbol> = Vec::new();
        for (symbol, ..) in batch {
            if !symbols.contains(&symbol) {
                symbols.push(symbol);
            }
        }
        let rows = |only: Option<&Symbol>| -> Vec<NewBar<'_>> {
            batch
                .iter()
                .filter(|(s, ..)| only.is_none_or(|o| o == s))
                .map(|(s, timeframe, bar)| NewBar { symbol: s.as_str(), timeframe: *timeframe, bar: *bar })
                .collect()
        };
        let whole = match bars::upsert(&self.db, &rows(None)).await {
            Ok(_) => return Ok(symbols.into_iter().cloned().collect()),
            // The database failed to write at all (down, locked, disk full):
            // the landing fails whole, for its writer to retry.
            Err(e) if !e.is_refusal_of_the_rows() => return Err(e),
            Err(e) => e,
        };
        let mut stored = Vec::with_capacity(symbols.len());
        for symbol in symbols {
            match bars::upsert(&self.db, &rows(Some(symbol))).await {
                Ok(_) => stored.push(symbol.clone()),
                Err(e) if e.is_refusal_of_the_rows() => {
                    tracing::warn!(%symbol, error = %e, "bars not stored; the symbol skips this landing");
                }
                // It stopped writing meanwhile: retrying rewrites the stored symbols unchanged.
                Err(e) => return Err(e),
            }
        }
        if stored.is_empty() && !batch.is_empty() {
            return Err(whole);
        }
        Ok(stored)
    }
}

/// The newest bar of each (symbol, timeframe) in `bars`, in first-seen order.
fn newest_per_series(bars: &[(Symbol, Timeframe, Bar)]) -> Vec<(&Symbol, Timeframe, Bar)> {
    let mut order: Vec<(&Symbol, Timeframe)> = Vec::new();
    let mut newest: HashMap<(&Symbol, Timeframe), Bar> = HashMap::new();
    for (symbol, timeframe, bar) in bars {
        let key = (symbol, *timeframe);
        match newest.get(&key) {
            Some(seen) if seen.ts >= bar.ts => {}
            Some(_) => {
                newest.insert(key, *bar);
            }
            None => {
                order.push(key);
                newest.insert(key, *bar);
            }
        }
    }
    order.into_iter().filter_map(|key| newest.get(&key).map(|bar| (key.0, key.1, *bar))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).expect("symbol")
    }

    fn bar(ts: i64, close: f64) -> Bar {
        Bar { ts, open: close, high: close, low: close, close, volume: 1.0 }
    }

    async fn ingest() -> (Ingest, Bus) {
        let db = Db::connect(&DatabaseUrl::from("sqlite::memory:")).await.expect("open");
        db.migrate().await.expect("migrate");
        let bus = Bus::new(64);
        (Ingest::new(db, MarketCache::new(&crate::cache::CacheConfig::default())).publishing(bus.clone()), bus)
    }

    /// One symbol the database refuses (no row) used to fail the whole
    /// landing; now only its bars are skipped, and nothing unstored is shown.
    #[tokio::test]
    async fn a_refused_symbol_costs_only_its_own_bars() {
        let (ingest, bus) = ingest().await;
        symbols::upsert(ingest.db(), &sym("AAPL"), None, true).await.expect("row");
        let quote = |s: &str| Quote { symbol: s.into(), price: 2.0, prev_close: Some(1.0), ts: 60 };
        let landing = Live {
            bars: vec![(sym("AAPL"), Timeframe::M1, bar(0, 2.0)), (sym("GONE"), Timeframe::M1, bar(0, 5.0))],
            closed: Vec::new(),
            quotes: vec![quote("AAPL"), quote("GONE")],
        };
        assert_eq!(ingest.live(landing).await.expect("AAPL lands"), vec![sym("AAPL")]);
        assert_eq!(bars::latest(ingest.db(), "AAPL", Timeframe::M1, 5).await.expect("read").len(), 1);
        assert!(bus.latest_quote("AAPL").is_some());
        assert!(bus.latest_quote("GONE").is_none(), "nothing unstored is published");

        let all_refused =
            Live { bars: vec![(sym("GONE"), Timeframe::M1, bar(60, 5.0))], closed: Vec::new(), quotes: Vec::new() };
        assert!(ingest.live(all_refused).await.is_err(), "a landing with nothing stored is an error");
    }

    /// Only the newest bar of each series is published: the quote refresh
    /// lands five daily bars, and a chart must not step back through them.
    #[tokio::test]
    async fn only_the_newest_bar_of_a_series_is_published() {
        let (ingest, bus) = ingest().await;
        symbols::upsert(ingest.db(), &sym("AAPL"), None, false).await.expect("row");
        let mut tap = bus.subscribe();
        let days: Vec<_> = (0..5).map(|d| (sym("AAPL"), Timeframe::D1, bar(d * 86_400, 10.0 + d as f64))).collect();
        ingest.live(Live { bars: days, ..Live::default() }).await.expect("lands");
        let event = tap.try_recv().expect("one bar published");
        assert!(format!("{event:?}").contains("345600"), "the newest day: {event:?}");
        assert!(tap.try_recv().is_err(), "and only that one");
        assert_eq!(bars::latest(ingest.db(), "AAPL", Timeframe::D1, 10).await.expect("read").len(), 5);
    }

    /// A history landing adds the symbol, and a daily one refreshes its daily
    /// figures, so `/stats` answers right after a backfill.
    #[tokio::test]
    async fn daily_history_adds_the_symbol_and_its_daily_figures() {
        let (ingest, _) = ingest().await;
        let days: Vec<Bar> = (0..30).map(|d| bar(1_704_067_200 + d * 86_400, 100.0 + d as f64)).collect();
        assert_eq!(ingest.history(&sym("AMD"), Timeframe::D1, &days, false).await.expect("lands"), 30);
        assert!(symbols::get(ingest.db(), "AMD").await.expect("read").is_some());
        let figures = stats::get(ingest.db(), "AMD").await.expect("read").expect("daily figures computed");
        assert!((figures.ath - 129.0).abs() < 1e-9, "{figures:?}");
        assert_eq!(ingest.history(&sym("AMD"), Timeframe::D1, &days, false).await.expect("again"), 0);
    }
}
