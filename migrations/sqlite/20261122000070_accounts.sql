-- Accounts: users with a role, API tokens, server-side sessions, the one-time
-- setup link, the audit log, and the counter that tells live connections to
-- check their credentials again. See server/src/accounts/ and
-- server/src/storage/accounts.rs.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,          -- lower case, [a-z0-9._-]
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'trader', 'viewer')),
    password_hash  TEXT    NOT NULL,                 -- argon2id, PHC string
    created_at     INTEGER NOT NULL,                 -- Unix ms
    disabled_at    INTEGER,                          -- Unix ms, or NULL when active
    -- Bumped whenever the user's sessions must end (password reset, role
    -- change, disabling): sessions carry the value they started with.
    session_epoch  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('read', 'write')),
    prefix        TEXT    NOT NULL,                  -- the token's first characters, for listing
    secret_hash   TEXT    NOT NULL UNIQUE,           -- SHA-256 of the whole token, hex
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    id_hash     TEXT    PRIMARY KEY NOT NULL,        -- SHA-256 of the session id, hex
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    data        TEXT    NOT NULL,                    -- JSON object
    expires_at  INTEGER NOT NULL                     -- Unix s
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE setup_links (
    secret_hash  TEXT    PRIMARY KEY NOT NULL,       -- SHA-256 of the link's token, hex
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,                       -- Unix ms
    user_id  INTEGER,                                -- NULL: the command line, or before any user
    actor    TEXT    NOT NULL,                       -- the user's name then, or "cli" / "setup"
    via      TEXT    NOT NULL,                       -- session | token | anonymous | cli | setup
    action   TEXT    NOT NULL,                       -- "POST /api/v1/watchlist", "users.add", ...
    target   TEXT,                                   -- what it acted on, when one thing
    status   INTEGER,                                -- the HTTP status answered
    source   TEXT                                    -- the client's address, or the host for the CLI
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);

-- Saved lab runs belong to the user who saved them (rows from before
-- accounts have none and are shown to admins only).
ALTER TABLE lab_runs ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
CREATE INDEX lab_runs_user ON lab_runs (user_id);

-- Telegram chats belong to the user whose link code (or dashboard) linked
-- them; link codes remember who made them. Chats from before accounts, or
-- linked by the command line, belong to nobody and are the admins'.
ALTER TABLE telegram_chats ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE telegram_link_codes ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE SET NULL;

-- Each user's own watchlist (what their dashboard shows, in their order).
-- The table `watchlist` stays the service's followed symbols: every symbol
-- on any user's list is on it, and one no list holds any more leaves it.
-- A user's list starts, on their first look, as a copy of the followed list
-- (`user_watchlist_started` records that it has).
CREATE TABLE user_watchlist (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    symbol    TEXT    NOT NULL REFERENCES symbols(symbol) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, symbol)
);
CREATE INDEX user_watchlist_symbol ON user_watchlist (symbol);
CREATE TABLE user_watchlist_started (
    user_id     INTEGER PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    started_at  INTEGER NOT NULL
);
