//! The database: connection pools, migrations, and one module per table family.
//!
//! SQLite is the embedded default, PostgreSQL the production and multi-node
//! choice; [`Db`] holds either. Queries use sqlx's runtime API (no compile-time
//! database needed). Where the two dialects differ (bulk upserts) each backend
//! gets its own statement, next to the other in the same function.
//!
//! SQLite runs in WAL mode with one writer connection and a pool of read-only
//! connections: SQLite serialises writers anyway, and a single writer turns lock
//! contention into an orderly queue instead of `SQLITE_BUSY` retries.

pub mod accounts;
pub mod bars;
pub mod jobs;
pub mod lab_runs;
pub mod news;
pub mod runs;
pub mod signals;
pub mod stats;
pub mod symbols;
pub mod telegram;
pub mod watchlist;

/// Runs `$body` with `$pool` bound to the read pool of either backend. The body is
/// type-checked once per backend, so dialect-neutral SQL is written once.
macro_rules! with_reader {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite { reader: $pool, .. } => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}

/// Like [`with_reader`], with the write pool (SQLite's single writer).
macro_rules! with_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite { writer: $pool, .. } => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a write transaction on `$db`'s writer, with the
/// transaction bound to `$tx`; evaluates to the body's value, or returns its
/// error (or the commit's) from the enclosing function.
///
/// When the body or the commit fails, the connection is closed instead of
/// going back to the pool ([`AfterFailedWrite`]). SQLite rolls a transaction
/// back by itself on some errors (a full disk, an I/O error); the driver then
/// still counts it as open, and a connection kept after that ran every later
/// write inside a savepoint that never committed: the writes reported success
/// and nobody ever saw them (found by the fault suite's full disk). A fresh
/// connection has no such history.
macro_rules! write_transaction {
    (pool $pool:expr, |$tx:ident| $body:expr) => {{
        let mut conn = $pool.acquire().await?;
        let result: Result<_, $crate::storage::StorageError> = async {
            let mut $tx = sqlx::Connection::begin(&mut *conn).await?;
            let value = $body;
            $tx.commit().await?;
            Ok(value)
        }
        .await;
        if result.is_err() {
            $crate::storage::AfterFailedWrite::after_failed_write(&mut conn).await;
        }
        result?
    }};
    ($db:expr, |$tx:ident| $body:expr) => {
        $crate::storage::with_writer!($db, |pool| $crate::storage::write_transaction!(pool pool, |$tx| $body))
    };
}

pub(crate) use {with_reader, with_writer, write_transaction};

/// What becomes of a connection whose write transaction failed (see [`write_transaction`]).
pub(crate) trait AfterFailedWrite: sqlx::Database {
    /// Marks `conn` to be closed, not pooled, unless closing it would lose the database.
    async fn after_failed_write(conn: &mut sqlx::pool::PoolConnection<Self>);
}

impl AfterFailedWrite for sqlx::Sqlite {
    async fn after_failed_write(conn: &mut sqlx::pool::PoolConnection<Self>) {
        // An in-memory database lives in its one connection: it is kept (it
        // has no disk to fill, nor another process to lock it).
        const MAIN_FILE: &str = "SELECT file FROM pragma_database_list WHERE name = 'main'";
        let file: Option<String> = sqlx::query_scalar(MAIN_FILE).fetch_optional(&mut **conn).await.ok().flatten();
        if file.is_none_or(|f| !f.is_empty()) {
            conn.close_on_drop();
        }
    }
}

impl AfterFailedWrite for sqlx::Postgres {
    async fn after_failed_write(conn: &mut sqlx::pool::PoolConnection<Self>) {
        conn.close_on_drop();
    }
}

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::DatabaseUrl;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Storage failures. Callers map them to their own boundary (HTTP 500, CLI exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] MigrateError),
    /// A bulk read of a SQLite file failed ([`bars::bulk`]).
    #[error("database error: {0}")]
    Bulk(#[from] rusqlite::Error),
    /// A stored value could not be read back (e.g. an unknown timeframe).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A failure shared by several waiters (a coalesced cache computation).
    #[error(transparent)]
    Shared(std::sync::Arc<StorageError>),
}

impl StorageError {
    /// Whether the database refused these rows for what they are (a foreign
    /// key or check constraint), as opposed to failing to write at all (down,
    /// locked, disk full): rows refused for themselves fail again on retry.
    #[must_use]
    pub fn is_refusal_of_the_rows(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(e)) => {
                e.is_foreign_key_violation() || e.is_check_violation() || e.is_unique_violation()
            }
            Self::Shared(e) => e.is_refusal_of_the_rows(),
            _ => false,
        }
    }
}

impl From<std::sync::Arc<StorageError>> for StorageError {
    fn from(e: std::sync::Arc<StorageError>) -> Self {
        Self::Shared(e)
    }
}

/// A handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite: one writer connection, several readers.
    Sqlite {
        /// The single connection that writes.
        writer: SqlitePool,
        /// Read-only connections (the writer pool itself for in-memory databases).
        reader: SqlitePool,
    },
    /// PostgreSQL: one pool for everything.
    Postgres(PgPool),
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Db {
    /// Connects to `url`, creating a SQLite file when missing.
    ///
    /// # Errors
    /// [`StorageError::Database`] when the URL is malformed or the database unreachable.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StorageError> {
        let raw = url.expose();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(raw)?;
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            return Ok(Self::Postgres(pool));
        }
        let options = SqliteConnectOptions::from_str(raw)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(usize::from(in_memory) as u32)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        let reader = if in_memory {
            // Every connection to `:memory:` is a separate database; share the writer.
            writer.clone()
        } else {
            SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?
        };
        Ok(Self::Sqlite { writer, reader })
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations. Safe to run on every start: applied ones are skipped.
    ///
    /// # Errors
    /// [`StorageError::Migrate`] when a migration fails or the history diverged.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite { writer, .. } => SQLITE_MIGRATIONS.run(writer).await?,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// A trivial query, for readiness checks.
    ///
    /// # Errors
    /// [`StorageError::Database`] when the database does not answer.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite { reader, .. } => sqlx::query("SELECT 1").execute(reader).await?.rows_affected(),
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await?.rows_affected(),
        };
        Ok(())
    }

    /// Closes every connection, waiting for statements in flight to finish.
    pub async fn close(&self) {
        match self {
            Self::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}
