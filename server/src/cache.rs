//! In-process caches in front of the database: quotes, computed indicator
//! series, symbols' stored details, and answers serialized once and served
//! many times (bar pages, charts) (moka: bounded, with time-to-live).
//!
//! Freshness: whoever stores bars in this process calls [`MarketCache::bars_landed`]
//! for the symbol. That bumps the symbol's *generation*, which is part of every
//! key, so a lookup after new bars can never be answered from an entry computed
//! before them, even one whose computation was still running when the bars
//! landed (it is stored under the old generation, which nobody asks for again).
//! The stale entries are also dropped at once to free their memory. Writes by
//! other processes (CLI imports, other nodes) are bounded by the TTLs.
//!
//! Concurrent misses on one key are coalesced: one caller computes, the others
//! wait for its result (moka's `entry().or_try_insert_with`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::model::QuoteRow;
use moka::future::Cache;
use quant::{Bar, Timeframe};
use serde::Serialize;

use crate::storage::symbols::SymbolRow;

pub use crate::config::cache::CacheConfig;

/// One cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to compute (or wait for one computation).
    pub misses: u64,
    /// Entries held now (approximate: moka applies evictions lazily).
    pub entries: u64,
}

/// A computed indicator series: bar times and one column per output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Opening times of the bars, Unix seconds, oldest first.
    pub ts: Vec<i64>,
    /// `(name, values)` per output, e.g. `MACD(12,26,9).macdsignal`; `None` during warm-up.
    pub columns: Vec<(String, Vec<Option<f64>>)>,
}

impl Series {
    fn points(&self) -> u64 {
        let values: usize = self.columns.iter().map(|(_, v)| v.len()).sum();
        u64::try_from(values + self.ts.len()).unwrap_or(u64::MAX)
    }
}

/// What a series is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The symbol.
    pub symbol: String,
    /// The bars' timeframe.
    pub timeframe: Timeframe,
    /// The indicator in canonical notation, e.g. `RSI(14)`.
    pub spec: String,
    /// How many of the latest bars are returned.
    pub limit: usize,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A cache whose keys carry the symbol's generation.
#[derive(Debug, Clone)]
struct Generational<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    inner: Cache<(K, u64), V>,
    counters: Arc<Counters>,
}

impl<K, V> Generational<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    async fn get_or_try<E, F>(&self, key: K, generation: u64, compute: F) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let entry = self.inner.entry((key, generation)).or_try_insert_with(compute).await?;
        let counter = if entry.is_fresh() { &self.counters.misses } else { &self.counters.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(entry.into_value())
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            entries: self.inner.entry_count(),
        }
    }
}

/// An answer about one symbol, cached whole: the symbol and a text naming
/// the rest of the request (e.g. a bar page's query).
pub type AnswerKey = (String, String);

/// The latest bars of a series and the symbol's stored timeframes: what a
/// chart shows besides the live quote.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartBars {
    /// The latest bars, oldest first.
    pub bars: Vec<Bar>,
    /// Every timeframe the symbol has bars in.
    pub timeframes: Vec<Timeframe>,
}

/// The most bytes of cached answers (bar pages, charts) kept.
const ANSWER_CAPACITY_BYTES: u64 = 64 << 20;

/// The caches; clone freely (clones share everything, and a clone is one
/// reference count: the cache travels with the server's state into every
/// request).
#[derive(Debug, Clone)]
pub struct MarketCache(Arc<Caches>);

#[derive(Debug)]
struct Caches {
    generations: Mutex<HashMap<String, u64>>,
    quotes: Generational<String, Option<QuoteRow>>,
    series: Generational<SeriesKey, Arc<Series>>,
    symbols: Generational<String, Option<SymbolRow>>,
    answers: Generational<AnswerKey, bytes::Bytes>,
    charts: Generational<(String, Timeframe, usize), Arc<ChartBars>>,
}

