//! The backtest lab in the REST API: the lab's engine run natively on stored
//! bars ([`crate::lab`]).
//!
//! | method and path | what |
//! | --- | --- |
//! | `POST /backtests` | one backtest; the report of `finstage backtest --json` plus `fingerprint` |
//! | `POST /sweeps` | start a sweep over a grid (202, `Location`); `GET /sweeps/{id}` progress and result, `DELETE` cancels |
//! | `POST /walk-forward` | start a walk-forward validation (202); `GET`/`DELETE /walk-forward/{id}` likewise |
//! | `GET /symbols/{symbol}/bars.fsb` | every bar in a range, packed (FSB1, `quant::pack`), for the lab's workers |
//! | `GET /lab/runs`, `POST /lab/runs` | saved runs: list, save |
//! | `GET /lab/runs/{id}`, `DELETE /lab/runs/{id}` | one saved run: read, delete |
//!
//! Inputs are flat JSON objects (see [`crate::lab::input`]); every refusal
//! names its field: 400 for bad input, 404 for an unknown symbol, 422 for a
//! range without bars, 429 when [`crate::lab::tasks::MAX_RUNNING`] sweeps
//! already run.

use std::hash::Hasher;

use app::auth::Principal;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::market::SymbolPath;
use super::routes::Routes;
use super::schema;
use crate::lab::input::object;
use crate::lab::saved::{self, ToSave};
use crate::lab::{self, LabError, LabInput, SweepInput, TaskKind, TaskResult, TaskStatus, WalkForwardInput};
use crate::state::AppState;
use crate::storage::StorageError;
use crate::storage::lab_runs::LabRunRow;

pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/backtests", post(run_backtest))
        .route("/sweeps", post(start_sweep))
        .route("/sweeps/{id}", get(sweep_status).delete(cancel_sweep))
        .route("/walk-forward", post(start_walk_forward))
        .route("/walk-forward/{id}", get(walk_forward_status).delete(cancel_walk_forward))
        .route("/symbols/{symbol}/bars.fsb", get(packed_bars))
        .route("/lab/runs", get(list_runs).post(save_run))
        .route("/lab/runs/{id}", get(get_run).delete(delete_run))
}

/// Declares a request schema: the fields every lab request shares (the
/// bars, the strategy, the engine's settings), then the request's own. Each
/// schema is whole (`additionalProperties: false`), as the server refuses
/// unknown fields.
macro_rules! lab_request {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        #[derive(Debug, Deserialize, ToSchema)]
        $(#[$meta])*
        #[serde(deny_unknown_fields)]
        #[allow(dead_code, reason = "a schema for the document; the handlers read the body as JSON")]
        pub(crate) struct $name {
            /// Ticker of a stored symbol.
            #[schema(value_type = schema::Ticker, inline)]
            symbol: String,
            /// Timeframe of the bars; default `1d`.
            #[schema(value_type = Option<schema::TimeframeName>, inline)]
            timeframe: Option<String>,
            /// Earliest bar opening time (inclusive); default: the first stored bar.
            #[schema(value_type = Option<schema::Time>, inline)]
            from: Option<String>,
            /// Latest bar opening time (inclusive); default: the last stored bar. Not before `from`.
            #[schema(value_type = Option<schema::Time>, inline)]
            to: Option<String>,
            /// A strategy of the catalog.
            #[schema(value_type = schema::StrategyName, inline)]
            strategy: String,
            /// The strategy's parameters; missing ones take their defaults. Names,
            /// types, ranges and rules per strategy: `GET /strategies` (`params`, `rules`).
            #[schema(value_type = Option<Object>)]
            params: Option<Map<String, Value>>,
            /// Starting cash, above 0 (default 10000).
            #[schema(exclusive_minimum = 0, maximum = 1e15)]
            cash: Option<f64>,
            /// Commission per fill as a fraction of notional, 0 to 0.5 (0.002 = 0.2%).
            #[schema(minimum = 0, maximum = 0.5)]
            commission: Option<f64>,
            /// Fixed commission per fill.
            #[schema(minimum = 0, maximum = 1e9)]
            commission_fixed: Option<f64>,
            /// Slippage per fill, basis points.
            #[schema(minimum = 0, maximum = 1000)]
            slippage_bps: Option<f64>,
            /// `long-only` (default) or `long-short`.
            #[schema(value_type = Option<String>, pattern = "^(long-only|long-short)$")]
            mode: Option<String>,
            /// `next-open` (default) or `close`.
            #[schema(value_type = Option<String>, pattern = "^(next-open|close)$")]
            fill: Option<String>,
            /// `equity` (default: `fraction` of equity), `cash` or `units` (`size` of each).
            #[schema(value_type = Option<String>, pattern = "^(equity|cash|units)$")]
            sizing: Option<String>,
            /// Fraction of equity per entry, above 0 up to 1 (default 1).
            #[schema(exclusive_minimum = 0, maximum = 1)]
            fraction: Option<f64>,
            /// Cash or units per entry; required above 0 with `sizing` `cash` or `units`
            /// (whole units unless `fractional`).
            #[schema(minimum = 0, maximum = 1e15)]
            size: Option<f64>,
            /// Allow fractional units.
            fractional: Option<bool>,
            /// Stop-loss as a fraction of the entry price (0.05 = 5%).
            #[schema(exclusive_minimum = 0, maximum = 10)]
            stop_loss: Option<f64>,
            /// Take-profit as a fraction of the entry price.
            #[schema(exclusive_minimum = 0, maximum = 10)]
            take_profit: Option<f64>,
            /// Trailing stop as a fraction below the best price since entry.
            #[schema(exclusive_minimum = 0, maximum = 10)]
            trailing_stop: Option<f64>,
            /// Bars per year for annualising (252 daily equities, 365 daily crypto).
            #[schema(minimum = 1, maximum = 1e8)]
            periods_per_year: Option<f64>,
            /// Annual risk-free rate for Sharpe and Sortino.
            #[schema(minimum = -0.5, maximum = 1)]
            risk_free: Option<f64>,
            $($extra)*
        }
    };
}

