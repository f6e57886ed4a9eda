-- The Telegram bot: linked chats, their subscriptions, one-time link codes, the
-- outbox of messages to deliver, and the bot's own state (the getUpdates
-- offset). See server/src/storage/telegram.rs and server/src/telegram/.

-- A chat that may use the bot. Only linked chats get command answers or alerts.
CREATE TABLE telegram_chats (
    chat_id          BIGINT  PRIMARY KEY,         -- Telegram's chat id (negative for groups)
    title            TEXT,                        -- group title, @username or first name
    linked_at        BIGINT  NOT NULL,            -- Unix ms
    muted            BOOLEAN NOT NULL DEFAULT FALSE,  -- true: no alerts (commands still answered)
    quiet_start_min  BIGINT,                      -- quiet hours, UTC minute of day 0..1439; NULL: none
    quiet_end_min    BIGINT,                      -- end of quiet hours (exclusive); the window may wrap midnight
    CHECK ((quiet_start_min IS NULL) = (quiet_end_min IS NULL))
);

-- What a chat wants alerts for: a symbol, with one strategy or any ('*').
CREATE TABLE telegram_subscriptions (
    chat_id     BIGINT  NOT NULL REFERENCES telegram_chats(chat_id) ON DELETE CASCADE,
    symbol      TEXT    NOT NULL,
    strategy    TEXT    NOT NULL,                 -- catalog name, or '*' for any strategy
    created_at  BIGINT  NOT NULL,                 -- Unix ms
    PRIMARY KEY (chat_id, symbol, strategy)
);
-- "Who is subscribed to this symbol": every stored signal asks.
CREATE INDEX telegram_subscriptions_by_symbol ON telegram_subscriptions (symbol, strategy);

-- One-time codes that link a chat (`/start CODE`), valid for a short while.
CREATE TABLE telegram_link_codes (
    code        TEXT    PRIMARY KEY,
    created_at  BIGINT  NOT NULL,                 -- Unix ms
    expires_at  BIGINT  NOT NULL,                 -- Unix ms
    used_by     BIGINT,                           -- the chat it linked
    used_at     BIGINT                            -- Unix ms
);

-- Messages to deliver, one row each: alerts (one per chat and signal) and
-- command replies (one per chat and update). A flush sends the pending rows of a
-- chat as one message (alerts are digested), then marks them done.
CREATE TABLE telegram_outbox (
    id             BIGSERIAL PRIMARY KEY,
    chat_id        BIGINT  NOT NULL REFERENCES telegram_chats(chat_id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('alert', 'reply')),
    signal_id      BIGINT,                        -- alerts: the signal
    update_id      BIGINT,                        -- replies: the update answered
    text           TEXT    NOT NULL,              -- the full message
    digest_line    TEXT,                          -- alerts: the one-line form used in digests
    created_at     BIGINT  NOT NULL,              -- Unix ms
    claim          TEXT,                          -- the flush that holds it
    claimed_until  BIGINT,                        -- that flush's lease, Unix ms
    done_at        BIGINT,                        -- delivered (or dropped), Unix ms; NULL: pending
    outcome        TEXT,                          -- 'sent', 'muted' or 'undeliverable'
    UNIQUE (chat_id, signal_id),
    UNIQUE (chat_id, update_id)
);
CREATE INDEX telegram_outbox_pending ON telegram_outbox (chat_id, id) WHERE done_at IS NULL;

-- Small named values the bot keeps, e.g. `update_offset`.
CREATE TABLE telegram_state (
    key    TEXT    PRIMARY KEY,
    value  BIGINT  NOT NULL
);
