-- Messages of an agent. Each query is one statement, so each request is one transaction and one round
-- trip: `caller_namespace(:key_hash, :keyless ...)` checks the caller's API key inside it, in the form
-- for writes or the one for reads (see functions.sql: on Citus a read's functions run on a worker).

-- name: create_message(key_hash, keyless, session_id, agent_id, message_id, message, redact_message, created_at, updated_at, fence)$
-- A missing session or agent violates session_messages_agent_fkey (404); a duplicate
-- message_id, session_messages_pkey (409).
INSERT INTO session_messages AS m
    (namespace, session_id, agent_id, message_id, message, redact_message, created_at, updated_at)
VALUES (fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence), :session_id, :agent_id, :message_id, :message, :redact_message,
        coalesce(:created_at, now()), coalesce(:updated_at, :created_at, now()))
RETURNING message_json(m.message_id, m.message, m.redact_message, m.created_at, m.updated_at)::text;

-- name: get_message(key_hash, keyless, session_id, agent_id, message_id)$
SELECT message_json(m.message_id, m.message, m.redact_message, m.created_at, m.updated_at)::text FROM session_messages AS m
WHERE m.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND m.session_id = :session_id AND m.agent_id = :agent_id AND m.message_id = :message_id;

-- name: update_message(message, redact_message, key_hash, keyless, session_id, agent_id, message_id, fence)$
UPDATE session_messages AS m
SET message = :message, redact_message = :redact_message, updated_at = now()
WHERE m.namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND m.session_id = :session_id AND m.agent_id = :agent_id AND m.message_id = :message_id
RETURNING message_json(m.message_id, m.message, m.redact_message, m.created_at, m.updated_at)::text;

-- name: delete_message(key_hash, keyless, session_id, agent_id, message_id, fence)$
DELETE FROM session_messages
WHERE namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND session_id = :session_id AND agent_id = :agent_id AND message_id = :message_id
RETURNING message_id;

-- name: list_messages_ascending(key_hash, keyless, session_id, agent_id, after, limit, offset, page, include_total)$
-- A page in message_id order; `after` is a keyset bound (-1 for none). NULL when the agent does
-- not exist. Rows are turned into JSON once, straight from the index scan: materialising whole
-- rows first doubled the cost of a page. An index probe past the last id tells whether another
-- page follows. Counting every message for `total` costs more than a deep page itself, so a
-- client paging by keyset can skip it.
SELECT json_build_object(
    'messages', coalesce(p.messages, '[]'::json),
    'total', CASE WHEN :include_total THEN
        (SELECT count(*) FROM session_messages AS c
         WHERE c.namespace = a.namespace AND c.session_id = :session_id AND c.agent_id = a.agent_id) END,
    'limit', :limit, 'offset', :offset, 'page', :page, 'page_size', :limit,
    'next_after', CASE WHEN EXISTS (
        SELECT FROM session_messages AS n
        WHERE n.namespace = a.namespace AND n.session_id = :session_id AND n.agent_id = a.agent_id
          AND n.message_id > p.last_id) THEN p.last_id END
)::text
FROM session_agents AS a
CROSS JOIN LATERAL (
    SELECT json_agg(message_json(m.message_id, m.message, m.redact_message, m.created_at, m.updated_at) ORDER BY m.message_id) AS messages, max(m.message_id) AS last_id
    FROM (SELECT * FROM session_messages AS m
          WHERE m.namespace = a.namespace AND m.session_id = :session_id AND m.agent_id = a.agent_id
            AND m.message_id > :after
          ORDER BY m.message_id LIMIT :limit OFFSET :offset) AS m
) AS p
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id AND a.agent_id = :agent_id;

-- name: list_messages_descending(key_hash, keyless, session_id, agent_id, after, limit, offset, page, include_total)$
-- The same page in reverse order; `after` bounds from above (2147483647 + 1 for none).
SELECT json_build_object(
    'messages', coalesce(p.messages, '[]'::json),
    'total', CASE WHEN :include_total THEN
        (SELECT count(*) FROM session_messages AS c
         WHERE c.namespace = a.namespace AND c.session_id = :session_id AND c.agent_id = a.agent_id) END,
    'limit', :limit, 'offset', :offset, 'page', :page, 'page_size', :limit,
    'next_after', CASE WHEN EXISTS (
        SELECT FROM session_messages AS n
        WHERE n.namespace = a.namespace AND n.session_id = :session_id AND n.agent_id = a.agent_id
          AND n.message_id < p.last_id) THEN p.last_id END
)::text
FROM session_agents AS a
CROSS JOIN LATERAL (
    SELECT json_agg(message_json(m.message_id, m.message, m.redact_message, m.created_at, m.updated_at) ORDER BY m.message_id DESC) AS messages, min(m.message_id) AS last_id
    FROM (SELECT * FROM session_messages AS m
          WHERE m.namespace = a.namespace AND m.session_id = :session_id AND m.agent_id = a.agent_id
            AND m.message_id < :after
          ORDER BY m.message_id DESC LIMIT :limit OFFSET :offset) AS m
) AS p
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id AND a.agent_id = :agent_id;
