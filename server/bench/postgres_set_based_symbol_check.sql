-- A schema variant for PostgreSQL, measured by `ingest_bench --postgres-setup`
-- (not a migration): the same guarantees as `bars.symbol REFERENCES
-- symbols(symbol) ON DELETE CASCADE`, checked once per statement instead of
-- once per row.
--
-- PostgreSQL checks a foreign key with one lookup query per inserted row, run
-- from an after-row trigger; on the benchmark machine that is about 5 µs a
-- row, several times the cost of the insert itself. These triggers look at the
-- statement's new rows as a set (a transition table): one lookup per distinct
-- symbol.
--
-- Concurrency matches the foreign key's: the parents are locked FOR KEY SHARE,
-- so a concurrent DELETE of a symbol waits for the inserting transaction to
-- end (then removes its bars too), and an insert naming a symbol deleted
-- meanwhile fails.

ALTER TABLE bars DROP CONSTRAINT bars_symbol_fkey;

CREATE FUNCTION bars_check_symbols() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM 1 FROM symbols WHERE symbol IN (SELECT DISTINCT symbol FROM new_bars) ORDER BY symbol FOR KEY SHARE;
    SELECT n.symbol INTO missing
        FROM (SELECT DISTINCT symbol FROM new_bars) AS n
        WHERE NOT EXISTS (SELECT 1 FROM symbols AS s WHERE s.symbol = n.symbol)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'bars: symbol % is not in symbols', missing USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bars_check_symbols_on_insert AFTER INSERT ON bars
    REFERENCING NEW TABLE AS new_bars FOR EACH STATEMENT EXECUTE FUNCTION bars_check_symbols();
CREATE TRIGGER bars_check_symbols_on_update AFTER UPDATE ON bars
    REFERENCING NEW TABLE AS new_bars FOR EACH STATEMENT EXECUTE FUNCTION bars_check_symbols();

CREATE FUNCTION symbols_delete_bars() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bars WHERE symbol IN (SELECT symbol FROM gone);
    RETURN NULL;
END
$$;

CREATE TRIGGER symbols_delete_bars AFTER DELETE ON symbols
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION symbols_delete_bars();
