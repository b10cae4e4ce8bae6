-- Moving a namespace's data in and out: `session-backend import` and `export`, and the stream of
-- GET /api/v1/sessions/{id}/export. These queries take the namespace itself (:namespace), not a caller's
-- key: the command line runs them with the database's own credentials for the namespace its operator
-- names (--namespace), and the export endpoint only with the namespace its key-checked query in
-- exports.sql returned. So this file is one of tests/test_sql_rules.py's SERVICE_FILES.
--
-- A record is one line of NDJSON, a JSON object whose "kind" is session, agent, message, multi_agent or
-- storage_object. Its shape is built here only, once for export and once for import, so the two agree.
-- Stored documents are `json`, kept as the text they came in; a raw line break can only be whitespace
-- in JSON text (in a string it is escaped), so turning it into a space keeps the document and makes it
-- one line. Exports page by keyset in primary-key order (the database's collation, the index's order).

-- name: export_sessions(namespace, session_id, after, limit)
SELECT s.session_id, translate(json_build_object(
    'kind', 'session', 'session_id', s.session_id, 'session_type', s.session_type,
    'created_at', iso_utc(s.created_at), 'updated_at', iso_utc(s.updated_at))::text, E'\n\r', '  ')
FROM sessions AS s
WHERE s.namespace = :namespace AND (:session_id::text IS NULL OR s.session_id = :session_id)
  AND (:after::text IS NULL OR s.session_id > :after)
ORDER BY s.session_id LIMIT :limit;

-- name: export_agents(namespace, session_id, after, limit)
SELECT a.agent_id, translate(json_build_object(
    'kind', 'agent', 'session_id', a.session_id, 'agent_id', a.agent_id, 'state', a.state,
    'conversation_manager_state', a.conversation_manager_state, 'internal_state', a.internal_state,
    'created_at', iso_utc(a.created_at), 'updated_at', iso_utc(a.updated_at), 'version', a.version)::text, E'\n\r', '  ')
FROM session_agents AS a
WHERE a.namespace = :namespace AND a.session_id = :session_id AND (:after::text IS NULL OR a.agent_id > :after)
ORDER BY a.agent_id LIMIT :limit;

-- name: export_messages(namespace, session_id, agent_id, after, limit)
SELECT m.message_id, translate(json_build_object(
    'kind', 'message', 'session_id', m.session_id, 'agent_id', m.agent_id, 'message_id', m.message_id,
    'message', m.message, 'redact_message', m.redact_message,
    'created_at', iso_utc(m.created_at), 'updated_at', iso_utc(m.updated_at))::text, E'\n\r', '  ')
FROM session_messages AS m
WHERE m.namespace = :namespace AND m.session_id = :session_id AND m.agent_id = :agent_id AND m.message_id > :after
ORDER BY m.message_id LIMIT :limit;

-- name: export_multi_agents(namespace, session_id, after, limit)
SELECT x.multi_agent_id, translate(json_build_object(
    'kind', 'multi_agent', 'session_id', x.session_id, 'multi_agent_id', x.multi_agent_id, 'state', x.state,
    'created_at', iso_utc(x.created_at), 'updated_at', iso_utc(x.updated_at), 'version', x.version)::text, E'\n\r', '  ')
FROM multi_agents AS x
WHERE x.namespace = :namespace AND x.session_id = :session_id AND (:after::text IS NULL OR x.multi_agent_id > :after)
ORDER BY x.multi_agent_id LIMIT :limit;

-- name: export_objects(namespace, scope, after, limit)
-- Keys, scopes and values travel as base64 (one line, no breaks): JSON text cannot carry every byte
-- string. With :scope, one session's objects (session/<id>/..., context/<id>/...), else all of them.
SELECT o.key, json_build_object(
    'kind', 'storage_object', 'key', translate(encode(o.key, 'base64'), E'\n', ''),
    'scope', translate(encode(o.scope, 'base64'), E'\n', ''), 'data', translate(encode(o.data, 'base64'), E'\n', ''),
    'updated_at', iso_utc(o.updated_at))::text
FROM storage_objects AS o
WHERE o.namespace = :namespace AND (:scope::bytea IS NULL OR o.scope = :scope::bytea)
  AND (:after::bytea IS NULL OR o.key > :after::bytea)
