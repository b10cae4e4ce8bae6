-- Retention (migration 0007): the namespaces' default TTLs and the purge of expired sessions. These are
-- the operator's commands (`session-backend retention ...`, `session-backend purge`), not requests: they
-- act on every namespace and take no API key (tests/test_sql_rules.py lists this file as a service's).
-- A session is due when expires_at <= now() and it is not on legal hold; the partial index
-- sessions_expires_at_idx holds exactly the sessions that may become due, oldest first.

-- name: set_default_ttl(namespace, ttl_seconds)!
-- NULL clears the namespace's default: its new sessions do not expire unless they say so.
-- The clock is read in VALUES: Citus refuses a function in DO UPDATE SET (namespace_settings is a
-- reference table there).
INSERT INTO namespace_settings AS n (namespace, default_ttl_seconds, updated_at) VALUES (:namespace, :ttl_seconds, now())
ON CONFLICT (namespace) DO UPDATE SET default_ttl_seconds = excluded.default_ttl_seconds, updated_at = excluded.updated_at;

-- name: list_namespace_settings()
SELECT namespace, default_ttl_seconds, iso_utc(updated_at) FROM namespace_settings ORDER BY namespace;

-- name: purge_batch(batch_size)$
-- Single-node PostgreSQL: one statement, one transaction per batch. The CTE picks up to batch_size due
-- sessions, oldest first, locking them; SKIP LOCKED passes over the ones another purger (or a request
-- writing to the session) holds, so purgers running at once take disjoint batches and never wait for
-- each other. The lock re-reads each row, so a hold or a later expiry set meanwhile is seen. Answers
-- {namespace: sessions deleted}; agents, messages and multi-agent state go by ON DELETE CASCADE.
-- Not on Citus, which runs FOR UPDATE only in a query routed to one shard (app/retention.py).
-- The DELETE finds the rows by ctid, which stays put while they are locked: a TID scan, where a join on
-- the key was planned as a sequential scan of the whole table.
WITH picked AS (
    SELECT s.ctid FROM sessions AS s
    WHERE s.expires_at <= now() AND NOT s.legal_hold
    ORDER BY s.expires_at
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM sessions AS s WHERE s.ctid = ANY (ARRAY(SELECT ctid FROM picked))
    RETURNING s.namespace
)
SELECT coalesce(json_object_agg(namespace, deleted), '{}')::text
FROM (SELECT namespace, count(*) AS deleted FROM gone GROUP BY namespace) AS counts;

-- name: pick_expired_sessions(batch_size)
-- Citus: the due sessions, oldest first, read from every shard without locks; each is then deleted by
-- lock_expired_session and delete_expired_session, routed to its shard.
SELECT s.namespace, s.session_id FROM sessions AS s
WHERE s.expires_at <= now() AND NOT s.legal_hold
ORDER BY s.expires_at
LIMIT :batch_size;

-- name: lock_expired_session(namespace, session_id)$
-- Locks the session if it is still due and nobody else holds it (another purger, a request writing to
-- it): no row back otherwise, at once, without waiting. The lock re-reads the row, so a hold or a
-- later expiry set since the pick keeps it.
SELECT s.session_id FROM sessions AS s
WHERE s.namespace = :namespace AND s.session_id = :session_id AND s.expires_at <= now() AND NOT s.legal_hold
FOR UPDATE SKIP LOCKED;

-- name: delete_expired_session(namespace, session_id)$
-- After lock_expired_session, in its transaction: the row is locked and still due.
DELETE FROM sessions AS s WHERE s.namespace = :namespace AND s.session_id = :session_id RETURNING s.session_id;

-- name: count_expired_sessions()
-- What a purge would delete now, by namespace (`purge --dry-run`).
SELECT s.namespace, count(*) FROM sessions AS s
WHERE s.expires_at <= now() AND NOT s.legal_hold
GROUP BY s.namespace ORDER BY s.namespace;

-- name: count_held_expired_sessions()$
-- Expired sessions a legal hold keeps (sessions_legal_hold_idx: empty without holds).
SELECT count(*) FROM sessions AS s WHERE s.legal_hold AND s.expires_at <= now();
