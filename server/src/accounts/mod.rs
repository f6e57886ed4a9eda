//! Accounts: users and their roles, API tokens, the first-start setup link,
//! sessions' store and the audit log. The rules live here; the SQL is in
//! `storage::accounts`; HTTP (login, the role rules per route) is in
//! `http::auth`; the command line in `commands::accounts`.
//!
//! Every change goes through [`Accounts`], which checks its input, writes it
//! and appends to the audit log who did it.

pub mod live;
pub mod password;
pub mod sessions;
pub mod tokens;

use std::time::Duration;

pub use app::auth::{Principal, Role, Via};

use crate::storage::accounts::{self as store, NewAudit, NewToken, TokenRow, UserChange, UserRow};
use crate::storage::{Db, StorageError};

/// How long a setup link stays valid.
pub const SETUP_LINK_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name breaks the naming rule.
    #[error("user names are 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
    BadName,
    /// The password breaks the policy.
    #[error(transparent)]
    WeakPassword(#[from] password::WeakPassword),
    /// Someone has the name already.
    #[error("a user named {0:?} exists already")]
    NameTaken(String),
    /// No such user.
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    /// No such live token.
    #[error("no live token with id {0}")]
    NoSuchToken(i64),
    /// The change would leave no active admin.
    #[error("{0:?} is the last active admin; make another admin first")]
    LastAdmin(String),
    /// The setup link is unknown, used, expired, or a user exists already.
    #[error("this setup link is not valid: it was used already, it expired, or an admin exists")]
    SetupLinkInvalid,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Hashing failed.
    #[error("hashing the password failed: {0}")]
    Hash(#[from] anyhow::Error),
}

/// Who made a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The acting user, when one.
    pub user_id: Option<i64>,
    /// Their name, or `cli` / `setup`.
    pub name: String,
    /// How: `session`, `token`, `anonymous`, `cli` or `setup`.
    pub via: &'static str,
    /// The client's address.
    pub source: Option<String>,
}

impl Actor {
    /// The command line on this machine.
    #[must_use]
    pub fn cli() -> Self {
        Self { user_id: None, name: "cli".into(), via: "cli", source: None }
    }

    /// A request's principal from `source`.
    #[must_use]
    pub fn of(principal: &Principal, source: Option<String>) -> Self {
        Self { user_id: principal.user_id, name: principal.name.clone(), via: principal.via.as_str(), source }
    }
}

/// A user as the rest of the server sees one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether they may log in.
    pub active: bool,
    /// Unix ms.
    pub created_at: i64,
    /// What a session stores of them and compares on every request: changes
    /// whenever their sessions must end (axum-login's session auth hash).
    pub session_hash: Vec<u8>,
}

impl User {
    fn from_row(row: &UserRow) -> Self {
        let role = row.role.parse().unwrap_or(Role::Viewer);
        let session_hash = tokens::digest(&format!("{}:{}", row.session_epoch, row.password_hash)).into_bytes();
        Self {
            id: row.id,
            name: row.name.clone(),
            role,
            active: row.disabled_at.is_none(),
            created_at: row.created_at,
            session_hash,
        }
    }

    /// The principal of this user's session.
    #[must_use]
    pub fn principal(&self, via: Via) -> Principal {
        Principal { user_id: Some(self.id), name: self.name.clone(), role: self.role, via }
    }
}

impl axum_login::AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.session_hash
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads only: the user's role capped at viewer.
    Read,
    /// Everything the user's role may do.
    Write,
}

impl Scope {
    /// The name as stored and typed.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            _ => Err(format!("unknown scope {s:?}: read or write")),
        }
    }
}

/// A token just created: the secret is shown once and never stored.
#[derive(Debug)]
pub struct NewApiToken {
    /// Row id (for revoking).
    pub id: i64,
    /// The token itself.
    pub secret: String,
}

/// The accounts service.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Db,
}

/// The current Unix time in ms.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Checks a user name: `[a-z0-9][a-z0-9._-]{0,63}` (lower case is the
/// caller's: names are folded before they get here).
fn check_name(name: &str) -> Result<(), AccountError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && name.len() <= 64 { Ok(()) } else { Err(AccountError::BadName) }
}

