-- Leases on sessions (migration 0006): one writer per session, with a fencing token. Each query is one
-- statement that checks the caller's API key, as every other; the lease needs no session row.

-- name: acquire_lease(key_hash, keyless, session_id, lease_id, holder, ttl_seconds)$
-- Takes the lease when nobody holds it or the holder's time is up (by the database's clock), and
-- moves the fencing token on by one. No row back: someone else holds it. lease_changing() takes the
-- session's lock exclusively, so the writes checked against the old token finish first (functions.sql).
-- The clock is read once, in VALUES (excluded.acquired_at): Citus evaluates VALUES on the coordinator and
-- refuses a function in ON CONFLICT's WHERE.
INSERT INTO session_leases AS l (namespace, session_id, fence, lease_id, holder, acquired_at, expires_at)
VALUES (lease_changing(caller_namespace(:key_hash, :keyless), :session_id), :session_id, 1, :lease_id::uuid, :holder,
        now(), now() + make_interval(secs => :ttl_seconds))
ON CONFLICT (namespace, session_id) DO UPDATE
SET fence = l.fence + 1, lease_id = excluded.lease_id, holder = excluded.holder,
    acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
WHERE l.expires_at IS NULL OR l.expires_at <= excluded.acquired_at
RETURNING lease_json(l.session_id, l.lease_id, l.holder, l.fence, l.acquired_at, l.expires_at)::text;

-- name: renew_lease(key_hash, keyless, session_id, lease_id, ttl_seconds)$
-- Moves the expiry to now + ttl while :lease_id is still the session's lease (even past its expiry,
-- when nobody took it since: the token is still the current one). The token stays.
UPDATE session_leases AS l SET expires_at = now() + make_interval(secs => :ttl_seconds)
WHERE l.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND l.session_id = :session_id
  AND l.lease_id = :lease_id::uuid
RETURNING lease_json(l.session_id, l.lease_id, l.holder, l.fence, l.acquired_at, l.expires_at)::text;

-- name: release_lease(key_hash, keyless, session_id, lease_id)$
-- Frees the lease; the token stays, for the next holder to move on.
UPDATE session_leases AS l SET lease_id = NULL, holder = NULL, acquired_at = NULL, expires_at = NULL
WHERE l.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND l.session_id = :session_id
  AND l.lease_id = :lease_id::uuid
RETURNING l.fence;

-- name: get_lease(key_hash, keyless, session_id)^
-- Always one row: an aggregate over the session's lease row, which may not exist (fence 0). The token
-- comes again on its own, for the service to tell that case.
SELECT json_build_object(
    'session_id', :session_id::text,
    'held', coalesce(bool_or(l.expires_at > now()), false),
    'holder', max(l.holder) FILTER (WHERE l.expires_at > now()),
    'fence', coalesce(max(l.fence), 0),
    'acquired_at', iso_utc(max(l.acquired_at) FILTER (WHERE l.expires_at > now())),
    'expires_at', iso_utc(max(l.expires_at) FILTER (WHERE l.expires_at > now()))
)::text, coalesce(max(l.fence), 0)
FROM session_leases AS l
WHERE l.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND l.session_id = :session_id;
