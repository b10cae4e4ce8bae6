-- API keys. Only a SHA-256 of each key is stored; key_id is a prefix of that hash, safe to show and log.

-- name: create_api_key(key_id, namespace, secret_hash)^
INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (:key_id, :namespace, :secret_hash)
RETURNING key_id, namespace, iso_utc(created_at) AS created_at;

-- name: seed_api_key(key_id, namespace, secret_hash)!
-- Keys from API_KEYS are inserted at start; a key revoked earlier stays revoked.
INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (:key_id, :namespace, :secret_hash)
ON CONFLICT (key_id) DO NOTHING;

-- name: caller_namespace(key_hash, keyless)$
-- The check every resource query makes, on its own: for answers that found nothing, whose query
-- may have finished without needing the key.
SELECT caller_namespace(:key_hash, :keyless);

-- name: record_api_key_use(key_hash)!
-- At most one write a minute per key, so a busy key does not write on every request.
UPDATE api_keys SET last_used_at = now()
WHERE key_id = left(:key_hash, 16) AND secret_hash = :key_hash AND revoked_at IS NULL
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: any_active_api_key()$
SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL);

-- name: count_active_api_keys()$
SELECT count(*) FROM api_keys WHERE revoked_at IS NULL;

-- name: keys_required()$
-- Whether requests without a key are refused in development (see functions.sql).
SELECT keys_required();

-- name: count_default_sessions()$
-- What requests without a key wrote: the sessions of the 'default' namespace.
SELECT count(*) FROM sessions WHERE namespace = 'default';

-- name: list_api_keys()
SELECT key_id, namespace, CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END AS status,
       iso_utc(created_at) AS created_at, iso_utc(last_used_at) AS last_used_at,
       iso_utc(revoked_at) AS revoked_at
FROM api_keys ORDER BY namespace, created_at;

-- name: revoke_api_key(key_id, key_hash)^
-- The key named by its id, or by its hash when the whole key was given.
UPDATE api_keys SET revoked_at = now()
WHERE (key_id = :key_id OR (key_id = left(:key_hash, 16) AND secret_hash = :key_hash)) AND revoked_at IS NULL
RETURNING key_id, namespace;

-- name: find_api_key(key_id, key_hash)^
SELECT key_id, namespace, iso_utc(revoked_at) AS revoked_at FROM api_keys
WHERE key_id = :key_id OR (key_id = left(:key_hash, 16) AND secret_hash = :key_hash);

-- name: allow_keyless()!
-- Releases the revoked keys, so they no longer keep requests without a key refused. Active keys
-- are never released (the table's check refuses it), so a key created meanwhile keeps them refused.
UPDATE api_keys SET released_at = now() WHERE revoked_at IS NOT NULL AND released_at IS NULL;
