//! Who is asking: roles, API token scopes and the principal every request
//! carries. The server decides (`server::accounts`, `server::http::auth`);
//! the pages read the principal to show only what its role may use.

use serde::{Deserialize, Serialize};

/// What a user may do. Each role can do everything the one below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything shared: quotes, charts, signals, news, the lab.
    Viewer,
    /// Also edits the watchlist, strategies and their minimums, and saves lab runs.
    Trader,
    /// Also manages users, the Telegram bot and settings, and reads the audit log.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Trader, Self::Admin];

    /// The role's name as stored and typed.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Trader => "trader",
            Self::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: admin, trader or viewer"))
    }
}

/// How the principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A browser session (cookie).
    Session,
    /// An API token (`Authorization: Bearer`).
    Token,
    /// Nobody: the configured anonymous role.
    Anonymous,
}

impl Via {
    /// The name the audit log records.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Token => "token",
            Self::Anonymous => "anonymous",
        }
    }
}

/// Who a request acts for, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user's id; `None` when anonymous.
    pub user_id: Option<i64>,
    /// The user's name (`anonymous` when none).
    pub name: String,
    /// What the request may do: the user's role, capped at viewer for a
    /// read-scoped token.
    pub role: Role,
    /// How it was established.
    pub via: Via,
}

impl Principal {
    /// Whether the principal may do what `need` may.
    #[must_use]
    pub fn can(&self, need: Role) -> bool {
        self.role >= need
    }
}

/// The principal of the request being served (set by the server's auth
/// layer into the request's extensions), for server functions and pages.
#[cfg(feature = "ssr")]
#[must_use]
pub fn current() -> Option<Principal> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>().cloned())
}

/// The name of the `<meta>` element that carries the page's principal from
/// the server's render to the browser: `ID|NAME|ROLE` (ID empty for the
/// anonymous viewer). Names are `[a-z0-9._-]`, so `|` cannot occur in them.
pub const META: &str = "finstage-user";

impl Principal {
    /// The principal as the page's `<meta>` carries it.
    #[must_use]
    pub fn to_meta(&self) -> String {
        format!("{}|{}|{}", self.user_id.map(|id| id.to_string()).unwrap_or_default(), self.name, self.role)
    }

    /// Reads [`Principal::to_meta`]'s text back (as the page's viewer, `via` unknown: session).
    #[must_use]
    pub fn from_meta(text: &str) -> Option<Self> {
        let mut parts = text.split('|');
        let id = parts.next()?;
        let name = parts.next()?.to_owned();
        let role = parts.next()?.parse().ok()?;
        let user_id = if id.is_empty() { None } else { Some(id.parse().ok()?) };
        let via = if user_id.is_some() { Via::Session } else { Via::Anonymous };
        Some(Self { user_id, name, role, via })
    }
}

/// Who the page is shown to (`None`: nobody is logged in), as the app's
/// root provides it. The pages use it to leave out the controls the role
/// may not use; the server checks every request regardless. It is written
/// into the page by the server (the shell's `<meta>`) and read from there
/// in the browser: no request, no suspense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageViewer(pub Option<Principal>);

impl PageViewer {
    /// The principal this page is rendered for, or was rendered for.
    #[must_use]
    pub fn detect() -> Self {
        #[cfg(feature = "ssr")]
        {
            Self(current())
        }
        #[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
        {
            let text = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector(&format!("meta[name=\"{META}\"]")).ok().flatten())
                .and_then(|m| m.get_attribute("content"));
            Self(text.as_deref().and_then(Principal::from_meta))
        }
        #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
        {
            Self(None)
        }
    }
}

/// Whether the page's viewer may do what `need` may (false when nobody).
pub fn viewer_can(need: Role) -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let can = leptos::prelude::use_context::<PageViewer>().and_then(|v| v.0).is_some_and(|p| p.can(need));
    move || can
}

/// Whose rows a request may see of per-user data (saved lab runs, Telegram
/// chats): its user's, and, for an admin, the rows from before accounts
/// that belong to nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The user; `None` (anonymous) owns nothing.
    pub user_id: Option<i64>,
    /// Whether the rows of nobody are visible too.
    pub admin: bool,
}

impl Owner {
    /// Nobody: sees no per-user rows.
    pub const NOBODY: Self = Self { user_id: None, admin: false };
}

impl Principal {
    /// Whose per-user rows this principal sees.
    #[must_use]
    pub fn owner(&self) -> Owner {
        Owner { user_id: self.user_id, admin: self.role == Role::Admin && self.user_id.is_some() }
    }
}

/// The owner of the request being served ([`Owner::NOBODY`] without a principal).
#[cfg(feature = "ssr")]
#[must_use]
pub fn current_owner() -> Owner {
    current().map_or(Owner::NOBODY, |p| p.owner())
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Row id (the cursor for older entries).
    pub id: i64,
    /// When, Unix ms.
    pub at: i64,
    /// Who: the user's name then, `cli`, `setup` or `anonymous`.
    pub actor: String,
    /// How: `session`, `token`, `anonymous`, `cli` or `setup`.
    pub via: String,
    /// What: `METHOD /route` or a command such as `users.add`.
    pub action: String,
    /// What it named (a path, a user), when one thing.
    pub target: Option<String>,
    /// The HTTP status answered.
    pub status: Option<i64>,
    /// From where: the client's address.
    pub source: Option<String>,
}

/// The audit log, newest first: up to 100 entries older than `before` (a
/// row id) when given. Admins only.
#[leptos::server(prefix = "/api", endpoint = "audit")]
pub async fn audit_log(before: Option<i64>) -> Result<Vec<AuditEntry>, crate::api::ApiError> {
    crate::api::ssr::reply(async move { crate::api::ssr::backend()?.audit(before, 100).await }.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_principal_round_trips_through_its_meta_text() {
        let ann = Principal { user_id: Some(7), name: "ann.lee".into(), role: Role::Trader, via: Via::Session };
        assert_eq!(ann.to_meta(), "7|ann.lee|trader");
        assert_eq!(Principal::from_meta(&ann.to_meta()), Some(ann));
        let anonymous = Principal { user_id: None, name: "anonymous".into(), role: Role::Viewer, via: Via::Anonymous };
        assert_eq!(Principal::from_meta(&anonymous.to_meta()), Some(anonymous));
        for bad in ["", "7|ann", "x|ann|trader", "7|ann|root"] {
            assert_eq!(Principal::from_meta(bad), None, "{bad}");
        }
        assert!(!Role::Viewer.to_string().is_empty());
    }
}