lab_request! {
    /// A backtest's input: the bars (`symbol`, `timeframe`, `from`, `to`), the
    /// strategy and its parameters, and the engine's settings, all at the top
    /// level. Only `symbol` and `strategy` are required; the rest take the CLI's
    /// defaults. Unknown fields are refused.
    #[schema(example = json!({"symbol": "AAPL", "timeframe": "1d", "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 20}, "cash": 10000, "commission": 0.002, "mode": "long-short"}))]
    BacktestRequest {}
}

lab_request! {
    /// A sweep's input: a backtest's fields plus the grid and the metric.
    /// Parameters the grid does not name stay as `params` gives them.
    #[schema(example = json!({"symbol": "AAPL", "strategy": "sma_cross",
        "grid": {"fast": {"from": 5, "to": 20, "step": 5}, "slow": [30, 40]}, "metric": "sharpe"}))]
    SweepRequest {
        /// The parameters to sweep and their values.
        #[schema(value_type = schema::GridSpec, inline)]
        grid: Value,
        /// The metric to rank by; default `sharpe` (drawdowns and volatility rank lowest first).
        #[schema(value_type = Option<schema::MetricName>, inline)]
        metric: Option<String>,
    }
}

lab_request! {
    /// A walk-forward validation's input: a sweep's fields plus the windows.
    #[schema(example = json!({"symbol": "AAPL", "strategy": "sma_cross", "grid": {"fast": [5, 10, 15]},
        "train": 120, "test": 40}))]
    WalkForwardRequest {
        /// The parameters to sweep on each training window and their values.
        #[schema(value_type = schema::GridSpec, inline)]
        grid: Value,
        /// The metric to choose by; default `sharpe`.
        #[schema(value_type = Option<schema::MetricName>, inline)]
        metric: Option<String>,
        /// Bars in each training window (the first one when anchored).
        #[schema(minimum = 1, maximum = 2_000_000)]
        train: u64,
        /// Bars in each test window; `train + test` must fit in the range's bars.
        #[schema(minimum = 1, maximum = 2_000_000)]
        test: u64,
        /// Every training window starts at the first bar (default: rolling windows).
        anchored: Option<bool>,
    }
}

/// One round trip of a backtest.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TradeDto {
    /// `long` or `short`.
    side: String,
    /// Entry fill time, RFC 3339.
    entry_time: String,
    /// Entry fill price after slippage.
    entry_price: f64,
    /// Exit fill time, RFC 3339.
    exit_time: String,
    /// Exit fill price after slippage.
    exit_price: f64,
    /// Units.
    size: f64,
    /// Profit after both commissions.
    pnl: f64,
    /// `pnl` over the entry notional.
    r#return: f64,
    /// Bars from entry fill to exit fill.
    bars_held: u64,
    /// `signal`, `stop-loss`, `take-profit`, `trailing-stop` or `end-of-data`.
    exit: String,
}

