//! The REST API, version 1, under `/api/v1`.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /symbols` | every stored symbol |
//! | `POST /symbols` | add a symbol (`{"symbol": "AAPL", "name": "Apple"}`); 409 if present |
//! | `DELETE /symbols/{symbol}` | remove a symbol and its bars; 404 if absent |
//! | `GET /symbols/{symbol}/bars` | bars in a time range, keyset-paginated |
//! | `GET /symbols/{symbol}/indicators`, `/gaps`, `/stats` | analytics, see [`super::market`] |
//! | `GET /quotes?symbols=A,B` | latest prices of many symbols in one request |
//! | `GET /runs?schedule=NAME&limit=N` | recorded scheduler runs, newest first |
//! | `GET /news?symbol=S&limit=N&before=CURSOR` | crawled headlines, newest first, see [`super::news`] |
//! | `GET /signals`, `GET /strategies`, `PUT /strategies/{name}` | signals and strategy settings, see [`super::signals`] |
//! | `GET /providers` | each remote provider's health (circuit, rate, last success and error, counts) |
//! | `POST /backtests` | one backtest over stored bars (flat input: `symbol`, `timeframe`, `from`, `to` and the settings); the report of `finstage backtest --json` plus `fingerprint`, see [`super::lab`] |
//! | `POST /sweeps`, `GET`/`DELETE /sweeps/{id}` | a sweep over a `grid` ranked by `metric`, in the background: 202 and `Location`, then progress, result, cancel |
//! | `POST /walk-forward`, `GET`/`DELETE /walk-forward/{id}` | a walk-forward validation (`train`, `test`, `anchored`), likewise |
//! | `GET /symbols/{symbol}/bars.fsb` | every bar in a range packed for the lab's workers (`quant::pack`; ETag, compressed) |
//! | `GET`/`POST /lab/runs`, `GET`/`DELETE /lab/runs/{id}` | lab runs saved by name (input, metrics, equity sample) |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document |
//!
//! Bad input (malformed symbol, unknown timeframe, malformed time, bad page
//! size) is answered 400 with a message and changes nothing; the OpenAPI
//! document says what each parameter accepts (patterns, enums, bounds).

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use quant::{Bar, Timeframe};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::auth::Security as AuthSecurity;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::market::{self, SymbolPath};
use super::routes::Routes;
use super::schema;
use crate::providers::csv::parse_time;
use crate::state::AppState;
use crate::storage::{StorageError, bars, symbols, watchlist};
use crate::symbol::Symbol;

/// The most bars one page returns.
pub(crate) const MAX_PAGE: usize = 5_000;
/// The most symbols one quote request may name.
pub(crate) const MAX_QUOTE_SYMBOLS: usize = 500;

pub(super) fn router() -> Router<AppState> {
    routes().into_router()
}

/// The path of every route, relative to `/api/v1`.
pub(super) fn paths() -> Vec<&'static str> {
    routes().paths().to_vec()
}

fn routes() -> Routes {
    Routes::default()
        .route("/symbols", get(list_symbols).post(add_symbol))
        .route("/symbols/{symbol}", delete(remove_symbol))
        .route("/symbols/{symbol}/bars", get(get_bars))
        .route("/symbols/{symbol}/indicators", get(market::get_indicator))
        .route("/symbols/{symbol}/gaps", get(market::get_gaps))
        .route("/symbols/{symbol}/stats", get(market::get_stats))
        .route("/quotes", get(get_quotes))
        .route("/providers", get(get_providers))
        .route("/runs", get(get_runs))
        .merge(super::news::listed())
        .merge(super::signals::routes())
        .merge(super::lab::routes())
        .merge(super::auth::routes())
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Finstage REST API",
        version = "1",
        description = "Symbols, bars and quotes; signals and strategies; the backtest lab (backtests, sweeps, walk-forward, saved runs)."
    ),
    paths(
        list_symbols,
        add_symbol,
        remove_symbol,
        get_bars,
        market::get_indicator,
        market::get_gaps,
        market::get_stats,
        get_quotes,
        get_providers,
        get_runs,
        super::news::list_news,
        super::signals::list_signals,
        super::signals::list_strategies,
        super::signals::put_strategy,
        super::lab::run_backtest,
        super::lab::start_sweep,
        super::lab::sweep_status,
        super::lab::cancel_sweep,
        super::lab::start_walk_forward,
        super::lab::walk_forward_status,
        super::lab::cancel_walk_forward,
        super::lab::packed_bars,
        super::lab::list_runs,
        super::lab::save_run,
        super::lab::get_run,
        super::lab::delete_run,
        super::auth::doc_login,
        super::auth::doc_logout,
        super::auth::doc_setup,
        super::auth::doc_me,
        super::auth::list_audit
    ),
    modifiers(&AuthSecurity),
    components(schemas(
        SymbolDto,
        NewSymbol,
        BarDto,
        BarsPage,
        QuoteDto,
        Quotes,
        ProviderStatus,
        ErrorBody,
        ErrorDetail,
        market::IndicatorSeries,
        market::IndicatorColumn,
        market::Gaps,
        super::news::NewsDto,
        super::news::NewsPage,
        super::signals::SignalsPage,
        super::signals::StrategyInfo,
        super::signals::StrategyUpdate,
        crate::storage::signals::StrategySetting,
        super::signals::StrategyParam,
        super::lab::BacktestRequest,
        super::lab::SweepRequest,
        super::lab::WalkForwardRequest,
        super::lab::BacktestReport,
        super::lab::TradeDto,
        super::lab::EquityPoint,
        super::lab::FingerprintDto,
        super::lab::TaskDto,
        super::lab::LabRunSummaryDto,
        super::lab::LabRunDto,
        super::lab::NewLabRun,
        super::auth::LoginRequest,
        super::auth::SetupRequest,
        super::auth::Me,
        super::auth::AuditDto
    ))
)]
struct ApiDoc;

