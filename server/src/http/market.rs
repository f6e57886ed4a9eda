//! Per-symbol analytics of the REST API: indicator series (cached), gaps in the
//! stored bars, and the all-time-high figures.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /symbols/{symbol}/indicators?ind=RSI(14)&timeframe=1d&limit=500` | an indicator over stored bars |
//! | `GET /symbols/{symbol}/gaps?timeframe=1d&days=3650` | runs of missing bars |
//! | `GET /symbols/{symbol}/stats` | all-time high, 52-week range, last close |

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
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
pub(crate) const MAX_POINTS: usize = 5_000;
/// The longest gap scan, days.
pub(crate) const MAX_GAP_DAYS: u32 = 36_500;
/// The largest parameter an indicator specification may give (in absolute
/// value): some indicators allocate a window as long as their period.
pub(crate) const MAX_INDICATOR_PARAM: f64 = 100_000.0;

/// The kinds of parameters an indicator takes, in the order of
/// [`catalog::build`]'s (checked against it by a test below).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arg {
    /// A whole number from this minimum to [`MAX_INDICATOR_PARAM`].
    Period(u8),
    /// A moving-average type: 0 (SMA), 1 (EMA), 2 (WMA), 3 (DEMA), 4 (TEMA), 6 (KAMA).
    MaType,
    /// A moving-average type that can only be 0 (SMA).
    Sma,
    /// Any number within [`MAX_INDICATOR_PARAM`].
    Real,
    /// A number from 0 to [`MAX_INDICATOR_PARAM`].
    NonNegative,
}

/// Every indicator [`catalog::build`] knows, with its parameters.
const INDICATORS: &[(&str, &[Arg])] = {
    use Arg::{MaType, NonNegative, Period, Real, Sma};
    &[
        ("AD", &[]),
        ("ADOSC", &[Period(2), Period(2)]),
        ("ADX", &[Period(2)]),
        ("AROON", &[Period(2)]),
        ("AROONOSC", &[Period(2)]),
        ("ATR", &[Period(1)]),
        ("BBANDS", &[Period(2), Real, Real, MaType]),
        ("CCI", &[Period(2)]),
        ("CMO", &[Period(2)]),
        ("DEMA", &[Period(1)]),
        ("DONCHIAN", &[Period(1)]),
        ("EMA", &[Period(1)]),
        ("ICHIMOKU", &[Period(1), Period(1), Period(1), Period(0)]),
        ("KAMA", &[Period(1)]),
        ("KELTNER", &[Period(1), Period(1), Real]),
        ("LINEARREG", &[Period(2)]),
        ("MACD", &[Period(2), Period(2), Period(1)]),
        ("MEDPRICE", &[]),
        ("MFI", &[Period(2)]),
        ("MINUS_DI", &[Period(1)]),
        ("MOM", &[Period(1)]),
        ("NATR", &[Period(1)]),
        ("OBV", &[]),
        ("PLUS_DI", &[Period(1)]),
        ("PPO", &[Period(2), Period(2), MaType]),
        ("ROC", &[Period(1)]),
        ("RSI", &[Period(2)]),
        ("SAR", &[NonNegative, NonNegative]),
        ("SMA", &[Period(1)]),
        ("STDDEV", &[Period(2), Real]),
        ("STOCH", &[Period(1), Period(1), Sma, Period(1), Sma]),
        ("STOCHRSI", &[Period(2), Period(1), Period(1), Sma]),
        ("SUPERTREND", &[Period(1), Real]),
        ("TEMA", &[Period(1)]),
        ("TRANGE", &[]),
        ("TRIX", &[Period(1)]),
        ("TYPPRICE", &[]),
        ("ULTOSC", &[Period(1), Period(1), Period(1)]),
        ("VAR", &[Period(1), Real]),
        ("VWAP", &[Period(0)]),
        ("WILLR", &[Period(2)]),
        ("WMA", &[Period(1)]),
    ]
};

