//! The `signals`, `strategy_records` and `strategy_settings` tables: what the
//! live pipeline decided, the backtest record behind each strategy, and the
//! users' choices per strategy.

use std::collections::BTreeMap;

use app::live::protocol::{Action, BacktestRecord, SignalEvent};
use quant::Timeframe;
use serde::{Deserialize, Serialize};

use super::{Db, StorageError, with_reader, with_writer};

/// A signal to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignal {
    /// Ticker (must exist in `symbols`).
    pub symbol: String,
    /// Timeframe of the bar.
    pub timeframe: Timeframe,
    /// Catalog name.
    pub strategy: String,
    /// Parameters, defaults filled in.
    pub params: serde_json::Value,
    /// Hash of `params`.
    pub params_hash: String,
    /// Buy or sell.
    pub action: Action,
    /// The closed bar's opening time, Unix seconds.
    pub bar_ts: i64,
    /// The closed bar's close.
    pub price: f64,
    /// Indicator values behind the decision.
    pub evidence: BTreeMap<String, f64>,
    /// The strategy's record on this series when it fired.
    pub backtest: Option<BacktestRecord>,
    /// Whether it met the strategy's minimum quality (and is sent on).
    pub passed: bool,
    /// When it was stored, Unix ms.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct SignalRow {
    id: i64,
    symbol: String,
    timeframe: String,
    strategy: String,
    params: String,
    params_hash: String,
    action: String,
    bar_ts: i64,
    price: f64,
    evidence: String,
    backtest: Option<String>,
    passed: bool,
    created_at: i64,
}

/// A stored signal and whether it passed its quality bar.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSignal {
    /// The signal as sent to clients.
    pub event: SignalEvent,
    /// Whether it met its strategy's minimum quality.
    pub passed: bool,
}

impl TryFrom<SignalRow> for StoredSignal {
    type Error = StorageError;

    fn try_from(r: SignalRow) -> Result<Self, StorageError> {
        let corrupt = |what: &str| StorageError::Corrupt(format!("signal {}: {what}", r.id));
        let action = match r.action.as_str() {
            "buy" => Action::Buy,
            "sell" => Action::Sell,
            _ => return Err(corrupt("action")),
        };
        let event = SignalEvent {
            id: r.id,
            timeframe: r.timeframe.parse().map_err(|_| corrupt("timeframe"))?,
            params: serde_json::from_str(&r.params).map_err(|_| corrupt("params"))?,
            evidence: serde_json::from_str(&r.evidence).map_err(|_| corrupt("evidence"))?,
            backtest: match &r.backtest {
                Some(text) => Some(serde_json::from_str(text).map_err(|_| corrupt("backtest"))?),
                None => None,
            },
            symbol: r.symbol,
            strategy: r.strategy,
            params_hash: r.params_hash,
            action,
            bar_ts: r.bar_ts,
            price: r.price,
            created_at: r.created_at,
        };
        Ok(Self { event, passed: r.passed })
    }
}

const SIGNAL_COLUMNS: &str = "id, symbol, timeframe, strategy, params, params_hash, action, bar_ts, price, \
                              evidence, backtest, passed, created_at";

fn action_str(action: Action) -> &'static str {
    match action {
        Action::Buy => "buy",
        Action::Sell => "sell",
    }
}

/// Stores a signal once: `Some` with the stored signal when it is new, `None`
/// when the same strategy and parameters already signalled on that bar.
///
/// # Errors
/// [`StorageError::Database`] on a database failure (e.g. an unknown symbol).
pub async fn insert(db: &Db, s: &NewSignal) -> Result<Option<StoredSignal>, StorageError> {
    let sql = format!(
        "INSERT INTO signals (symbol, timeframe, strategy, params, params_hash, action, bar_ts, price, evidence, \
         backtest, passed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (symbol, timeframe, strategy, params_hash, bar_ts) DO NOTHING RETURNING {SIGNAL_COLUMNS}"
    );
    let evidence = serde_json::to_string(&s.evidence).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let backtest =
        s.backtest.as_ref().map(serde_json::to_string).transpose().map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let row: Option<SignalRow> = with_writer!(db, |pool| sqlx::query_as(&sql)
        .bind(&s.symbol)
        .bind(s.timeframe.as_str())
        .bind(&s.strategy)
        .bind(s.params.to_string())
        .bind(&s.params_hash)
        .bind(action_str(s.action))
        .bind(s.bar_ts)
        .bind(s.price)
        .bind(&evidence)
        .bind(&backtest)
        .bind(s.passed)
        .bind(s.created_at)
        .fetch_optional(pool)
        .await?);
    row.map(StoredSignal::try_from).transpose()
}

