//! The accounts tables: `users`, `api_tokens`, `sessions`, `setup_links`,
//! `audit_log` and the one-row `auth_epoch`. Plain SQL; the rules (who may
//! do what, hashing, expiry) are in `crate::accounts`.
//!
//! Every change that must end credentials at once (a password reset, a role
//! change, disabling a user, revoking a token, a logout) bumps `auth_epoch`
//! in the same transaction, so every process serving this database can tell
//! its open WebSockets to check their credentials again.

use serde::Serialize;

use super::{Db, StorageError, with_reader, with_writer, write_transaction};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// Login name, lower case.
    pub name: String,
    /// `admin`, `trader` or `viewer`.
    pub role: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms when disabled; `None` while active.
    pub disabled_at: Option<i64>,
    /// Sessions started under another value have ended.
    pub session_epoch: i64,
}

const USER_COLUMNS: &str = "id, name, role, password_hash, created_at, disabled_at, session_epoch";

/// An API token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TokenRow {
    /// Row id.
    pub id: i64,
    /// The user it acts for.
    pub user_id: i64,
    /// The user's name.
    pub user_name: String,
    /// A label.
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    /// The token's first characters.
    pub prefix: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; `None`: never expires.
    pub expires_at: Option<i64>,
    /// Unix ms.
    pub last_used_at: Option<i64>,
    /// Unix ms.
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "t.id, t.user_id, u.name AS user_name, t.name, t.scope, t.prefix, t.created_at, \
                             t.expires_at, t.last_used_at, t.revoked_at";

/// A row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    /// Row id.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// The user who acted, when one did.
    pub user_id: Option<i64>,
    /// Their name at the time, or `cli` / `setup`.
    pub actor: String,
    /// `session`, `token`, `anonymous`, `cli` or `setup`.
    pub via: String,
    /// What was done: `METHOD /route` or a command (`users.add`).
    pub action: String,
    /// What it was done to, when one thing.
    pub target: Option<String>,
    /// The HTTP status answered.
    pub status: Option<i64>,
    /// The client's address.
    pub source: Option<String>,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone, Copy)]
pub struct NewAudit<'a> {
    /// See [`AuditRow`].
    pub user_id: Option<i64>,
    /// See [`AuditRow`].
    pub actor: &'a str,
    /// See [`AuditRow`].
    pub via: &'a str,
    /// See [`AuditRow`].
    pub action: &'a str,
    /// See [`AuditRow`].
    pub target: Option<&'a str>,
    /// See [`AuditRow`].
    pub status: Option<u16>,
    /// See [`AuditRow`].
    pub source: Option<&'a str>,
}

/// How many users there are (disabled ones included).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn count_users(db: &Db) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT COUNT(*) FROM users";
    Ok(with_reader!(db, |pool| sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await?))
}

/// Adds a user. A taken name is a unique violation
/// ([`StorageError::is_refusal_of_the_rows`]).
///
/// # Errors
/// [`StorageError::Database`] on a database failure or a taken name.
pub async fn insert_user(db: &Db, name: &str, role: &str, hash: &str, now_ms: i64) -> Result<UserRow, StorageError> {
    let sql = format!(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING {USER_COLUMNS}"
    );
    Ok(with_writer!(db, |pool| sqlx::query_as::<_, UserRow>(&sql)
        .bind(name)
        .bind(role)
        .bind(hash)
        .bind(now_ms)
        .fetch_one(pool)
        .await?))
}

/// Uses the setup link whose token hashes to `secret_hash` and adds the
/// first user with it, in one transaction: `None` when the link is unknown,
/// used or expired, or a user exists already (nothing changes then).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn setup_first_user(
    db: &Db,
    secret_hash: &str,
    name: &str,
    hash: &str,
    now_ms: i64,
) -> Result<Option<UserRow>, StorageError> {
    const USE: &str =
        "UPDATE setup_links SET used_at = $1 WHERE secret_hash = $2 AND used_at IS NULL AND expires_at > $1";
    const COUNT: &str = "SELECT COUNT(*) FROM users";
    let insert = format!(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, 'admin', $2, $3) RETURNING {USER_COLUMNS}"
    );
    Ok(with_writer!(db, |pool| write_transaction!(pool pool, |tx| {
        let used = sqlx::query(USE).bind(now_ms).bind(secret_hash).execute(&mut *tx).await?.rows_affected();
        let users: i64 = sqlx::query_scalar(COUNT).fetch_one(&mut *tx).await?;
        if used == 1 && users == 0 {
            Some(sqlx::query_as::<_, UserRow>(&insert).bind(name).bind(hash).bind(now_ms).fetch_one(&mut *tx).await?)
        } else {
            // Nothing is written: the transaction rolls back on drop.
            None
        }
    })))
}

/// The user named `name`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn user_by_name(db: &Db, name: &str) -> Result<Option<UserRow>, StorageError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, UserRow>(&sql).bind(name).fetch_optional(pool).await?))
}

