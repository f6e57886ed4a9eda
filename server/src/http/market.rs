//! Per-symbol analytics of the REST API: indicator series (cached), gaps in the
//! stored bars, and the all-time-high figures.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /symbols/{symbol}/indicators?ind=RSI(14)&timeframe=1d&limit=500` | an indicator over stored bars |
//! | `GET /symbols/{symbol}/gaps?timeframe=1d&days=3650` | runs of missing bars |
//! | `GET /symbols/{symbol}/stats` | all-time high, 52-week range, last close |

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use quant::Timeframe;
use quant::indicators::catalog::{self, Spec};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::gaps::{self, Gap};
use crate::state::AppState;
use crate::storage::stats::SymbolStats;
use crate::storage::{stats, symbols};
use crate::symbol::Symbol;

/// The most points one indicator request returns.
pub const MAX_POINTS: usize = 5_000;
/// The longest gap scan, days.
pub const MAX_GAP_DAYS: u32 = 36_500;

async fn known_symbol(state: &AppState, text: &str) -> Result<Symbol, ApiError> {
    let symbol = Symbol::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if symbols::get(&state.db, symbol.as_str()).await?.is_none() {
        return Err(ApiError::NotFound(format!("symbol {symbol} not found")));
    }
    Ok(symbol)
}

fn timeframe(text: Option<&str>) -> Result<Timeframe, ApiError> {
    match text {
        None | Some("") => Ok(Timeframe::D1),
        Some(tf) => tf.parse().map_err(|e: quant::ParamError| ApiError::BadRequest(e.to_string())),
    }
}

/// Query of `GET /symbols/{symbol}/indicators`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndicatorQuery {
    /// The indicator in TA-Lib notation, e.g. `RSI(14)` or `MACD(12,26,9)`.
    ind: String,
    /// Timeframe of the bars; default `1d`.
    timeframe: Option<String>,
    /// How many of the latest points, 1 to 5000; default 500.
    limit: Option<usize>,
}

/// An indicator series.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IndicatorSeries {
    /// Ticker.
    pub symbol: String,
    /// Timeframe of the bars.
    pub timeframe: String,
    /// The indicator, as normalised.
    pub indicator: String,
    /// Bar opening times, Unix seconds, oldest first.
    pub ts: Vec<i64>,
    /// One column per output, named `NAME(params).output`; `null` during warm-up.
    pub columns: Vec<IndicatorColumn>,
}

/// One output of an indicator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IndicatorColumn {
    /// E.g. `MACD(12,26,9).macdsignal`.
    pub name: String,
    /// One value per bar time.
    pub values: Vec<Option<f64>>,
}

/// An indicator computed over a symbol's stored bars (cached until new bars land).
#[utoipa::path(get, path = "/api/v1/symbols/{symbol}/indicators",
    params(("symbol" = String, Path, description = "Ticker"), IndicatorQuery),
    responses((status = 200, body = IndicatorSeries), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn get_indicator(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    query: Result<Query<IndicatorQuery>, QueryRejection>,
) -> Result<Json<IndicatorSeries>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let spec: Spec = q.ind.parse().map_err(|e: quant::ParamError| ApiError::BadRequest(e.to_string()))?;
    catalog::build(&spec).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let timeframe = timeframe(q.timeframe.as_deref())?;
    let limit = q.limit.unwrap_or(500);
    if limit == 0 || limit > MAX_POINTS {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_POINTS}, got {limit}")));
    }
    let symbol = known_symbol(&state, &symbol).await?;
    let series = crate::series::indicator(&state.db, &state.cache, symbol.as_str(), timeframe, &spec, limit).await?;
    Ok(Json(IndicatorSeries {
        symbol: symbol.into(),
        timeframe: timeframe.to_string(),
        indicator: spec.to_string(),
        ts: series.ts.clone(),
        columns: series
            .columns
            .iter()
            .map(|(name, values)| IndicatorColumn { name: name.clone(), values: values.clone() })
            .collect(),
    }))
}

/// Query of `GET /symbols/{symbol}/gaps`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapsQuery {
    /// Timeframe of the bars; default `1d`.
    timeframe: Option<String>,
    /// Days back to scan, 1 to 36500; default 3650.
    days: Option<u32>,
}

/// Gaps in a symbol's stored bars.
#[derive(Debug, Serialize, ToSchema)]
pub struct Gaps {
    /// Ticker.
    pub symbol: String,
    /// Timeframe of the bars.
    pub timeframe: String,
    /// Runs of missing bars, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub gaps: Vec<Gap>,
}

/// Runs of missing bars in a symbol's stored history (see the gap rules in the docs).
#[utoipa::path(get, path = "/api/v1/symbols/{symbol}/gaps",
    params(("symbol" = String, Path, description = "Ticker"), GapsQuery),
    responses((status = 200, body = Gaps), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn get_gaps(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    query: Result<Query<GapsQuery>, QueryRejection>,
) -> Result<Json<Gaps>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let timeframe = timeframe(q.timeframe.as_deref())?;
    let days = q.days.unwrap_or(3_650);
    if days == 0 || days > MAX_GAP_DAYS {
        return Err(ApiError::BadRequest(format!("days must be between 1 and {MAX_GAP_DAYS}, got {days}")));
    }
    let symbol = known_symbol(&state, &symbol).await?;
    let to = chrono::Utc::now().timestamp();
    let found = gaps::scan(&state.db, symbol.as_str(), timeframe, to - i64::from(days) * 86_400, to).await?;
    Ok(Json(Gaps { symbol: symbol.into(), timeframe: timeframe.to_string(), gaps: found }))
}

/// A symbol's all-time high, 52-week range and last close.
#[utoipa::path(get, path = "/api/v1/symbols/{symbol}/stats",
    params(("symbol" = String, Path, description = "Ticker")),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn get_stats(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
) -> Result<Json<SymbolStats>, ApiError> {
    let symbol = known_symbol(&state, &symbol).await?;
    stats::get(&state.db, symbol.as_str())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no figures for {symbol} yet (computed daily from daily bars)")))
}