/// A stored symbol.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SymbolDto {
    /// Ticker.
    pub symbol: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// Whether its bars come from the simulator.
    pub simulated: bool,
}

/// A symbol to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSymbol {
    /// Ticker: letters, digits and `. - = ^ _`, 1 to 20 characters, stored upper-case.
    #[schema(value_type = schema::Ticker, inline)]
    pub symbol: String,
    /// Display name, at most 200 characters and no control characters; empty
    /// or `null` for none.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: Option<String>,
}

/// One OHLCV bar; `ts` is its opening time in Unix seconds (UTC).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BarDto {
    /// Opening time, Unix seconds.
    pub ts: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl From<Bar> for BarDto {
    fn from(b: Bar) -> Self {
        Self { ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume }
    }
}

/// One page of bars.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BarsPage {
    /// Ticker.
    pub symbol: String,
    /// Timeframe of the bars.
    pub timeframe: String,
    /// Bars, oldest first.
    pub bars: Vec<BarDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// The latest price of a symbol.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct QuoteDto {
    /// Ticker.
    pub symbol: String,
    /// Latest price.
    pub price: f64,
    /// Previous session's close.
    pub prev_close: Option<f64>,
    /// Time of the price, Unix seconds.
    pub ts: i64,
    /// Whether the price comes from the simulator.
    pub simulated: bool,
}

/// Quotes of the requested symbols.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Quotes {
    /// Quotes of the known symbols with data, in request order.
    pub quotes: Vec<QuoteDto>,
    /// Requested symbols that are not stored or have no data.
    pub missing: Vec<String>,
}

fn parse_symbol(text: &str) -> Result<Symbol, ApiError> {
    Symbol::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Refuses control characters in a free text (PostgreSQL refuses NUL in
/// text, and none belongs in a name); the document's pattern says the same.
fn plain(what: &str, text: &str) -> Result<(), ApiError> {
    if text.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!("{what} must not contain control characters")));
    }
    Ok(())
}

/// Every stored symbol, alphabetically.
#[utoipa::path(get, path = "/api/v1/symbols", responses((status = 200, body = [SymbolDto])))]
async fn list_symbols(State(state): State<AppState>) -> Result<Json<Vec<SymbolDto>>, ApiError> {
    let rows = symbols::list(&state.db).await?;
    Ok(Json(rows.into_iter().map(|r| SymbolDto { symbol: r.symbol, name: r.name, simulated: r.simulated }).collect()))
}

/// Adds a symbol.
#[utoipa::path(post, path = "/api/v1/symbols", request_body = NewSymbol, responses(
    (status = 201, body = SymbolDto), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_symbol(
    State(state): State<AppState>,
    body: Result<Json<NewSymbol>, JsonRejection>,
) -> Result<(StatusCode, Json<SymbolDto>), ApiError> {
    let Json(new) = body?;
    let symbol = parse_symbol(&new.symbol)?;
    if let Some(name) = &new.name {
        if name.chars().count() > 200 {
            return Err(ApiError::BadRequest("name must be at most 200 characters".into()));
        }
        plain("name", name)?;
    }
    let name = new.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if symbols::get(&state.db, symbol.as_str()).await?.is_some() {
        return Err(ApiError::Conflict(format!("symbol {symbol} already exists")));
    }
    symbols::upsert(&state.db, &symbol, name.as_deref(), false).await?;
    state.cache.symbol_changed(symbol.as_str());
    Ok((StatusCode::CREATED, Json(SymbolDto { symbol: symbol.into(), name, simulated: false })))
}

