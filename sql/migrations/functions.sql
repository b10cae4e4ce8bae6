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
-- by PostgreSQL and the service never decodes and re-encodes rows. They take columns, not a table's
-- row: on a Citus worker a shard's rows have the shard table's type (sessions_102008), which a
-- function declared for `sessions` does not accept. The first versions took rows; they go.
DROP FUNCTION IF EXISTS session_json(sessions), agent_json(session_agents), message_json(session_messages);

-- Since migration 0007 a session's JSON has its expiry and legal hold. The forms without them stay for
-- one release: during a rolling upgrade the release before 0007 still serves after this file is
-- applied, and its queries (and its readiness check) call them. Drop them in the release after.
CREATE OR REPLACE FUNCTION session_json(session_id text, session_type text, created_at timestamptz,
                                        updated_at timestamptz) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'session_id', session_id,
        'session_type', session_type,
        'created_at', iso_utc(created_at),
        'updated_at', iso_utc(updated_at));

CREATE OR REPLACE FUNCTION session_detail_json(session_id text, session_type text, created_at timestamptz,
                                               updated_at timestamptz, lease json) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'session_id', session_id,
        'session_type', session_type,
        'created_at', iso_utc(created_at),
        'updated_at', iso_utc(updated_at),
        'lease', lease);

CREATE OR REPLACE FUNCTION session_json(session_id text, session_type text, created_at timestamptz,
                                        updated_at timestamptz, expires_at timestamptz, legal_hold boolean)
    RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'session_id', session_id,
        'session_type', session_type,
        'created_at', iso_utc(created_at),
        'updated_at', iso_utc(updated_at),
        'expires_at', iso_utc(expires_at),
        'legal_hold', legal_hold);

-- A session as GET /sessions/{id} shows it: with its lease's holder (lease_holder_json), or null.
CREATE OR REPLACE FUNCTION session_detail_json(session_id text, session_type text, created_at timestamptz,
                                               updated_at timestamptz, expires_at timestamptz, legal_hold boolean,
                                               lease json) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'session_id', session_id,
        'session_type', session_type,
        'created_at', iso_utc(created_at),
        'updated_at', iso_utc(updated_at),
        'expires_at', iso_utc(expires_at),
        'legal_hold', legal_hold,
        'lease', lease);

-- When a session created without an expiry of its own expires: now plus its namespace's default TTL
-- (migration 0007), or NULL (never) when the namespace has none. PL/pgSQL, like caller_namespace, so its
-- query is checked when first run; on Citus it runs on the coordinator, in the create's VALUES, and
-- namespace_settings is a reference table there.
CREATE OR REPLACE FUNCTION default_expiry(namespace text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN now() + make_interval(secs => (SELECT n.default_ttl_seconds FROM namespace_settings AS n
                                          WHERE n.namespace = default_expiry.namespace));
END
$$;

-- A DELETE's guard for legal holds: true for a session that is not held; for a held one it raises
-- SQLSTATE SBHLD, which the service answers 409 LegalHoldError, so the DELETE changes nothing and the
-- caller learns why in the same statement (no second query to tell "held" from "missing"). Called
-- with the row's column, last in the WHERE: PostgreSQL evaluates the cheap key conditions first (it
-- orders a scan's conditions by cost, and this costs 100 operators), so only the session named is
-- ever checked. IMMUTABLE because Citus pushes only immutable functions of a row's columns down to the
-- shard of a DELETE; it is one: same argument, same outcome.
CREATE OR REPLACE FUNCTION refuse_if_held(legal_hold boolean) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 100
AS $$
BEGIN
    IF legal_hold THEN
        RAISE EXCEPTION 'the session is on legal hold: it cannot be deleted until the hold is released'
            USING ERRCODE = 'SBHLD';
    END IF;
    RETURN true;
END
$$;

-- Before migration 0006 agents had no version, and agent_json no parameter for it.
DROP FUNCTION IF EXISTS agent_json(text, json, json, json, timestamptz, timestamptz);

CREATE OR REPLACE FUNCTION agent_json(agent_id text, state json, conversation_manager_state json,
                                      internal_state json, created_at timestamptz, updated_at timestamptz,
                                      version bigint)
    RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'agent_id', agent_id,
        'state', state,
        'conversation_manager_state', conversation_manager_state,
        'internal_state', internal_state,
        'created_at', iso_utc(created_at),
        'updated_at', iso_utc(updated_at),
        'version', version);

