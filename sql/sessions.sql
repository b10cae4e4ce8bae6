-- Sessions of a namespace. Each query is one statement, so each request is one transaction and one round
-- trip: `caller_namespace(:key_hash, :keyless ...)` checks the caller's API key inside it, in the form
-- for writes or the one for reads (see functions.sql: on Citus a read's functions run on a worker), and
-- every write wraps it in `fenced(..., :session_id, :fence)`, which checks the session's fencing token
-- when the client sent one (X-Session-Fence). The other resources' files do the same.

-- name: create_session(key_hash, keyless, session_id, session_type, created_at, updated_at, expires_at, ttl_seconds, use_default_ttl, legal_hold, fence)$
-- A duplicate session_id violates sessions_pkey, which the service answers with 409. The expiry is the
-- one sent (expires_at, or now + ttl_seconds), else, when the body did not mention it (use_default_ttl),
-- now + the namespace's default TTL (default_expiry, which reads the key again only then); an explicit
-- null means never.
INSERT INTO sessions AS s (namespace, session_id, session_type, created_at, updated_at, expires_at, legal_hold)
VALUES (fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence), :session_id, :session_type, coalesce(:created_at, now()), coalesce(:updated_at, :created_at, now()),
        coalesce(:expires_at::timestamptz, now() + make_interval(secs => :ttl_seconds),
                 CASE WHEN :use_default_ttl THEN default_expiry(caller_namespace(:key_hash, :keyless)) END),
        :legal_hold)
RETURNING session_json(s.session_id, s.session_type, s.created_at, s.updated_at, s.expires_at, s.legal_hold)::text;

-- name: get_session(key_hash, keyless, session_id)$
-- With who holds its lease, if anyone (the lease's row is on the session's shard).
SELECT session_detail_json(s.session_id, s.session_type, s.created_at, s.updated_at, s.expires_at, s.legal_hold,
    (SELECT lease_holder_json(l.holder, l.fence, l.acquired_at, l.expires_at, now()) FROM session_leases AS l
     WHERE l.namespace = s.namespace AND l.session_id = :session_id))::text
FROM sessions AS s
WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND s.session_id = :session_id;

-- name: update_session(session_type, expires_at, ttl_seconds, keep_expiry, legal_hold, key_hash, keyless, session_id, fence)$
-- What the body leaves out stays. The expiry changes when the body mentions expires_at or ttl_seconds
-- (keep_expiry false): to the instant sent, to now + ttl_seconds, or, for an explicit null, to never
-- (expiry_after_update: Citus refuses now() inside a CASE or COALESCE of an UPDATE).
UPDATE sessions AS s
SET session_type = coalesce(:session_type, s.session_type), updated_at = now(),
    expires_at = expiry_after_update(:keep_expiry, s.expires_at, :expires_at::timestamptz, :ttl_seconds, now()),
    legal_hold = coalesce(:legal_hold, s.legal_hold)
WHERE s.namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND s.session_id = :session_id
RETURNING session_json(s.session_id, s.session_type, s.created_at, s.updated_at, s.expires_at, s.legal_hold)::text;

-- name: delete_session(key_hash, keyless, session_id, fence)$
-- Agents, messages and multi-agent state go with it (ON DELETE CASCADE). A session on legal hold is
-- refused by refuse_if_held (SQLSTATE SBHLD, answered 409 LegalHoldError) and nothing is deleted.
DELETE FROM sessions AS s WHERE s.namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND s.session_id = :session_id
    AND refuse_if_held(s.legal_hold)
RETURNING s.session_id;

