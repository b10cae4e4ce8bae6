-- Changing a conversation's history: rewind an agent (its later messages go to an archive), undo a
-- rewind, purge an archive, fork a session. Each operation is one transaction of several of these
-- statements (app/history.py). Its first statement checks the caller's key and the session's lease,
-- with unleased(caller_namespace(...), :session_id, :fence) (functions.sql), and locks the rows it
-- reads; the others repeat the key check, as every query does, without the lease's. A fork's copies
-- use the check's form for reads: Citus runs an INSERT ... SELECT's functions on the shards it reads,
-- where the form for writes cannot read api_keys (functions.sql says why).

-- name: lock_agent(key_hash, keyless, session_id, agent_id, fence)$
-- The agent's conversation-manager state, once the lease allows the change; the (empty) UPDATE locks
-- the agent's row, so two rewinds or a rewind and an undo of one agent take turns. An UPDATE, not a
-- SELECT ... FOR UPDATE: Citus evaluates a write's functions on the coordinator, where unleased() can
-- read the lease, and a read's on the worker, where it cannot.
UPDATE session_agents AS a SET version = a.version
WHERE a.namespace = (SELECT unleased(caller_namespace(:key_hash, :keyless), :session_id, :fence))
  AND a.session_id = :session_id AND a.agent_id = :agent_id
RETURNING a.conversation_manager_state::text;

-- name: cut_point(key_hash, keyless, session_id, agent_id, message_id)^
-- The message just before a cut at :message_id (a toolUse there would lose its toolResult), and how
-- many messages the cut takes away.
SELECT (SELECT m.message::text FROM session_messages AS m
        WHERE m.namespace = a.namespace AND m.session_id = :session_id AND m.agent_id = a.agent_id
          AND m.message_id = :message_id - 1),
       (SELECT count(*) FROM session_messages AS m
        WHERE m.namespace = a.namespace AND m.session_id = :session_id AND m.agent_id = a.agent_id
          AND m.message_id >= :message_id)
FROM session_agents AS a
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id AND a.agent_id = :agent_id;

-- name: record_rewind(key_hash, keyless, session_id, agent_id, rewind_id, message_id, conversation_manager_state)!
INSERT INTO agent_rewinds (namespace, session_id, agent_id, rewind_id, message_id, conversation_manager_state)
VALUES (caller_namespace(:key_hash, :keyless), :session_id, :agent_id, :rewind_id::uuid, :message_id,
        :conversation_manager_state);

-- name: archive_messages(key_hash, keyless, session_id, agent_id, rewind_id, message_id)!
INSERT INTO archived_messages
    (namespace, session_id, agent_id, rewind_id, message_id, message, redact_message, created_at, updated_at)
SELECT m.namespace, m.session_id, m.agent_id, :rewind_id::uuid, m.message_id, m.message, m.redact_message,
       m.created_at, m.updated_at
FROM session_messages AS m
WHERE m.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND m.session_id = :session_id
  AND m.agent_id = :agent_id AND m.message_id >= :message_id;

-- name: delete_messages_from(key_hash, keyless, session_id, agent_id, message_id)!
DELETE FROM session_messages
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND session_id = :session_id
  AND agent_id = :agent_id AND message_id >= :message_id;

-- name: set_conversation_manager_state(key_hash, keyless, session_id, agent_id, conversation_manager_state)!
UPDATE session_agents
SET conversation_manager_state = :conversation_manager_state, updated_at = now(), version = version + 1
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND session_id = :session_id
  AND agent_id = :agent_id;

-- name: rewind_to_undo(key_hash, keyless, session_id, agent_id, rewind_id)^
-- The rewind's message id and the state it replaced, and whether a message was appended at or after
-- that id since (then the undo would collide with the new conversation). Read after lock_agent.
SELECT r.message_id, r.conversation_manager_state::text,
       EXISTS (SELECT FROM session_messages AS m
               WHERE m.namespace = r.namespace AND m.session_id = :session_id AND m.agent_id = r.agent_id
                 AND m.message_id >= r.message_id)
FROM agent_rewinds AS r
WHERE r.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND r.session_id = :session_id AND r.agent_id = :agent_id AND r.rewind_id = :rewind_id::uuid;

-- name: restore_archived_messages(key_hash, keyless, session_id, agent_id, rewind_id)!
INSERT INTO session_messages
    (namespace, session_id, agent_id, message_id, message, redact_message, created_at, updated_at)
SELECT x.namespace, x.session_id, x.agent_id, x.message_id, x.message, x.redact_message, x.created_at, x.updated_at
FROM archived_messages AS x
WHERE x.namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND x.session_id = :session_id
  AND x.agent_id = :agent_id AND x.rewind_id = :rewind_id::uuid;