CREATE OR REPLACE FUNCTION message_json(message_id integer, message json, redact_message json,
                                        created_at timestamptz, updated_at timestamptz) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'message_id', message_id,
        'message', message,
        'redact_message', redact_message,
        'created_at', iso_utc(created_at),
        'updated_at', iso_utc(updated_at));

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
-- 'until-first-key' (development: the default namespace while keys_required() is false) or 'refused';
-- 'command:<namespace>' is the service's own command line acting in that namespace.
-- Raises SQLSTATE 28000, which the service answers with 401. Only hashes are compared, so the
-- comparison's timing tells an attacker nothing about a key.
--
-- Two forms, one rule. Writes call caller_namespace(key_hash, keyless), which reads api_keys itself:
-- Citus evaluates a write's functions on the coordinator before routing the row. A read's functions
-- go with it to the worker holding the session's shard, where a function may not query a distributed
-- or reference table; so reads pass in what the key check needs, as subqueries of the read itself on
-- api_keys (a reference table, copied to every worker), and call the table-free form:
-- caller_namespace(key_hash, keyless, <the key's namespace or NULL>, <NOT keys_required()>).
CREATE OR REPLACE FUNCTION caller_namespace(key_hash text, keyless text, key_namespace text,
                                            keys_optional boolean) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    IF key_hash IS NULL THEN
        IF keyless = 'open' OR (keyless = 'until-first-key' AND keys_optional) THEN
            RETURN 'default';
        END IF;
        -- A command of the service itself (the CLI's rewind and fork), acting in the namespace it names;
        -- requests never get this mode (app/auth.py sets keyless from the service's configuration).
        IF keyless LIKE 'command:%' THEN
            RETURN substr(keyless, 9);
        END IF;
    ELSIF key_namespace IS NOT NULL THEN
        RETURN key_namespace;
    END IF;
    RAISE EXCEPTION 'missing or invalid API key' USING ERRCODE = 'invalid_authorization_specification';
END
$$;

CREATE OR REPLACE FUNCTION caller_namespace(key_hash text, keyless text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN caller_namespace(
        key_hash, keyless,
        (SELECT k.namespace FROM api_keys AS k
         WHERE k.key_id = left(key_hash, 16) AND k.secret_hash = key_hash AND k.revoked_at IS NULL),
        key_hash IS NULL AND NOT keys_required());
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

-- A byte-store value as the writes store it, from its bytes (given_data) or, when the service found it
-- is UTF-8 text, its text (given_body), the other being NULL: the bytes, their sha256 and size, and
-- the search vector, each computed once (sql/storage.sql says why a value may come as text).
CREATE OR REPLACE FUNCTION storage_value(given_data bytea, given_body text)
    RETURNS TABLE (data bytea, sha256 bytea, size bigint, search_vector tsvector)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT d.data, sha256(d.data), octet_length(d.data),
           CASE WHEN given_body IS NULL THEN storage_search_vector(d.data) ELSE storage_search_vector(given_body) END
    FROM (SELECT coalesce(given_data, convert_to(given_body, 'UTF8')) AS data) AS d
$$;

-- A lease as acquire and renew answer it (lease_id included: only its holder ever sees it).
CREATE OR REPLACE FUNCTION lease_json(session_id text, lease_id uuid, holder text, fence bigint,
                                      acquired_at timestamptz, expires_at timestamptz) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN json_build_object(
        'session_id', session_id,
        'lease_id', lease_id,
        'holder', holder,
        'fence', fence,
        'acquired_at', iso_utc(acquired_at),
        'expires_at', iso_utc(expires_at));

-- Who holds a session's lease, as anyone in the namespace may read it: no lease_id, which renews and
-- releases. NULL (in a session's JSON) or held = false when nobody holds it or the holder's time is up.
CREATE OR REPLACE FUNCTION lease_holder_json(holder text, fence bigint, acquired_at timestamptz,
                                             expires_at timestamptz, now timestamptz) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN expires_at > now THEN json_build_object(
        'holder', holder,
        'fence', fence,
        'acquired_at', iso_utc(acquired_at),
        'expires_at', iso_utc(expires_at)) END;

-- The advisory lock that orders a session's fenced writes against a change of its lease's holder:
-- a fenced write holds it shared until it commits, an acquire exclusively. So an acquire waits for
-- the writes already checked against the old token, and a write that waited for an acquire checks the
-- token the acquire set. On Citus both run on the coordinator, which evaluates these functions.
CREATE OR REPLACE FUNCTION lease_lock_key(namespace text, session_id text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN hashtextextended(namespace || '/' || session_id, 0);

-- Takes the session's lock for an acquire and returns the namespace, for the acquire's VALUES.
CREATE OR REPLACE FUNCTION lease_changing(namespace text, session_id text) RETURNS text
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lease_lock_key(namespace, session_id));
    RETURN namespace;
END
$$;

-- The session's lease row as it stands (no row: never leased), read after taking the session's lock
-- shared. VOLATILE so that its query takes a snapshot of its own, after the wait: one taken before it
-- would miss what an acquire committed while this write waited. fenced() reads its token, unleased()
-- its end.

CREATE OR REPLACE FUNCTION locked_lease(namespace text, session_id text)
    RETURNS TABLE (fence bigint, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(lease_lock_key(namespace, session_id));
    RETURN QUERY SELECT l.fence, l.expires_at FROM session_leases AS l
                 WHERE l.namespace = locked_lease.namespace AND l.session_id = locked_lease.session_id;
END
$$;

-- The namespace a write to a session goes to, once its fencing token is checked: every session write
-- wraps its caller_namespace(...) in this. Without a token (fence NULL) it checks nothing, which is
-- the behaviour of a client that takes no lease. With one, the write goes ahead only while it is the
-- session's current token; else SQLSTATE SB409, which the service answers 409 LeaseLostError with the
-- current token (the DETAIL). Declared STABLE, though locked_lease is not: Citus refuses a VOLATILE
-- function in a distributed UPDATE's or DELETE's WHERE, and evaluates a STABLE one on the
-- coordinator, once, before routing the write, where the lock it takes is the one acquires take.
CREATE OR REPLACE FUNCTION fenced(namespace text, session_id text, fence bigint) RETURNS text
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    current bigint;
BEGIN
    IF fence IS NULL THEN
        RETURN namespace;
    END IF;
    current := coalesce((SELECT l.fence FROM locked_lease(namespace, session_id) AS l), 0);
    IF fence <> current THEN
        RAISE EXCEPTION 'the session''s lease has changed hands: fencing token % is not the current one', fence
            USING ERRCODE = 'SB409', DETAIL = current::text;
    END IF;
    RETURN namespace;
END
$$;

-- The namespace a change of a session's history goes to (rewind, undo, fork), once the session's lease
-- allows it. Stricter than fenced(): a plain write without a token goes ahead, but taking messages
-- away while another process holds the lease would pull the conversation from under its turn. So
-- without a token, a session whose lease someone holds is busy (SQLSTATE SB423, answered 409
-- SessionBusyError); with one, it must be the current token (SB409, as for fenced()).
CREATE OR REPLACE FUNCTION unleased(namespace text, session_id text, fence bigint) RETURNS text
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF fence IS NOT NULL THEN
        RETURN fenced(namespace, session_id, fence);
    END IF;
    IF (SELECT l.expires_at FROM locked_lease(namespace, session_id) AS l) > now() THEN
        RAISE EXCEPTION 'another process holds the session''s lease' USING ERRCODE = 'SB423';
    END IF;
    RETURN namespace;
END
$$;

-- A session's expiry after an update (sql/sessions.sql): kept, or the instant sent, or now + the TTL
-- sent, or never (both NULL). PL/pgSQL, so the planner does not inline it: Citus refuses a non-IMMUTABLE
-- function (the caller's now()) inside a CASE or COALESCE of a distributed UPDATE, and takes it as an
-- argument.
CREATE OR REPLACE FUNCTION expiry_after_update(keep boolean, current timestamptz, sent timestamptz,
                                               ttl_seconds double precision, now timestamptz)
    RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    IF keep THEN
        RETURN current;
    END IF;
    RETURN coalesce(sent, now + make_interval(secs => ttl_seconds));
END
$$;
