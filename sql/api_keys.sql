-- API keys. Only a SHA-256 of each key is stored; key_id is a prefix of that hash, safe to show and log.

-- name: create_api_key(key_id, namespace, secret_hash)$
INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (:key_id, :namespace, :secret_hash)
RETURNING key_id;

-- name: seed_api_key(key_id, namespace, secret_hash)!
-- Keys from API_KEYS are inserted at start; a key revoked earlier stays revoked.
INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (:key_id, :namespace, :secret_hash)
ON CONFLICT (key_id) DO NOTHING;

-- name: authenticate_api_key(key_id)^
-- The key's namespace, hash and whether it is revoked; records the use at most once a minute,
-- so a busy key does not write on every request.
WITH found AS (
    SELECT key_id, namespace, secret_hash, revoked_at FROM api_keys WHERE key_id = :key_id
), touched AS (
    UPDATE api_keys AS k SET last_used_at = now()
    FROM found
    WHERE k.key_id = found.key_id AND found.revoked_at IS NULL
      AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
    RETURNING k.key_id
)
SELECT namespace, secret_hash, revoked_at IS NOT NULL AS revoked FROM found;

-- name: any_active_api_key()$
SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL);

-- name: list_api_keys()
SELECT key_id, namespace, iso_utc(created_at), iso_utc(last_used_at), iso_utc(revoked_at)
FROM api_keys ORDER BY namespace, created_at;

-- name: revoke_api_key(key_id)$
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = :key_id RETURNING key_id;
