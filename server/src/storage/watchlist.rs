//! The `watchlist` table: the symbols the dashboard shows and the live feed
//! and the schedules follow, in display order, and [`Watchlist`], the handle
//! that edits it and tells the followers when it changed.
//!
//! The configured `watchlist` seeds the table: at start-up ([`seed`]) each
//! configured symbol not yet in `watchlist_seeded` is added and recorded
//! there. A symbol the user removed was seeded before, so it is not added
//! again at the next start; a symbol newly written into the configuration is.
//!
//! Each user has a list of their own (`user_watchlist`): it starts as a copy
//! of the followed list on their first look, and their edits go to it. The
//! followed list is the union: a symbol a user adds is followed, and one no
//! user's list holds any more is not ([`Watchlist::add_for`],
//! [`Watchlist::remove_for`]).

use tokio::sync::watch;

use super::{Db, StorageError, with_reader, write_transaction};
use crate::symbol::Symbol;

/// Adds `$1` after the last position; nothing when it is there already.
/// (`WHERE true` lets SQLite read `ON CONFLICT` as the upsert clause.)
const ADD: &str = "INSERT INTO watchlist (symbol, position, added_at) \
     SELECT $1, COALESCE(MAX(position), 0) + 1, $2 FROM watchlist WHERE true \
     ON CONFLICT (symbol) DO NOTHING";
/// A symbols row for `$1` unless one exists (its name and flag are kept).
const SYMBOL: &str =
    "INSERT INTO symbols (symbol, name, simulated) VALUES ($1, $2, $3) ON CONFLICT (symbol) DO NOTHING";

/// The stored watchlist, in display order.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list(db: &Db) -> Result<Vec<Symbol>, StorageError> {
    const SQL: &str = "SELECT symbol FROM watchlist ORDER BY position, symbol";
    let rows: Vec<String> = with_reader!(db, |pool| sqlx::query_scalar(SQL).fetch_all(pool).await?);
    // Every stored symbol went through `Symbol::parse` on its way in.
    Ok(rows.into_iter().filter_map(|s| Symbol::parse(&s).ok()).collect())
}

/// Adds each configured symbol that was never seeded (with a `symbols` row
/// when it has none, marked `simulated` as given), in the configured order,
/// and records it as seeded; one transaction. Returns how many were added.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn seed(db: &Db, configured: &[Symbol], simulated: bool, now_ms: i64) -> Result<u64, StorageError> {
    const SEEDED: &str = "INSERT INTO watchlist_seeded (symbol, seeded_at) VALUES ($1, $2) \
         ON CONFLICT (symbol) DO NOTHING";
    let added = write_transaction!(db, |tx| {
        let mut added = 0;
        for symbol in configured {
            let new = sqlx::query(SEEDED).bind(symbol.as_str()).bind(now_ms).execute(&mut *tx).await?.rows_affected();
            if new == 0 {
                continue;
            }
            sqlx::query(SYMBOL).bind(symbol.as_str()).bind(None::<&str>).bind(simulated).execute(&mut *tx).await?;
            added += sqlx::query(ADD).bind(symbol.as_str()).bind(now_ms).execute(&mut *tx).await?.rows_affected();
        }
        added
    });
    Ok(added)
}

/// Whether `symbol` is on the watchlist, or will be once `configured` seeds it
/// at the next start (for commands that run while no server does).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn is_on(db: &Db, configured: &[Symbol], symbol: &Symbol) -> Result<bool, StorageError> {
    const STORED: &str = "SELECT COUNT(*) FROM watchlist WHERE symbol = $1";
    const SEEDED: &str = "SELECT COUNT(*) FROM watchlist_seeded WHERE symbol = $1";
    let count = |sql: &'static str| async move {
        let n: i64 = with_reader!(db, |pool| sqlx::query_scalar(sql).bind(symbol.as_str()).fetch_one(pool).await?);
        Ok::<_, StorageError>(n > 0)
    };
    if count(STORED).await? {
        return Ok(true);
    }
    Ok(configured.contains(symbol) && !count(SEEDED).await?)
}

/// Edits the stored watchlist and tells whoever follows it (the live feed, the
/// schedules, pages) that it changed. Clones share one notifier.
#[derive(Debug, Clone)]
pub struct Watchlist {
    db: Db,
    changed: watch::Sender<u64>,
}