/// The user `id`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn user_by_id(db: &Db, id: i64) -> Result<Option<UserRow>, StorageError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, UserRow>(&sql).bind(id).fetch_optional(pool).await?))
}

/// Every user, by name.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list_users(db: &Db) -> Result<Vec<UserRow>, StorageError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, UserRow>(&sql).fetch_all(pool).await?))
}

/// A change to a user that ends their sessions.
#[derive(Debug, Clone, Copy)]
pub enum UserChange<'a> {
    /// A new role.
    Role(&'a str),
    /// A new password hash.
    Password(&'a str),
    /// Disabled at this Unix ms, or enabled again (`None`).
    Disabled(Option<i64>),
}

/// Applies `change` to the user `id`, ends their sessions and bumps the
/// auth epoch, in one transaction; whether the user exists.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn change_user(db: &Db, id: i64, change: UserChange<'_>) -> Result<bool, StorageError> {
    const ROLE: &str = "UPDATE users SET role = $1, session_epoch = session_epoch + 1 WHERE id = $2";
    const PASSWORD: &str = "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1 WHERE id = $2";
    const DISABLED: &str = "UPDATE users SET disabled_at = $1, session_epoch = session_epoch + 1 WHERE id = $2";
    const END_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
    Ok(with_writer!(db, |pool| write_transaction!(pool pool, |tx| {
        let query = match change {
            UserChange::Role(role) => sqlx::query(ROLE).bind(role),
            UserChange::Password(hash) => sqlx::query(PASSWORD).bind(hash),
            UserChange::Disabled(at) => sqlx::query(DISABLED).bind(at),
        };
        let changed = query.bind(id).execute(&mut *tx).await?.rows_affected() == 1;
        sqlx::query(END_SESSIONS).bind(id).execute(&mut *tx).await?;
        sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        changed
    })))
}

const BUMP_EPOCH: &str = "UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1";

/// The auth epoch: it changes whenever a credential ended.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn auth_epoch(db: &Db) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT epoch FROM auth_epoch WHERE id = 1";
    Ok(with_reader!(db, |pool| sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await?))
}

/// A token to store.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// The user it acts for.
    pub user_id: i64,
    /// A label.
    pub name: &'a str,
    /// `read` or `write`.
    pub scope: &'a str,
    /// The token's first characters.
    pub prefix: &'a str,
    /// SHA-256 of the token, hex.
    pub secret_hash: &'a str,
    /// Unix ms, or never.
    pub expires_at: Option<i64>,
}

/// Stores a token; returns its row id.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn insert_token(db: &Db, token: &NewToken<'_>, now_ms: i64) -> Result<i64, StorageError> {
    const SQL: &str = "INSERT INTO api_tokens (user_id, name, scope, prefix, secret_hash, created_at, expires_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    Ok(with_writer!(db, |pool| sqlx::query_scalar::<_, i64>(SQL)
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.scope)
        .bind(token.prefix)
        .bind(token.secret_hash)
        .bind(now_ms)
        .bind(token.expires_at)
        .fetch_one(pool)
        .await?))
}

/// The token whose SHA-256 is `secret_hash`, with its user (revoked and
/// expired ones too: the caller decides).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn token_by_hash(db: &Db, secret_hash: &str) -> Result<Option<(TokenRow, UserRow)>, StorageError> {
    let token_sql =
        format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = $1");
    let Some(token) = with_reader!(db, |pool| sqlx::query_as::<_, TokenRow>(&token_sql)
        .bind(secret_hash)
        .fetch_optional(pool)
        .await?)
    else {
        return Ok(None);
    };
    Ok(user_by_id(db, token.user_id).await?.map(|user| (token, user)))
}

/// Tokens, newest first; only `user_id`'s when given.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list_tokens(db: &Db, user_id: Option<i64>) -> Result<Vec<TokenRow>, StorageError> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE $1 IS NULL OR t.user_id = $1 ORDER BY t.id DESC"
    );
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, TokenRow>(&sql).bind(user_id).fetch_all(pool).await?))
}

/// Records that the token `id` was used at `now_ms`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn touch_token(db: &Db, id: i64, now_ms: i64) -> Result<(), StorageError> {
    const SQL: &str = "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2";
    with_writer!(db, |pool| sqlx::query(SQL).bind(now_ms).bind(id).execute(pool).await.map(drop)?);
    Ok(())
}

/// Revokes the token `id` (only `user_id`'s when given) and bumps the auth
/// epoch; whether a live token was revoked.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn revoke_token(db: &Db, id: i64, user_id: Option<i64>, now_ms: i64) -> Result<bool, StorageError> {
    const SQL: &str = "UPDATE api_tokens SET revoked_at = $1 \
                       WHERE id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR user_id = $3)";
    Ok(with_writer!(db, |pool| write_transaction!(pool pool, |tx| {
        let revoked = sqlx::query(SQL).bind(now_ms).bind(id).bind(user_id).execute(&mut *tx).await?.rows_affected();
        if revoked == 1 {
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        }
        revoked == 1
    })))
}

