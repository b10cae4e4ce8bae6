-- Multi-agent (Swarm/Graph) state of a session, stored and returned whole. As for sessions, each
-- query is one statement that also checks the caller's API key.

-- name: create_multi_agent(key_hash, keyless, session_id, multi_agent_id, state)$
-- A missing session violates multi_agents_session_fkey (404); a duplicate id, multi_agents_pkey (409).
INSERT INTO multi_agents (namespace, session_id, multi_agent_id, state)
VALUES (caller_namespace(:key_hash, :keyless), :session_id, :multi_agent_id, :state)
RETURNING state::text;

-- name: get_multi_agent(key_hash, keyless, session_id, multi_agent_id)$
SELECT state::text FROM multi_agents
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND session_id = :session_id AND multi_agent_id = :multi_agent_id;

-- name: update_multi_agent(state, key_hash, keyless, session_id, multi_agent_id)$
UPDATE multi_agents SET state = :state, updated_at = now()
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND session_id = :session_id AND multi_agent_id = :multi_agent_id
RETURNING state::text;

-- name: delete_multi_agent(key_hash, keyless, session_id, multi_agent_id)$
DELETE FROM multi_agents
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND session_id = :session_id AND multi_agent_id = :multi_agent_id
RETURNING multi_agent_id;