impl Watchlist {
    /// A handle on `db`'s watchlist.
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db, changed: watch::Sender::new(0) }
    }

    /// The stored watchlist, in display order.
    ///
    /// # Errors
    /// [`StorageError::Database`] on a database failure.
    pub async fn symbols(&self) -> Result<Vec<Symbol>, StorageError> {
        list(&self.db).await
    }

    /// A receiver that sees a new value after every change made through any
    /// clone of this handle.
    #[must_use]
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Puts `symbol` at the end of the watchlist, with a `symbols` row named
    /// `name` (flagged `simulated`) when there is none. Returns whether it was
    /// added (`false`: it was there already, and nothing changed).
    ///
    /// # Errors
    /// [`StorageError::Database`] on a database failure.
    pub async fn add(&self, symbol: &Symbol, name: Option<&str>, simulated: bool) -> Result<bool, StorageError> {
        let now = now_ms();
        let added = write_transaction!(&self.db, |tx| {
            sqlx::query(SYMBOL).bind(symbol.as_str()).bind(name).bind(simulated).execute(&mut *tx).await?;
            sqlx::query(ADD).bind(symbol.as_str()).bind(now).execute(&mut *tx).await?.rows_affected()
        });
        if added > 0 {
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(added > 0)
    }

    /// Takes `symbol` off the watchlist; its stored bars stay. Returns whether
    /// it was on it.
    ///
    /// # Errors
    /// [`StorageError::Database`] on a database failure.
    pub async fn remove(&self, symbol: &Symbol) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM watchlist WHERE symbol = $1";
        let removed = super::with_writer!(&self.db, |pool| sqlx::query(SQL)
            .bind(symbol.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        if removed > 0 {
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(removed > 0)
    }
}

/// Starts `$user`'s list as a copy of the followed one, unless it has
/// started already, in the transaction `$tx` (a macro: the statement runs on
/// either backend's transaction).
macro_rules! start_list {
    ($tx:expr, $user:expr, $now:expr) => {{
        const STARTED: &str = "INSERT INTO user_watchlist_started (user_id, started_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING";
        const COPY: &str = "INSERT INTO user_watchlist (user_id, symbol, position, added_at) \
             SELECT $1, symbol, position, $2 FROM watchlist";
        if sqlx::query(STARTED).bind($user).bind($now).execute(&mut *$tx).await?.rows_affected() == 1 {
            sqlx::query(COPY).bind($user).bind($now).execute(&mut *$tx).await?;
        }
    }};
}

impl Watchlist {
    /// `user`'s list in their order; the followed list for nobody (an
    /// anonymous viewer).
    ///
    /// # Errors
    /// [`StorageError::Database`] on a database failure.
    pub async fn symbols_for(&self, user: Option<i64>) -> Result<Vec<Symbol>, StorageError> {
        const STARTED: &str = "SELECT COUNT(*) FROM user_watchlist_started WHERE user_id = $1";
        const LIST: &str = "SELECT symbol FROM user_watchlist WHERE user_id = $1 ORDER BY position, symbol";
        let Some(user) = user else { return self.symbols().await };
        let started: i64 =
            with_reader!(&self.db, |pool| sqlx::query_scalar(STARTED).bind(user).fetch_one(pool).await?);
        if started == 0 {
            let now = now_ms();
            write_transaction!(&self.db, |tx| start_list!(tx, user, now));
        }
        let rows: Vec<String> =
            with_reader!(&self.db, |pool| sqlx::query_scalar(LIST).bind(user).fetch_all(pool).await?);
        Ok(rows.into_iter().filter_map(|s| Symbol::parse(&s).ok()).collect())
    }

    /// Puts `symbol` at the end of `user`'s list, and on the followed list
    /// (with a `symbols` row named `name`, flagged `simulated`, when there is
    /// none). Returns whether it was added to the user's list.
    ///
    /// # Errors
    /// [`StorageError::Database`] on a database failure.
    pub async fn add_for(
        &self,
        user: i64,
        symbol: &Symbol,
        name: Option<&str>,
        simulated: bool,
    ) -> Result<bool, StorageError> {
        const ADD_OWN: &str = "INSERT INTO user_watchlist (user_id, symbol, position, added_at) \
             SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3 FROM user_watchlist WHERE user_id = $1 \
             ON CONFLICT (user_id, symbol) DO NOTHING";
        let now = now_ms();
        let (own, followed) = write_transaction!(&self.db, |tx| {
            start_list!(tx, user, now);
            sqlx::query(SYMBOL).bind(symbol.as_str()).bind(name).bind(simulated).execute(&mut *tx).await?;
            let own = sqlx::query(ADD_OWN)
                .bind(user)
                .bind(symbol.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let followed = sqlx::query(ADD).bind(symbol.as_str()).bind(now).execute(&mut *tx).await?.rows_affected();
            (own, followed)
        });
        if followed > 0 {
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(own > 0)
    }

    /// Takes `symbol` off `user`'s list, and off the followed list when no
    /// user's list holds it any more; its stored bars stay. Returns whether it
    /// was on the user's list.
    ///
    /// # Errors
    /// [`StorageError::Database`] on a database failure.
    pub async fn remove_for(&self, user: i64, symbol: &Symbol) -> Result<bool, StorageError> {
        const REMOVE_OWN: &str = "DELETE FROM user_watchlist WHERE user_id = $1 AND symbol = $2";
        const UNFOLLOW: &str = "DELETE FROM watchlist WHERE symbol = $1 \
             AND NOT EXISTS (SELECT 1 FROM user_watchlist WHERE symbol = $1)";
        let now = now_ms();
        let (own, unfollowed) = write_transaction!(&self.db, |tx| {
            start_list!(tx, user, now);
            let own = sqlx::query(REMOVE_OWN).bind(user).bind(symbol.as_str()).execute(&mut *tx).await?.rows_affected();
            let unfollowed = if own > 0 {
                sqlx::query(UNFOLLOW).bind(symbol.as_str()).execute(&mut *tx).await?.rows_affected()
            } else {
                0
            };
            (own, unfollowed)
        });
        if unfollowed > 0 {
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(own > 0)
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
