-- `session-backend convert-to-snapshots`: the queries of snapshots.sql and storage.sql's write for a
-- namespace its operator names (--namespace), not a caller's key. The command runs with the database's
-- own credentials and takes no lease, so its write carries no fencing token. It is one of
-- tests/test_sql_rules.py's SERVICE_FILES; the endpoint uses the key-checked queries instead.

-- name: agent_ids_in(namespace, session_id)$
-- The session's agent ids as a JSON array, in order; NULL when the namespace holds no such session.
SELECT coalesce((SELECT json_agg(a.agent_id ORDER BY a.agent_id) FROM session_agents AS a
                 WHERE a.namespace = s.namespace AND a.session_id = s.session_id), '[]'::json)::text
FROM sessions AS s WHERE s.namespace = :namespace AND s.session_id = :session_id;

-- name: message_log_in(namespace, session_id, agent_id)^
-- snapshots.sql's message_log, for :namespace.
SELECT json_build_object('state', a.state, 'conversation_manager_state', a.conversation_manager_state,
                         'internal_state', a.internal_state)::text,
       coalesce((SELECT json_agg(CASE WHEN m.redact_message IS NULL OR json_typeof(m.redact_message) = 'null'
                                      THEN m.message ELSE m.redact_message END ORDER BY m.message_id)
                 FROM (SELECT * FROM session_messages AS m
                       WHERE m.namespace = a.namespace AND m.session_id = a.session_id AND m.agent_id = a.agent_id
                       ORDER BY m.message_id
                       OFFSET (SELECT CASE WHEN json_typeof(a.conversation_manager_state -> 'removed_message_count') = 'number'
                                            AND a.conversation_manager_state ->> 'removed_message_count' ~ '^[0-9]{1,9}$'
                                           THEN (a.conversation_manager_state ->> 'removed_message_count')::integer
                                           ELSE 0 END)) AS m), '[]'::json)::text
FROM session_agents AS a
WHERE a.namespace = :namespace AND a.session_id = :session_id AND a.agent_id = :agent_id;

-- name: write_snapshot_in(namespace, scope, key, data, body, overwrite)^
-- storage.sql's write_object, for :namespace: no row back when the key holds an object and not :overwrite.
WITH v AS MATERIALIZED (SELECT * FROM storage_value(:data::bytea, :body::text))
INSERT INTO storage_objects AS o (namespace, scope, key, data, sha256, size, updated_at, search_vector)
SELECT :namespace, :scope, :key, v.data, v.sha256, v.size, now(), v.search_vector
FROM v
ON CONFLICT (namespace, scope, key) DO UPDATE
SET data = excluded.data, sha256 = excluded.sha256, size = excluded.size, updated_at = excluded.updated_at,
    search_vector = excluded.search_vector
WHERE :overwrite
RETURNING encode(o.sha256, 'hex'), o.size, iso_utc(o.updated_at), (o.xmax = 0);