ORDER BY o.key LIMIT :limit;

-- Imports take a JSON array of records of one kind and insert those not stored yet: the primary keys
-- decide (ON CONFLICT DO NOTHING), so an import run twice stores nothing twice, and each returns the
-- keys it inserted, which the caller counts. A record whose parent is missing violates a foreign key and
-- fails the statement; the caller then retries the records one by one to name the failing ones.
-- Documents are taken with ->, which returns their text as it is in the record.

-- name: import_sessions(namespace, records)
INSERT INTO sessions AS s (namespace, session_id, session_type, created_at, updated_at)
SELECT :namespace, r->>'session_id', coalesce(r->>'session_type', 'AGENT'),
       coalesce((r->>'created_at')::timestamptz, now()),
       coalesce((r->>'updated_at')::timestamptz, (r->>'created_at')::timestamptz, now())
FROM json_array_elements(:records::json) AS r
ON CONFLICT DO NOTHING
RETURNING s.session_id;

-- name: import_agents(namespace, records)
INSERT INTO session_agents AS a
    (namespace, session_id, agent_id, state, conversation_manager_state, internal_state, created_at, updated_at, version)
SELECT :namespace, r->>'session_id', r->>'agent_id', r->'state', r->'conversation_manager_state',
       coalesce(r->'internal_state', '{}'), coalesce((r->>'created_at')::timestamptz, now()),
       coalesce((r->>'updated_at')::timestamptz, (r->>'created_at')::timestamptz, now()),
       coalesce((r->>'version')::bigint, 1)
FROM json_array_elements(:records::json) AS r
ON CONFLICT DO NOTHING
RETURNING a.agent_id;

-- name: import_messages(namespace, records)
-- A JSON null redact_message is stored as SQL NULL, as the API stores it.
INSERT INTO session_messages AS m
    (namespace, session_id, agent_id, message_id, message, redact_message, created_at, updated_at)
SELECT :namespace, r->>'session_id', r->>'agent_id', (r->>'message_id')::integer, r->'message',
       CASE WHEN json_typeof(r->'redact_message') <> 'null' THEN r->'redact_message' END,
       coalesce((r->>'created_at')::timestamptz, now()),
       coalesce((r->>'updated_at')::timestamptz, (r->>'created_at')::timestamptz, now())
FROM json_array_elements(:records::json) AS r
ON CONFLICT DO NOTHING
RETURNING m.message_id;

-- name: import_multi_agents(namespace, records)
INSERT INTO multi_agents AS x (namespace, session_id, multi_agent_id, state, created_at, updated_at, version)
SELECT :namespace, r->>'session_id', r->>'multi_agent_id', r->'state',
       coalesce((r->>'created_at')::timestamptz, now()),
       coalesce((r->>'updated_at')::timestamptz, (r->>'created_at')::timestamptz, now()),
       coalesce((r->>'version')::bigint, 1)
FROM json_array_elements(:records::json) AS r
ON CONFLICT DO NOTHING
RETURNING x.multi_agent_id;

-- name: import_objects(namespace, records, text_flags)
-- sha256, size and the search vector are computed from the bytes, as a write through the API does.
-- :text_flags says, record by record, whether the value is UTF-8 text without NUL (NULL: not known),
-- so the vector of a known value needs no PL/pgSQL exception block: on Citus, the coordinator runs
-- this INSERT ... SELECT while it copies rows to the workers, and a subtransaction then fails.
INSERT INTO storage_objects AS o (namespace, scope, key, data, sha256, size, updated_at, search_vector)
SELECT :namespace, decode(e.r->>'scope', 'base64'), decode(e.r->>'key', 'base64'), d.bytes, sha256(d.bytes),
       octet_length(d.bytes), coalesce((e.r->>'updated_at')::timestamptz, now()),
       CASE (:text_flags::boolean[])[e.i]
           WHEN true THEN storage_search_vector(convert_from(d.bytes, 'UTF8'))
           WHEN false THEN NULL
           ELSE storage_search_vector(d.bytes) END
FROM json_array_elements(:records::json) WITH ORDINALITY AS e (r, i)
CROSS JOIN LATERAL (SELECT decode(e.r->>'data', 'base64') AS bytes) AS d
ON CONFLICT DO NOTHING
RETURNING o.key;
