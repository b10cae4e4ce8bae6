-- session-backend schema: the migrations, in order. psql runs this file as it is (compose mounts it,
-- with migrations/, into /docker-entrypoint-initdb.d); `session-backend init-db` reads the same list
-- and applies only the migrations the database has not recorded (functions.sql, every time). Every
-- migration is idempotent and records itself in schema_migrations (which 0001 creates).

\ir migrations/0001_initial.sql
\ir migrations/0002_namespaces.sql
\ir migrations/0003_keys_stay_required.sql
\ir migrations/0004_storage_objects.sql
\ir migrations/0005_storage_lz4.sql
\ir migrations/0006_leases.sql
\ir migrations/0007_retention.sql
\ir migrations/0008_rewind_archive.sql
\ir migrations/0009_message_search.sql
\ir migrations/functions.sql
