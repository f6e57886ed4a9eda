-- bars.symbol must name a row of symbols, and removing a symbol removes its
-- bars: the guarantees of `REFERENCES symbols(symbol) ON DELETE CASCADE`,
-- checked once per statement instead of once per row.
--
-- Why: PostgreSQL enforces a foreign key with an after-row trigger that runs
-- one lookup per inserted row. For bulk loads that lookup costs more than the
-- insert itself (about 6 µs against 3 µs a row on the benchmark machine; see
-- docs/BENCHMARKS.md, "Data platform"). The triggers below see a statement's
-- new rows as a set (a transition table) and look up each distinct symbol
-- once; a 10,000-bar batch of one symbol is one lookup.
--
-- Concurrency is the foreign key's: the referenced symbols are locked FOR KEY
-- SHARE by the inserting transaction, so a concurrent DELETE of one of them
-- waits until it ends (and then removes the new bars as well), and an insert
-- naming a symbol deleted meanwhile fails with foreign_key_violation (23503).
--
-- SQLite keeps its declared foreign key: its check is an index probe in the
-- same process, cheap enough that the SQLite target is met with it.

ALTER TABLE bars DROP CONSTRAINT bars_symbol_fkey;

CREATE FUNCTION bars_check_symbols() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    -- Lock in a fixed order, as concurrent writers of overlapping symbol sets
    -- would otherwise risk deadlocking each other.
    PERFORM 1 FROM symbols
        WHERE symbol IN (SELECT DISTINCT symbol FROM new_bars)
        ORDER BY symbol
        FOR KEY SHARE;
    SELECT n.symbol INTO missing
        FROM (SELECT DISTINCT symbol FROM new_bars) AS n
        WHERE NOT EXISTS (SELECT 1 FROM symbols AS s WHERE s.symbol = n.symbol)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "bars" violates foreign key: symbol % is not in symbols', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

-- Transition tables cannot be combined with a column list, so updates of any
-- column are checked; `ON CONFLICT DO UPDATE` fires both triggers.
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

-- Renaming a symbol that has bars would orphan them; the foreign key refused
-- it (NO ACTION on update), and so does this.
CREATE FUNCTION symbols_keep_referenced_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.symbol IS DISTINCT FROM OLD.symbol AND EXISTS (SELECT 1 FROM bars WHERE symbol = OLD.symbol) THEN
        RAISE EXCEPTION 'update on table "symbols" would orphan the bars of %', OLD.symbol
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER symbols_keep_referenced_keys BEFORE UPDATE OF symbol ON symbols
    FOR EACH ROW EXECUTE FUNCTION symbols_keep_referenced_keys();
