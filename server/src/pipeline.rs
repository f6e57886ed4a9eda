//! The live signal pipeline: every closed bar of a followed series goes through
//! every enabled strategy, incrementally; a Buy or Sell becomes a stored signal
//! with its evidence and its strategy's backtest record, and, when it meets the
//! strategy's minimum quality, goes out on the bus and to the alert sinks.
//!
//! - **Incremental.** Each (symbol, timeframe) series keeps its strategies'
//!   streaming state. The first bar of a series after start-up (or after its
//!   history changed, see [`Pipeline::invalidate`]) warms the state up by
//!   replaying the stored history before that bar once (at most
//!   [`WARMUP_BARS`] bars); from then on each bar costs one `next` per strategy.
//! - **Closed bars only.** Callers pass bars that are final: a feed's interval
//!   bar after its interval ended, a daily bar once the next day's data exists.
//!   A bar at or before the last one processed is ignored, so replays (after a
//!   crash, or a refresh that re-reads recent bars) decide nothing twice.
//! - **Reproducible.** The strategies are `quant`'s, fed the same bars in the
//!   same order as a backtest, so the signals of a live run are exactly the
//!   decisions of a backtest over the same history (a test checks this).
//! - **Idempotent storage.** A signal is keyed by (symbol, timeframe, strategy,
//!   parameter hash, bar time); storing it twice stores it once, and only a
//!   newly stored signal is published.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use app::live::protocol::{Action, BacktestRecord, SignalEvent};
use quant::strategies::{BoxedStrategy, CATALOG};
use quant::strategy::Signal;
use quant::{Bar, Timeframe};
use tokio::sync::Mutex;

use crate::bus::Bus;
use crate::jobs::now_ms;
use crate::storage::signals::{self, NewSignal, RecordKey, StrategySetting};
use crate::storage::{Db, StorageError, bars};

/// The most stored bars replayed to warm a series up.
pub const WARMUP_BARS: usize = 20_000;

/// Called with every signal that passed its quality bar (e.g. Telegram alerts).
pub type AlertSink = Arc<dyn Fn(SignalEvent) + Send + Sync>;

/// One enabled strategy, resolved against the catalog.
#[derive(Debug, Clone)]
struct Resolved {
    setting: StrategySetting,
    hash: String,
}

/// A strategy's state on one series.
struct Runner {
    strategy: usize,
    state: BoxedStrategy,
}

struct SeriesState {
    last_ts: i64,
    runners: Vec<Runner>,
}

#[derive(Default)]
struct Inner {
    strategies: Vec<Resolved>,
    series: HashMap<(String, Timeframe), SeriesState>,
    records: HashMap<RecordKey, BacktestRecord>,
}

