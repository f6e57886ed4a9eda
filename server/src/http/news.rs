//! Headlines of the REST API, gathered by the news crawler (`crate::news`).
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /news?symbol=AAPL&limit=50&before=CURSOR` | stored headlines, newest first |
//!
//! Without `symbol`, every headline (per-symbol and general economic news);
//! with it, those linked to that symbol (an unknown symbol has none: news is
//! kept independently of the followed symbols). `before` is either a time
//! (Unix seconds, a date, a date-time or RFC 3339: headlines published strictly
//! earlier) or the `next_before` of the previous page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::providers::csv::parse_time;
use crate::state::AppState;
use crate::storage::news::{self, Cursor, StoredNews};
use crate::symbol::Symbol;

/// The most headlines one page returns.
pub const MAX_NEWS_PAGE: usize = 200;
/// Headlines per page when `limit` is not given.
pub const DEFAULT_NEWS_PAGE: usize = 50;

/// The news routes, relative to `/api/v1`.
pub fn routes() -> Router<AppState> {
    listed().into_router()
}

/// The news routes, with their paths noted (see [`super::routes::Routes`]).
pub(super) fn listed() -> super::routes::Routes {
    super::routes::Routes::default().route("/news", get(list_news))
}

/// A stored headline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewsDto {
    /// Id.
    pub id: i64,
    /// The feed it came from: `yahoo` for per-symbol headlines, else the configured feed's name.
    pub source: String,
    /// The article, when the feed gave one.
    pub url: Option<String>,
    /// Headline, plain text.
    pub title: String,
    /// Short plain-text summary, when the feed gave one.
    pub summary: Option<String>,
    /// Publication time, Unix seconds.
    pub published_at: i64,
    /// When it was first fetched, Unix seconds.
    pub fetched_at: i64,
    /// Symbols it concerns; empty for general economic news.
    pub symbols: Vec<String>,
}

impl From<StoredNews> for NewsDto {
    fn from(n: StoredNews) -> Self {
        Self {
            id: n.id,
            source: n.source,
            url: n.url,
            title: n.title,
            summary: n.summary,
            published_at: n.published_at,
            fetched_at: n.fetched_at,
            symbols: n.symbols,
        }
    }
}

/// One page of headlines.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewsPage {
    /// Headlines, newest first.
    pub items: Vec<NewsDto>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<String>,
}

/// Query of `GET /news`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NewsQuery {
    /// Only headlines linked to this ticker; empty for all.
    #[param(value_type = Option<super::schema::TickerFilter>, inline)]
    symbol: Option<String>,
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// Headlines published before this time (Unix seconds, date, date-time or
    /// RFC 3339), or the previous page's `next_before`.
    #[param(value_type = Option<super::schema::TimeOrCursor>, inline)]
    before: Option<String>,
}

/// Reads `before`: a page cursor `published_at:id`, else a time.
fn parse_before(text: &str) -> Result<Cursor, ApiError> {
    if let Some((time, id)) = text.split_once(':')
        && let (Ok(published_at), Ok(id)) = (time.parse::<i64>(), id.parse::<i64>())
    {
        return Ok(Cursor { published_at, id });
    }
    parse_time(text).map(Cursor::before_time).map_err(|e| ApiError::BadRequest(format!("before: {e}")))
}

/// Stored headlines, newest first, one page at a time.
#[utoipa::path(get, path = "/api/v1/news", params(NewsQuery),
    responses((status = 200, body = NewsPage), (status = 400, body = super::error::ErrorBody)))]
pub(super) async fn list_news(
    State(state): State<AppState>,
    query: Result<Query<NewsQuery>, QueryRejection>,
) -> Result<Json<NewsPage>, ApiError> {
    let Query(q) = query?;
    let symbol = match q.symbol.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(Symbol::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_NEWS_PAGE);
    if limit == 0 || limit > MAX_NEWS_PAGE {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_NEWS_PAGE}, got {limit}")));
    }
    let cursor = match q.before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_before(text)?),
    };
    let page = news::list(&state.db, symbol.as_ref().map(Symbol::as_str), cursor, limit).await?;
    let next_before =
        (page.len() == limit).then(|| page.last().map(|last| format!("{}:{}", last.published_at, last.id))).flatten();
    Ok(Json(NewsPage { items: page.into_iter().map(NewsDto::from).collect(), next_before }))
}
