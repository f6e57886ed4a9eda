//! The `symbols` table: what Finstage follows.

use super::{Db, StorageError, with_reader, with_writer};
use crate::symbol::Symbol;

/// A stored symbol.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SymbolRow {
    /// The ticker.
    pub symbol: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// Whether its bars come from the simulator.
    pub simulated: bool,
}

/// Adds `symbol`, or updates its name and simulated flag when present.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn upsert(db: &Db, symbol: &Symbol, name: Option<&str>, simulated: bool) -> Result<(), StorageError> {
    const SQL: &str = "INSERT INTO symbols (symbol, name, simulated) VALUES ($1, $2, $3) \
         ON CONFLICT (symbol) DO UPDATE SET name = COALESCE(excluded.name, symbols.name), \
         simulated = excluded.simulated";
    with_writer!(db, |pool| {
        sqlx::query(SQL).bind(symbol.as_str()).bind(name).bind(simulated).execute(pool).await?.rows_affected()
    });
    Ok(())
}

/// The stored symbol, if any.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn get(db: &Db, symbol: &str) -> Result<Option<SymbolRow>, StorageError> {
    const SQL: &str = "SELECT symbol, name, simulated FROM symbols WHERE symbol = $1";
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, SymbolRow>(SQL).bind(symbol).fetch_optional(pool).await?))
}

/// Every stored symbol, alphabetically.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(db: &Db) -> Result<Vec<SymbolRow>, StorageError> {
    const SQL: &str = "SELECT symbol, name, simulated FROM symbols ORDER BY symbol";
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, SymbolRow>(SQL).fetch_all(pool).await?))
}

/// Removes `symbol` and, by cascade, all its bars. Returns whether it existed.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn delete(db: &Db, symbol: &str) -> Result<bool, StorageError> {
    const SQL: &str = "DELETE FROM symbols WHERE symbol = $1";
    let deleted = with_writer!(db, |pool| sqlx::query(SQL).bind(symbol).execute(pool).await?.rows_affected());
    Ok(deleted > 0)
}