/// Equity at one bar's close.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EquityPoint {
    /// The bar's opening time, RFC 3339.
    time: String,
    /// Equity at its close.
    equity: f64,
}

/// Hashes of a report (16 hex digits each) to compare engines bit for bit.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FingerprintDto {
    /// FNV-1a of every metric.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    metrics: String,
    /// FNV-1a of every trade's fields.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    trades: String,
    /// FNV-1a of the equity curve.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    equity: String,
}

/// A backtest's report, as `finstage backtest --json` writes it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BacktestReport {
    /// total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown,
    /// max_drawdown_bars, avg_drawdown, win_rate, profit_factor, expectancy, sqn,
    /// exposure, trades, best_trade, worst_trade, avg_trade, final_equity,
    /// buy_and_hold_return: fractions, not percentages; `null` when undefined.
    #[schema(value_type = Object)]
    metrics: Value,
    /// Every round trip, in order.
    trades: Vec<TradeDto>,
    /// Equity at every bar's close.
    equity: Vec<EquityPoint>,
    /// Hashes of metrics, trades and equity.
    fingerprint: FingerprintDto,
}

/// A sweep or walk-forward validation running in the background.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskDto {
    /// Its id, for `GET` and `DELETE`.
    id: String,
    /// `sweep` or `walk-forward`.
    #[schema(pattern = "^(sweep|walk-forward)$")]
    kind: String,
    /// `running`, `done`, `cancelled` or `failed`.
    #[schema(pattern = "^(running|done|cancelled|failed)$")]
    state: String,
    /// Backtests finished so far.
    done: u64,
    /// Backtests in all.
    total: u64,
    /// Once it ends. A sweep: `{runs: [{index, params, metrics, score}] best
    /// first, skipped, total, cancelled}` (a cancelled sweep holds the runs that
    /// finished). A walk-forward validation: `{windows: [{train, test, params,
    /// in_sample, out_of_sample, test_return, test_trades}], mean_in_sample,
    /// mean_out_of_sample, efficiency, degradation, start, oos_equity,
    /// in_sample_params, in_sample_equity}`.
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// Why it failed.
    error: Option<String>,
}

/// Path of a task.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TaskPath {
    /// The id `POST` answered with.
    #[param(max_length = 64)]
    id: String,
}

/// Query of `GET /sweeps/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TaskQuery {
    /// Only the best `limit` runs, 1 to 100000; default all.
    #[param(minimum = 1, maximum = 100_000)]
    limit: Option<usize>,
}

/// Query of `GET /symbols/{symbol}/bars.fsb`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PackedQuery {
    /// Timeframe; default `1d`.
    #[param(value_type = Option<schema::TimeframeName>, inline)]
    timeframe: Option<String>,
    /// Earliest bar opening time (inclusive); default: the first.
    #[param(value_type = Option<schema::Time>, inline)]
    from: Option<String>,
    /// Latest bar opening time (inclusive); default: the last.
    #[param(value_type = Option<schema::Time>, inline)]
    to: Option<String>,
}

/// A saved run in a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LabRunSummaryDto {
    /// Its id.
    id: i64,
    /// The name it was saved under.
    name: String,
    /// When, Unix ms.
    created_at: i64,
    /// The input's symbol.
    symbol: String,
    /// The input's timeframe.
    timeframe: String,
    /// The input's strategy.
    strategy: String,
    /// Its metrics as saved.
    #[schema(value_type = Option<Object>)]
    metrics: Value,
}

/// A saved run with its input.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LabRunDto {
    /// Its id.
    id: i64,
    /// The name it was saved under.
    name: String,
    /// When, Unix ms.
    created_at: i64,
    /// The input's symbol.
    symbol: String,
    /// The input's timeframe.
    timeframe: String,
    /// The input's strategy.
    strategy: String,
    /// Its metrics as saved.
    #[schema(value_type = Option<Object>)]
    metrics: Value,
    /// The run's whole input, as `POST /backtests` takes it.
    #[schema(value_type = Object)]
    input: Value,
    /// A sample of its equity curve, as saved.
    #[schema(value_type = Option<Vec<f64>>)]
    equity: Value,
}

/// A run to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLabRun {
    /// 1 to 100 characters (surrounding spaces dropped), no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: String,
    /// The run's input, as `POST /backtests` takes it; checked the same way
    /// (the symbol need not be stored).
    #[schema(value_type = BacktestRequest)]
    input: Value,
    /// Its metrics (any object).
    #[schema(value_type = Option<Object>)]
    metrics: Option<Value>,
    /// A sample of its equity curve, at most 10000 numbers.
    #[schema(value_type = Option<Vec<f64>>, max_items = 10_000)]
    equity: Option<Value>,
}

