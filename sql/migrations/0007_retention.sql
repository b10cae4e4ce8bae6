-- Migration 0007: retention. A session may expire, a legal hold keeps it, and a namespace may give its
-- new sessions a default time to live.
--
-- expires_at is when a session becomes due for `session-backend purge` (NULL: never); it is stamped
-- when the session is created or updated, so a purge reads one indexed column and never joins the
-- namespace's settings. legal_hold keeps a session from both the purge and DELETE, whatever its
-- expires_at. Adding a column with a constant default rewrites nothing (PostgreSQL 11+).
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS legal_hold boolean NOT NULL DEFAULT false;

-- What the purge looks for, oldest first: only sessions that may go are in it, so sessions that never
-- expire cost it nothing, and a large legal hold does not make every batch step over the held ones.
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at)
    WHERE expires_at IS NOT NULL AND NOT legal_hold;
-- The held sessions, for `purge --dry-run` to count the expired ones it keeps (empty without holds).
CREATE INDEX IF NOT EXISTS sessions_legal_hold_idx ON sessions (expires_at) WHERE legal_hold;

-- Per-namespace settings, set by the operator (`session-backend retention set-default`), not over the
-- API: a namespace's retention policy is not its API key's to change. A namespace without a row, or
-- with a NULL TTL, gives its new sessions no expiry. One row per namespace, read by every create that
-- does not say when its session expires; on Citus a reference table, like api_keys.
CREATE TABLE IF NOT EXISTS namespace_settings (
    namespace           varchar(255) NOT NULL,
    default_ttl_seconds bigint,
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT namespace_settings_pkey PRIMARY KEY (namespace),
    CONSTRAINT namespace_settings_ttl_check CHECK (default_ttl_seconds > 0)
);

INSERT INTO schema_migrations (version) VALUES ('0007') ON CONFLICT DO NOTHING;
