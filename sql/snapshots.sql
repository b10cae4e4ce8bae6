-- Converting an agent's message log to a snapshot (app/snapshots.py). The snapshot is written with
-- storage.sql's write_object, in the caller's namespace and under the session's fencing token.

-- name: message_log(key_hash, keyless, session_id, agent_id)^
-- The agent, and its messages as RepositorySessionManager restores them: after the conversation
-- manager's removed_message_count (by position in message_id order, as its list_messages(offset=...)
-- reads them), each the redacted version where there is one. A count that is no non-negative integer
-- skips nothing here: the service refuses that agent (409) before using the messages. No row when the
-- caller's namespace holds no such agent. The messages' subquery names :session_id, not a's column, so
-- that Citus routes the whole query to the session's shard.
SELECT json_build_object('state', a.state, 'conversation_manager_state', a.conversation_manager_state,
                         'internal_state', a.internal_state)::text,
       coalesce((SELECT json_agg(CASE WHEN m.redact_message IS NULL OR json_typeof(m.redact_message) = 'null'
                                      THEN m.message ELSE m.redact_message END ORDER BY m.message_id)
                 FROM (SELECT * FROM session_messages AS m
                       WHERE m.namespace = a.namespace AND m.session_id = :session_id AND m.agent_id = a.agent_id
                       ORDER BY m.message_id
                       OFFSET (SELECT CASE WHEN json_typeof(a.conversation_manager_state -> 'removed_message_count') = 'number'
                                            AND a.conversation_manager_state ->> 'removed_message_count' ~ '^[0-9]{1,9}$'
                                           THEN (a.conversation_manager_state ->> 'removed_message_count')::integer
                                           ELSE 0 END)) AS m), '[]'::json)::text
FROM session_agents AS a
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id AND a.agent_id = :agent_id;