/// Query of `GET /lab/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// How many, newest first, 1 to 1000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Path of a saved run.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RunPath {
    /// Its id.
    id: i64,
}

fn body_object(body: Result<Json<Value>, JsonRejection>) -> Result<Map<String, Value>, ApiError> {
    let Json(value) = body?;
    Ok(object(value, "the body")?)
}

/// A blocking task that failed to finish (a panic): logged as a server error.
fn crashed(e: &tokio::task::JoinError) -> ApiError {
    ApiError::Internal(StorageError::Corrupt(format!("a backtest task failed: {e}")))
}

/// One backtest over stored bars, run on a blocking thread.
#[utoipa::path(post, path = "/api/v1/backtests", request_body = BacktestRequest,
    responses((status = 200, body = BacktestReport),
        (status = 400, description = "Bad input; the message names the field", body = ErrorBody),
        (status = 404, description = "Unknown symbol", body = ErrorBody),
        (status = 422, description = "No bars in the range", body = ErrorBody)))]
pub(super) async fn run_backtest(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let (input, _) = LabInput::parse(body_object(body)?, &[])?;
    let bars = lab::load_bars(&state.db, &input.data).await?;
    let json = tokio::task::spawn_blocking(move || {
        lab::run(&bars, &input.resolved).map(|report| lab::stored_report_json(&report, &bars))
    })
    .await
    .map_err(|e| crashed(&e))?
    .map_err(LabError::from)?;
    Ok(Json(json))
}

fn status_json(status: &TaskStatus, limit: Option<usize>) -> Value {
    let mut out = json!({
        "id": status.id, "kind": status.kind, "state": status.state, "done": status.done, "total": status.total,
    });
    if let Some(result) = &status.result {
        out["result"] = match &**result {
            TaskResult::Sweep(sweep) => lab::sweep_json(sweep, limit),
            TaskResult::WalkForward(report) => lab::walk_forward_json(report),
        };
    }
    if let Some(error) = &status.error {
        out["error"] = json!(error);
    }
    out
}

fn accepted(path: &str, status: &TaskStatus) -> Response {
    let location = format!("/api/v1/{path}/{}", status.id);
    let mut response = (StatusCode::ACCEPTED, Json(status_json(status, None))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Starts a sweep over stored bars; poll `Location` for progress and the result.
#[utoipa::path(post, path = "/api/v1/sweeps", request_body = SweepRequest,
    responses((status = 202, description = "Started; `Location` is the task", body = TaskDto,
            headers(("location" = String, description = "`/api/v1/sweeps/{id}`"))),
        (status = 400, description = "Bad input; the message names the field", body = ErrorBody),
        (status = 404, description = "Unknown symbol", body = ErrorBody),
        (status = 422, description = "No bars in the range", body = ErrorBody),
        (status = 429, description = "Too many sweeps running", body = ErrorBody)))]
pub(super) async fn start_sweep(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let input = SweepInput::parse(body_object(body)?)?;
    let bars = lab::load_bars(&state.db, &input.lab.data).await?;
    let status = state
        .lab
        .start(TaskKind::Sweep, input.combinations, &state.shutdown, move |progress| {
            let r = &input.lab.resolved;
            quant::backtest::sweep_with(&bars, r.entry, &input.grid, &r.config, &input.metric, progress)
                .map(|sweep| Some(TaskResult::Sweep(sweep)))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| ApiError::TooManyRequests(e.to_string()))?;
    Ok(accepted("sweeps", &status))
}

/// Starts a walk-forward validation over stored bars; poll `Location`.
#[utoipa::path(post, path = "/api/v1/walk-forward", request_body = WalkForwardRequest,
    responses((status = 202, description = "Started; `Location` is the task", body = TaskDto,
            headers(("location" = String, description = "`/api/v1/walk-forward/{id}`"))),
        (status = 400, description = "Bad input (windows that do not fit the bars included)", body = ErrorBody),
        (status = 404, description = "Unknown symbol", body = ErrorBody),
        (status = 422, description = "No bars in the range", body = ErrorBody),
        (status = 429, description = "Too many tasks running", body = ErrorBody)))]
