//! The `bars` table: bulk idempotent upserts and the reads the dashboard needs.
//!
//! Writes are always batches in one transaction. A row identical to the stored
//! one is not rewritten, so replaying a backfill costs reads, not writes.

use quant::{Bar, Timeframe};
use sqlx::QueryBuilder;

use super::{Db, StorageError, with_reader};

/// SQLite allows 32,766 bound values per statement; 8 per row.
const SQLITE_ROWS_PER_STATEMENT: usize = 4_000;
/// PostgreSQL binds whole arrays; this only bounds one statement's memory.
const POSTGRES_ROWS_PER_STATEMENT: usize = 50_000;

/// A bar to store, with its key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewBar<'a> {
    /// The symbol (must exist in `symbols`).
    pub symbol: &'a str,
    /// The bar's timeframe.
    pub timeframe: Timeframe,
    /// The bar.
    pub bar: Bar,
}

#[derive(sqlx::FromRow)]
struct BarRow {
    ts: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

impl From<BarRow> for Bar {
    fn from(r: BarRow) -> Self {
        Bar { ts: r.ts, open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume }
    }
}

/// Inserts or updates `rows` in one transaction; returns how many rows changed.
/// When a key appears more than once, the last occurrence wins.
///
/// # Errors
/// [`StorageError::Database`] on a database failure (e.g. an unknown symbol);
/// nothing is written then.
pub async fn upsert(db: &Db, rows: &[NewBar<'_>]) -> Result<u64, StorageError> {
    let rows = last_per_key(rows);
    if rows.is_empty() {
        return Ok(0);
    }
    let mut changed = 0;
    match db {
        Db::Sqlite { writer, .. } => {
            let mut tx = writer.begin().await?;
            for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
                let mut q =
                    QueryBuilder::new("INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.symbol)
                        .push_bind(r.timeframe.as_str())
                        .push_bind(r.bar.ts)
                        .push_bind(r.bar.open)
                        .push_bind(r.bar.high)
                        .push_bind(r.bar.low)
                        .push_bind(r.bar.close)
                        .push_bind(r.bar.volume);
                });
                q.push(UPSERT_TAIL);
                changed += q.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
                let column = |f: fn(&NewBar<'_>) -> f64| chunk.iter().map(f).collect::<Vec<f64>>();
                changed += sqlx::query(&POSTGRES_UPSERT)
                    .bind(chunk.iter().map(|r| r.symbol).collect::<Vec<&str>>())
                    .bind(chunk.iter().map(|r| r.timeframe.as_str()).collect::<Vec<&str>>())
                    .bind(chunk.iter().map(|r| r.bar.ts).collect::<Vec<i64>>())
                    .bind(column(|r| r.bar.open))
                    .bind(column(|r| r.bar.high))
                    .bind(column(|r| r.bar.low))
                    .bind(column(|r| r.bar.close))
                    .bind(column(|r| r.bar.volume))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        }
    }
    Ok(changed)
}

// Both dialects accept this: `excluded` names the proposed row, and the WHERE
// clause skips rows that would not change.
const UPSERT_TAIL: &str = " ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET \
     open = excluded.open, high = excluded.high, low = excluded.low, \
     close = excluded.close, volume = excluded.volume \
     WHERE bars.open <> excluded.open OR bars.high <> excluded.high OR bars.low <> excluded.low \
     OR bars.close <> excluded.close OR bars.volume <> excluded.volume";

/// One statement per chunk: the columns travel as eight arrays.
static POSTGRES_UPSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::float8[], \
         $5::float8[], $6::float8[], $7::float8[], $8::float8[]){UPSERT_TAIL}"
    )
});

