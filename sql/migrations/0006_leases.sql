-- Migration 0006: leases on sessions, with fencing tokens, and versions for conditional updates.
--
-- A lease names one writer of a session for a time. It needs no row in `sessions`: a snapshot session
-- lives only in the byte store, and must be leasable too. The row is never deleted, not even when
-- the lease is released or its session goes: `fence` is the session's fencing token, which goes up by
-- one each time the lease is acquired and must never go backwards, across restarts, failover or a
-- re-created session. lease_id, holder, acquired_at and expires_at are NULL while nobody holds it.
-- session_id leads after the namespace, as in every other table, so Citus co-locates it with the
-- session's rows (app/distribution.py).

CREATE TABLE IF NOT EXISTS session_leases (
    namespace   varchar(255) NOT NULL,
    session_id  varchar(255) NOT NULL,
    fence       bigint       NOT NULL,
    lease_id    uuid,
    holder      varchar(255),
    acquired_at timestamptz,
    expires_at  timestamptz,
    CONSTRAINT session_leases_pkey PRIMARY KEY (namespace, session_id),
    CONSTRAINT session_leases_held_check CHECK ((lease_id IS NULL) = (expires_at IS NULL))
);

-- Conditional updates (If-Match): each update of an agent or of multi-agent state adds one.
ALTER TABLE session_agents ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;
ALTER TABLE multi_agents ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;

INSERT INTO schema_migrations (version) VALUES ('0006') ON CONFLICT DO NOTHING;