-- name: list_sessions(key_hash, keyless, cursor_seconds, cursor_micros, cursor_session_id, prefix, updated_since, limit, offset, page)$
-- Newest first. The cursor is the (created_at, session_id) of the last row shown: created_at's whole epoch
-- seconds (rounded down), '.', its microseconds, '_', the id's UTF-8 in hex (app/schemas.py CURSOR_PATTERN).
-- Integers both ways, so the position is exact in any year: a float of epoch seconds would round.
-- The outer SELECT reads `caller`, so the key is checked even when no session would be scanned.
-- `prefix` keeps the ids that start with it (starts_with: no LIKE, so '%' and '_' are themselves), and
-- `updated_since` the sessions updated at or after it; NULL keeps every session.
WITH caller AS MATERIALIZED (
    SELECT caller_namespace(:key_hash, :keyless) AS namespace
), page AS MATERIALIZED (
    SELECT s.session_id, s.session_type, s.created_at, s.updated_at, s.expires_at, s.legal_hold
    FROM sessions AS s
    WHERE s.namespace = (SELECT namespace FROM caller)
      AND (:cursor_seconds::bigint IS NULL
           OR (s.created_at, s.session_id)
              < (to_timestamp(:cursor_seconds::bigint) + :cursor_micros::int * interval '1 microsecond',
                 :cursor_session_id::varchar))
      AND (:prefix::text IS NULL OR starts_with(s.session_id, :prefix::text))
      AND (:updated_since::timestamptz IS NULL OR s.updated_at >= :updated_since::timestamptz)
    ORDER BY s.created_at DESC, s.session_id DESC
    LIMIT :limit + 1 OFFSET :offset
), shown AS (
    SELECT * FROM page ORDER BY created_at DESC, session_id DESC LIMIT :limit
), last AS (
    SELECT created_at, session_id FROM shown ORDER BY created_at, session_id LIMIT 1
)
SELECT json_build_object(
    'sessions', coalesce((SELECT json_agg(session_json(session_id, session_type, created_at, updated_at, expires_at, legal_hold) ORDER BY created_at DESC, session_id DESC) FROM shown), '[]'::json),
    'next_cursor', CASE WHEN (SELECT count(*) FROM page) > :limit THEN
        (SELECT extract(epoch FROM date_trunc('second', created_at))::bigint
                || '.' || lpad(mod(extract(microseconds FROM created_at)::bigint, 1000000)::text, 6, '0')
                || '_' || encode(convert_to(session_id, 'UTF8'), 'hex')
         FROM last)
    END,
    'limit', :limit, 'offset', :offset, 'page', :page, 'page_size', :limit
)::text
FROM caller;

-- name: search_sessions(key_hash, keyless, q, prefix, updated_since, limit, offset, page)$
-- The sessions whose messages match `q` (websearch_to_tsquery: words, "a phrase", or, -not), best
-- first: the sum over a session's matching messages of ts_rank, so more and denser mentions rank
-- higher; ties newest first. The match reads the GIN index on message_search_vector (migration 0009),
-- which holds a redacted message's redact_message only. Paged by position; next_cursor stays null.
-- A q with no words (only punctuation) matches nothing.
WITH caller AS MATERIALIZED (
    SELECT caller_namespace(:key_hash, :keyless) AS namespace
), query AS MATERIALIZED (
    SELECT websearch_to_tsquery('simple'::regconfig, :q) AS tsq
), hits AS (
    SELECT m.session_id, sum(ts_rank(message_search_vector(m.message, m.redact_message), (SELECT tsq FROM query))) AS rank
    FROM session_messages AS m
    WHERE m.namespace = (SELECT namespace FROM caller)
      AND message_search_vector(m.message, m.redact_message) @@ (SELECT tsq FROM query)
    GROUP BY m.session_id
), shown AS MATERIALIZED (
    SELECT s.session_id, s.session_type, s.created_at, s.updated_at, s.expires_at, s.legal_hold, h.rank
    FROM hits AS h
    JOIN sessions AS s ON s.namespace = (SELECT namespace FROM caller) AND s.session_id = h.session_id
    WHERE (:prefix::text IS NULL OR starts_with(s.session_id, :prefix::text))
      AND (:updated_since::timestamptz IS NULL OR s.updated_at >= :updated_since::timestamptz)
    ORDER BY h.rank DESC, s.created_at DESC, s.session_id DESC
    LIMIT :limit OFFSET :offset
)
SELECT json_build_object(
    'sessions', coalesce((SELECT json_agg(session_json(session_id, session_type, created_at, updated_at, expires_at, legal_hold) ORDER BY rank DESC, created_at DESC, session_id DESC) FROM shown), '[]'::json),
    'next_cursor', NULL,
    'limit', :limit, 'offset', :offset, 'page', :page, 'page_size', :limit
)::text
FROM caller;
