//! Signals and strategy settings in the REST API.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /signals?symbol=&strategy=&timeframe=&passed=true&before=ID&limit=N` | stored signals, newest first |
//! | `GET /strategies` | every catalog strategy with its parameters' metadata and rules, its settings and backtest records |
//! | `PUT /strategies/{name}` | change a strategy's settings (enabled, parameters, minimum quality) |

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use quant::Timeframe;
use quant::strategies::CATALOG;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::jobs::now_ms;
use crate::state::AppState;
use crate::storage::signals::{self, SignalFilter, StrategySetting};
use crate::symbol::Symbol;

/// The most signals one page returns.
pub(crate) const MAX_SIGNALS_PAGE: usize = 500;

pub(super) fn routes() -> super::routes::Routes {
    super::routes::Routes::default()
        .route("/signals", get(list_signals))
        .route("/strategies", get(list_strategies))
        .route("/strategies/{name}", axum::routing::put(put_strategy))
}

/// Query of `GET /signals`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignalsQuery {
    /// Only this symbol; empty for all.
    #[param(value_type = Option<super::schema::TickerFilter>, inline)]
    symbol: Option<String>,
    /// Only this strategy.
    #[param(value_type = Option<super::schema::StrategyName>, inline)]
    strategy: Option<String>,
    /// Only this timeframe; empty for all.
    #[param(value_type = Option<super::schema::TimeframeName>, inline)]
    timeframe: Option<String>,
    /// Only signals that met their strategy's minimum quality (and were sent).
    passed: Option<bool>,
    /// Only signals with an id below this (the previous page's `next_before`).
    before: Option<i64>,
    /// Page size, 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Path of `PUT /strategies/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct StrategyPath {
    /// A strategy of the catalog.
    #[param(value_type = super::schema::StrategyName, inline)]
    name: String,
}

/// A page of signals.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignalsPage {
    /// Newest first. Each: id, symbol, timeframe, strategy, params, params_hash,
    /// action, bar_ts, price, evidence, backtest, created_at.
    #[schema(value_type = Vec<Object>)]
    pub signals: Vec<app::live::protocol::SignalEvent>,
    /// Whether each signal met its quality bar, by position.
    pub passed: Vec<bool>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Stored signals, newest first.
#[utoipa::path(get, path = "/api/v1/signals", params(SignalsQuery),
    responses((status = 200, body = SignalsPage), (status = 400, body = super::error::ErrorBody)))]
pub(super) async fn list_signals(
    State(state): State<AppState>,
    query: Result<Query<SignalsQuery>, QueryRejection>,
) -> Result<Json<SignalsPage>, ApiError> {
    let Query(q) = query?;
    let symbol = q
        .symbol
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Symbol::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Some(name) = q.strategy.as_deref()
        && !CATALOG.iter().any(|e| e.name == name)
    {
        return Err(ApiError::BadRequest(format!("unknown strategy `{}`", app::api::excerpt(name))));
    }
    let timeframe = q
        .timeframe
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<Timeframe>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_SIGNALS_PAGE {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_SIGNALS_PAGE}, got {limit}")));
    }
    let filter = SignalFilter {
        symbol: symbol.as_ref().map(Symbol::as_str),
        strategy: q.strategy.as_deref(),
        timeframe,
        passed_only: q.passed.unwrap_or(false),
        before_id: q.before,
    };
    let rows = signals::list(&state.db, &filter, limit).await?;
    let next_before = (rows.len() == limit).then(|| rows.last().map(|s| s.event.id)).flatten();
    let passed = rows.iter().map(|s| s.passed).collect();
    Ok(Json(SignalsPage { signals: rows.into_iter().map(|s| s.event).collect(), passed, next_before }))
}

/// A catalog strategy with its settings and records.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StrategyInfo {
    /// Catalog name.
    pub name: String,
    /// What it does.
    pub summary: String,
    /// The user's settings (defaults when never changed).
    pub settings: StrategySetting,
    /// Hash of its current parameters (as stored with its signals).
    pub params_hash: String,
    /// Its latest backtest per symbol and timeframe.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
    /// Its parameters: name, type, default, range, step, meaning (the lab's
    /// forms and the sweeps' ranges come from these).
    #[schema(value_type = Vec<StrategyParam>)]
    pub params: &'static [quant::strategies::meta::Param],
    /// Rules between two parameters: `{"rule": "below", "low": "fast", "high":
    /// "slow", "strict": true}` (`low < high`, or `<=` when not strict) or
    /// `{"rule": "any_non_zero", "a", "b"}` (at least one above 0).
    #[schema(value_type = Vec<Object>)]
    pub rules: &'static [quant::strategies::meta::Rule],
}

/// One parameter of a strategy, from the catalog's metadata.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code, reason = "a schema for the document; the handler serializes the catalog's own type")]
pub(crate) struct StrategyParam {
    /// The key in `params`, e.g. `fast`.
    name: String,
    /// `int`, `float`, `bool` or `choice`.
    #[schema(pattern = "^(int|float|bool|choice)$")]
    r#type: String,
    /// The default: a number, a boolean or one of `options`.
    default: serde_json::Value,
    /// Smallest value (`int`, `float`).
    min: Option<f64>,
    /// Largest value (`int`, `float`).
    max: Option<f64>,
    /// The natural increment (`float`; 1 for `int`).
    step: Option<f64>,
    /// The accepted words (`choice`).
    options: Option<Vec<String>>,
    /// One line on what it does.
    doc: String,
}

