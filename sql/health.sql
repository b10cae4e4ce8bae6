-- Health checks.

-- name: schema_catalog(functions)^
-- Whether schema_migrations exists, and how many of the functions (signatures: `name(type, ...)`)
-- exist: the catalogs alone, so probing a database that lacks the schema writes no error to
-- PostgreSQL's log.
SELECT to_regclass('schema_migrations') IS NOT NULL,
       (SELECT count(*) FROM unnest(:functions::text[]) AS f(signature) WHERE to_regprocedure(f.signature) IS NOT NULL);

-- name: latest_migration()$
SELECT max(version) FROM schema_migrations;
