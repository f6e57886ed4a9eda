-- The watchlist the dashboard shows and the feed and schedules follow, edited
-- from the dashboard. See server/src/storage/watchlist.rs.
CREATE TABLE watchlist (
    symbol    TEXT    PRIMARY KEY NOT NULL REFERENCES symbols(symbol) ON DELETE CASCADE,
    position  INTEGER NOT NULL,  -- display order: the configured order, then order of adding
    added_at  INTEGER NOT NULL   -- Unix ms
);

-- Every configured watchlist symbol that has been put on the watchlist once.
-- A configured symbol is added at start-up only when it is not here, so a
-- symbol the user removed stays removed across restarts.
CREATE TABLE watchlist_seeded (
    symbol     TEXT    PRIMARY KEY NOT NULL,
    seeded_at  INTEGER NOT NULL  -- Unix ms
);