/// Every strategy of the catalog.
#[utoipa::path(get, path = "/api/v1/strategies", responses((status = 200, body = [StrategyInfo])))]
pub(super) async fn list_strategies(State(state): State<AppState>) -> Result<Json<Vec<StrategyInfo>>, ApiError> {
    let stored = signals::settings(&state.db).await?;
    let records = signals::records(&state.db, None).await?;
    let out = CATALOG
        .iter()
        .map(|entry| {
            let settings = stored
                .iter()
                .find(|s| s.strategy == entry.name)
                .cloned()
                .unwrap_or_else(|| StrategySetting::default_for(entry.name));
            let params_hash = crate::pipeline::params_hash(&settings.params);
            let records = records
                .iter()
                .filter(|(k, _)| k.strategy == entry.name && k.params_hash == params_hash)
                .map(|(k, r)| serde_json::json!({ "symbol": k.symbol, "timeframe": k.timeframe, "record": r }))
                .collect();
            StrategyInfo {
                name: entry.name.into(),
                summary: entry.summary.into(),
                settings,
                params_hash,
                records,
                params: entry.params,
                rules: entry.rules,
            }
        })
        .collect();
    Ok(Json(out))
}

/// New settings of a strategy; fields left out keep their current value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StrategyUpdate {
    /// Run it live; `null` keeps the current value.
    pub enabled: Option<bool>,
    /// Its parameters, an object (never `null`): missing keys take the
    /// catalog's defaults; the keys and their ranges depend on the strategy
    /// (`GET /strategies` shows each one's current parameters).
    #[serde(default, deserialize_with = "object")]
    #[schema(value_type = Object)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Fewest backtest trades, 0 to 1000000; `null` removes the minimum.
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub min_trades: Option<Option<i64>>,
    /// Lowest win rate, 0 to 1; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = 0, maximum = 1)]
    pub min_win_rate: Option<Option<f64>>,
    /// Lowest profit factor, 0 to 1000; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = 0, maximum = 1000)]
    pub min_profit_factor: Option<Option<f64>>,
    /// Lowest Sharpe ratio, -100 to 100; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = -100, maximum = 100)]
    pub min_sharpe: Option<Option<f64>>,
}

/// Reads a field that, when given, must be a JSON object (`null` is refused).
fn object<'de, D>(d: D) -> Result<Option<serde_json::Map<String, serde_json::Value>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    serde_json::Map::deserialize(d).map(Some)
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Changes a strategy's settings; the live pipeline uses them from its next bar.
#[utoipa::path(put, path = "/api/v1/strategies/{name}", params(StrategyPath),
    request_body = StrategyUpdate,
    responses((status = 200, body = StrategySetting), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn put_strategy(
    State(state): State<AppState>,
    path: Result<Path<StrategyPath>, PathRejection>,
    body: Result<Json<StrategyUpdate>, JsonRejection>,
) -> Result<Json<StrategySetting>, ApiError> {
    let Path(StrategyPath { name }) = path?;
    let Some(entry) = CATALOG.iter().find(|e| e.name == name) else {
        return Err(ApiError::NotFound(format!("unknown strategy `{}`", app::api::excerpt(&name))));
    };
    let Json(update) = body?;
    let mut setting = signals::settings(&state.db)
        .await?
        .into_iter()
        .find(|s| s.strategy == name)
        .unwrap_or_else(|| StrategySetting::default_for(entry.name));
    if let Some(enabled) = update.enabled {
        setting.enabled = enabled;
    }
    if let Some(params) = update.params {
        let params = serde_json::Value::Object(params);
        entry.build(&params).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        setting.params = params;
    }
    let check = |what: &str, v: Option<f64>, range: std::ops::RangeInclusive<f64>| match v {
        Some(x) if !x.is_finite() || !range.contains(&x) => {
            Err(ApiError::BadRequest(format!("{what} must be within {}..={}", range.start(), range.end())))
        }
        _ => Ok(v),
    };
    if let Some(v) = update.min_trades {
        if v.is_some_and(|n| !(0..=1_000_000).contains(&n)) {
            return Err(ApiError::BadRequest("min_trades must be within 0..=1000000".into()));
        }
        setting.min_trades = v;
    }
    if let Some(v) = update.min_win_rate {
        setting.min_win_rate = check("min_win_rate", v, 0.0..=1.0)?;
    }
    if let Some(v) = update.min_profit_factor {
        setting.min_profit_factor = check("min_profit_factor", v, 0.0..=1_000.0)?;
    }
    if let Some(v) = update.min_sharpe {
        setting.min_sharpe = check("min_sharpe", v, -100.0..=100.0)?;
    }
    signals::put_setting(&state.db, &setting, now_ms()).await?;
    if let Some(pipeline) = &state.pipeline {
        pipeline.reload().await?;
    }
    Ok(Json(setting))
}
