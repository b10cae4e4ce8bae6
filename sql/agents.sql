-- Agents of a session. Each query is one statement, so each request is one transaction and one round
-- trip: `(SELECT caller_namespace(:key_hash, :keyless))` checks the caller's API key inside it.

-- name: create_agent(key_hash, keyless, session_id, agent_id, state, conversation_manager_state, internal_state, created_at, updated_at)$
-- A missing session violates session_agents_session_fkey (404); a duplicate, session_agents_pkey (409).
INSERT INTO session_agents AS a
    (namespace, session_id, agent_id, state, conversation_manager_state, internal_state, created_at, updated_at)
VALUES ((SELECT caller_namespace(:key_hash, :keyless)), :session_id, :agent_id, :state, :conversation_manager_state, coalesce(:internal_state::json, '{}'),
        coalesce(:created_at, now()), coalesce(:updated_at, :created_at, now()))
RETURNING agent_json(a)::text;

-- name: get_agent(key_hash, keyless, session_id, agent_id)$
SELECT agent_json(a)::text FROM session_agents AS a
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND a.session_id = :session_id AND a.agent_id = :agent_id;

-- An omitted internal_state keeps the stored one.
-- name: update_agent(state, conversation_manager_state, internal_state, key_hash, keyless, session_id, agent_id)$
UPDATE session_agents AS a
SET state = :state,
    conversation_manager_state = :conversation_manager_state,
    internal_state = coalesce(:internal_state::json, a.internal_state),
    updated_at = now()
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND a.session_id = :session_id AND a.agent_id = :agent_id
RETURNING agent_json(a)::text;

-- name: delete_agent(key_hash, keyless, session_id, agent_id)$
-- The agent's messages go with it (ON DELETE CASCADE).
DELETE FROM session_agents
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND session_id = :session_id AND agent_id = :agent_id
RETURNING agent_id;

-- name: list_agents(key_hash, keyless, session_id)$
-- NULL when the session does not exist, so the caller can answer 404.
SELECT json_build_object(
    'agents', coalesce((SELECT json_agg(agent_json(a) ORDER BY a.agent_id)
                        FROM session_agents AS a
                        WHERE a.namespace = s.namespace AND a.session_id = s.session_id), '[]'::json)
)::text
FROM sessions AS s WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND s.session_id = :session_id;
