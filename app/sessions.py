"""Sessions: create, read, update, delete and list."""

from __future__ import annotations

from flask import Blueprint, Response, g

from . import schemas
from .db import get_db, queries
from .http import found, json_response, load_json, load_query, no_content
from .paging import page_window

bp = Blueprint("sessions", __name__, url_prefix="/api/v1/sessions")
# Built once: constructing a marshmallow schema costs more than loading a small body.
SESSION_CREATE_SCHEMA = schemas.SessionCreate()
SESSION_LIST_QUERY_SCHEMA = schemas.SessionListQuery()
SESSION_UPDATE_SCHEMA = schemas.SessionUpdate()


def _decode_cursor(cursor: str) -> tuple[int, int, str]:
    """Split a cursor (already matched against CURSOR_PATTERN) into whole seconds, microseconds and id."""
    time, _, hex_id = cursor.partition("_")
    seconds, _, micros = time.partition(".")
    # Normalized so that any spelling the pattern admits (e.g. "-0.5") gives 0 <= micros < 1e6.
    seconds, micros = divmod(int(seconds) * 1_000_000 + int(micros), 1_000_000)
    return seconds, micros, bytes.fromhex(hex_id).decode("utf-8", errors="replace")


@bp.post("")
def create_session() -> Response:
    """Create a session.
    ---
    post:
      tags: [sessions]
      requestBody: {required: true, content: {application/json: {schema: SessionCreate}}}
      responses:
        201: {description: Created, content: {application/json: {schema: Session}}}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(SESSION_CREATE_SCHEMA)
    return json_response(queries.create_session(get_db(), **g.caller, **data), 201)


@bp.get("")
def list_sessions() -> Response:
    """List sessions, newest first, with a keyset cursor.
    ---
    get:
      tags: [sessions]
      parameters: [{in: query, schema: SessionListQuery}]
      responses:
        200: {description: A page of sessions, content: {application/json: {schema: SessionPage}}}
    """
    query = load_query(SESSION_LIST_QUERY_SCHEMA)
    limit, offset, page = page_window(query, default_limit=50)
    seconds, micros, session_id = _decode_cursor(query["cursor"]) if "cursor" in query else (None, None, None)
    body = queries.list_sessions(
        get_db(),
        **g.caller,
        cursor_seconds=seconds,
        cursor_micros=micros,
        cursor_session_id=session_id,
        limit=limit,
        offset=offset,
        page=page,
    )
    return json_response(body)


@bp.get("/<session_id>")
def get_session(session_id: str) -> Response:
    """Read a session.
    ---
    get:
      tags: [sessions]
      responses:
        200: {description: The session, content: {application/json: {schema: Session}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return json_response(found(queries.get_session(get_db(), **g.caller, session_id=session_id), "session"))


@bp.put("/<session_id>")
def update_session(session_id: str) -> Response:
    """Update a session's type; ``updated_at`` is set by the server.
    ---
    put:
      tags: [sessions]
      requestBody: {required: true, content: {application/json: {schema: SessionUpdate}}}
      responses:
        200: {description: The updated session, content: {application/json: {schema: Session}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    data = load_json(SESSION_UPDATE_SCHEMA)
    body = queries.update_session(get_db(), **g.caller, session_id=session_id, **data)
    return json_response(found(body, "session"))


@bp.delete("/<session_id>")
def delete_session(session_id: str) -> Response:
    """Delete a session with its agents, messages and multi-agent state.
    ---
    delete:
      tags: [sessions]
      responses:
        204: {description: Deleted}
        404: {$ref: '#/components/responses/NotFound'}
    """
    found(queries.delete_session(get_db(), **g.caller, session_id=session_id), "session")
    return no_content()
