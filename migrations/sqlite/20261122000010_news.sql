-- Headlines gathered by the news crawler. See server/src/news.rs and
-- server/src/storage/news.rs.
--
-- News stands on its own: it does not reference `symbols`, so removing a symbol
-- keeps the headlines that mentioned it (and a headline may name a symbol that
-- was never followed).
CREATE TABLE news (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- What makes two items the same: the feed's guid/id when present (prefixed
    -- with the source when it is not a URI), else the item's link.
    dedupe_key    TEXT    NOT NULL UNIQUE,
    source        TEXT    NOT NULL,  -- the feed's configured name, e.g. `yahoo`
    url           TEXT,              -- the article; NULL when the feed gave none
    title         TEXT    NOT NULL,
    summary       TEXT,              -- plain text, tags removed, shortened
    published_at  INTEGER NOT NULL,  -- Unix seconds UTC (fetch time when the feed gave none)
    fetched_at    INTEGER NOT NULL   -- first seen, Unix seconds UTC
);

-- "Latest news": newest first, keyset-paginated on (published_at, id).
CREATE INDEX news_latest ON news (published_at, id);

-- Which symbols an item concerns; none for general economic news. An item seen
-- in several symbols' feeds has one row per symbol. `published_at` is copied
-- from `news` (it never changes once stored) so that "latest news for X" is a
-- single index range scan.
CREATE TABLE news_symbols (
    news_id       INTEGER NOT NULL REFERENCES news(id) ON DELETE CASCADE,
    symbol        TEXT    NOT NULL,
    published_at  INTEGER NOT NULL,
    PRIMARY KEY (news_id, symbol)
) WITHOUT ROWID;

CREATE INDEX news_symbols_latest ON news_symbols (symbol, published_at, news_id);
