-- Migration 0003: once a key has been created, requests without a key stay refused (in development),
-- even after every key is revoked.
--
-- Before, the rule was "served while no key is active", so revoking the last key silently turned
-- authentication off. Now every key counts, revoked or not, until an operator runs
-- `session-backend keys allow-keyless --yes`: it records that decision by setting released_at on the
-- revoked keys, and only unreleased keys keep requests without a key refused (keys_required() in
-- functions.sql). A released key stays revoked; creating a key turns authentication back on.
-- A database that has only revoked keys is therefore closed after this migration, as it should be.

ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS released_at timestamptz
    CONSTRAINT api_keys_released_only_if_revoked CHECK (released_at IS NULL OR revoked_at IS NOT NULL);

INSERT INTO schema_migrations (version) VALUES ('0003') ON CONFLICT DO NOTHING;
