-- One row per scheduled run. See server/src/scheduler.rs.
CREATE TABLE runs (
    id           BIGSERIAL PRIMARY KEY,
    schedule     TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,            -- Unix ms
    finished_at  BIGINT,                      -- Unix ms; NULL while running
    status       TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),
    succeeded    INTEGER NOT NULL DEFAULT 0,  -- symbols done
    failed       INTEGER NOT NULL DEFAULT 0,  -- symbols that failed
    errors       TEXT    NOT NULL DEFAULT '[]' -- JSON: [{"symbol": ..., "error": ...}]
);
CREATE INDEX runs_by_schedule ON runs (schedule, id);
