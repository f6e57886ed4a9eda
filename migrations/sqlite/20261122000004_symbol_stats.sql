-- Per-symbol figures refreshed by the `all_time_high` schedule from daily bars.
-- See server/src/storage/stats.rs.
CREATE TABLE symbol_stats (
    symbol      TEXT             PRIMARY KEY REFERENCES symbols(symbol) ON DELETE CASCADE,
    ath         REAL             NOT NULL,  -- highest daily high ever stored
    ath_ts      INTEGER          NOT NULL,  -- the day it was reached, Unix seconds
    high_52w    REAL             NOT NULL,  -- highest high of the last 365 days
    low_52w     REAL             NOT NULL,  -- lowest low of the last 365 days
    last_close  REAL             NOT NULL,
    last_ts     INTEGER          NOT NULL,
    updated_at  INTEGER          NOT NULL   -- Unix ms
);
