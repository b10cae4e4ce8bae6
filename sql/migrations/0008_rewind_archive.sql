-- Migration 0008: rewinds of an agent's conversation, and the messages they took away, kept until purged.
--
-- A rewind removes an agent's messages from a message id on, so the next turn appends there, and
-- keeps them here with the conversation-manager state it replaced: undoing the rewind puts both back
-- while nothing was appended since. Rows lead with the namespace and the session id, as everywhere,
-- so Citus keeps a session's archive on the shard of its messages.

CREATE TABLE IF NOT EXISTS agent_rewinds (
    namespace                  varchar(255) NOT NULL,
    session_id                 varchar(255) NOT NULL,
    agent_id                   varchar(255) NOT NULL,
    rewind_id                  uuid         NOT NULL,
    message_id                 integer      NOT NULL,
    conversation_manager_state json         NOT NULL,
    rewound_at                 timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT agent_rewinds_pkey PRIMARY KEY (namespace, session_id, agent_id, rewind_id),
    CONSTRAINT agent_rewinds_agent_fkey FOREIGN KEY (namespace, session_id, agent_id)
        REFERENCES session_agents (namespace, session_id, agent_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS archived_messages (
    namespace      varchar(255) NOT NULL,
    session_id     varchar(255) NOT NULL,
    agent_id       varchar(255) NOT NULL,
    rewind_id      uuid         NOT NULL,
    message_id     integer      NOT NULL,
    message        json         NOT NULL,
    redact_message json,
    created_at     timestamptz  NOT NULL,
    updated_at     timestamptz  NOT NULL,
    CONSTRAINT archived_messages_pkey PRIMARY KEY (namespace, session_id, agent_id, rewind_id, message_id),
    CONSTRAINT archived_messages_rewind_fkey FOREIGN KEY (namespace, session_id, agent_id, rewind_id)
        REFERENCES agent_rewinds (namespace, session_id, agent_id, rewind_id) ON DELETE CASCADE
);

INSERT INTO schema_migrations (version) VALUES ('0008') ON CONFLICT DO NOTHING;
