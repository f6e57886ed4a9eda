-- Strategy signals, their backtest records, and per-strategy settings.
-- See server/src/storage/signals.rs and server/src/pipeline.rs.

-- One row per signal. The unique key makes storing idempotent: replaying a bar
-- (after a crash, or a restart that re-reads the latest bar) stores nothing new.
CREATE TABLE signals (
    id           BIGSERIAL PRIMARY KEY,
    symbol       TEXT    NOT NULL REFERENCES symbols(symbol) ON DELETE CASCADE,
    timeframe    TEXT    NOT NULL,
    strategy     TEXT    NOT NULL,
    params       TEXT    NOT NULL,            -- JSON object, defaults filled in
    params_hash  TEXT    NOT NULL,            -- hex hash of `params`
    action       TEXT    NOT NULL CHECK (action IN ('buy', 'sell')),
    bar_ts       BIGINT  NOT NULL,            -- the closed bar that caused it, Unix seconds
    price        DOUBLE PRECISION    NOT NULL,            -- that bar's close
    evidence     TEXT    NOT NULL,            -- JSON object: indicator values
    backtest     TEXT,                        -- JSON BacktestRecord at the time, if any
    passed       BOOLEAN NOT NULL,            -- true when it met the strategy's minimum quality (and was sent)
    created_at   BIGINT  NOT NULL,            -- Unix ms
    UNIQUE (symbol, timeframe, strategy, params_hash, bar_ts)
);
-- "Latest signals of a symbol"; the global feed reads the primary key backwards.
CREATE INDEX signals_by_symbol ON signals (symbol, id);

-- The latest backtest of each strategy (and parameter set) on each series.
CREATE TABLE strategy_records (
    symbol         TEXT    NOT NULL REFERENCES symbols(symbol) ON DELETE CASCADE,
    timeframe      TEXT    NOT NULL,
    strategy       TEXT    NOT NULL,
    params_hash    TEXT    NOT NULL,
    trades         BIGINT  NOT NULL,
    win_rate       DOUBLE PRECISION    NOT NULL,
    profit_factor  DOUBLE PRECISION,                      -- NULL: nothing was lost (infinite)
    sharpe         DOUBLE PRECISION    NOT NULL,
    total_return   DOUBLE PRECISION    NOT NULL,
    from_ts        BIGINT  NOT NULL,
    to_ts          BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,          -- Unix ms
    PRIMARY KEY (symbol, timeframe, strategy, params_hash)
);

-- Users' choices per strategy: on or off, its parameters, and the minimum
-- backtest quality below which its signals are stored but not sent.
CREATE TABLE strategy_settings (
    strategy           TEXT    PRIMARY KEY,
    enabled            BOOLEAN NOT NULL,
    params             TEXT    NOT NULL,      -- JSON object given to the catalog
    min_trades         BIGINT,
    min_win_rate       DOUBLE PRECISION,
    min_profit_factor  DOUBLE PRECISION,
    min_sharpe         DOUBLE PRECISION,
    updated_at         BIGINT  NOT NULL
);
