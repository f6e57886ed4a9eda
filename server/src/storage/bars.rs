//! The `bars` table: bulk idempotent upserts and the reads the dashboard needs.
//!
//! Writes are always batches in one transaction. A row identical to the stored
//! one is not rewritten, so replaying a backfill costs reads, not writes.
//!
//! How a batch is written (`docs/BENCHMARKS.md`, "Data platform", has the
//! figures behind these choices): duplicate keys are dropped (the last
//! occurrence wins) and the rows sorted by key, so they fall into runs of one
//! symbol and timeframe. Then:
//!
//! - SQLite: one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <changed>` per
//!   chunk. A long run gets statements of its own that bind its symbol and
//!   timeframe once instead of on every row: binding values costs about as much
//!   as SQLite's own work, and text values are the dearest. An unchanged row
//!   costs SQLite one primary-key lookup and no write.
//! - PostgreSQL: for each run the stored bars in its time span are read back
//!   (one index range scan) and every row classified as new, changed or
//!   unchanged. Unchanged rows are dropped: `ON CONFLICT DO UPDATE` would lock
//!   each of them (a WAL record per row) even when its `WHERE` turns the update
//!   down. New rows go in with `COPY` (or a plain `INSERT` for a few), which
//!   skips the speculative insertion `ON CONFLICT` needs; changed rows use
//!   `ON CONFLICT`. Another
//!   session may insert the same keys between the read and the write: the
//!   unique violation that follows rolls the call back, and it is written again
//!   with `ON CONFLICT` for every row it has to write. A run whose span could
//!   hold far more bars than it has rows (a few corrections years apart) is not
//!   read back; its rows all go through `ON CONFLICT`.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use quant::{Bar, Timeframe};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments as _, PgConnection, SqliteConnection};

use super::{Db, StorageError, with_reader, write_transaction};

/// SQLite allows 32,766 bound values per statement; 8 per row.
const SQLITE_ROWS_PER_STATEMENT: usize = 4_000;
/// Rows per statement of a single run: 6 bound values each, plus 2.
const SQLITE_RUN_ROWS_PER_STATEMENT: usize = 5_000;
/// Runs at least this long get statements of their own on SQLite.
const SQLITE_LONG_RUN: usize = 64;
/// PostgreSQL binds whole arrays; this only bounds one statement's memory.
const POSTGRES_ROWS_PER_STATEMENT: usize = 50_000;
/// New rows from this many on go in with `COPY` (two round trips instead of
/// one, but a cheaper insert per row).
const POSTGRES_COPY_MIN_ROWS: usize = 1_000;
/// Rows per `COPY` data message (about 1 MB).
const COPY_ROWS_PER_MESSAGE: usize = 10_000;
/// A run is read back when its span holds at most this many bar slots per
/// row, plus [`READ_BACK_SLACK`]: reading a stored row costs a small fraction
/// of writing one, so reading several times the batch is still a win.
const READ_BACK_SLOTS_PER_ROW: i64 = 8;
/// See [`READ_BACK_SLOTS_PER_ROW`].
const READ_BACK_SLACK: i64 = 1_024;

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
    let runs = key_runs(&rows);
    match db {
        Db::Sqlite { writer, .. } => Ok(write_transaction!(pool writer, |tx| {
            let mut changed = 0;
            let mut short = Vec::new();
            for run in &runs {
                if run.rows.len() >= SQLITE_LONG_RUN {
                    changed += upsert_sqlite(&mut tx, Layout::Run(run), &rows[run.rows.clone()]).await?;
                } else {
                    short.extend_from_slice(&rows[run.rows.clone()]);
                }
            }
            changed + upsert_sqlite(&mut tx, Layout::Mixed, &short).await?
        })),
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            match write_postgres(&mut tx, &rows, &runs, true).await {
                Ok(changed) => {
                    tx.commit().await?;
                    Ok(changed)
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    tracing::debug!(error = %e, "bars written concurrently; retrying the batch with ON CONFLICT");
                    tx.rollback().await?;
                    let mut tx = pool.begin().await?;
                    let changed = write_postgres(&mut tx, &rows, &runs, false).await?;
                    tx.commit().await?;
                    Ok(changed)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// What to do with a row, once compared with the stored bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// No stored bar has its key.
    New,
    /// Stored with other values, or not looked up: upsert it.
    Upsert,
    /// Stored with the same values: skip it.
    Unchanged,
}

/// A run of rows sharing a symbol and timeframe, with its time span.
#[derive(Debug, Clone)]
struct KeyRun<'a> {
    symbol: &'a str,
    timeframe: Timeframe,
    first_ts: i64,
    last_ts: i64,
    rows: Range<usize>,
}

impl KeyRun<'_> {
    /// Whether reading the stored bars of the span is cheap next to writing
    /// the run's rows (the span holds few bar slots per row).
    fn worth_reading(&self) -> bool {
        let n = i64::try_from(self.rows.len()).unwrap_or(i64::MAX);
        let budget = n.saturating_mul(READ_BACK_SLOTS_PER_ROW).saturating_add(READ_BACK_SLACK);
        self.last_ts.checked_sub(self.first_ts).is_some_and(|span| span / self.timeframe.seconds().max(1) < budget)
    }
}