/// Removes a symbol and all its bars.
#[utoipa::path(delete, path = "/api/v1/symbols/{symbol}", params(SymbolPath),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The live feed follows the symbol (it is on the watchlist)", body = ErrorBody)))]
async fn remove_symbol(
    State(state): State<AppState>,
    path: Result<Path<SymbolPath>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(SymbolPath { symbol }) = path?;
    let symbol = parse_symbol(&symbol)?;
    if state.config.feed != crate::config::Feed::None
        && watchlist::is_on(&state.db, &state.config.watchlist, &symbol).await?
    {
        return Err(ApiError::Conflict(state.config.followed_message(&symbol)));
    }
    if symbols::delete(&state.db, symbol.as_str()).await? {
        state.cache.symbol_changed(symbol.as_str());
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("symbol {symbol} not found")))
    }
}

/// Query of `GET /symbols/{symbol}/bars`. Times accept Unix seconds, dates
/// (`2024-01-31`), date-times (UTC) or RFC 3339.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BarsQuery {
    /// Timeframe (`1m`, `5m`, `1h`, `1d`, ...); default `1d`.
    #[param(value_type = Option<schema::TimeframeName>, inline)]
    timeframe: Option<String>,
    /// Earliest bar opening time (inclusive); default: the beginning.
    #[param(value_type = Option<schema::Time>, inline)]
    from: Option<String>,
    /// Latest bar opening time (inclusive); default: now. A range ending
    /// before it begins holds no bars.
    #[param(value_type = Option<schema::Time>, inline)]
    to: Option<String>,
    /// Continue after this bar time (the previous page's `next_after`).
    after: Option<i64>,
    /// Page size, 1 to 5000; default 500.
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
}