impl Arg {
    /// The parameter as a pattern: whole numbers without leading zeros, and
    /// real ones with at most five integer and six fractional digits (all
    /// within [`MAX_INDICATOR_PARAM`]).
    fn pattern(self) -> &'static str {
        match self {
            Self::Period(0) => "(?:0|[1-9][0-9]{0,4}|100000)",
            Self::Period(1) => "(?:[1-9][0-9]{0,4}|100000)",
            Self::Period(_) => "(?:[2-9]|[1-9][0-9]{1,4}|100000)",
            Self::MaType => "[0-46]",
            Self::Sma => "0",
            Self::Real => "-?[0-9]{1,5}(?:\\.[0-9]{1,6})?",
            Self::NonNegative => "[0-9]{1,5}(?:\\.[0-9]{1,6})?",
        }
    }
}

/// An indicator specification such as `RSI(14)`, for the document: see [`ind_pattern`].
#[derive(Debug)]
pub(super) struct IndicatorSpec;

impl utoipa::PartialSchema for IndicatorSpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        super::schema::string().pattern(Some(ind_pattern())).examples(["RSI(14)", "MACD(12,26,9)", "SMA"]).into()
    }
}

impl ToSchema for IndicatorSpec {}

/// The `ind` parameter's pattern: one of [`INDICATORS`], upper-case, then
/// optionally its parameters in parentheses, comma-separated, trailing ones
/// left out (they take TA-Lib's defaults). The server also reads lower case,
/// spaces and other spellings of the same numbers (`14.0`).
fn ind_pattern() -> String {
    let specs: Vec<String> = INDICATORS
        .iter()
        .map(|(name, args)| {
            // `A(?:,B(?:,C)?)?`: each parameter only after the ones before it.
            let params = args.iter().rev().fold(String::new(), |rest, arg| {
                if rest.is_empty() { arg.pattern().to_owned() } else { format!("{}(?:,{rest})?", arg.pattern()) }
            });
            let params = if params.is_empty() { String::new() } else { format!("(?:{params})?") };
            format!("{name}(?:\\({params}\\))?")
        })
        .collect();
    format!("^(?:{})$", specs.join("|"))
}

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

/// Path of the per-symbol routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct SymbolPath {
    /// Ticker: letters, digits and `. - = ^ _`, 1 to 20 characters (case-insensitive).
    #[param(value_type = super::schema::Ticker, inline)]
    pub(super) symbol: String,
}

/// Query of `GET /symbols/{symbol}/indicators`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IndicatorQuery {
    /// The indicator in TA-Lib notation, e.g. `RSI(14)` or `MACD(12,26,9)`; trailing
    /// parameters may be left out. Parameters are at most 100000 in absolute value.
    #[param(value_type = IndicatorSpec, inline)]
    ind: String,
    /// Timeframe of the bars; default `1d`.
    #[param(value_type = Option<super::schema::TimeframeName>, inline)]
    timeframe: Option<String>,
    /// How many of the latest points, 1 to 5000; default 500.
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
}

/// An indicator series.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct IndicatorSeries {
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
pub(crate) struct IndicatorColumn {
    /// E.g. `MACD(12,26,9).macdsignal`.
    pub name: String,
    /// One value per bar time.
    pub values: Vec<Option<f64>>,
}