-- name: delete_rewind(key_hash, keyless, session_id, agent_id, rewind_id)$
-- Purges a rewind's archive (its messages go with it: ON DELETE CASCADE).
DELETE FROM agent_rewinds
WHERE namespace = (SELECT caller_namespace(:key_hash, :keyless)) AND session_id = :session_id
  AND agent_id = :agent_id AND rewind_id = :rewind_id::uuid
RETURNING rewind_id;

-- name: list_rewinds(key_hash, keyless, session_id, agent_id)$
-- Newest first, with how many messages each keeps. NULL when the agent does not exist.
SELECT json_build_object('rewinds', coalesce((
    SELECT json_agg(json_build_object(
               'rewind_id', r.rewind_id, 'message_id', r.message_id, 'rewound_at', iso_utc(r.rewound_at),
               'archived_messages', (SELECT count(*) FROM archived_messages AS x
                                     WHERE x.namespace = r.namespace AND x.session_id = :session_id
                                       AND x.agent_id = r.agent_id AND x.rewind_id = r.rewind_id))
           ORDER BY r.rewound_at DESC, r.rewind_id)
    FROM agent_rewinds AS r
    WHERE r.namespace = a.namespace AND r.session_id = :session_id AND r.agent_id = a.agent_id), '[]'::json))::text
FROM session_agents AS a
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id AND a.agent_id = :agent_id;

-- name: lock_session(key_hash, keyless, session_id, fence)$
-- The session to fork, once its lease allows it (a fork mid-turn could copy a toolUse without its
-- toolResult); the (empty) UPDATE locks its row while it is copied. NULL when it does not exist.
UPDATE sessions AS s SET updated_at = s.updated_at
WHERE s.namespace = (SELECT unleased(caller_namespace(:key_hash, :keyless), :session_id, :fence))
  AND s.session_id = :session_id
RETURNING s.session_id;

-- name: fork_session(key_hash, keyless, session_id, new_session_id)$
-- A new id already in use violates sessions_pkey (409).
INSERT INTO sessions (namespace, session_id, session_type, created_at, updated_at)
SELECT s.namespace, :new_session_id, s.session_type, now(), now()
FROM sessions AS s
WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND s.session_id = :session_id
RETURNING session_json(session_id, session_type, created_at, updated_at)::text;

-- name: fork_agents(key_hash, keyless, session_id, new_session_id, agent_id)!
-- Every agent, or only :agent_id; each starts again at version 1 in the new session.
INSERT INTO session_agents
    (namespace, session_id, agent_id, state, conversation_manager_state, internal_state, created_at, updated_at)
SELECT a.namespace, :new_session_id, a.agent_id, a.state, a.conversation_manager_state, a.internal_state,
       a.created_at, now()
FROM session_agents AS a
WHERE a.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND a.session_id = :session_id
  AND (:agent_id::text IS NULL OR a.agent_id = :agent_id);

-- name: fork_messages(key_hash, keyless, session_id, new_session_id, agent_id, message_id)!
-- The messages of the forked agents, all of them or those before :message_id.
INSERT INTO session_messages
    (namespace, session_id, agent_id, message_id, message, redact_message, created_at, updated_at)
SELECT m.namespace, :new_session_id, m.agent_id, m.message_id, m.message, m.redact_message, m.created_at, m.updated_at
FROM session_messages AS m
WHERE m.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND m.session_id = :session_id
  AND (:agent_id::text IS NULL OR m.agent_id = :agent_id)
  AND (:message_id::int IS NULL OR m.message_id < :message_id::int);

-- name: fork_multi_agents(key_hash, keyless, session_id, new_session_id)!
INSERT INTO multi_agents (namespace, session_id, multi_agent_id, state, created_at, updated_at)
SELECT g.namespace, :new_session_id, g.multi_agent_id, g.state, g.created_at, now()
FROM multi_agents AS g
WHERE g.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND g.session_id = :session_id;

-- name: fork_storage_objects(key_hash, keyless, scope, new_scope, prefixes, new_prefixes)!
-- The session's byte-store objects (snapshots under session/<id>/, the stash under context/<id>/),
-- each under the same key with the new id: :prefixes[i] becomes :new_prefixes[i].
INSERT INTO storage_objects AS o (namespace, scope, key, data, sha256, size, updated_at, search_vector)
SELECT s.namespace, :new_scope, p.new_prefix || substring(s.key FROM octet_length(p.prefix) + 1),
       s.data, s.sha256, s.size, now(), s.search_vector
FROM storage_objects AS s
JOIN unnest(:prefixes::bytea[], :new_prefixes::bytea[]) AS p (prefix, new_prefix)
  ON substring(s.key FROM 1 FOR octet_length(p.prefix)) = p.prefix
WHERE s.namespace = (SELECT caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))) AND s.scope = :scope;
