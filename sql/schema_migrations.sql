-- Bookkeeping for `init-db`: which migrations a database already has.

-- name: migrations_table_exists()$
-- False for a new database, or one created before migrations existed.
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: applied_migrations()
SELECT version FROM schema_migrations;
