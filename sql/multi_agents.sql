-- Multi-agent (Swarm/Graph) state of a session, stored and returned whole, with its version (the
-- ETag; If-Match compares it). As for sessions, each query is one statement that also checks the
-- caller's API key, and each write the session's fencing token when the client sent one.

-- name: create_multi_agent(key_hash, keyless, session_id, multi_agent_id, state, fence)^
-- A missing session violates multi_agents_session_fkey (404); a duplicate id, multi_agents_pkey (409).
INSERT INTO multi_agents (namespace, session_id, multi_agent_id, state)
VALUES (fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence), :session_id, :multi_agent_id, :state)
RETURNING state::text, version;

-- name: get_multi_agent(key_hash, keyless, session_id, multi_agent_id)^
SELECT state::text, version FROM multi_agents
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND session_id = :session_id AND multi_agent_id = :multi_agent_id;

-- name: update_multi_agent(state, key_hash, keyless, session_id, multi_agent_id, fence, if_versions)^
-- With :if_versions (If-Match) only those versions are replaced; no row back is a changed or missing state.
UPDATE multi_agents SET state = :state, updated_at = now(), version = version + 1
WHERE namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND session_id = :session_id AND multi_agent_id = :multi_agent_id
  AND (:if_versions::bigint[] IS NULL OR version = ANY(:if_versions::bigint[]))
RETURNING state::text, version;

-- name: delete_multi_agent(key_hash, keyless, session_id, multi_agent_id, fence)$
DELETE FROM multi_agents
WHERE namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND session_id = :session_id AND multi_agent_id = :multi_agent_id
RETURNING multi_agent_id;

-- name: list_multi_agents(key_hash, keyless, session_id)$
-- The session's multi-agent states in id order, for the viewer; NULL when the session does not exist.
SELECT json_build_object(
    'multi_agents', coalesce((SELECT json_agg(json_build_object('multi_agent_id', m.multi_agent_id, 'state', m.state,
                                                                'created_at', iso_utc(m.created_at), 'updated_at', iso_utc(m.updated_at),
                                                                'version', m.version) ORDER BY m.multi_agent_id)
                              FROM multi_agents AS m
                              WHERE m.namespace = s.namespace AND m.session_id = :session_id), '[]'::json)
)::text
FROM sessions AS s WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND s.session_id = :session_id;