/// Bars of a symbol in a time range, oldest first, one page at a time.
#[utoipa::path(get, path = "/api/v1/symbols/{symbol}/bars", params(SymbolPath, BarsQuery),
    responses((status = 200, body = BarsPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_bars(
    State(state): State<AppState>,
    path: Result<Path<SymbolPath>, PathRejection>,
    query: Result<Query<BarsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(SymbolPath { symbol }) = path?;
    let Query(q) = query?;
    let symbol = parse_symbol(&symbol)?;
    let timeframe: Timeframe = match q.timeframe.as_deref() {
        None | Some("") => Timeframe::D1,
        Some(tf) => tf.parse().map_err(|e: quant::ParamError| ApiError::BadRequest(e.to_string()))?,
    };
    let time = |name: &str, text: Option<&str>, default: i64| match text {
        None | Some("") => Ok(default),
        Some(t) => parse_time(t).map_err(|_| {
            ApiError::BadRequest(format!(
                "{name}: `{}` is not a time (Unix seconds, a date, a UTC date-time or RFC 3339)",
                app::api::excerpt(t)
            ))
        }),
    };
    let from = time("from", q.from.as_deref(), 0)?;
    let to = time("to", q.to.as_deref(), chrono::Utc::now().timestamp())?;
    let limit = q.limit.unwrap_or(500);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}, got {limit}")));
    }
    if crate::quotes::details(&state.db, &state.cache, symbol.as_str()).await?.is_none() {
        return Err(ApiError::NotFound(format!("symbol {symbol} not found")));
    }
    // The page is serialized once and served from the cache until bars of
    // the symbol land. An open end (`to` left out) is part of the key as
    // such, not as the current time, so it stays one key.
    let key = format!(
        "{timeframe}|{from}|{}|{:?}|{limit}",
        q.to.as_deref().map_or(String::new(), |_| to.to_string()),
        q.after
    );
    let read = async {
        let page = bars::range(&state.db, symbol.as_str(), timeframe, from, to, q.after, limit).await?;
        let next_after = (page.len() == limit).then(|| page.last().map(|b| b.ts)).flatten();
        let page = BarsPage {
            symbol: symbol.to_string(),
            timeframe: timeframe.to_string(),
            bars: page.into_iter().map(BarDto::from).collect(),
            next_after,
        };
        serde_json::to_vec(&page)
            .map(bytes::Bytes::from)
            .map_err(|e| StorageError::Corrupt(format!("encoding bars: {e}")))
    };
    let body = state.cache.answer((symbol.to_string(), key), read).await.map_err(StorageError::from)?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Query of `GET /quotes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QuotesQuery {
    /// Comma-separated tickers, 1 to 500 (repeats count once).
    #[param(value_type = Vec<schema::Ticker>, inline, style = Form, explode = false, min_items = 1, max_items = 500)]
    symbols: String,
}

/// Latest prices of many symbols in one request.
#[utoipa::path(get, path = "/api/v1/quotes", params(QuotesQuery),
    responses((status = 200, body = Quotes), (status = 400, body = ErrorBody)))]
async fn get_quotes(
    State(state): State<AppState>,
    query: Result<Query<QuotesQuery>, QueryRejection>,
) -> Result<Json<Quotes>, ApiError> {
    let Query(q) = query?;
    // Repeats count towards the limit (as the document's `maxItems` says) and are answered once.
    let texts = || q.symbols.split(',').map(str::trim).filter(|s| !s.is_empty());
    let named = texts().take(MAX_QUOTE_SYMBOLS + 1).count();
    if named == 0 || named > MAX_QUOTE_SYMBOLS {
        return Err(ApiError::BadRequest(format!("name 1 to {MAX_QUOTE_SYMBOLS} symbols, comma-separated")));
    }
    let mut wanted: Vec<Symbol> = Vec::with_capacity(named);
    for text in texts() {
        let symbol = parse_symbol(text)?;
        if !wanted.contains(&symbol) {
            wanted.push(symbol);
        }
    }
    let mut out = Quotes { quotes: Vec::with_capacity(wanted.len()), missing: Vec::new() };
    for symbol in wanted {
        let quote = match crate::quotes::details(&state.db, &state.cache, symbol.as_str()).await? {
            Some(info) => crate::quotes::latest(&state.db, &state.bus, &state.cache, info).await?,
            None => None,
        };
        match quote {
            Some(q) => out.quotes.push(QuoteDto {
                symbol: q.symbol,
                price: q.last,
                prev_close: q.prev_close,
                ts: q.ts,
                simulated: q.simulated,
            }),
            None => out.missing.push(symbol.into()),
        }
    }
    Ok(Json(out))
}

/// A remote provider and its health.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderStatus {
    /// `yahoo` or `investing`.
    pub name: String,
    /// Circuit state, current rate, last success and error, counts.
    #[schema(value_type = Object)]
    pub health: crate::providers::resilience::ProviderHealth,
}

/// Each remote provider's health.
#[utoipa::path(get, path = "/api/v1/providers", responses((status = 200, body = [ProviderStatus])))]
async fn get_providers(State(state): State<AppState>) -> Json<Vec<ProviderStatus>> {
    Json(
        state
            .remote
            .health()
            .into_iter()
            .map(|(name, health)| ProviderStatus { name: name.to_owned(), health })
            .collect(),
    )
}

/// A recorded run of a schedule.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunDto {
    /// Run id.
    pub id: i64,
    /// The schedule, e.g. `quote_refresh`.
    pub schedule: String,
    /// Start, Unix ms.
    pub started_at: i64,
    /// End, Unix ms; absent while running.
    pub finished_at: Option<i64>,
    /// `running`, `ok`, `partial` or `failed`.
    pub status: String,
    /// Symbols that succeeded.
    pub succeeded: i32,
    /// Symbols that failed.
    pub failed: i32,
    /// Per-symbol failures: `[{"symbol", "error"}]`.
    #[schema(value_type = Vec<Object>)]
    pub errors: serde_json::Value,
}

/// Query of `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Only this schedule (e.g. `quote_refresh`); no control characters.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    schedule: Option<String>,
    /// How many, 1 to 1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Recorded scheduler runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", params(RunsQuery), responses((status = 200, body = [RunDto]), (status = 400, body = ErrorBody)))]
async fn get_runs(
    State(state): State<AppState>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<RunDto>>, ApiError> {
    let Query(q) = query?;
    if let Some(schedule) = &q.schedule {
        plain("schedule", schedule)?;
    }
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 1_000 {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and 1000, got {limit}")));
    }
    let rows = crate::storage::runs::list(&state.db, q.schedule.as_deref(), limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| RunDto {
                id: r.id,
                schedule: r.schedule,
                started_at: r.started_at,
                finished_at: r.finished_at,
                status: r.status,
                succeeded: r.succeeded,
                failed: r.failed,
                errors: serde_json::from_str(&r.errors).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    ))
}
