-- Symbols followed by Finstage, and their OHLCV bars.
CREATE TABLE symbols (
    symbol      TEXT    PRIMARY KEY,
    name        TEXT,
    -- true when the symbol's bars come from the built-in simulator.
    simulated   BOOLEAN NOT NULL DEFAULT false,
    created_at  BIGINT  NOT NULL DEFAULT (extract(epoch FROM now())::bigint)
);

-- One row per (symbol, timeframe, bar opening time). The primary key's index is
-- the upsert key and serves every range query (symbol, timeframe, ts BETWEEN).
CREATE TABLE bars (
    symbol     TEXT             NOT NULL REFERENCES symbols(symbol) ON DELETE CASCADE,
    timeframe  TEXT             NOT NULL,
    ts         BIGINT           NOT NULL,  -- bar opening time, Unix seconds UTC
    open       DOUBLE PRECISION NOT NULL,
    high       DOUBLE PRECISION NOT NULL,
    low        DOUBLE PRECISION NOT NULL,
    close      DOUBLE PRECISION NOT NULL,
    volume     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, timeframe, ts)
);
