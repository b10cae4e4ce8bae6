-- The export endpoint's own queries: which namespace the caller's session is in. GET .../export checks
-- the caller's key and the session here, in the read form of the check (see functions.sql), and then
-- streams the session's records with the export queries of transfer.sql, for the namespace returned.
-- Each query reads one table by its distribution column, so on Citus each goes to one shard.

-- name: export_namespace(key_hash, keyless, session_id)$
-- NULL when the caller's namespace holds no such session.
SELECT s.namespace FROM sessions AS s
WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND s.session_id = :session_id;

-- name: export_snapshot_namespace(key_hash, keyless, scope)$
-- A session that SnapshotSessionManager keeps lives only in the byte store, under keys of its scope
-- (session/<id>/...): NULL when the caller's namespace holds no object there either.
SELECT o.namespace FROM storage_objects AS o
WHERE o.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND o.scope = :scope
LIMIT 1;
