-- Functions the queries use, re-created on every `init-db` (CREATE OR REPLACE), after the migrations,
-- so a migration that changes a table can drop them and need not repeat them.

-- ISO 8601 in UTC with microseconds, the form Strands itself writes (datetime.isoformat()).
-- A client may send an instant that falls outside years 1-9999 in UTC (0001-01-01T00:00+01:00);
-- to_char writes 1 BC as 0001 and drops the era, so those get ISO 8601's expanded years instead
-- (1 BC is 0000, 2 BC is -0001, then +10000), and read back as the instant that was sent.
CREATE OR REPLACE FUNCTION iso_utc(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN ts >= '0001-01-01 00:00:00+00' AND ts < '10000-01-01 00:00:00+00'
            THEN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        WHEN ts >= '10000-01-01 00:00:00+00'
            THEN '+' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        ELSE (SELECT CASE WHEN y >= 0 THEN lpad(y::text, 4, '0') ELSE '-' || lpad((-y)::text, 4, '0') END
              FROM (SELECT 1 - to_char(ts AT TIME ZONE 'UTC', 'YYYY')::int AS y) AS astronomical)
             || to_char(ts AT TIME ZONE 'UTC', '-MM-DD"T"HH24:MI:SS.US"+00:00"')
    END;

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

-- Whether requests without a key are refused in development: from the first key created on, revoked
-- or not, until `session-backend keys allow-keyless --yes` releases the revoked keys (migration 0003).
-- Revoking the last key therefore never turns authentication off by itself. PL/pgSQL, like
-- caller_namespace, so its query is checked when first run: the migration tests apply this file to
-- a first-release schema, before api_keys exists.
CREATE OR REPLACE FUNCTION keys_required() RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN EXISTS (SELECT FROM api_keys WHERE released_at IS NULL);
END
$$;

-- The namespace every query of a request is scoped to, checked inside that query so a request
-- costs one round trip. key_hash is the SHA-256 (hex) of the key the caller sent, or NULL;
-- keyless says what a request without a key gets: 'open' (AUTH_DISABLED: the default namespace),
-- 'until-first-key' (development: the default namespace while keys_required() is false) or 'refused'.
-- Raises SQLSTATE 28000, which the service answers with 401. Only hashes are compared, so the
-- comparison's timing tells an attacker nothing about a key.
CREATE OR REPLACE FUNCTION caller_namespace(key_hash text, keyless text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    found_namespace text;
BEGIN
    IF key_hash IS NULL THEN
        IF keyless = 'open' OR (keyless = 'until-first-key' AND NOT keys_required()) THEN
            RETURN 'default';
        END IF;
    ELSE
        SELECT k.namespace INTO found_namespace FROM api_keys AS k
        WHERE k.key_id = left(key_hash, 16) AND k.secret_hash = key_hash AND k.revoked_at IS NULL;
        IF found_namespace IS NOT NULL THEN
            RETURN found_namespace;
        END IF;
    END IF;
    RAISE EXCEPTION 'missing or invalid API key' USING ERRCODE = 'invalid_authorization_specification';
END
$$;

-- The full-text vector of a byte-store value (migration 0004): the words of its first 16,384
-- characters. The 'simple' configuration neither stems nor drops stop words, so a key word matches as
-- Strands' own keyword search would, in any language. Why a cap: to_tsvector's cost grows with the
-- text, hundreds of ms on a whole 1 MB snapshot (whose vector can even overflow a tsvector's 1 MB),
-- a few ms on its first 16 Ki characters (python -m bench.storage_parts), while what Strands searches
-- (FileMemoryStore's memory files) weighs a few KB. 16 Ki characters are at most 64 KB of lexemes, so
-- the vector is computed once and never overflows. The README and the OpenAPI description of search
-- say a word past the cap is not found.
CREATE OR REPLACE FUNCTION storage_search_vector(body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT to_tsvector('simple', left(body, 16384))
$$;

-- The same for a value given as bytes: NULL when they are not UTF-8 text (binary values are stored,
-- never refused; a NUL byte counts as binary, as text cannot hold it).
CREATE OR REPLACE FUNCTION storage_search_vector(data bytea) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN storage_search_vector(convert_from(data, 'UTF8'));
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN NULL;
END
$$;