/// The pipeline; clone freely (clones share state).
#[derive(Clone)]
pub struct Pipeline {
    db: Db,
    bus: Bus,
    sinks: Arc<std::sync::RwLock<Vec<AlertSink>>>,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// A stable hash of a parameter object: FNV-1a (64 bits) over its canonical
/// JSON (serde_json orders object keys), in hex. Stable across builds and
/// platforms, unlike `std`'s hasher.
#[must_use]
pub fn params_hash(params: &serde_json::Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in params.to_string().bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Pipeline {
    /// A pipeline running every catalog strategy with its stored settings
    /// (strategies without settings run with default parameters and no minimum).
    ///
    /// # Errors
    /// [`StorageError`] when the settings or records cannot be read.
    pub async fn load(db: Db, bus: Bus) -> Result<Self, StorageError> {
        let pipeline = Self { db, bus, sinks: Arc::default(), inner: Arc::default() };
        pipeline.reload().await?;
        Ok(pipeline)
    }

    /// Adds a sink for signals that pass their quality bar.
    pub fn add_sink(&self, sink: AlertSink) {
        self.sinks.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(sink);
    }

    /// Re-reads strategy settings and backtest records. Every series warms up
    /// again on its next bar, so history changed by other processes (a worker's
    /// backfill) is taken in too.
    ///
    /// # Errors
    /// [`StorageError`] when they cannot be read.
    pub async fn reload(&self) -> Result<(), StorageError> {
        let stored = signals::settings(&self.db).await?;
        let mut strategies = Vec::new();
        for entry in CATALOG {
            let setting = stored
                .iter()
                .find(|s| s.strategy == entry.name)
                .cloned()
                .unwrap_or_else(|| StrategySetting::default_for(entry.name));
            if !setting.enabled {
                continue;
            }
            if let Err(e) = entry.build(&setting.params) {
                tracing::warn!(strategy = entry.name, error = %e, "strategy settings invalid; strategy skipped");
                continue;
            }
            strategies.push(Resolved { hash: params_hash(&setting.params), setting });
        }
        let records = signals::records(&self.db, None).await?.into_iter().collect();
        let mut inner = self.inner.lock().await;
        inner.strategies = strategies;
        inner.records = records;
        inner.series.clear();
        Ok(())
    }

    /// Forgets the streaming state of `symbol`'s series, so their next bar
    /// warms up from the stored history again (call after a backfill changed it).
    pub async fn invalidate(&self, symbol: &str) {
        self.inner.lock().await.series.retain(|(s, _), _| s != symbol);
    }

    /// The enabled strategies: (name, parameters, parameter hash).
    pub async fn strategies(&self) -> Vec<(String, serde_json::Value, String)> {
        let inner = self.inner.lock().await;
        inner
            .strategies
            .iter()
            .map(|r| (r.setting.strategy.clone(), r.setting.params.clone(), r.hash.clone()))
            .collect()
    }

    /// Feeds one closed bar; returns the signals it newly stored.
    ///
    /// # Errors
    /// [`StorageError`] when the history cannot be read or a signal not stored;
    /// the bar then counts as not processed and may be fed again.
    pub async fn on_closed_bar(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        bar: Bar,
    ) -> Result<Vec<SignalEvent>, StorageError> {
        let mut inner = self.inner.lock().await;
        let key = (symbol.to_owned(), timeframe);
        if !inner.series.contains_key(&key) {
            let warm = self.warm_up(&inner.strategies, symbol, timeframe, bar.ts).await?;
            inner.series.insert(key.clone(), warm);
        }
        let Inner { strategies, series, records } = &mut *inner;
        let Some(state) = series.get_mut(&key) else { return Ok(Vec::new()) };
        if bar.ts <= state.last_ts {
            return Ok(Vec::new());
        }
        let mut decided = Vec::new();
        for runner in &mut state.runners {
            let action = match runner.state.next(&bar) {
                Signal::Buy => Action::Buy,
                Signal::Sell => Action::Sell,
                Signal::Hold => continue,
            };
            let evidence: BTreeMap<String, f64> = runner
                .state
                .evidence()
                .into_iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            decided.push((runner.strategy, action, evidence));
        }
        // The state has consumed the bar; should storing fail below, the bar is
        // not processed again (its signals are lost rather than duplicated), and
        // the error is reported to the caller.
        state.last_ts = bar.ts;
        let mut stored = Vec::new();
        for (index, action, evidence) in decided {
            let resolved = &strategies[index];
            let record_key = RecordKey {
                symbol: symbol.to_owned(),
                timeframe,
                strategy: resolved.setting.strategy.clone(),
                params_hash: resolved.hash.clone(),
            };
            let backtest = records.get(&record_key).cloned();
            let passed = resolved.setting.passes(backtest.as_ref());
            let new = NewSignal {
                symbol: symbol.to_owned(),
                timeframe,
                strategy: resolved.setting.strategy.clone(),
                params: resolved.setting.params.clone(),
                params_hash: resolved.hash.clone(),
                action,
                bar_ts: bar.ts,
                price: bar.close,
                evidence,
                backtest,
                passed,
                created_at: now_ms(),
            };
            if let Some(signal) = signals::insert(&self.db, &new).await? {
                if signal.passed {
                    self.bus.publish_signal(signal.event.clone());
                    let sinks = self.sinks.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                    for sink in sinks {
                        sink(signal.event.clone());
                    }
                }
                stored.push(signal.event);
            }
        }
        Ok(stored)
    }

    /// Fresh strategies fed the stored bars before `before` (their decisions
    /// on history are not signals: they happened before the pipeline saw them).
    async fn warm_up(
        &self,
        strategies: &[Resolved],
        symbol: &str,
        timeframe: Timeframe,
        before: i64,
    ) -> Result<SeriesState, StorageError> {
        let mut runners = Vec::with_capacity(strategies.len());
        for (index, resolved) in strategies.iter().enumerate() {
            let Some(entry) = CATALOG.iter().find(|e| e.name == resolved.setting.strategy) else { continue };
            // Settings were validated by `reload`.
            let Ok(state) = entry.build(&resolved.setting.params) else { continue };
            runners.push(Runner { strategy: index, state });
        }
        // The latest bars, less any at or after `before` (normally just that bar).
        let mut history = bars::latest(&self.db, symbol, timeframe, WARMUP_BARS + 1).await?;
        history.retain(|b| b.ts < before);
        let history = &history[history.len().saturating_sub(WARMUP_BARS)..];
        for bar in history {
            for runner in &mut runners {
                runner.state.next(bar);
            }
        }
        let last_ts = history.last().map_or(i64::MIN, |b| b.ts);
        Ok(SeriesState { last_ts, runners })
    }
}

/// The backtest behind every signal's record: long-only, fills at the next
/// bar's open, 0.1% commission per fill, whole units, all equity per trade.
#[must_use]
pub fn record_config() -> quant::backtest::Config {
    quant::backtest::Config { commission_rate: 0.001, ..quant::backtest::Config::default() }
}

/// How far back a strategy's record looks: ten years.
pub const RECORD_YEARS: i64 = 10;

/// Backtests every enabled strategy over `bars` with [`record_config`].
#[must_use]
pub fn backtest_records(
    bars: &[Bar],
    strategies: &[(String, serde_json::Value, String)],
) -> Vec<(String, String, BacktestRecord)> {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else { return Vec::new() };
    let config = record_config();
    let mut out = Vec::with_capacity(strategies.len());
    for (name, params, hash) in strategies {
        let Some(entry) = CATALOG.iter().find(|e| e.name == name) else { continue };
        let Ok(mut strategy) = entry.build(params) else { continue };
        let Ok(report) = quant::backtest::run_strategy(bars, &mut *strategy, &config) else { continue };
        let m = &report.metrics;
        let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
        let record = BacktestRecord {
            trades: u32::try_from(m.trades).unwrap_or(u32::MAX),
            win_rate: finite(m.win_rate),
            profit_factor: m.profit_factor.is_finite().then_some(m.profit_factor),
            sharpe: finite(m.sharpe),
            total_return: finite(m.total_return),
            from_ts: first.ts,
            to_ts: last.ts,
        };
        out.push((name.clone(), hash.clone(), record));
    }
    out
}

/// Why [`refresh_records`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The backtest task on the blocking pool panicked or was cancelled.
    #[error("backtest task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// No stored bars in any of the timeframes.
    #[error("no bars to backtest")]
    NoBars,
}

/// Backtests every enabled strategy of `pipeline` on `symbol`'s stored bars
/// of the last ten years (at most [`WARMUP_BARS`]) per timeframe, on the
/// blocking pool; stores the records and reloads them into the pipeline so
/// new signals carry them. Returns how many records were stored.
///
/// # Errors
/// [`RecordsError`]; [`RecordsError::NoBars`] when there was nothing to test.
pub async fn refresh_records(
    db: &Db,
    pipeline: &Pipeline,
    symbol: &crate::symbol::Symbol,
    timeframes: &[Timeframe],
) -> Result<usize, RecordsError> {
    let strategies = pipeline.strategies().await;
    let since = chrono::Utc::now().timestamp() - RECORD_YEARS * 365 * 86_400;
    let mut stored = 0;
    for &timeframe in timeframes {
        let mut bars = bars::latest(db, symbol.as_str(), timeframe, WARMUP_BARS).await?;
        bars.retain(|b| b.ts >= since);
        let strategies = strategies.clone();
        let records = tokio::task::spawn_blocking(move || backtest_records(&bars, &strategies)).await?;
        for (strategy, params_hash, record) in records {
            let key = RecordKey { symbol: symbol.as_str().to_owned(), timeframe, strategy, params_hash };
            signals::put_record(db, &key, &record, now_ms()).await?;
            stored += 1;
        }
    }
    pipeline.reload().await?;
    if stored == 0 {
        return Err(RecordsError::NoBars);
    }
    Ok(stored)
}
