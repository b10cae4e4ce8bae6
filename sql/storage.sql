-- The byte store (Strands' `Storage`): keys and values are bytea, each query one statement, so each
-- request is one transaction and one round trip. `caller_namespace(:key_hash, :keyless ...)` checks
-- the caller's API key inside it (the form for writes or for reads: see functions.sql). :scope is the
-- key's distribution segment (app/storage_keys.py), and as text :session_id, the session whose fencing
-- token a write checks when it carries one (:fence).
-- The value is bound once, in `v` (storage_value in functions.sql): psycopg2 interpolates parameters,
-- so naming :data three times would send the value three times. It comes either as :data (bytea;
-- psycopg2 sends it hex-escaped, a literal twice its size) or, when the service found it is UTF-8 text
-- without NUL and the database is UTF8, as :body (text; a literal the size of the value, ~2x cheaper
-- to escape and to parse), the other being NULL. `v` is MATERIALIZED so its bytes, sha256 and search vector are computed once.

-- name: write_object(key_hash, keyless, scope, key, data, body, overwrite, session_id, fence)^
-- Creates, or replaces when :overwrite (false for If-None-Match: *). No row back means the key exists
-- and :overwrite is false: the unique key decides, not a prior read. (xmax = 0) is true for a row this
-- statement inserted, false for one it updated.
WITH v AS MATERIALIZED (SELECT * FROM storage_value(:data::bytea, :body::text))
INSERT INTO storage_objects AS o (namespace, scope, key, data, sha256, size, updated_at, search_vector)
SELECT (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)), :scope, :key, v.data, v.sha256, v.size, now(), v.search_vector
FROM v
ON CONFLICT (namespace, scope, key) DO UPDATE
SET data = excluded.data, sha256 = excluded.sha256, size = excluded.size, updated_at = excluded.updated_at,
    search_vector = excluded.search_vector
WHERE :overwrite
RETURNING encode(o.sha256, 'hex'), o.size, iso_utc(o.updated_at), (o.xmax = 0);

-- name: replace_matching_object(key_hash, keyless, scope, key, data, body, any_tag, tags, session_id, fence)^
-- If-Match: replaces the object only while its sha256 is one of :tags (or, with :any_tag, while it
-- exists); the row lock the UPDATE takes makes the comparison and the write one step.
WITH v AS MATERIALIZED (SELECT * FROM storage_value(:data::bytea, :body::text))
UPDATE storage_objects AS o
SET data = v.data, sha256 = v.sha256, size = v.size, updated_at = now(), search_vector = v.search_vector
FROM v
WHERE o.namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND o.scope = :scope AND o.key = :key
  AND (:any_tag OR encode(o.sha256, 'hex') = ANY(:tags::text[]))
RETURNING encode(o.sha256, 'hex'), o.size, iso_utc(o.updated_at), false;

-- name: read_object(key_hash, keyless, scope, key, as_text)^
-- With :as_text (a UTF8 database), a text value (one with a search vector: UTF-8 without NUL, see
-- storage_search_vector) comes back as text, the rest as bytea: psycopg2 decodes 1 MB of text in
-- ~2 ms, of hex-escaped bytea in ~5-8 ms, and the text is half as many bytes on the wire.
SELECT CASE WHEN NOT :as_text OR search_vector IS NULL THEN data END,
       CASE WHEN :as_text AND search_vector IS NOT NULL THEN convert_from(data, 'UTF8') END,
       encode(sha256, 'hex'), updated_at
FROM storage_objects
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND scope = :scope AND key = :key;

-- name: delete_object(key_hash, keyless, scope, key, session_id, fence)$
-- How many objects it deleted (0 or 1). When none, the caller checks the key with a query of its own:
-- a scan that finds no row may never have needed it.
WITH gone AS (
    DELETE FROM storage_objects
    WHERE namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND scope = :scope AND key = :key
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: list_keys(key_hash, keyless, prefix, prefix_end, start_after, limit)$
-- Keys in byte order from the (namespace, key) index: [prefix, prefix_end) is the prefix as a range,
-- so the scan stops where the prefix ends. One key more than the page tells whether another follows.
-- Keys travel as hex: JSON text cannot carry every byte string.
WITH caller AS MATERIALIZED (
    SELECT caller_namespace(:key_hash, :keyless) AS namespace
), page AS (
    SELECT o.key FROM storage_objects AS o
    WHERE o.namespace = (SELECT namespace FROM caller)
      AND o.key >= :prefix::bytea
      AND (:prefix_end::bytea IS NULL OR o.key < :prefix_end::bytea)
      AND (:start_after::bytea IS NULL OR o.key > :start_after::bytea)
    ORDER BY o.key
    LIMIT :limit + 1
)
SELECT json_build_object('keys', coalesce((SELECT json_agg(encode(key, 'hex') ORDER BY key) FROM page), '[]'::json))::text
FROM caller;

-- name: search_objects(key_hash, keyless, query, prefix, prefix_end, limit, include_data)$
-- Ranked full-text search over the text objects (the GIN index on search_vector), best first, then by
-- key so equal scores come in a stable order. Data travels as base64 without line breaks.
WITH caller AS MATERIALIZED (
    SELECT caller_namespace(:key_hash, :keyless) AS namespace
), q AS (
    SELECT websearch_to_tsquery('simple', :query) AS q
), hits AS (
    SELECT o.key, ts_rank(o.search_vector, q.q) AS score,
           CASE WHEN :include_data THEN translate(encode(o.data, 'base64'), E'\n', '') END AS data
    FROM storage_objects AS o, q
    WHERE o.namespace = (SELECT namespace FROM caller)
      AND o.search_vector @@ q.q
      AND o.key >= :prefix::bytea
      AND (:prefix_end::bytea IS NULL OR o.key < :prefix_end::bytea)
    ORDER BY score DESC, o.key
    LIMIT :limit
)
SELECT json_build_object('results', coalesce(
    (SELECT json_agg(json_build_object('key', encode(key, 'hex'), 'score', score, 'data', data) ORDER BY score DESC, key)
     FROM hits), '[]'::json))::text
FROM caller;