/// A stored session: its data (JSON) and expiry (Unix s).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// The session's data, a JSON object.
    pub data: String,
    /// Unix s.
    pub expires_at: i64,
}

/// The session whose id hashes to `id_hash`, unless expired at `now_s`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn load_session(db: &Db, id_hash: &str, now_s: i64) -> Result<Option<SessionRow>, StorageError> {
    const SQL: &str = "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2";
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, SessionRow>(SQL)
        .bind(id_hash)
        .bind(now_s)
        .fetch_optional(pool)
        .await?))
}

/// Stores a session: a new one when `create` (false when the id is taken),
/// else over the stored one.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn save_session(
    db: &Db,
    id_hash: &str,
    user_id: Option<i64>,
    data: &str,
    expires_at: i64,
    create: bool,
) -> Result<bool, StorageError> {
    const INSERT: &str = "INSERT INTO sessions (id_hash, user_id, data, expires_at) VALUES ($1, $2, $3, $4) \
                          ON CONFLICT (id_hash) DO NOTHING";
    const UPSERT: &str = "INSERT INTO sessions (id_hash, user_id, data, expires_at) VALUES ($1, $2, $3, $4) \
                          ON CONFLICT (id_hash) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, \
                          expires_at = excluded.expires_at";
    let sql = if create { INSERT } else { UPSERT };
    let rows = with_writer!(db, |pool| sqlx::query(sql)
        .bind(id_hash)
        .bind(user_id)
        .bind(data)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(rows == 1)
}

/// Ends the session whose id hashes to `id_hash`, and bumps the auth epoch
/// when there was one.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn delete_session(db: &Db, id_hash: &str) -> Result<(), StorageError> {
    const SQL: &str = "DELETE FROM sessions WHERE id_hash = $1";
    with_writer!(db, |pool| write_transaction!(pool pool, |tx| {
        if sqlx::query(SQL).bind(id_hash).execute(&mut *tx).await?.rows_affected() > 0 {
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        }
    }));
    Ok(())
}

/// Whether the session whose id hashes to `id_hash` is still stored and
/// unexpired at `now_s` (a live connection's check).
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn session_alive(db: &Db, id_hash: &str, now_s: i64) -> Result<bool, StorageError> {
    Ok(load_session(db, id_hash, now_s).await?.is_some())
}

/// Deletes sessions expired at `now_s`; how many.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn delete_expired_sessions(db: &Db, now_s: i64) -> Result<u64, StorageError> {
    const SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1";
    Ok(with_writer!(db, |pool| sqlx::query(SQL).bind(now_s).execute(pool).await?.rows_affected()))
}

/// Stores a setup link's token hash, valid until `expires_ms`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn insert_setup_link(db: &Db, secret_hash: &str, now_ms: i64, expires_ms: i64) -> Result<(), StorageError> {
    const SQL: &str = "INSERT INTO setup_links (secret_hash, created_at, expires_at) VALUES ($1, $2, $3)";
    with_writer!(db, |pool| sqlx::query(SQL)
        .bind(secret_hash)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(pool)
        .await
        .map(drop)?);
    Ok(())
}

/// Whether a setup link with this hash can still be used at `now_ms`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn setup_link_usable(db: &Db, secret_hash: &str, now_ms: i64) -> Result<bool, StorageError> {
    const SQL: &str = "SELECT COUNT(*) FROM setup_links WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2";
    Ok(with_reader!(db, |pool| sqlx::query_scalar::<_, i64>(SQL)
        .bind(secret_hash)
        .bind(now_ms)
        .fetch_one(pool)
        .await?)
        > 0)
}

/// Appends to the audit log.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn insert_audit(db: &Db, entry: &NewAudit<'_>, now_ms: i64) -> Result<(), StorageError> {
    const SQL: &str = "INSERT INTO audit_log (at, user_id, actor, via, action, target, status, source) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    with_writer!(db, |pool| sqlx::query(SQL)
        .bind(now_ms)
        .bind(entry.user_id)
        .bind(entry.actor)
        .bind(entry.via)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.status.map(i64::from))
        .bind(entry.source)
        .execute(pool)
        .await
        .map(drop)?);
    Ok(())
}

/// The audit log, newest first: at most `limit` entries older than `before`
/// (a row id) when given, only `user`'s when given.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub async fn list_audit(
    db: &Db,
    limit: usize,
    before: Option<i64>,
    user: Option<&str>,
) -> Result<Vec<AuditRow>, StorageError> {
    const SQL: &str = "SELECT id, at, user_id, actor, via, action, target, status, source FROM audit_log \
                       WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR actor = $2) ORDER BY id DESC LIMIT $3";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(with_reader!(db, |pool| sqlx::query_as::<_, AuditRow>(SQL)
        .bind(before)
        .bind(user)
        .bind(limit)
        .fetch_all(pool)
        .await?))
}
