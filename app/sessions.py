"""Sessions: create, read, update, delete and list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from . import schemas
from .db import get_db, queries
from .http import found, json_response, load_json, load_query, no_content, session_writer
from .paging import page_window

bp = Blueprint("sessions", __name__, url_prefix="/api/v1/sessions")
# Built once: constructing a marshmallow schema costs more than loading a small body.
SESSION_CREATE_SCHEMA = schemas.SessionCreate()
SESSION_LIST_QUERY_SCHEMA = schemas.SessionListQuery()
SESSION_UPDATE_SCHEMA = schemas.SessionUpdate()


def _decode_cursor(cursor: str) -> tuple[int, int, str]:
    """Split a cursor (already matched against CURSOR_PATTERN) into whole seconds, microseconds and id."""
    time, _, hex_id = cursor.partition("_")
    whole, _, fraction = time.partition(".")
    # Normalized so that any spelling the pattern admits (e.g. "-0.5") gives 0 <= micros < 1e6.
    seconds, micros = divmod(int(whole) * 1_000_000 + int(fraction), 1_000_000)
    return seconds, micros, bytes.fromhex(hex_id).decode("utf-8", errors="replace")


@bp.post("")
def create_session() -> Response:
    """Create a session.

    Starts a session under the id the client chose. `session_type` defaults to `AGENT`. A `created_at`
    sent here is kept, else the server's clock sets it; an `updated_at` sent here is kept too, else it
    equals `created_at`. An id already used in the caller's namespace is a 409.

    Retention: `expires_at` (or `ttl_seconds` from now) says when `session-backend purge` may delete
    the session; without either, it expires after its namespace's default TTL if the operator set one
    (`session-backend retention set-default`), else never; `"expires_at": null` means never.
    `legal_hold: true` keeps it from expiry and deletion.
    ---
    post:
      operationId: createSession
      tags: [sessions]
      requestBody:
        required: true
        content:
          application/json:
            schema: SessionCreate
            example: {session_id: user-123, session_type: AGENT, ttl_seconds: 2592000}
      responses:
        201: {description: The session as stored, content: {application/json: {schema: Session}}}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(SESSION_CREATE_SCHEMA)
    return json_response(queries.create_session(get_db(), **session_writer(), **data), 201)


@bp.get("")
def list_sessions() -> Response:
    """List sessions, newest first, or search them.

    Sessions come ordered by `created_at`, newest first, then by id. Follow `next_cursor` with `cursor`
    to page through them all: it stays exact while sessions are added. `limit`/`offset` and
    `page`/`page_size` page by position instead. A page holds 50 sessions unless `limit` or
    `page_size` says otherwise. `prefix` keeps the sessions whose id starts with it, `updated_since`
    those updated at or after that instant.

    `q` searches the text of the sessions' messages (text blocks, tool results' text, reasoning text;
    a redacted message by its redacted version only) and lists the sessions that match, best match
    first (more and denser mentions rank higher), ties newest first. A search pages by
    `limit`/`offset` or `page` only: `cursor` with `q` is a 422, and `next_cursor` is null (a page
    shorter than `limit` is the last). Words are matched as written, case-insensitively, without
    stemming; a message's first 200,000 characters are searched (none of a message of more than
    256 KiB of JSON that holds a `\\u0000` or unpaired surrogate escape).
    ---
    get:
      operationId: listSessions
      tags: [sessions]
      parameters: [{in: query, schema: SessionListQuery}]
      responses:
        200: {description: A page of sessions, content: {application/json: {schema: SessionPage}}}
    """
    return json_response(session_page(load_query(SESSION_LIST_QUERY_SCHEMA)))


def session_page(query: dict[str, Any]) -> str:
    """The JSON of the page of sessions that ``query`` (loaded with SESSION_LIST_QUERY_SCHEMA) asks for,
    in the caller's namespace: the API's list, and the viewer's."""
    limit, offset, page = page_window(query, default_limit=50)
    filters = {"prefix": query.get("prefix"), "updated_since": query["updated_since"]}
    if "q" in query:
        found_page: str = queries.search_sessions(
            get_db(), **g.caller, q=query["q"], **filters, limit=limit, offset=offset, page=page
        )
        return found_page
    seconds, micros, session_id = _decode_cursor(query["cursor"]) if "cursor" in query else (None, None, None)
    body: str = queries.list_sessions(
        get_db(),
        **g.caller,
        cursor_seconds=seconds,
        cursor_micros=micros,
        cursor_session_id=session_id,
        **filters,
        limit=limit,
        offset=offset,
        page=page,
    )
    return body


@bp.get("/<session_id>")
def get_session(session_id: str) -> Response:
    """Read a session.

    Returns the session's id, type and timestamps, and who holds its lease (`lease`, null when
    nobody does); 404 if the caller's namespace holds no session with this id.
    ---
    get:
      operationId: getSession
      tags: [sessions]
      responses:
        200: {description: The session, content: {application/json: {schema: SessionDetail}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return json_response(found(queries.get_session(get_db(), **g.caller, session_id=session_id), "session"))


@bp.put("/<session_id>")
def update_session(session_id: str) -> Response:
    """Update a session.

    Sets `session_type` when the body has one, and `updated_at` to the server's clock in any case;
    `created_at` never changes. `expires_at` (null: never) or `ttl_seconds` (from now) moves the
    session's expiry, `legal_hold` sets or releases its legal hold; what the body leaves out stays.
    ---
    put:
      operationId: updateSession
      tags: [sessions]
      requestBody:
        required: true
        content:
          application/json:
            schema: SessionUpdate
            example: {legal_hold: true}
      responses:
        200: {description: The updated session, content: {application/json: {schema: Session}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    data = load_json(SESSION_UPDATE_SCHEMA)
    body = queries.update_session(get_db(), **session_writer(), session_id=session_id, **data)
    return json_response(found(body, "session"))


@bp.delete("/<session_id>")
def delete_session(session_id: str) -> Response:
    """Delete a session.

    Deletes the session with all its agents, their messages and its multi-agent state, in one
    transaction. A session on legal hold is not deleted: 409 `LegalHoldError`.
    ---
    delete:
      operationId: deleteSession
      tags: [sessions]
      responses:
        204: {description: Deleted}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    found(queries.delete_session(get_db(), **session_writer(), session_id=session_id), "session")
    return no_content()