/// Splits key-sorted rows into runs of one symbol and timeframe.
fn key_runs<'a>(rows: &[NewBar<'a>]) -> Vec<KeyRun<'a>> {
    let mut runs: Vec<KeyRun<'a>> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if run.symbol == r.symbol && run.timeframe == r.timeframe => {
                run.last_ts = r.bar.ts;
                run.rows.end = i + 1;
            }
            _ => runs.push(KeyRun {
                symbol: r.symbol,
                timeframe: r.timeframe,
                first_ts: r.bar.ts,
                last_ts: r.bar.ts,
                rows: i..i + 1,
            }),
        }
    }
    runs
}

/// A stored bar read back: the index of its run, then `ts` and the values.
type StoredRow = (i64, i64, f64, f64, f64, f64, f64);

/// Classifies every row against the stored bars read back for the runs worth
/// reading; rows of other runs are [`Fate::Upsert`].
fn classify(rows: &[NewBar<'_>], runs: &[KeyRun<'_>], stored: &[StoredRow]) -> Vec<Fate> {
    let mut fates = vec![Fate::Upsert; rows.len()];
    for run in runs.iter().filter(|r| r.worth_reading()) {
        fates[run.rows.clone()].fill(Fate::New);
    }
    for &(run, ts, open, high, low, close, volume) in stored {
        let Some(run) = usize::try_from(run).ok().and_then(|i| runs.get(i)) else { continue };
        let in_run = &rows[run.rows.clone()];
        if let Ok(i) = in_run.binary_search_by_key(&ts, |r| r.bar.ts) {
            let b = in_run[i].bar;
            let same = (b.open, b.high, b.low, b.close, b.volume) == (open, high, low, close, volume);
            fates[run.rows.start + i] = if same { Fate::Unchanged } else { Fate::Upsert };
        }
    }
    fates
}

/// The runs worth reading back, with their indices.
fn runs_to_read<'r, 'a>(runs: &'r [KeyRun<'a>]) -> Vec<(i64, &'r KeyRun<'a>)> {
    runs.iter()
        .enumerate()
        .filter(|(_, r)| r.worth_reading())
        .map(|(i, r)| (i64::try_from(i).unwrap_or(i64::MAX), r))
        .collect()
}

/// How a SQLite upsert statement lays out its rows.
#[derive(Debug, Clone, Copy)]
enum Layout<'r, 'a> {
    /// Eight values per row.
    Mixed,
    /// The run's symbol and timeframe once, then six values per row.
    Run(&'r KeyRun<'a>),
}

