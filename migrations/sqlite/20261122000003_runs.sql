-- One row per scheduled run. See server/src/scheduler.rs.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule     TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,            -- Unix ms
    finished_at  INTEGER,                     -- Unix ms; NULL while running
    status       TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),
    succeeded    INTEGER NOT NULL DEFAULT 0,  -- symbols done
    failed       INTEGER NOT NULL DEFAULT 0,  -- symbols that failed
    errors       TEXT    NOT NULL DEFAULT '[]' -- JSON: [{"symbol": ..., "error": ...}]
);
CREATE INDEX runs_by_schedule ON runs (schedule, id);
