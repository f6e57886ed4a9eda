-- Backtest lab runs saved by name: the run's whole input (the flat JSON the
-- lab page keeps in its URL and POST /api/v1/backtests takes), its metrics
-- and optionally a sample of its equity curve, for listing and comparing.
-- See server/src/storage/lab_runs.rs.
CREATE TABLE lab_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,  -- Unix ms
    symbol      TEXT    NOT NULL,  -- from the input, for listing
    timeframe   TEXT    NOT NULL,
    strategy    TEXT    NOT NULL,
    input       TEXT    NOT NULL,  -- JSON object
    metrics     TEXT,              -- JSON object, or NULL
    equity      TEXT               -- JSON array of numbers, or NULL
);