/// Upserts `rows` on SQLite in statements of `layout`.
async fn upsert_sqlite(
    conn: &mut SqliteConnection,
    layout: Layout<'_, '_>,
    rows: &[NewBar<'_>],
) -> Result<u64, sqlx::Error> {
    static MIXED: LazyLock<String> = LazyLock::new(|| sqlite_upsert_sql(SQLITE_ROWS_PER_STATEMENT));
    static RUN: LazyLock<String> = LazyLock::new(|| sqlite_run_upsert_sql(SQLITE_RUN_ROWS_PER_STATEMENT));
    let (per_statement, values_per_row) = match layout {
        Layout::Mixed => (SQLITE_ROWS_PER_STATEMENT, 8),
        Layout::Run(_) => (SQLITE_RUN_ROWS_PER_STATEMENT, 6),
    };
    let mut changed = 0;
    for chunk in rows.chunks(per_statement) {
        // Full chunks reuse one SQL text, so sqlx's statement cache prepares it once.
        let sql: Cow<'static, str> = match (layout, chunk.len() == per_statement) {
            (Layout::Mixed, true) => Cow::Borrowed(MIXED.as_str()),
            (Layout::Run(_), true) => Cow::Borrowed(RUN.as_str()),
            (Layout::Mixed, false) => Cow::Owned(sqlite_upsert_sql(chunk.len())),
            (Layout::Run(_), false) => Cow::Owned(sqlite_run_upsert_sql(chunk.len())),
        };
        let mut args = SqliteArguments::default();
        args.reserve(2 + values_per_row * chunk.len(), 0);
        if let Layout::Run(run) = layout {
            args.add(run.symbol).map_err(sqlx::Error::Encode)?;
            args.add(run.timeframe.as_str()).map_err(sqlx::Error::Encode)?;
        }
        for r in chunk {
            if let Layout::Mixed = layout {
                args.add(r.symbol).map_err(sqlx::Error::Encode)?;
                args.add(r.timeframe.as_str()).map_err(sqlx::Error::Encode)?;
            }
            args.add(r.bar.ts).map_err(sqlx::Error::Encode)?;
            for value in [r.bar.open, r.bar.high, r.bar.low, r.bar.close, r.bar.volume] {
                args.add(value).map_err(sqlx::Error::Encode)?;
            }
        }
        changed += sqlx::query_with(&sql, args).execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// `n` groups of `width` SQLite placeholders: `(?, ?), (?, ?)`.
fn placeholders(n: usize, width: usize) -> String {
    let group = format!("({})", vec!["?"; width].join(", "));
    vec![group; n].join(", ")
}

/// The symbol and timeframe are the first two placeholders, then the rows'
/// six values. (`WHERE true` tells SQLite's parser that `ON CONFLICT` belongs
/// to the `INSERT`, not to a join.)
fn sqlite_run_upsert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) \
         SELECT ?, ?, column1, column2, column3, column4, column5, column6 FROM (VALUES {}) WHERE true{UPSERT_TAIL}",
        placeholders(rows, 6)
    )
}

fn sqlite_upsert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) VALUES {}{UPSERT_TAIL}",
        placeholders(rows, 8)
    )
}

/// Reads back, classifies and writes `rows`; `optimistic` sends new rows with a
/// plain `INSERT` (a concurrent writer then makes it fail with a unique violation).
async fn write_postgres(
    conn: &mut PgConnection,
    rows: &[NewBar<'_>],
    runs: &[KeyRun<'_>],
    optimistic: bool,
) -> Result<u64, sqlx::Error> {
    // `OFFSET 0` keeps the subquery from being flattened into a join the
    // planner might run as a hash join over the whole table: each range must
    // be one index scan.
    const READ_BACK: &str = "SELECT g.run, b.ts, b.open, b.high, b.low, b.close, b.volume \
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[]) AS g(run, symbol, timeframe, lo, hi) \
         CROSS JOIN LATERAL (SELECT ts, open, high, low, close, volume FROM bars \
             WHERE bars.symbol = g.symbol AND bars.timeframe = g.timeframe AND bars.ts BETWEEN g.lo AND g.hi \
             OFFSET 0) AS b";
    let to_read = runs_to_read(runs);
    let stored: Vec<StoredRow> = if to_read.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(READ_BACK)
            .bind(to_read.iter().map(|(i, _)| *i).collect::<Vec<i64>>())
            .bind(to_read.iter().map(|(_, r)| r.symbol).collect::<Vec<&str>>())
            .bind(to_read.iter().map(|(_, r)| r.timeframe.as_str()).collect::<Vec<&str>>())
            .bind(to_read.iter().map(|(_, r)| r.first_ts).collect::<Vec<i64>>())
            .bind(to_read.iter().map(|(_, r)| r.last_ts).collect::<Vec<i64>>())
            .fetch_all(&mut *conn)
            .await?
    };
    let fates = classify(rows, runs, &stored);
    let pick = |wanted: &dyn Fn(Fate) -> bool| -> Vec<NewBar<'_>> {
        rows.iter().zip(&fates).filter(|(_, f)| wanted(**f)).map(|(r, _)| *r).collect()
    };
    let mut changed = 0;
    if optimistic {
        let new = pick(&|f| f == Fate::New);
        changed += if new.len() >= POSTGRES_COPY_MIN_ROWS {
            copy_postgres(conn, &new).await?
        } else {
            postgres_statement(conn, POSTGRES_INSERT, &new).await?
        };
        changed += postgres_statement(conn, &POSTGRES_UPSERT, &pick(&|f| f == Fate::Upsert)).await?;
    } else {
        changed += postgres_statement(conn, &POSTGRES_UPSERT, &pick(&|f| f != Fate::Unchanged)).await?;
    }
    Ok(changed)
}

