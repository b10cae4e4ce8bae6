-- Health checks.

-- name: schema_catalog(functions)^
-- Whether schema_migrations exists, and how many of the named functions exist: the catalogs alone,
-- so probing a database that lacks the schema writes no error to PostgreSQL's log.
SELECT to_regclass('schema_migrations') IS NOT NULL,
       (SELECT count(DISTINCT proname) FROM pg_proc
        WHERE proname = ANY(:functions) AND pg_function_is_visible(oid));

-- name: latest_migration()$
SELECT max(version) FROM schema_migrations;
