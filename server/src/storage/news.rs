//! The `news` and `news_symbols` tables: headlines gathered by the news crawler
//! (`crate::news`) and the symbols each one concerns.
//!
//! An item is identified by its dedupe key (see `crate::news` for how it is
//! derived). Storing is idempotent: an item already present is left as it was,
//! except that symbols it was not yet linked to are added, so a headline that
//! shows up in the feeds of several symbols ends up linked to all of them.
//!
//! Listing is newest first by `(published_at, id)`, keyset-paginated with a
//! [`Cursor`], optionally restricted to one symbol.

use std::collections::HashMap;

use serde::Serialize;

use super::{Db, StorageError, with_reader, write_transaction};

/// A headline to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsItem {
    /// What identifies the item across crawls and feeds (guid/id, else link).
    pub dedupe_key: String,
    /// The configured name of the feed it came from, e.g. `yahoo`.
    pub source: String,
    /// The article's address, when the feed gave one.
    pub url: Option<String>,
    /// Headline, plain text.
    pub title: String,
    /// Short plain-text summary, when the feed gave one.
    pub summary: Option<String>,
    /// Publication time, Unix seconds.
    pub published_at: i64,
    /// When it was fetched, Unix seconds.
    pub fetched_at: i64,
    /// Symbols it concerns; empty for general economic news.
    pub symbols: Vec<String>,
}

/// A stored headline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredNews {
    /// Row id.
    pub id: i64,
    /// The configured name of the feed it came from.
    pub source: String,
    /// The article's address, when known.
    pub url: Option<String>,
    /// Headline, plain text.
    pub title: String,
    /// Short plain-text summary, when known.
    pub summary: Option<String>,
    /// Publication time, Unix seconds.
    pub published_at: i64,
    /// When it was first fetched, Unix seconds.
    pub fetched_at: i64,
    /// Symbols it concerns, alphabetically; empty for general economic news.
    pub symbols: Vec<String>,
}

/// What [`insert_many`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Items that were not stored before, in input order, with their symbols.
    pub created: Vec<StoredNews>,
    /// Symbol links added to items that were already stored.
    pub linked: u64,
}

/// A position in the newest-first order: the next page holds the items that
/// come strictly after it (older, or as old with a smaller id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Publication time, Unix seconds.
    pub published_at: i64,
    /// Row id, the tie-breaker between items published in the same second.
    pub id: i64,
}

impl Cursor {
    /// The cursor just after `item`.
    #[must_use]
    pub fn after(item: &StoredNews) -> Self {
        Self { published_at: item.published_at, id: item.id }
    }

    /// Everything published strictly before `published_at`.
    #[must_use]
    pub fn before_time(published_at: i64) -> Self {
        Self { published_at, id: i64::MIN }
    }
}

/// Stores `items`: new ones are inserted, known ones (same dedupe key) are
/// kept as stored but linked to any of their symbols they lacked. One
/// transaction: either the whole batch is stored or none of it.
///
/// Rows are written in dedupe-key order whatever the input order, so that two
/// batches sharing items (two symbols' feeds crawled at once) take PostgreSQL's
/// row locks in the same order and cannot deadlock.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn insert_many(db: &Db, items: &[NewsItem]) -> Result<Inserted, StorageError> {
    const INSERT: &str = "INSERT INTO news (dedupe_key, source, url, title, summary, published_at, fetched_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
    const EXISTING: &str = "SELECT id, published_at FROM news WHERE dedupe_key = $1";
    const LINK: &str = "INSERT INTO news_symbols (news_id, symbol, published_at) VALUES ($1, $2, $3) \
         ON CONFLICT (news_id, symbol) DO NOTHING";
    let mut out = Inserted::default();
    if items.is_empty() {
        return Ok(out);
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[a].dedupe_key.cmp(&items[b].dedupe_key));
    // Items created by this batch (with their input position), by key: a
    // repeat within the batch adds its symbols to them.
    let mut created: Vec<(usize, StoredNews)> = Vec::new();
    let mut created_here: HashMap<&str, usize> = HashMap::new();
    write_transaction!(db, |tx| {
        for &position in &order {
            let item = &items[position];
            let mut symbols: Vec<&str> = item.symbols.iter().map(String::as_str).collect();
            symbols.sort_unstable();
            symbols.dedup();
            let new_id: Option<i64> = sqlx::query_scalar(INSERT)
                .bind(&item.dedupe_key)
                .bind(&item.source)
                .bind(item.url.as_deref())
                .bind(&item.title)
                .bind(item.summary.as_deref())
                .bind(item.published_at)
                .bind(item.fetched_at)
                .fetch_optional(&mut *tx)
                .await?;
            let (id, published_at) = match new_id {
                Some(id) => (id, item.published_at),
                None => sqlx::query_as::<_, (i64, i64)>(EXISTING).bind(&item.dedupe_key).fetch_one(&mut *tx).await?,
            };
            let mut added = Vec::new();
            for symbol in symbols {
                let rows =
                    sqlx::query(LINK).bind(id).bind(symbol).bind(published_at).execute(&mut *tx).await?.rows_affected();
                if rows > 0 {
                    added.push(symbol.to_owned());
                }
            }
            if new_id.is_some() {
                created_here.insert(&item.dedupe_key, created.len());
                created.push((
                    position,
                    StoredNews {
                        id,
                        source: item.source.clone(),
                        url: item.url.clone(),
                        title: item.title.clone(),
                        summary: item.summary.clone(),
                        published_at,
                        fetched_at: item.fetched_at,
                        symbols: added,
                    },
                ));
            } else if let Some((_, stored)) = created_here.get(item.dedupe_key.as_str()).map(|&i| &mut created[i]) {
                stored.symbols.extend(added);
                stored.symbols.sort_unstable();
            } else {
                out.linked += added.len() as u64;
            }
        }
    });
    created.sort_by_key(|(position, _)| *position);
    out.created = created.into_iter().map(|(_, item)| item).collect();
    Ok(out)
}

