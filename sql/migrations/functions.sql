-- Functions the queries use, re-created on every `init-db` (CREATE OR REPLACE), after the migrations,
-- so a migration that changes a table can drop them and need not repeat them.

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
