-- Migration 0004: the byte store behind Strands' `Storage` protocol (snapshots, the stash, memory files).
--
-- Keys are bytea, the UTF-8 bytes of the normalised key: compared and sorted bytewise (memcmp), which
-- is the order Strands' list() promises (Python's str order), under any database collation, and a key
-- with a NUL character round-trips as Strands' InMemoryStorage lets it. Values are stored unchanged.
--
-- scope distributes the table (see the Citus issue): it is the key's second '/'-separated segment when
-- the key has two or more, else its first. Strands' snapshot keys are session/<session_id>/scopes/...
-- and the stash's context/<session_id>/..., so everything one session writes shares a scope and lands
-- on one shard, while two sessions spread. The service computes it from the key (app/storage_keys.py);
-- it leads the key in the primary key so a distributed table can enforce it, and since it is a function
-- of the key the pair is unique exactly when the key is.
--
-- search_vector is the full-text index of a value whose bytes are UTF-8 text, NULL for any other; the
-- write computes it (storage_search_vector() in functions.sql), so it never lags the data.

CREATE TABLE IF NOT EXISTS storage_objects (
    namespace     varchar(255) NOT NULL,
    scope         bytea        NOT NULL,
    key           bytea        NOT NULL,
    data          bytea        NOT NULL,
    sha256        bytea        NOT NULL,
    size          bigint       NOT NULL,
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    search_vector tsvector,
    CONSTRAINT storage_objects_pkey PRIMARY KEY (namespace, scope, key)
);

-- list(): a namespace's keys in byte order, from a prefix or after a keyset position.
CREATE INDEX IF NOT EXISTS storage_objects_namespace_key_idx ON storage_objects (namespace, key);
-- search(): only text objects carry a vector.
CREATE INDEX IF NOT EXISTS storage_objects_search_idx ON storage_objects USING gin (search_vector)
    WHERE search_vector IS NOT NULL;

INSERT INTO schema_migrations (version) VALUES ('0004') ON CONFLICT DO NOTHING;