/// Inserts `rows` with `COPY ... FROM STDIN (FORMAT binary)`: PostgreSQL reads
/// the tuples straight off the wire and inserts them a page at a time, with
/// none of the array decoding and `UNNEST` of [`POSTGRES_INSERT`]. Fails like a
/// plain `INSERT` when a key already exists.
async fn copy_postgres(conn: &mut PgConnection, rows: &[NewBar<'_>]) -> Result<u64, sqlx::Error> {
    const COPY: &str = "COPY bars (symbol, timeframe, ts, open, high, low, close, volume) FROM STDIN (FORMAT binary)";
    // Signature, flags (no OIDs), header extension length.
    const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
    let mut copy = conn.copy_in_raw(COPY).await?;
    let mut buf = Vec::with_capacity(128 * COPY_ROWS_PER_MESSAGE.min(rows.len()) + HEADER.len());
    buf.extend_from_slice(HEADER);
    for chunk in rows.chunks(COPY_ROWS_PER_MESSAGE) {
        for r in chunk {
            // Per tuple: the field count, then each field's length and bytes
            // (text as UTF-8, int8 and float8 big-endian).
            buf.extend_from_slice(&8i16.to_be_bytes());
            for text in [r.symbol, r.timeframe.as_str()] {
                let len = i32::try_from(text.len()).map_err(|_| sqlx::Error::Encode("symbol too long".into()))?;
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(text.as_bytes());
            }
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&r.bar.ts.to_be_bytes());
            for value in [r.bar.open, r.bar.high, r.bar.low, r.bar.close, r.bar.volume] {
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&value.to_bits().to_be_bytes());
            }
        }
        copy.send(buf.as_slice()).await?;
        buf.clear();
    }
    // The trailer: a field count of -1.
    copy.send((-1i16).to_be_bytes().as_slice()).await?;
    copy.finish().await
}

