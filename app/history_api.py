"""The history of a session over HTTP: rewind an agent, list, undo and purge its rewinds, fork a session."""

from __future__ import annotations

import json

from flask import Blueprint, Response, g

from . import history, history_schemas
from .db import get_db, queries
from .http import found, json_response, load_json, no_content, not_found, session_writer

bp = Blueprint("history", __name__, url_prefix="/api/v1/sessions/<session_id>")
# Built once: constructing a marshmallow schema costs more than loading a small body.
REWIND_SCHEMA = history_schemas.RewindRequest()
FORK_SCHEMA = history_schemas.ForkRequest()


@bp.post("/agents/<agent_id>/rewind")
def rewind_agent(session_id: str, agent_id: str) -> Response:
    """Rewind an agent's conversation.

    Takes away the agent's messages from `message_id` on, so that its next turn appends as message
    `message_id` (Strands numbers from 0: `{"message_id": 4}` keeps messages 0-3). A cut between a
    `toolUse` and its `toolResult` is a 422. The messages go to an archive, with the conversation-manager
    state they had, until purged: undoing the rewind puts both back. When the cut falls inside what the
    conversation manager already took out of the context, the agent's `removed_message_count` starts
    again at 0 (and a summary of the removed messages is dropped), so the agent restores every message
    it keeps. While another process holds the session's lease, only a request carrying its
    `X-Session-Fence` may rewind (else 409 `SessionBusyError`).
    ---
    post:
      operationId: rewindAgent
      tags: [history]
      requestBody:
        required: true
        content:
          application/json:
            schema: RewindRequest
            example: {message_id: 4}
      responses:
        201: {description: The rewind, content: {application/json: {schema: Rewind}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(REWIND_SCHEMA)
    done = history.rewind(get_db(), session_writer(), session_id, agent_id, data["message_id"], not_found)
    return json_response(json.dumps(done), 201)


@bp.get("/agents/<agent_id>/rewinds")
def list_rewinds(session_id: str, agent_id: str) -> Response:
    """List an agent's rewinds.

    The rewinds whose archive is kept, newest first: each one's id, the message id it cut at, when,
    and how many messages it put aside.
    ---
    get:
      operationId: listRewinds
      tags: [history]
      responses:
        200: {description: The rewinds, content: {application/json: {schema: RewindList}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    body = queries.list_rewinds(get_db(), **g.caller, session_id=session_id, agent_id=agent_id)
    return json_response(found(body, "agent"))


@bp.post("/agents/<agent_id>/rewinds/<rewind_id>/undo")
def undo_rewind(session_id: str, agent_id: str, rewind_id: str) -> Response:
    """Undo a rewind.

    Puts the rewind's messages and conversation-manager state back and drops its archive. 409 when the
    conversation continued after the rewind (a message at or after its cut exists): rewind that turn
    first. The session's lease is respected as for a rewind.
    ---
    post:
      operationId: undoRewind
      tags: [history]
      responses:
        200: {description: The rewind undone, content: {application/json: {schema: Rewind}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    done = history.undo_rewind(get_db(), session_writer(), session_id, agent_id, rewind_id, not_found)
    return json_response(json.dumps(done))


@bp.delete("/agents/<agent_id>/rewinds/<rewind_id>")
def purge_rewind(session_id: str, agent_id: str, rewind_id: str) -> Response:
    """Purge a rewind's archive.

    Deletes the messages a rewind put aside, for good; the rewind can no longer be undone.
    ---
    delete:
      operationId: purgeRewind
      tags: [history]
      responses:
        204: {description: Purged}
        404: {$ref: '#/components/responses/NotFound'}
    """
    deleted = queries.delete_rewind(get_db(), **g.caller, session_id=session_id, agent_id=agent_id, rewind_id=rewind_id)
    found(deleted, "rewind")
    return no_content()


@bp.post("/fork")
def fork_session(session_id: str) -> Response:
    """Fork a session.

    Copies the session under a new id: all its agents with their messages, its multi-agent state and
    its snapshots (byte-store keys `session/<id>/...` and `context/<id>/...`). With `agent_id`, only that
    agent and the multi-agent state; with `message_id` too, that agent's messages before it, cut as a
    rewind cuts (snapshots record a whole conversation, so a cut fork copies none). The source is left
    as it is; its session's lease is respected as for a rewind. 409 when the new id is taken.
    ---
    post:
      operationId: forkSession
      tags: [history]
      requestBody:
        required: true
        content:
          application/json:
            schema: ForkRequest
            example: {session_id: user-123-branch, agent_id: my-agent, message_id: 4}
      responses:
        201: {description: The new session, content: {application/json: {schema: Session}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(FORK_SCHEMA)
    writer = session_writer()
    body = history.fork(
        get_db(), writer, session_id, data["session_id"], data.get("agent_id"), data.get("message_id"), not_found
    )
    return json_response(body, 201)
