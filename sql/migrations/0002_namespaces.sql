-- Migration 0002: namespaces and API keys.
--
-- Every record lives in the namespace of the API key that wrote it, and the namespace leads every
-- primary and foreign key, so equal session ids in two namespaces are two sessions. Records stored
-- before this migration move into the 'default' namespace. session_id still follows the namespace
-- in every key, so the tables can be distributed by session_id.

CREATE TABLE IF NOT EXISTS api_keys (
    key_id       varchar(32)  NOT NULL,
    namespace    varchar(255) NOT NULL,
    secret_hash  char(64)     NOT NULL,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (key_id)
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_name = 'sessions' AND column_name = 'namespace'
                     AND table_schema = current_schema()) THEN
        -- They depend on the tables' row types; migrations/functions.sql re-creates them.
        DROP FUNCTION IF EXISTS session_json(sessions), agent_json(session_agents), message_json(session_messages);
        ALTER TABLE session_messages DROP CONSTRAINT session_messages_agent_fkey;
        ALTER TABLE session_agents DROP CONSTRAINT session_agents_session_fkey;
        ALTER TABLE multi_agents DROP CONSTRAINT multi_agents_session_fkey;

        ALTER TABLE sessions ADD COLUMN namespace varchar(255) NOT NULL DEFAULT 'default';
        ALTER TABLE session_agents ADD COLUMN namespace varchar(255) NOT NULL DEFAULT 'default';
        ALTER TABLE session_messages ADD COLUMN namespace varchar(255) NOT NULL DEFAULT 'default';
        ALTER TABLE multi_agents ADD COLUMN namespace varchar(255) NOT NULL DEFAULT 'default';
        -- Existing rows took 'default'; new rows must always name their namespace.
        ALTER TABLE sessions ALTER COLUMN namespace DROP DEFAULT;
        ALTER TABLE session_agents ALTER COLUMN namespace DROP DEFAULT;
        ALTER TABLE session_messages ALTER COLUMN namespace DROP DEFAULT;
        ALTER TABLE multi_agents ALTER COLUMN namespace DROP DEFAULT;

        ALTER TABLE sessions DROP CONSTRAINT sessions_pkey,
            ADD CONSTRAINT sessions_pkey PRIMARY KEY (namespace, session_id);
        ALTER TABLE session_agents DROP CONSTRAINT session_agents_pkey,
            ADD CONSTRAINT session_agents_pkey PRIMARY KEY (namespace, session_id, agent_id),
            ADD CONSTRAINT session_agents_session_fkey FOREIGN KEY (namespace, session_id)
                REFERENCES sessions (namespace, session_id) ON DELETE CASCADE;
        ALTER TABLE session_messages DROP CONSTRAINT session_messages_pkey,
            ADD CONSTRAINT session_messages_pkey PRIMARY KEY (namespace, session_id, agent_id, message_id),
            ADD CONSTRAINT session_messages_agent_fkey FOREIGN KEY (namespace, session_id, agent_id)
                REFERENCES session_agents (namespace, session_id, agent_id) ON DELETE CASCADE;
        ALTER TABLE multi_agents DROP CONSTRAINT multi_agents_pkey,
            ADD CONSTRAINT multi_agents_pkey PRIMARY KEY (namespace, session_id, multi_agent_id),
            ADD CONSTRAINT multi_agents_session_fkey FOREIGN KEY (namespace, session_id)
                REFERENCES sessions (namespace, session_id) ON DELETE CASCADE;

        DROP INDEX sessions_created_at_idx;
    END IF;
END
$$;

-- Listing a namespace's sessions newest first, with a (created_at, session_id) keyset cursor.
CREATE INDEX IF NOT EXISTS sessions_namespace_created_at_idx
    ON sessions (namespace, created_at DESC, session_id DESC);

INSERT INTO schema_migrations (version) VALUES ('0002') ON CONFLICT DO NOTHING;