/// Which signals to list.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter<'a> {
    /// Only this symbol.
    pub symbol: Option<&'a str>,
    /// Only this strategy.
    pub strategy: Option<&'a str>,
    /// Only this timeframe.
    pub timeframe: Option<Timeframe>,
    /// Only signals that passed their quality bar.
    pub passed_only: bool,
    /// Only ids below this (the previous page's last id).
    pub before_id: Option<i64>,
}

/// Signals, newest first.
///
/// # Errors
/// [`StorageError`] on a database failure or an unreadable row.
pub async fn list(db: &Db, filter: &SignalFilter<'_>, limit: usize) -> Result<Vec<StoredSignal>, StorageError> {
    let sql = format!(
        "SELECT {SIGNAL_COLUMNS} FROM signals WHERE ($1 IS NULL OR symbol = $1) AND ($2 IS NULL OR strategy = $2) \
         AND ($3 IS NULL OR timeframe = $3) AND (passed OR NOT $4) AND ($5 IS NULL OR id < $5) \
         ORDER BY id DESC LIMIT $6"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<SignalRow> = with_reader!(db, |pool| sqlx::query_as(&sql)
        .bind(filter.symbol)
        .bind(filter.strategy)
        .bind(filter.timeframe.map(Timeframe::as_str))
        .bind(filter.passed_only)
        .bind(filter.before_id)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    rows.into_iter().map(StoredSignal::try_from).collect()
}

/// One signal by id.
///
/// # Errors
/// [`StorageError`] on a database failure or an unreadable row.
pub async fn get(db: &Db, id: i64) -> Result<Option<StoredSignal>, StorageError> {
    let sql = format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE id = $1");
    let row: Option<SignalRow> = with_reader!(db, |pool| sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    row.map(StoredSignal::try_from).transpose()
}

/// Which backtest record: a strategy with a parameter set, on a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    /// Ticker.
    pub symbol: String,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// Catalog name.
    pub strategy: String,
    /// Hash of the parameters.
    pub params_hash: String,
}

/// Stores (replaces) a strategy's backtest record.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn put_record(db: &Db, key: &RecordKey, r: &BacktestRecord, now_ms: i64) -> Result<(), StorageError> {
    const SQL: &str = "INSERT INTO strategy_records (symbol, timeframe, strategy, params_hash, trades, win_rate, \
         profit_factor, sharpe, total_return, from_ts, to_ts, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (symbol, timeframe, strategy, params_hash) DO UPDATE SET trades = excluded.trades, \
         win_rate = excluded.win_rate, profit_factor = excluded.profit_factor, sharpe = excluded.sharpe, \
         total_return = excluded.total_return, from_ts = excluded.from_ts, to_ts = excluded.to_ts, \
         updated_at = excluded.updated_at";
    with_writer!(db, |pool| sqlx::query(SQL)
        .bind(&key.symbol)
        .bind(key.timeframe.as_str())
        .bind(&key.strategy)
        .bind(&key.params_hash)
        .bind(i64::from(r.trades))
        .bind(r.win_rate)
        .bind(r.profit_factor)
        .bind(r.sharpe)
        .bind(r.total_return)
        .bind(r.from_ts)
        .bind(r.to_ts)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    symbol: String,
    timeframe: String,
    strategy: String,
    params_hash: String,
    trades: i64,
    win_rate: f64,
    profit_factor: Option<f64>,
    sharpe: f64,
    total_return: f64,
    from_ts: i64,
    to_ts: i64,
}

/// Every stored backtest record of a series (or of every series when `symbol` is `None`).
///
/// # Errors
/// [`StorageError`] on a database failure or an unreadable row.
pub async fn records(db: &Db, symbol: Option<&str>) -> Result<Vec<(RecordKey, BacktestRecord)>, StorageError> {
    const SQL: &str = "SELECT symbol, timeframe, strategy, params_hash, trades, win_rate, profit_factor, sharpe, \
         total_return, from_ts, to_ts FROM strategy_records WHERE ($1 IS NULL OR symbol = $1) \
         ORDER BY symbol, timeframe, strategy";
    let rows: Vec<RecordRow> = with_reader!(db, |pool| sqlx::query_as(SQL).bind(symbol).fetch_all(pool).await?);
    rows.into_iter()
        .map(|r| {
            let timeframe =
                r.timeframe.parse().map_err(|_| StorageError::Corrupt(format!("timeframe {}", r.timeframe)))?;
            let key = RecordKey { symbol: r.symbol, timeframe, strategy: r.strategy, params_hash: r.params_hash };
            let record = BacktestRecord {
                trades: u32::try_from(r.trades).unwrap_or(u32::MAX),
                win_rate: r.win_rate,
                profit_factor: r.profit_factor,
                sharpe: r.sharpe,
                total_return: r.total_return,
                from_ts: r.from_ts,
                to_ts: r.to_ts,
            };
            Ok((key, record))
        })
        .collect()
}

/// A user's choices for one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StrategySetting {
    /// Catalog name.
    pub strategy: String,
    /// Whether the live pipeline runs it.
    pub enabled: bool,
    /// Parameters given to the catalog (missing ones take defaults).
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Fewest backtest trades for its signals to be sent.
    pub min_trades: Option<i64>,
    /// Lowest backtest win rate (0 to 1).
    pub min_win_rate: Option<f64>,
    /// Lowest backtest profit factor.
    pub min_profit_factor: Option<f64>,
    /// Lowest backtest Sharpe ratio.
    pub min_sharpe: Option<f64>,
}

impl StrategySetting {
    /// Enabled, default parameters, no minimum quality.
    #[must_use]
    pub fn default_for(strategy: &str) -> Self {
        Self {
            strategy: strategy.to_owned(),
            enabled: true,
            params: serde_json::json!({}),
            min_trades: None,
            min_win_rate: None,
            min_profit_factor: None,
            min_sharpe: None,
        }
    }

    /// Whether any minimum is set.
    #[must_use]
    pub fn has_minimum(&self) -> bool {
        self.min_trades.is_some()
            || self.min_win_rate.is_some()
            || self.min_profit_factor.is_some()
            || self.min_sharpe.is_some()
    }

    /// Whether a signal with this backtest record may be sent. Without a
    /// minimum every signal passes; with one, a signal needs a record meeting
    /// every minimum (an infinite profit factor meets any).
    #[must_use]
    pub fn passes(&self, record: Option<&BacktestRecord>) -> bool {
        if !self.has_minimum() {
            return true;
        }
        let Some(r) = record else { return false };
        self.min_trades.is_none_or(|m| i64::from(r.trades) >= m)
            && self.min_win_rate.is_none_or(|m| r.win_rate >= m)
            && self.min_profit_factor.is_none_or(|m| r.profit_factor.is_none_or(|pf| pf >= m))
            && self.min_sharpe.is_none_or(|m| r.sharpe >= m)
    }
}

#[derive(sqlx::FromRow)]
struct SettingRow {
    strategy: String,
    enabled: bool,
    params: String,
    min_trades: Option<i64>,
    min_win_rate: Option<f64>,
    min_profit_factor: Option<f64>,
    min_sharpe: Option<f64>,
}

/// The stored settings (strategies without a row use [`StrategySetting::default_for`]).
///
/// # Errors
/// [`StorageError`] on a database failure or unreadable parameters.
pub async fn settings(db: &Db) -> Result<Vec<StrategySetting>, StorageError> {
    const SQL: &str = "SELECT strategy, enabled, params, min_trades, min_win_rate, min_profit_factor, min_sharpe \
         FROM strategy_settings ORDER BY strategy";
    let rows: Vec<SettingRow> = with_reader!(db, |pool| sqlx::query_as(SQL).fetch_all(pool).await?);
    rows.into_iter()
        .map(|r| {
            Ok(StrategySetting {
                params: serde_json::from_str(&r.params)
                    .map_err(|_| StorageError::Corrupt(format!("params of {}", r.strategy)))?,
                strategy: r.strategy,
                enabled: r.enabled,
                min_trades: r.min_trades,
                min_win_rate: r.min_win_rate,
                min_profit_factor: r.min_profit_factor,
                min_sharpe: r.min_sharpe,
            })
        })
        .collect()
}

/// Stores (replaces) one strategy's settings.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn put_setting(db: &Db, s: &StrategySetting, now_ms: i64) -> Result<(), StorageError> {
    const SQL: &str = "INSERT INTO strategy_settings (strategy, enabled, params, min_trades, min_win_rate, \
         min_profit_factor, min_sharpe, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (strategy) DO UPDATE SET enabled = excluded.enabled, params = excluded.params, \
         min_trades = excluded.min_trades, min_win_rate = excluded.min_win_rate, \
         min_profit_factor = excluded.min_profit_factor, min_sharpe = excluded.min_sharpe, \
         updated_at = excluded.updated_at";
    with_writer!(db, |pool| sqlx::query(SQL)
        .bind(&s.strategy)
        .bind(s.enabled)
        .bind(s.params.to_string())
        .bind(s.min_trades)
        .bind(s.min_win_rate)
        .bind(s.min_profit_factor)
        .bind(s.min_sharpe)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}