/// An indicator computed over a symbol's stored bars (cached until new bars land).
#[utoipa::path(get, path = "/api/v1/symbols/{symbol}/indicators",
    params(SymbolPath, IndicatorQuery),
    responses((status = 200, body = IndicatorSeries), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn get_indicator(
    State(state): State<AppState>,
    path: Result<Path<SymbolPath>, PathRejection>,
    query: Result<Query<IndicatorQuery>, QueryRejection>,
) -> Result<Json<IndicatorSeries>, ApiError> {
    let Path(SymbolPath { symbol }) = path?;
    let Query(q) = query?;
    let spec: Spec = q.ind.parse().map_err(|e: quant::ParamError| ApiError::BadRequest(e.to_string()))?;
    if spec.params.iter().any(|p| p.abs() > MAX_INDICATOR_PARAM) {
        return Err(ApiError::BadRequest(format!(
            "invalid specification `{}`: parameters must be within -{MAX_INDICATOR_PARAM}..={MAX_INDICATOR_PARAM}",
            app::api::excerpt(&q.ind)
        )));
    }
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
pub(crate) struct GapsQuery {
    /// Timeframe of the bars; default `1d`.
    #[param(value_type = Option<super::schema::TimeframeName>, inline)]
    timeframe: Option<String>,
    /// Days back to scan, 1 to 36500; default 3650.
    #[param(minimum = 1, maximum = 36500)]
    days: Option<u32>,
}

/// Gaps in a symbol's stored bars.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Gaps {
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
    params(SymbolPath, GapsQuery),
    responses((status = 200, body = Gaps), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn get_gaps(
    State(state): State<AppState>,
    path: Result<Path<SymbolPath>, PathRejection>,
    query: Result<Query<GapsQuery>, QueryRejection>,
) -> Result<Json<Gaps>, ApiError> {
    let Path(SymbolPath { symbol }) = path?;
    let Query(q) = query?;
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
    params(SymbolPath),
    responses((status = 200, body = Object), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub(super) async fn get_stats(
    State(state): State<AppState>,
    path: Result<Path<SymbolPath>, PathRejection>,
) -> Result<Json<SymbolStats>, ApiError> {
    let Path(SymbolPath { symbol }) = path?;
    let symbol = known_symbol(&state, &symbol).await?;
    stats::get(&state.db, symbol.as_str())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no figures for {symbol} yet (computed daily from daily bars)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builds(name: &str, params: &[f64]) -> bool {
        catalog::build(&Spec::new(name, params)).is_ok()
    }

    /// Values each kind of parameter accepts and refuses, per the pattern.
    fn values(arg: Arg) -> (Vec<f64>, Vec<f64>) {
        match arg {
            Arg::Period(min) => {
                let min = f64::from(min);
                let below = if min > 0.0 { vec![min - 1.0] } else { vec![] };
                (vec![min, min + 1.0, MAX_INDICATOR_PARAM], [below, vec![2.5]].concat())
            }
            Arg::MaType => (vec![0.0, 1.0, 2.0, 3.0, 4.0, 6.0], vec![5.0, 7.0]),
            Arg::Sma => (vec![0.0], vec![1.0]),
            Arg::Real => (vec![-99_999.5, 0.0, 2.5, 99_999.999_999], vec![]),
            Arg::NonNegative => (vec![0.0, 0.02, 99_999.999_999], vec![-0.5]),
        }
    }

    /// The table behind the `ind` pattern says what [`catalog::build`] does:
    /// every indicator, each parameter's kind, and how many there are.
    #[test]
    fn the_indicator_table_matches_the_catalog() {
        let names: Vec<&str> = INDICATORS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.join(", "), catalog::NAMES);
        for (name, args) in INDICATORS {
            let mut given = Vec::new();
            for (i, arg) in args.iter().enumerate() {
                let (good, bad) = values(*arg);
                for v in good {
                    assert!(builds(name, &[given.as_slice(), &[v]].concat()), "{name} parameter {i}: {v} refused");
                }
                for v in bad {
                    assert!(!builds(name, &[given.as_slice(), &[v]].concat()), "{name} parameter {i}: {v} accepted");
                }
                given.push(values(*arg).0[0]);
            }
            assert!(builds(name, &given), "{name}{given:?}");
            given.push(1.0);
            assert!(!builds(name, &given), "{name} takes more than {} parameters", args.len());
        }
    }

    #[test]
    fn the_pattern_lists_each_indicator_with_its_parameters() {
        let pattern = ind_pattern();
        assert!(pattern.starts_with("^(?:AD(?:\\(\\))?|ADOSC(?:\\((?:"), "{pattern}");
        assert!(pattern.contains("|STOCH(?:\\((?:(?:[1-9][0-9]{0,4}|100000)(?:,(?:[1-9][0-9]{0,4}|100000)(?:,0(?:,"));
        assert!(pattern.ends_with("|WMA(?:\\((?:(?:[1-9][0-9]{0,4}|100000))?\\))?)$"), "{pattern}");
    }
}
