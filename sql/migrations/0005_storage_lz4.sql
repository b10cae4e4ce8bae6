-- Migration 0005: byte-store values compressed with lz4 where the server has it.
--
-- PostgreSQL compresses a value over ~2 KB before moving it to TOAST, with pglz by default. On a
-- 1 MB JSON snapshot pglz took 9-17 ms of a write on the PostgreSQL 15 we benchmark on, lz4 1-2 ms
-- (python -m bench.storage_parts). The setting applies to values written from now on; stored ones
-- stay readable as they are. A server built without lz4
-- (the embedded PostgreSQL the tests use is one) raises feature_not_supported: the column then keeps
-- pglz, which is only slower, so the migration still succeeds there.

DO $$
BEGIN
    ALTER TABLE storage_objects ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: storage_objects.data keeps pglz';
END
$$;

INSERT INTO schema_migrations (version) VALUES ('0005') ON CONFLICT DO NOTHING;