/// Runs `sql` (eight array parameters, one per column) over `rows` in chunks.
async fn postgres_statement(conn: &mut PgConnection, sql: &str, rows: &[NewBar<'_>]) -> Result<u64, sqlx::Error> {
    let mut changed = 0;
    for chunk in rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
        let column = |f: fn(&NewBar<'_>) -> f64| chunk.iter().map(f).collect::<Vec<f64>>();
        changed += sqlx::query(sql)
            .bind(chunk.iter().map(|r| r.symbol).collect::<Vec<&str>>())
            .bind(chunk.iter().map(|r| r.timeframe.as_str()).collect::<Vec<&str>>())
            .bind(chunk.iter().map(|r| r.bar.ts).collect::<Vec<i64>>())
            .bind(column(|r| r.bar.open))
            .bind(column(|r| r.bar.high))
            .bind(column(|r| r.bar.low))
            .bind(column(|r| r.bar.close))
            .bind(column(|r| r.bar.volume))
            .execute(&mut *conn)
            .await?
            .rows_affected();
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

/// The columns travel as eight arrays.
const POSTGRES_INSERT: &str = "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::float8[], \
     $5::float8[], $6::float8[], $7::float8[], $8::float8[])";

/// [`POSTGRES_INSERT`] with the upsert tail.
static POSTGRES_UPSERT: LazyLock<String> = LazyLock::new(|| format!("{POSTGRES_INSERT}{UPSERT_TAIL}"));

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

/// Up to `limit` bars of `symbol` in `timeframe` that opened before `before`,
/// oldest first: the page a chart asks for as the user scrolls back. Served
/// by the primary key, newest first, wherever it is in the history.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn before(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    before: i64,
    limit: usize,
) -> Result<Vec<Bar>, StorageError> {
    const SQL: &str = "SELECT ts, open, high, low, close, volume FROM bars \
         WHERE symbol = $1 AND timeframe = $2 AND ts < $3 ORDER BY ts DESC LIMIT $4";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows: Vec<Bar> = with_reader!(db, |pool| sqlx::query_as::<_, BarRow>(SQL)
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(before)
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
    // Columns by position (a tuple) rather than by name: on the million-row
    // reads of the lab, looking each column up by name per row costs more
    // than the query itself.
    let rows: Vec<(i64, f64, f64, f64, f64, f64)> = with_reader!(db, |pool| sqlx::query_as(SQL)
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(start)
        .bind(to)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    Ok(rows
        .into_iter()
        .map(|(ts, open, high, low, close, volume)| Bar { ts, open, high, low, close, volume })
        .collect())
}

/// [`range`] for bulk reads, such as the lab's million bars, without
/// pagination: the same bars, oldest first, at most `limit`.
///
/// On a SQLite file it reads through `rusqlite` on a blocking thread, with a
/// read-only connection of its own. sqlx's SQLite driver hands each row from
/// its worker thread to the async caller through a channel (a thread wake-up
/// per row) and copies every value into an allocation of its own: 2.5 µs a
/// row, 2.5 s for a million bars, where SQLite reads them in 0.3 s. In-memory
/// databases (which a second connection cannot open) and PostgreSQL go
/// through [`range`].
///
/// # Errors
/// [`StorageError::Bulk`] or [`StorageError::Database`] on a database failure.
pub async fn bulk(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<Bar>, StorageError> {
    if let Db::Sqlite { reader, .. } = db {
        let path = reader.connect_options().get_filename().to_path_buf();
        if path.is_file() {
            let (symbol, timeframe) = (symbol.to_owned(), timeframe.as_str());
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            return tokio::task::spawn_blocking(move || read_file(&path, &symbol, timeframe, from, to, limit))
                .await
                .map_err(|e| StorageError::Corrupt(format!("the bulk read stopped: {e}")))?;
        }
    }
    range(db, symbol, timeframe, from, to, None, limit).await
}

fn read_file(
    path: &std::path::Path,
    symbol: &str,
    timeframe: &str,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<Bar>, StorageError> {
    use rusqlite::{Connection, OpenFlags};
    const SQL: &str = "SELECT ts, open, high, low, close, volume FROM bars \
         WHERE symbol = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts <= ?4 ORDER BY ts LIMIT ?5";
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut statement = conn.prepare(SQL)?;
    let rows = statement.query_map(rusqlite::params![symbol, timeframe, from, to, limit], |r| {
        Ok(Bar { ts: r.get(0)?, open: r.get(1)?, high: r.get(2)?, low: r.get(3)?, close: r.get(4)?, volume: r.get(5)? })
    })?;
    Ok(rows.collect::<Result<Vec<Bar>, _>>()?)
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

    #[test]
    fn runs_split_on_symbol_and_timeframe() {
        let mut rows = last_per_key(&[new_bar("A", 1, 1.0), new_bar("A", 2, 1.0), new_bar("B", 5, 1.0)]);
        rows.push(NewBar { timeframe: Timeframe::W1, ..rows[2] });
        let runs: Vec<(&str, Timeframe, i64, i64, Range<usize>)> =
            key_runs(&rows).into_iter().map(|r| (r.symbol, r.timeframe, r.first_ts, r.last_ts, r.rows)).collect();
        assert_eq!(
            runs,
            [("A", Timeframe::D1, 1, 2, 0..2), ("B", Timeframe::D1, 5, 5, 2..3), ("B", Timeframe::W1, 5, 5, 3..4)]
        );
    }

    #[test]
    fn sparse_runs_are_not_read_back() {
        let day = 86_400;
        let run = |rows: usize, span_days: i64| KeyRun {
            symbol: "A",
            timeframe: Timeframe::D1,
            first_ts: 0,
            last_ts: span_days * day,
            rows: 0..rows,
        };
        assert!(run(5, 6).worth_reading());
        assert!(run(10_000, 14_000).worth_reading());
        // Two corrections twenty years apart: reading 7,300 days back is not worth it.
        assert!(!run(2, 7_300).worth_reading());
        assert!(!KeyRun { last_ts: i64::MAX, first_ts: i64::MIN, ..run(2, 0) }.worth_reading());
    }

    #[test]
    fn rows_are_classified_against_what_is_stored() {
        let rows = last_per_key(&[new_bar("A", 1, 1.0), new_bar("A", 2, 2.0), new_bar("A", 3, 3.0)]);
        let far = NewBar { timeframe: Timeframe::M1, ..new_bar("B", 0, 1.0) };
        let mut rows = rows;
        rows.extend([far, NewBar { bar: Bar { ts: 6_000_000, ..far.bar }, ..far }]);
        let runs = key_runs(&rows);
        assert!(runs[0].worth_reading() && !runs[1].worth_reading());
        // Stored: ts 1 identical, ts 2 with another close, ts 9 (not in the batch).
        let stored =
            [(0, 1, 1.0, 1.0, 1.0, 1.0, 1.0), (0, 2, 2.0, 2.0, 2.0, 9.0, 1.0), (0, 9, 1.0, 1.0, 1.0, 1.0, 1.0)];
        assert_eq!(
            classify(&rows, &runs, &stored),
            [Fate::Unchanged, Fate::Upsert, Fate::New, Fate::Upsert, Fate::Upsert]
        );
    }

    /// A scratch PostgreSQL database, as the integration tests make them.
    async fn scratch_postgres() -> (Db, String, String) {
        use sqlx::Connection as _;
        let admin = std::env::var("FINSTAGE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("finstage_bars_unit_{}_{nanos}", std::process::id());
        let mut conn =
            PgConnection::connect(&admin).await.expect("PostgreSQL must run for the test suite (see README)");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        conn.close().await.expect("close");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        let db = Db::connect(&crate::config::DatabaseUrl::from(url.as_str())).await.expect("connect");
        db.migrate().await.expect("migrate");
        (db, admin, url)
    }

    /// Another session inserts a key between the read-back and the insert:
    /// the plain insert meets a unique violation and the batch is written
    /// again with `ON CONFLICT`, overwriting that row.
    #[tokio::test]
    async fn postgres_falls_back_to_on_conflict_when_a_key_appears_meanwhile() {
        use sqlx::Connection as _;
        let (db, admin, url) = scratch_postgres().await;
        let symbol = crate::symbol::Symbol::parse("RACE").expect("symbol");
        crate::storage::symbols::upsert(&db, &symbol, None, false).await.expect("symbol row");
        let series: Vec<Bar> = (0..2_000)
            .map(|i| Bar { ts: i * 86_400, open: 2.0, high: 2.0, low: 2.0, close: 2.0, volume: 1.0 })
            .collect();

        // The other session's row stays uncommitted, so the read-back cannot see it
        // and the batch's COPY waits on its key.
        let mut other = PgConnection::connect(&url).await.expect("second session");
        sqlx::query("BEGIN").execute(&mut other).await.expect("begin");
        sqlx::query("INSERT INTO bars VALUES ('RACE', '1d', 432000, 1, 1, 1, 1, 1)")
            .execute(&mut other)
            .await
            .expect("insert");
        let writer = {
            let (db, series) = (db.clone(), series.clone());
            tokio::spawn(async move {
                let rows: Vec<NewBar<'_>> =
                    series.iter().map(|&bar| NewBar { symbol: "RACE", timeframe: Timeframe::D1, bar }).collect();
                upsert(&db, &rows).await
            })
        };
        // Wait until the batch's statement waits on the other session's
        // transaction: only then has it read back and gone on to insert.
        let other_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut other).await.expect("pid");
        let mut observer = PgConnection::connect(&url).await.expect("observer session");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let blocked: String = loop {
            let blocked = sqlx::query_scalar(
                "SELECT query FROM pg_stat_activity \
                 WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))",
            )
            .bind(other_pid)
            .fetch_optional(&mut observer)
            .await
            .expect("pg_stat_activity");
            if let Some(query) = blocked {
                break query;
            }
            assert!(!writer.is_finished(), "the batch ended without waiting on the other session's key");
            assert!(std::time::Instant::now() < deadline, "the batch never waited on the other session's key");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert!(
            blocked.trim_start().starts_with("COPY"),
            "the plain insert (COPY) should be the one waiting: {blocked}"
        );
        assert!(!writer.is_finished(), "the batch should be waiting on the other session's key");
        observer.close().await.expect("close");
        sqlx::query("COMMIT").execute(&mut other).await.expect("commit");
        other.close().await.expect("close");

        let changed = writer.await.expect("join").expect("the batch is retried, not failed");
        assert_eq!(changed, 2_000);
        let stored = range(&db, "RACE", Timeframe::D1, 0, i64::MAX, None, 5_000).await.expect("read");
        assert_eq!(stored, series);

        db.close().await;
        let name = url.rsplit_once('/').map(|(_, n)| n.to_owned()).unwrap_or_default();
        let mut conn = PgConnection::connect(&admin).await.expect("admin");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.expect("drop");
    }
}