/// Folds a typed user name to the stored form.
#[must_use]
pub fn fold_name(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Accounts {
    /// The service over `db`.
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether no user exists yet (the first start's setup is pending).
    ///
    /// # Errors
    /// A database failure.
    pub async fn needs_setup(&self) -> Result<bool, StorageError> {
        Ok(store::count_users(&self.db).await? == 0)
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// A database failure.
    pub async fn users(&self) -> Result<Vec<User>, StorageError> {
        Ok(store::list_users(&self.db).await?.iter().map(User::from_row).collect())
    }

    /// The user `id`, active or not.
    ///
    /// # Errors
    /// A database failure.
    pub async fn user(&self, id: i64) -> Result<Option<User>, StorageError> {
        Ok(store::user_by_id(&self.db, id).await?.as_ref().map(User::from_row))
    }

    async fn user_named(&self, name: &str) -> Result<UserRow, AccountError> {
        let name = fold_name(name);
        store::user_by_name(&self.db, &name).await?.ok_or(AccountError::NoSuchUser(name))
    }

    /// Adds a user.
    ///
    /// # Errors
    /// A bad name, a weak password, a taken name, a database failure.
    pub async fn add_user(&self, name: &str, role: Role, password: &str, by: &Actor) -> Result<User, AccountError> {
        let name = fold_name(name);
        check_name(&name)?;
        password::check(password, &name)?;
        let hash = password::hash(password.to_owned()).await?;
        let row = match store::insert_user(&self.db, &name, role.as_str(), &hash, now_ms()).await {
            Err(e) if e.is_refusal_of_the_rows() => return Err(AccountError::NameTaken(name)),
            other => other?,
        };
        self.audit(by, "users.add", Some(&format!("{name} ({role})")), None).await;
        Ok(User::from_row(&row))
    }

    /// Changes a user's role; ends their sessions.
    ///
    /// # Errors
    /// No such user, the last admin losing the role, a database failure.
    pub async fn set_role(&self, name: &str, role: Role, by: &Actor) -> Result<(), AccountError> {
        let row = self.user_named(name).await?;
        if role != Role::Admin {
            self.keep_an_admin(&row).await?;
        }
        store::change_user(&self.db, row.id, UserChange::Role(role.as_str())).await?;
        self.audit(by, "users.set-role", Some(&format!("{} ({role})", row.name)), None).await;
        Ok(())
    }

    /// Disables a user (or enables one again); disabling ends their sessions
    /// and tokens stop working.
    ///
    /// # Errors
    /// No such user, the last admin, a database failure.
    pub async fn set_disabled(&self, name: &str, disabled: bool, by: &Actor) -> Result<(), AccountError> {
        let row = self.user_named(name).await?;
        if disabled {
            self.keep_an_admin(&row).await?;
        }
        let at = disabled.then(now_ms);
        store::change_user(&self.db, row.id, UserChange::Disabled(at)).await?;
        let action = if disabled { "users.disable" } else { "users.enable" };
        self.audit(by, action, Some(&row.name), None).await;
        Ok(())
    }

    /// Sets a new password; ends the user's sessions.
    ///
    /// # Errors
    /// No such user, a weak password, a database failure.
    pub async fn reset_password(&self, name: &str, password: &str, by: &Actor) -> Result<(), AccountError> {
        let row = self.user_named(name).await?;
        password::check(password, &row.name)?;
        let hash = password::hash(password.to_owned()).await?;
        store::change_user(&self.db, row.id, UserChange::Password(&hash)).await?;
        self.audit(by, "users.reset-password", Some(&row.name), None).await;
        Ok(())
    }

    /// Refuses a change that would leave no active admin.
    async fn keep_an_admin(&self, row: &UserRow) -> Result<(), AccountError> {
        if row.role != Role::Admin.as_str() || row.disabled_at.is_some() {
            return Ok(());
        }
        let admins = store::list_users(&self.db)
            .await?
            .iter()
            .filter(|u| u.role == Role::Admin.as_str() && u.disabled_at.is_none())
            .count();
        if admins <= 1 { Err(AccountError::LastAdmin(row.name.clone())) } else { Ok(()) }
    }

    /// The active user with this name and password, if both match. A name
    /// that matches nobody costs as much as a wrong password.
    ///
    /// # Errors
    /// A database failure.
    pub async fn verify_login(&self, name: &str, password: &str) -> Result<Option<User>, StorageError> {
        let row = store::user_by_name(&self.db, &fold_name(name)).await?;
        let stored = row.as_ref().map_or_else(|| password::decoy().to_owned(), |r| r.password_hash.clone());
        let matches = password::verify(password.to_owned(), stored).await;
        Ok(row.filter(|r| matches && r.disabled_at.is_none()).as_ref().map(User::from_row))
    }

    /// Creates an API token for `user`.
    ///
    /// # Errors
    /// No such user, a database failure.
    pub async fn create_token(
        &self,
        user: &str,
        scope: Scope,
        label: &str,
        expires_in: Option<Duration>,
        by: &Actor,
    ) -> Result<NewApiToken, AccountError> {
        let row = self.user_named(user).await?;
        let secret = tokens::new_token();
        let expires_at = expires_in.map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let token = NewToken {
            user_id: row.id,
            name: label,
            scope: scope.as_str(),
            prefix: &secret[..tokens::TOKEN_PREFIX.len() + 4],
            secret_hash: &tokens::digest(&secret),
            expires_at,
        };
        let id = store::insert_token(&self.db, &token, now_ms()).await?;
        self.audit(by, "tokens.create", Some(&format!("#{id} for {} ({})", row.name, scope.as_str())), None).await;
        Ok(NewApiToken { id, secret })
    }

    /// Tokens, newest first; only `user`'s when given.
    ///
    /// # Errors
    /// No such user, a database failure.
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRow>, AccountError> {
        let user_id = match user {
            Some(name) => Some(self.user_named(name).await?.id),
            None => None,
        };
        Ok(store::list_tokens(&self.db, user_id).await?)
    }

    /// Revokes the token `id` (only when it is `owner`'s, when given).
    ///
    /// # Errors
    /// No such live token, a database failure.
    pub async fn revoke_token(&self, id: i64, owner: Option<i64>, by: &Actor) -> Result<(), AccountError> {
        if !store::revoke_token(&self.db, id, owner, now_ms()).await? {
            return Err(AccountError::NoSuchToken(id));
        }
        self.audit(by, "tokens.revoke", Some(&format!("#{id}")), None).await;
        Ok(())
    }

    /// The principal of a bearer token, if it is live (known, not revoked,
    /// not expired, its user active); records its use (at most once a
    /// minute per token).
    ///
    /// # Errors
    /// A database failure.
    pub async fn principal_for_token(&self, secret: &str) -> Result<Option<(i64, Principal)>, StorageError> {
        let Some((token, user)) = store::token_by_hash(&self.db, &tokens::digest(secret)).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let live =
            token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > now) && user.disabled_at.is_none();
        if !live {
            return Ok(None);
        }
        if token.last_used_at.is_none_or(|at| now - at >= 60_000) {
            store::touch_token(&self.db, token.id, now).await?;
        }
        let user = User::from_row(&user);
        let role = match token.scope.as_str() {
            "write" => user.role,
            _ => Role::Viewer,
        };
        Ok(Some((token.id, Principal { role, ..user.principal(Via::Token) })))
    }

    /// Whether the token `id` still works (a live connection's check).
    ///
    /// # Errors
    /// A database failure.
    pub async fn token_alive(&self, id: i64) -> Result<bool, StorageError> {
        let now = now_ms();
        let Some(token) = store::list_tokens(&self.db, None).await?.into_iter().find(|t| t.id == id) else {
            return Ok(false);
        };
        let live = token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > now);
        Ok(live && self.user(token.user_id).await?.is_some_and(|user| user.active))
    }

    /// A new setup link's token when no user exists yet (else `None`).
    ///
    /// # Errors
    /// A database failure.
    pub async fn issue_setup_link(&self) -> Result<Option<String>, StorageError> {
        if !self.needs_setup().await? {
            return Ok(None);
        }
        let secret = tokens::random_secret(32);
        let now = now_ms();
        let ttl = i64::try_from(SETUP_LINK_TTL.as_millis()).unwrap_or(i64::MAX);
        store::insert_setup_link(&self.db, &tokens::digest(&secret), now, now + ttl).await?;
        Ok(Some(secret))
    }

    /// Whether `secret` is a setup link that can still be used.
    ///
    /// # Errors
    /// A database failure.
    pub async fn setup_link_usable(&self, secret: &str) -> Result<bool, StorageError> {
        Ok(self.needs_setup().await? && store::setup_link_usable(&self.db, &tokens::digest(secret), now_ms()).await?)
    }

    /// Uses the setup link `secret` to create the first admin.
    ///
    /// # Errors
    /// A bad name or weak password (the link stays usable), an invalid
    /// link, a database failure.
    pub async fn complete_setup(
        &self,
        secret: &str,
        name: &str,
        password: &str,
        source: Option<String>,
    ) -> Result<User, AccountError> {
        let name = fold_name(name);
        check_name(&name)?;
        password::check(password, &name)?;
        if !self.setup_link_usable(secret).await? {
            return Err(AccountError::SetupLinkInvalid);
        }
        let hash = password::hash(password.to_owned()).await?;
        let row = store::setup_first_user(&self.db, &tokens::digest(secret), &name, &hash, now_ms())
            .await?
            .ok_or(AccountError::SetupLinkInvalid)?;
        let by = Actor { user_id: Some(row.id), name: row.name.clone(), via: "setup", source };
        self.audit(&by, "setup.first-admin", Some(&row.name), None).await;
        Ok(User::from_row(&row))
    }

    /// Appends to the audit log; a failure to do so is logged, not returned
    /// (the change it records has happened).
    pub async fn audit(&self, by: &Actor, action: &str, target: Option<&str>, status: Option<u16>) {
        let entry = NewAudit {
            user_id: by.user_id,
            actor: &by.name,
            via: by.via,
            action,
            target,
            status,
            source: by.source.as_deref(),
        };
        if let Err(e) = store::insert_audit(&self.db, &entry, now_ms()).await {
            tracing::error!(error = %e, action, "writing the audit log failed");
        }
    }
}

/// An audit row as the pages and the API show it.
#[must_use]
pub fn audit_entry(row: store::AuditRow) -> app::auth::AuditEntry {
    app::auth::AuditEntry {
        id: row.id,
        at: row.at,
        actor: row.actor,
        via: row.via,
        action: row.action,
        target: row.target,
        status: row.status,
        source: row.source,
    }
}

/// axum-login's view of the accounts: logs in by name and password, and
/// loads the session's user on every request (a disabled user is nobody).
#[derive(Debug, Clone)]
pub struct LoginBackend {
    accounts: Accounts,
}

impl LoginBackend {
    /// The backend over `accounts`.
    #[must_use]
    pub fn new(accounts: Accounts) -> Self {
        Self { accounts }
    }
}

/// A login attempt.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user name as typed.
    pub username: String,
    /// The password.
    pub password: String,
}

impl axum_login::AuthnBackend for LoginBackend {
    type User = User;
    type Credentials = Credentials;
    type Error = StorageError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, StorageError> {
        self.accounts.verify_login(&creds.username, &creds.password).await
    }

    async fn get_user(&self, id: &i64) -> Result<Option<User>, StorageError> {
        Ok(self.accounts.user(*id).await?.filter(|user| user.active))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_and_checked() {
        assert_eq!(fold_name("  Ann.Lee "), "ann.lee");
        for good in ["ann", "a", "7of9", "ann.lee_2-x", &"a".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".ann", "-ann", "ann lee", "änn", "ann@x", &"a".repeat(65)] {
            assert!(matches!(check_name(bad), Err(AccountError::BadName)), "{bad}");
        }
    }

    #[test]
    fn roles_and_scopes_parse_from_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert_eq!("read".parse::<Scope>(), Ok(Scope::Read));
        assert_eq!("write".parse::<Scope>(), Ok(Scope::Write));
        assert!("all".parse::<Scope>().is_err());
        assert!(Role::Admin > Role::Trader && Role::Trader > Role::Viewer);
    }
}
