-- Durable work: backfills, backtests, alert deliveries. See server/src/storage/jobs.rs.
CREATE TABLE jobs (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,            -- JSON
    priority         INTEGER NOT NULL DEFAULT 0,  -- higher runs first
    status           TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout_ms       BIGINT  NOT NULL,
    run_at           BIGINT  NOT NULL,            -- not before, Unix ms
    locked_until     BIGINT,                      -- lease expiry while running, Unix ms
    locked_by        TEXT,
    idempotency_key  TEXT UNIQUE,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

-- The claim query: the next ready job by priority, then due time.
CREATE INDEX jobs_ready ON jobs (status, priority DESC, run_at, id);