pub(super) async fn start_walk_forward(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let input = WalkForwardInput::parse(body_object(body)?)?;
    let bars = lab::load_bars(&state.db, &input.sweep.lab.data).await?;
    let steps = input.check_fit(bars.len())?;
    let total = input.sweep.combinations * (steps + 1);
    let status = state
        .lab
        .start(TaskKind::WalkForward, total, &state.shutdown, move |progress| {
            let (s, r) = (&input.sweep, &input.sweep.lab.resolved);
            quant::backtest::walk_forward_with(&bars, r.entry, &s.grid, &r.config, &s.metric, input.windows, progress)
                .map(|report| report.map(TaskResult::WalkForward))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| ApiError::TooManyRequests(e.to_string()))?;
    Ok(accepted("walk-forward", &status))
}

fn task(state: &AppState, kind: TaskKind, id: &str, cancel: bool) -> Result<TaskStatus, ApiError> {
    let found = if cancel { state.lab.cancel(id, kind) } else { state.lab.status(id, kind) };
    found.ok_or_else(|| {
        let what = if kind == TaskKind::Sweep { "sweep" } else { "walk-forward validation" };
        ApiError::NotFound(format!("no {what} `{}` (finished ones are kept for an hour)", app::api::excerpt(id)))
    })
}

fn limit(query: Result<Query<TaskQuery>, QueryRejection>) -> Result<Option<usize>, ApiError> {
    let Query(q) = query?;
    match q.limit {
        Some(n) if n == 0 || n > 100_000 => {
            Err(ApiError::BadRequest(format!("limit must be between 1 and 100000, got {n}")))
        }
        other => Ok(other),
    }
}

/// A sweep's progress, and its ranked runs once it ends.
#[utoipa::path(get, path = "/api/v1/sweeps/{id}", params(TaskPath, TaskQuery),
    responses((status = 200, body = TaskDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn sweep_status(
    State(state): State<AppState>,
    path: Result<Path<TaskPath>, PathRejection>,
    query: Result<Query<TaskQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(TaskPath { id }) = path?;
    let limit = limit(query)?;
    Ok(Json(status_json(&task(&state, TaskKind::Sweep, &id, false)?, limit)))
}

/// Cancels a sweep (effective within one backtest); its state turns `cancelled`.
#[utoipa::path(delete, path = "/api/v1/sweeps/{id}", params(TaskPath),
    responses((status = 200, body = TaskDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cancel_sweep(
    State(state): State<AppState>,
    path: Result<Path<TaskPath>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(TaskPath { id }) = path?;
    Ok(Json(status_json(&task(&state, TaskKind::Sweep, &id, true)?, None)))
}

/// A walk-forward validation's progress, and its windows once it ends.
#[utoipa::path(get, path = "/api/v1/walk-forward/{id}", params(TaskPath),
    responses((status = 200, body = TaskDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn walk_forward_status(
    State(state): State<AppState>,
    path: Result<Path<TaskPath>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(TaskPath { id }) = path?;
    Ok(Json(status_json(&task(&state, TaskKind::WalkForward, &id, false)?, None)))
}

/// Cancels a walk-forward validation (effective within one backtest).
#[utoipa::path(delete, path = "/api/v1/walk-forward/{id}", params(TaskPath),
    responses((status = 200, body = TaskDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cancel_walk_forward(
    State(state): State<AppState>,
    path: Result<Path<TaskPath>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(TaskPath { id }) = path?;
    Ok(Json(status_json(&task(&state, TaskKind::WalkForward, &id, true)?, None)))
}

/// Every bar of a symbol in a range, packed: `FSB1`, the count, times as
/// varint deltas, then open, high, low, close and volume columns of XORed
/// `f64` bits (`quant::pack`), decoded bit for bit by `quant::pack::unpack`.
/// At most 2,000,000 bars; compressed (gzip, brotli) as the client accepts.
#[utoipa::path(get, path = "/api/v1/symbols/{symbol}/bars.fsb", params(SymbolPath, PackedQuery),
    responses((status = 200, description = "The packed bars (an empty range packs zero bars)",
            content_type = "application/octet-stream", body = Vec<u8>,
            headers(("etag" = String, description = "Changes with the bars"),
                ("cache-control" = String, description = "`no-cache`: revalidate with `If-None-Match`"))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn packed_bars(
    State(state): State<AppState>,
    path: Result<Path<SymbolPath>, PathRejection>,
    query: Result<Query<PackedQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(SymbolPath { symbol }) = path?;
    let Query(q) = query?;
    // As with `GET /symbols/{symbol}/bars`, a range ending before it begins
    // holds no bars (the backtests refuse it instead: it is a mistake there).
    let from = lab::input::time("from", q.from.map(Value::String))?;
    let to = lab::input::time("to", q.to.map(Value::String))?;
    let mut fields = Map::new();
    fields.insert("symbol".into(), Value::String(symbol));
    if let Some(tf) = q.timeframe {
        fields.insert("timeframe".into(), Value::String(tf));
    }
    let data = lab::Data { from, to, ..lab::Data::take(&mut fields)? };
    let empty = matches!((from, to), (Some(a), Some(b)) if a > b);
    let bars = match lab::load_bars(&state.db, &data).await {
        Ok(_) if empty => Vec::new(),
        Ok(bars) => bars,
        Err(LabError::NoBars(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let (packed, tag) = tokio::task::spawn_blocking(move || {
        let packed = quant::pack::pack(&bars);
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(&packed);
        let tag = format!("\"fsb-{:016x}\"", hasher.finish());
        (packed, tag)
    })
    .await
    .map_err(|e| crashed(&e))?;
    let etag = HeaderValue::from_str(&tag).map_err(|e| ApiError::Internal(StorageError::Corrupt(e.to_string())))?;
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response());
    }
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(([content_type, (header::ETAG, etag), cache], bytes::Bytes::from(packed)).into_response())
}

fn summary(row: LabRunRow) -> LabRunSummaryDto {
    LabRunSummaryDto {
        id: row.id,
        metrics: saved::json_of(row.metrics.as_deref()),
        name: row.name,
        created_at: row.created_at,
        symbol: row.symbol,
        timeframe: row.timeframe,
        strategy: row.strategy,
    }
}

fn full(row: LabRunRow) -> LabRunDto {
    LabRunDto {
        id: row.id,
        input: saved::json_of(Some(&row.input)),
        metrics: saved::json_of(row.metrics.as_deref()),
        equity: saved::json_of(row.equity.as_deref()),
        name: row.name,
        created_at: row.created_at,
        symbol: row.symbol,
        timeframe: row.timeframe,
        strategy: row.strategy,
    }
}

/// Whose saved runs a request sees (its user's; nobody's without one).
fn owner(who: Option<&Extension<Principal>>) -> app::auth::Owner {
    who.map_or(app::auth::Owner::NOBODY, |Extension(p)| p.owner())
}

/// The caller's saved lab runs, newest first.
#[utoipa::path(get, path = "/api/v1/lab/runs", params(RunsQuery),
    responses((status = 200, body = [LabRunSummaryDto]), (status = 400, body = ErrorBody)))]
pub(super) async fn list_runs(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<LabRunSummaryDto>>, ApiError> {
    let Query(q) = query?;
    let rows = saved::list(&state.db, owner(who.as_ref()), q.limit.unwrap_or(100)).await?;
    Ok(Json(rows.into_iter().map(summary).collect()))
}

/// Saves a lab run under a name.
#[utoipa::path(post, path = "/api/v1/lab/runs", request_body = NewLabRun,
    responses((status = 201, body = LabRunDto, headers(("location" = String, description = "`/api/v1/lab/runs/{id}`"))),
        (status = 400, description = "Bad input; the message names the field", body = ErrorBody)))]
pub(super) async fn save_run(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    body: Result<Json<NewLabRun>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body?;
    let run = ToSave { name: new.name, input: new.input, metrics: new.metrics, equity: new.equity };
    let row = saved::save(&state.db, run, owner(who.as_ref()).user_id, crate::jobs::now_ms()).await?;
    let location = format!("/api/v1/lab/runs/{}", row.id);
    let mut response = (StatusCode::CREATED, Json(full(row))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// One saved run with its input.
#[utoipa::path(get, path = "/api/v1/lab/runs/{id}", params(RunPath),
    responses((status = 200, body = LabRunDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_run(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    path: Result<Path<RunPath>, PathRejection>,
) -> Result<Json<LabRunDto>, ApiError> {
    let Path(RunPath { id }) = path?;
    crate::storage::lab_runs::get(&state.db, owner(who.as_ref()), id)
        .await?
        .map(|row| Json(full(row)))
        .ok_or_else(|| ApiError::NotFound(format!("no lab run {id}")))
}

/// Deletes a saved run.
#[utoipa::path(delete, path = "/api/v1/lab/runs/{id}", params(RunPath),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_run(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    path: Result<Path<RunPath>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(RunPath { id }) = path?;
    if crate::storage::lab_runs::delete(&state.db, owner(who.as_ref()), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no lab run {id}")))
    }
}