impl MarketCache {
    /// Empty caches sized by `config`.
    #[must_use]
    pub fn new(config: &CacheConfig) -> Self {
        let quotes = Cache::builder()
            .max_capacity(config.quote_capacity)
            .time_to_live(Duration::from_secs(config.quote_ttl_secs.max(1)))
            .support_invalidation_closures()
            .build();
        let series = Cache::builder()
            .max_capacity(config.series_capacity_points)
            .weigher(|_, s: &Arc<Series>| u32::try_from(s.points()).unwrap_or(u32::MAX))
            .time_to_live(Duration::from_secs(config.series_ttl_secs.max(1)))
            .support_invalidation_closures()
            .build();
        let symbols = Cache::builder()
            .max_capacity(config.quote_capacity)
            .time_to_live(Duration::from_secs(config.quote_ttl_secs.max(1)))
            .support_invalidation_closures()
            .build();
        let answers = Cache::builder()
            .max_capacity(ANSWER_CAPACITY_BYTES)
            .weigher(|_, b: &bytes::Bytes| u32::try_from(b.len()).unwrap_or(u32::MAX))
            .time_to_live(Duration::from_secs(config.series_ttl_secs.max(1)))
            .support_invalidation_closures()
            .build();
        let charts = Cache::builder()
            .max_capacity(config.series_capacity_points)
            .weigher(|_, c: &Arc<ChartBars>| u32::try_from(c.bars.len() * 6).unwrap_or(u32::MAX))
            .time_to_live(Duration::from_secs(config.series_ttl_secs.max(1)))
            .support_invalidation_closures()
            .build();
        Self(Arc::new(Caches {
            generations: Mutex::default(),
            charts: Generational { inner: charts, counters: Arc::default() },
            quotes: Generational { inner: quotes, counters: Arc::default() },
            series: Generational { inner: series, counters: Arc::default() },
            symbols: Generational { inner: symbols, counters: Arc::default() },
            answers: Generational { inner: answers, counters: Arc::default() },
        }))
    }

    fn generation(&self, symbol: &str) -> u64 {
        self.0.generations.lock().unwrap_or_else(PoisonError::into_inner).get(symbol).copied().unwrap_or(0)
    }

    /// The stored quote of `symbol` (`None`: no bars), computed by `compute` on a miss.
    ///
    /// # Errors
    /// `compute`'s error, shared with every caller that waited for it.
    pub async fn quote<E, F>(&self, symbol: &str, compute: F) -> Result<Option<QuoteRow>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<Option<QuoteRow>, E>>,
    {
        self.0.quotes.get_or_try(symbol.to_owned(), self.generation(symbol), compute).await
    }

    /// The indicator series `key`, computed by `compute` on a miss.
    ///
    /// # Errors
    /// `compute`'s error, shared with every caller that waited for it.
    pub async fn series<E, F>(&self, key: SeriesKey, compute: F) -> Result<Arc<Series>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<Arc<Series>, E>>,
    {
        let generation = self.generation(&key.symbol);
        self.0.series.get_or_try(key, generation, compute).await
    }

    /// The stored details of `symbol` (`None`: not stored), read by `compute` on a miss.
    ///
    /// # Errors
    /// `compute`'s error, shared with every caller that waited for it.
    pub async fn symbol<E, F>(&self, symbol: &str, compute: F) -> Result<Option<SymbolRow>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<Option<SymbolRow>, E>>,
    {
        let key = (symbol.to_owned(), self.generation(symbol));
        let found = self.0.symbols.get_or_try(key.0.clone(), key.1, compute).await?;
        if found.is_none() {
            // Absence is not kept: a symbol another writer (a backfill, the
            // CLI, another process) adds is seen on the next look-up.
            self.0.symbols.inner.invalidate(&key).await;
        }
        Ok(found)
    }

    /// A serialized answer about `key.0`, built by `compute` on a miss.
    ///
    /// # Errors
    /// `compute`'s error, shared with every caller that waited for it.
    pub async fn answer<E, F>(&self, key: AnswerKey, compute: F) -> Result<bytes::Bytes, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<bytes::Bytes, E>>,
    {
        let generation = self.generation(&key.0);
        self.0.answers.get_or_try(key, generation, compute).await
    }

    /// The latest `limit` bars of a series with the symbol's timeframes,
    /// read by `compute` on a miss.
    ///
    /// # Errors
    /// `compute`'s error, shared with every caller that waited for it.
    pub async fn chart<E, F>(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        limit: usize,
        compute: F,
    ) -> Result<Arc<ChartBars>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<Arc<ChartBars>, E>>,
    {
        self.0.charts.get_or_try((symbol.to_owned(), timeframe, limit), self.generation(symbol), compute).await
    }

    /// `symbol` was added, removed or renamed: as [`Self::bars_landed`].
    pub fn symbol_changed(&self, symbol: &str) {
        self.bars_landed(symbol);
    }

