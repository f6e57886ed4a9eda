-- Symbols followed by Finstage, and their OHLCV bars.
CREATE TABLE symbols (
    symbol      TEXT    PRIMARY KEY NOT NULL,
    name        TEXT,
    -- 1 when the symbol's bars come from the built-in simulator.
    simulated   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL DEFAULT (unixepoch())
);

-- One row per (symbol, timeframe, bar opening time). The primary key is the
-- upsert key and also serves every range query (symbol, timeframe, ts BETWEEN),
-- so the table is stored clustered on it (WITHOUT ROWID).
CREATE TABLE bars (
    symbol     TEXT    NOT NULL REFERENCES symbols(symbol) ON DELETE CASCADE,
    timeframe  TEXT    NOT NULL,
    ts         INTEGER NOT NULL,  -- bar opening time, Unix seconds UTC
    open       REAL    NOT NULL,
    high       REAL    NOT NULL,
    low        REAL    NOT NULL,
    close      REAL    NOT NULL,
    volume     REAL    NOT NULL,
    PRIMARY KEY (symbol, timeframe, ts)
) WITHOUT ROWID;