/// Keeps the last row of each key, ordered by key: one statement may not touch a
/// row twice (PostgreSQL refuses), and sorted keys make inserts index-friendly.
fn last_per_key<'a>(rows: &[NewBar<'a>]) -> Vec<NewBar<'a>> {
    let mut indexed: Vec<(usize, &NewBar<'a>)> = rows.iter().enumerate().collect();
    indexed.sort_by(|(ia, a), (ib, b)| {
        (a.symbol, a.timeframe.as_str(), a.bar.ts).cmp(&(b.symbol, b.timeframe.as_str(), b.bar.ts)).then(ib.cmp(ia))
    });
    indexed.dedup_by(|(_, later), (_, kept)| {
        (later.symbol, later.timeframe, later.bar.ts) == (kept.symbol, kept.timeframe, kept.bar.ts)
    });
    indexed.into_iter().map(|(_, r)| *r).collect()
}

/// The most recent `limit` bars of `symbol` in `timeframe`, oldest first.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn latest(db: &Db, symbol: &str, timeframe: Timeframe, limit: usize) -> Result<Vec<Bar>, StorageError> {
    const SQL: &str = "SELECT ts, open, high, low, close, volume FROM bars \
         WHERE symbol = $1 AND timeframe = $2 ORDER BY ts DESC LIMIT $3";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows: Vec<Bar> = with_reader!(db, |pool| sqlx::query_as::<_, BarRow>(SQL)
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(limit)
        .fetch_all(pool)
        .await?)
    .into_iter()
    .map(Bar::from)
    .collect();
    rows.reverse();
    Ok(rows)
}

/// Bars of `symbol` in `timeframe` with `from <= ts <= to`, oldest first, at
/// most `limit`, starting after `after` when given (keyset pagination: pass the
/// last `ts` of a page to get the next one). The primary key serves the whole
/// query, so a page costs the same wherever it is in the history.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn range(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    from: i64,
    to: i64,
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<Bar>, StorageError> {
    const SQL: &str = "SELECT ts, open, high, low, close, volume FROM bars \
         WHERE symbol = $1 AND timeframe = $2 AND ts >= $3 AND ts <= $4 ORDER BY ts LIMIT $5";
    let start = after.map_or(from, |a| a.saturating_add(1).max(from));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = with_reader!(db, |pool| sqlx::query_as::<_, BarRow>(SQL)
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(start)
        .bind(to)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    Ok(rows.into_iter().map(Bar::from).collect())
}

/// The timeframes stored for `symbol`, shortest first.
///
/// # Errors
/// [`StorageError::Corrupt`] when a stored timeframe is unknown.
pub async fn timeframes(db: &Db, symbol: &str) -> Result<Vec<Timeframe>, StorageError> {
    const SQL: &str = "SELECT DISTINCT timeframe FROM bars WHERE symbol = $1";
    let names: Vec<String> = with_reader!(db, |pool| sqlx::query_scalar(SQL).bind(symbol).fetch_all(pool).await?);
    let mut tfs = names
        .iter()
        .map(|n| n.parse::<Timeframe>().map_err(|e| StorageError::Corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    tfs.sort();
    Ok(tfs)
}

/// How many bars of `symbol` in `timeframe` are stored.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn count(db: &Db, symbol: &str, timeframe: Timeframe) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT COUNT(*) FROM bars WHERE symbol = $1 AND timeframe = $2";
    Ok(with_reader!(db, |pool| sqlx::query_scalar(SQL).bind(symbol).bind(timeframe.as_str()).fetch_one(pool).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_bar(symbol: &str, ts: i64, close: f64) -> NewBar<'_> {
        NewBar {
            symbol,
            timeframe: Timeframe::D1,
            bar: Bar { ts, open: close, high: close, low: close, close, volume: 1.0 },
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last_row_in_key_order() {
        let rows = [new_bar("B", 1, 1.0), new_bar("A", 2, 2.0), new_bar("B", 1, 3.0), new_bar("A", 1, 4.0)];
        let kept: Vec<(&str, i64, f64)> =
            last_per_key(&rows).iter().map(|r| (r.symbol, r.bar.ts, r.bar.close)).collect();
        assert_eq!(kept, [("A", 1, 4.0), ("A", 2, 2.0), ("B", 1, 3.0)]);
    }
}
