//! The session store: `tower-sessions` keeps sessions (cookie, id, expiry,
//! a new id at login) and this store keeps them in the `sessions` table.
//!
//! Ours rather than `tower-sessions-sqlx-store` because:
//! - ids are stored as SHA-256 digests, so a copy of the database holds no
//!   live cookie;
//! - each row names its user, so disabling a user or resetting a password
//!   ends every session of theirs in the same transaction;
//! - on SQLite, loading a session (every request with a cookie) reads on the
//!   read pool instead of queueing behind the single writer.

use std::collections::HashMap;

use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};

use super::tokens::digest;
use crate::storage::{Db, accounts};

/// The key under which axum-login keeps the logged-in user in a session.
pub const LOGIN_KEY: &str = "login";

/// The `sessions` table as a `tower-sessions` store.
#[derive(Debug, Clone)]
pub struct DbStore {
    db: Db,
}

impl DbStore {
    /// A store over `db`.
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    async fn write(&self, record: &Record, create: bool) -> Result<bool> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        let user_id =
            record.data.get(LOGIN_KEY).and_then(|login| login.get("user_id")).and_then(serde_json::Value::as_i64);
        accounts::save_session(
            &self.db,
            &digest(&record.id.to_string()),
            user_id,
            &data,
            record.expiry_date.unix_timestamp(),
            create,
        )
        .await
        .map_err(backend)
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[async_trait::async_trait]
impl tower_sessions::SessionStore for DbStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // A 128-bit random id collides only in theory; draw again if so.
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.write(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some(row) = accounts::load_session(&self.db, &digest(&id.to_string()), now_s()).await.map_err(backend)?
        else {
            return Ok(None);
        };
        let data: HashMap<String, serde_json::Value> =
            serde_json::from_str(&row.data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(row.expires_at).map_err(backend)?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        accounts::delete_session(&self.db, &digest(&id.to_string())).await.map_err(backend)
    }
}
