-- Migration 0001: sessions, agents, messages and multi-agent state (the first schema).
-- Idempotent, like every migration: safe to apply to a database that already has it.
--
-- Every primary, unique and foreign key starts with session_id, so the tables can be distributed by
-- session_id (Citus) and every query is routed by it. No surrogate serial keys.
--
-- Documents are stored as `json`, not `jsonb`: `json` keeps the text the client sent (key order,
-- strings containing \u0000, which jsonb rejects), and the service never queries inside them.

-- Which migrations this database has; each migration adds its own version at its end.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    varchar(64) NOT NULL PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id   varchar(255) NOT NULL,
    session_type varchar(32)  NOT NULL DEFAULT 'AGENT',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT sessions_pkey PRIMARY KEY (session_id)
);

-- Listing sessions newest first, with a (created_at, session_id) keyset cursor.
CREATE INDEX IF NOT EXISTS sessions_created_at_idx ON sessions (created_at DESC, session_id DESC);

CREATE TABLE IF NOT EXISTS session_agents (
    session_id                 varchar(255) NOT NULL,
    agent_id                   varchar(255) NOT NULL,
    state                      json         NOT NULL,
    conversation_manager_state json         NOT NULL,
    internal_state             json         NOT NULL DEFAULT '{}',
    created_at                 timestamptz  NOT NULL DEFAULT now(),
    updated_at                 timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT session_agents_pkey PRIMARY KEY (session_id, agent_id),
    CONSTRAINT session_agents_session_fkey FOREIGN KEY (session_id)
        REFERENCES sessions (session_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS session_messages (
    session_id     varchar(255) NOT NULL,
    agent_id       varchar(255) NOT NULL,
    message_id     integer      NOT NULL,
    message        json         NOT NULL,
    redact_message json,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT session_messages_pkey PRIMARY KEY (session_id, agent_id, message_id),
    CONSTRAINT session_messages_agent_fkey FOREIGN KEY (session_id, agent_id)
        REFERENCES session_agents (session_id, agent_id) ON DELETE CASCADE,
    CONSTRAINT session_messages_message_id_check CHECK (message_id >= 0)
);

CREATE TABLE IF NOT EXISTS multi_agents (
    session_id     varchar(255) NOT NULL,
    multi_agent_id varchar(255) NOT NULL,
    state          json         NOT NULL,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT multi_agents_pkey PRIMARY KEY (session_id, multi_agent_id),
    CONSTRAINT multi_agents_session_fkey FOREIGN KEY (session_id)
        REFERENCES sessions (session_id) ON DELETE CASCADE
);

INSERT INTO schema_migrations (version) VALUES ('0001') ON CONFLICT DO NOTHING;
