-- Agents of a session. Each query is one statement, so each request is one transaction and one round
-- trip: `caller_namespace(:key_hash, :keyless ...)` checks the caller's API key inside it, in the form
-- for writes or the one for reads (see functions.sql: on Citus a read's functions run on a worker).

-- name: create_agent(key_hash, keyless, session_id, agent_id, state, conversation_manager_state, internal_state, created_at, updated_at, fence)^
-- A missing session violates session_agents_session_fkey (404); a duplicate, session_agents_pkey (409).
INSERT INTO session_agents AS a
    (namespace, session_id, agent_id, state, conversation_manager_state, internal_state, created_at, updated_at)
VALUES (fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence), :session_id, :agent_id, :state, :conversation_manager_state, coalesce(:internal_state::json, '{}'),
        coalesce(:created_at, now()), coalesce(:updated_at, :created_at, now()))
RETURNING agent_json(a.agent_id, a.state, a.conversation_manager_state, a.internal_state, a.created_at, a.updated_at, a.version)::text, a.version;

-- name: get_agent(key_hash, keyless, session_id, agent_id)^
SELECT agent_json(a.agent_id, a.state, a.conversation_manager_state, a.internal_state, a.created_at, a.updated_at, a.version)::text, a.version FROM session_agents AS a
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id AND a.agent_id = :agent_id;

-- An omitted internal_state keeps the stored one. With :if_versions (If-Match) only those versions are
-- replaced: no row back then means a changed or a missing agent, which the service tells apart.
-- name: update_agent(state, conversation_manager_state, internal_state, key_hash, keyless, session_id, agent_id, fence, if_versions)^
UPDATE session_agents AS a
SET state = :state,
    conversation_manager_state = :conversation_manager_state,
    internal_state = coalesce(:internal_state::json, a.internal_state),
    updated_at = now(),
    version = a.version + 1
WHERE a.namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND a.session_id = :session_id AND a.agent_id = :agent_id
  AND (:if_versions::bigint[] IS NULL OR a.version = ANY(:if_versions::bigint[]))
RETURNING agent_json(a.agent_id, a.state, a.conversation_manager_state, a.internal_state, a.created_at, a.updated_at, a.version)::text, a.version;

-- name: delete_agent(key_hash, keyless, session_id, agent_id, fence)$
-- The agent's messages go with it (ON DELETE CASCADE).
DELETE FROM session_agents
WHERE namespace = (SELECT fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)) AND session_id = :session_id AND agent_id = :agent_id
RETURNING agent_id;

-- name: list_agents(key_hash, keyless, session_id)$
-- NULL when the session does not exist, so the caller can answer 404.
SELECT json_build_object(
    'agents', coalesce((SELECT json_agg(agent_json(a.agent_id, a.state, a.conversation_manager_state, a.internal_state, a.created_at, a.updated_at, a.version) ORDER BY a.agent_id)
                        FROM session_agents AS a
                        WHERE a.namespace = s.namespace AND a.session_id = :session_id), '[]'::json)
)::text
FROM sessions AS s WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND s.session_id = :session_id;