/// One row of a listing: an item joined with one of its symbols (or none).
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    source: String,
    url: Option<String>,
    title: String,
    summary: Option<String>,
    published_at: i64,
    fetched_at: i64,
    symbol: Option<String>,
}

/// Up to `limit` items, newest first, after `cursor` (from the newest when
/// `None`), all of them or only those linked to `symbol`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(
    db: &Db,
    symbol: Option<&str>,
    cursor: Option<Cursor>,
    limit: usize,
) -> Result<Vec<StoredNews>, StorageError> {
    // The page is chosen in a subquery (an index range scan), then joined with
    // every symbol of its items; the rows are folded back into items below.
    // `published_at <= $1` gives the planners a plain index bound; the rest of
    // the condition breaks ties on id.
    const ALL: &str = "SELECT n.id, n.source, n.url, n.title, n.summary, n.published_at, n.fetched_at, s.symbol \
         FROM (SELECT id, source, url, title, summary, published_at, fetched_at FROM news \
               WHERE published_at <= $1 AND (published_at < $1 OR id < $2) \
               ORDER BY published_at DESC, id DESC LIMIT $3) n \
         LEFT JOIN news_symbols s ON s.news_id = n.id \
         ORDER BY n.published_at DESC, n.id DESC, s.symbol";
    const BY_SYMBOL: &str = "SELECT n.id, n.source, n.url, n.title, n.summary, n.published_at, n.fetched_at, s.symbol \
         FROM (SELECT news_id FROM news_symbols \
               WHERE symbol = $4 AND published_at <= $1 AND (published_at < $1 OR news_id < $2) \
               ORDER BY published_at DESC, news_id DESC LIMIT $3) page \
         JOIN news n ON n.id = page.news_id \
         LEFT JOIN news_symbols s ON s.news_id = n.id \
         ORDER BY n.published_at DESC, n.id DESC, s.symbol";
    if limit == 0 {
        return Ok(Vec::new());
    }
    let cursor = cursor.unwrap_or(Cursor { published_at: i64::MAX, id: i64::MAX });
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<Row> = with_reader!(db, |pool| {
        let query = match symbol {
            None => sqlx::query_as::<_, Row>(ALL),
            Some(_) => sqlx::query_as::<_, Row>(BY_SYMBOL),
        };
        let query = query.bind(cursor.published_at).bind(cursor.id).bind(limit);
        match symbol {
            None => query.fetch_all(pool).await?,
            Some(symbol) => query.bind(symbol).fetch_all(pool).await?,
        }
    });
    Ok(fold(rows))
}

/// Folds item-and-symbol rows (consecutive per item) into items.
fn fold(rows: Vec<Row>) -> Vec<StoredNews> {
    let mut items: Vec<StoredNews> = Vec::new();
    for row in rows {
        if let Some(last) = items.last_mut().filter(|last| last.id == row.id) {
            last.symbols.extend(row.symbol);
            continue;
        }
        items.push(StoredNews {
            id: row.id,
            source: row.source,
            url: row.url,
            title: row.title,
            summary: row.summary,
            published_at: row.published_at,
            fetched_at: row.fetched_at,
            symbols: row.symbol.into_iter().collect(),
        });
    }
    items
}
