-- Distributing the schema over a Citus cluster (app/distribution.py, `init-db --distributed`). These
-- read the catalogs and call Citus' own functions; they touch no caller's records.

-- name: has_citus()$
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus');

-- name: has_active_workers()$
SELECT count(*) > 0 FROM citus_get_active_worker_nodes();

-- name: citus_tables()
-- The tables Citus already manages in the current schema, and how.
SELECT c.relname, CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'distributed' END
FROM pg_dist_partition AS p JOIN pg_class AS c ON c.oid = p.logicalrelid
WHERE c.relnamespace = current_schema()::regnamespace;

-- name: session_scoped_tables(session_column)
-- Each table with a session_id column, and the other tables its foreign keys point at.
SELECT t.relname,
       coalesce(array_agg(DISTINCT r.relname) FILTER (WHERE r.relname IS NOT NULL), '{}')
FROM pg_class AS t
JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attname = :session_column AND NOT a.attisdropped
LEFT JOIN pg_constraint AS f ON f.conrelid = t.oid AND f.contype = 'f'
LEFT JOIN pg_class AS r ON r.oid = f.confrelid AND r.oid <> t.oid
WHERE t.relkind = 'r' AND t.relnamespace = current_schema()::regnamespace
GROUP BY t.relname;

-- name: undistributed_functions(names)
-- The signatures of the named functions of the current schema that Citus does not distribute yet.
SELECT p.oid::regprocedure::text FROM pg_proc AS p
WHERE p.proname = ANY(:names) AND p.pronamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT FROM pg_dist_object AS d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid)
ORDER BY 1;

-- name: distribute_function(signature)$
SELECT create_distributed_function(:signature);

-- name: create_reference_table(table_name)$
SELECT create_reference_table(:table_name);

-- name: create_distributed_table(table_name, column_name, colocate_with)$
SELECT create_distributed_table(:table_name, :column_name, colocate_with => :colocate_with);