    /// New bars of `symbol` were stored: nothing cached before this is served again.
    pub fn bars_landed(&self, symbol: &str) {
        {
            let mut generations = self.0.generations.lock().unwrap_or_else(PoisonError::into_inner);
            *generations.entry(symbol.to_owned()).or_insert(0) += 1;
        }
        let owned = symbol.to_owned();
        // Only fails when closures are not enabled, which `new` does.
        let _ = self.0.quotes.inner.invalidate_entries_if(move |(s, _), _| *s == owned);
        let owned = symbol.to_owned();
        let _ = self.0.series.inner.invalidate_entries_if(move |(k, _), _| k.symbol == owned);
        let owned = symbol.to_owned();
        let _ = self.0.symbols.inner.invalidate_entries_if(move |(s, _), _| *s == owned);
        let owned = symbol.to_owned();
        let _ = self.0.answers.inner.invalidate_entries_if(move |((s, _), _), _| *s == owned);
        let owned = symbol.to_owned();
        let _ = self.0.charts.inner.invalidate_entries_if(move |((s, _, _), _), _| *s == owned);
    }

    /// Counters of the quote cache.
    #[must_use]
    pub fn quote_stats(&self) -> CacheStats {
        self.0.quotes.stats()
    }

    /// Counters of the indicator-series cache.
    #[must_use]
    pub fn series_stats(&self) -> CacheStats {
        self.0.series.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(symbol: &str, last: f64) -> QuoteRow {
        QuoteRow { symbol: symbol.into(), name: None, last, prev_close: None, ts: 0, simulated: false }
    }

    async fn quote(cache: &MarketCache, symbol: &str, last: f64) -> f64 {
        let q = cache.quote(symbol, async { Ok::<_, ()>(Some(row(symbol, last))) }).await;
        q.ok().flatten().map_or(f64::NAN, |r| r.last)
    }

    #[tokio::test]
    async fn hits_after_a_miss_and_counts_both() {
        let cache = MarketCache::new(&CacheConfig::default());
        assert_eq!(quote(&cache, "AAPL", 1.0).await, 1.0);
        // A second lookup is served from the cache: the new value is not computed.
        assert_eq!(quote(&cache, "AAPL", 2.0).await, 1.0);
        let stats = cache.quote_stats();
        assert_eq!((stats.hits, stats.misses), (1, 1));
    }

    #[tokio::test]
    async fn new_bars_invalidate_only_their_symbol() {
        let cache = MarketCache::new(&CacheConfig::default());
        quote(&cache, "AAPL", 1.0).await;
        quote(&cache, "MSFT", 10.0).await;
        cache.bars_landed("AAPL");
        assert_eq!(quote(&cache, "AAPL", 2.0).await, 2.0);
        assert_eq!(quote(&cache, "MSFT", 20.0).await, 10.0);
    }

    #[tokio::test]
    async fn a_failed_computation_is_not_cached() {
        let cache = MarketCache::new(&CacheConfig::default());
        let failed = cache.quote("AAPL", async { Err::<Option<QuoteRow>, _>("db down") }).await;
        assert_eq!(failed.err().as_deref(), Some(&"db down"));
        assert_eq!(quote(&cache, "AAPL", 3.0).await, 3.0);
        assert_eq!(cache.quote_stats().misses, 1, "the failed attempt counts as neither");
    }

    #[tokio::test]
    async fn series_are_keyed_by_spec_and_limit() {
        let cache = MarketCache::new(&CacheConfig::default());
        let key =
            |spec: &str, limit| SeriesKey { symbol: "AAPL".into(), timeframe: Timeframe::D1, spec: spec.into(), limit };
        let series = |n: usize| Arc::new(Series { ts: vec![0; n], columns: vec![] });
        let a = cache.series(key("RSI(14)", 10), async { Ok::<_, ()>(series(10)) }).await.ok();
        let b = cache.series(key("RSI(14)", 20), async { Ok::<_, ()>(series(20)) }).await.ok();
        let again = cache.series(key("RSI(14)", 10), async { Ok::<_, ()>(series(99)) }).await.ok();
        assert_eq!(a.map(|s| s.ts.len()), Some(10));
        assert_eq!(b.map(|s| s.ts.len()), Some(20));
        assert_eq!(again.map(|s| s.ts.len()), Some(10));
        assert_eq!(cache.series_stats().hits, 1);
        cache.bars_landed("AAPL");
        let fresh = cache.series(key("RSI(14)", 10), async { Ok::<_, ()>(series(11)) }).await.ok();
        assert_eq!(fresh.map(|s| s.ts.len()), Some(11));
    }
}
