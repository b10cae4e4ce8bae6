-- session-backend schema. Idempotent: applied by `session-backend init-db` and, in compose, by the
-- postgres image's /docker-entrypoint-initdb.d.
--
-- Every primary, unique and foreign key starts with session_id, so the tables can be distributed by
-- session_id (Citus) and every query is routed by it. No surrogate serial keys.
--
-- Documents are stored as `json`, not `jsonb`: `json` keeps the text the client sent (key order,
-- strings containing \u0000, which jsonb rejects), and the service never queries inside them.

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

-- ISO 8601 in UTC with microseconds, the form Strands itself writes (datetime.isoformat()).
CREATE OR REPLACE FUNCTION iso_utc(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');

-- The JSON shape of each resource, in one place, so every query returns response bodies built
-- by PostgreSQL and the service never decodes and re-encodes rows.
CREATE OR REPLACE FUNCTION session_json(s sessions) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN json_build_object(
        'session_id', s.session_id,
        'session_type', s.session_type,
        'created_at', iso_utc(s.created_at),
        'updated_at', iso_utc(s.updated_at));

CREATE OR REPLACE FUNCTION agent_json(a session_agents) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN json_build_object(
        'agent_id', a.agent_id,
        'state', a.state,
        'conversation_manager_state', a.conversation_manager_state,
        'internal_state', a.internal_state,
        'created_at', iso_utc(a.created_at),
        'updated_at', iso_utc(a.updated_at));

CREATE OR REPLACE FUNCTION message_json(m session_messages) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN json_build_object(
        'message_id', m.message_id,
        'message', m.message,
        'redact_message', m.redact_message,
        'created_at', iso_utc(m.created_at),
        'updated_at', iso_utc(m.updated_at));
