"""Multi-agent (Swarm/Graph) state of a session, stored and returned whole."""

from __future__ import annotations

from flask import Blueprint, Response, g

from . import schemas
from .db import get_db, queries
from .errors import RequestValidationError
from .http import found, found_version, if_match_versions, load_json, no_content, session_writer, updated_version

bp = Blueprint("multi_agents", __name__, url_prefix="/api/v1/sessions/<session_id>/multi-agents")
# Built once: constructing a marshmallow schema costs more than loading a small body.
MULTI_AGENT_STATE_SCHEMA = schemas.MultiAgentState()


@bp.post("")
def create_multi_agent(session_id: str) -> Response:
    """Store a multi-agent's state.

    The body is what Strands' `MultiAgentBase.serialize_state()` returns for a Swarm or a Graph: its
    `id` names it, and every field is stored and returned unchanged. 404 if the session does not exist,
    409 if it already holds state under this id.
    ---
    post:
      operationId: createMultiAgent
      tags: [multi-agents]
      requestBody:
        required: true
        content:
          application/json:
            schema: MultiAgentState
            example: {type: swarm, id: research, status: executing, completed_nodes: [], node_history: []}
      responses:
        201: {description: The state as stored, content: {application/json: {schema: MultiAgentState}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    state = load_json(MULTI_AGENT_STATE_SCHEMA)
    row = queries.create_multi_agent(
        get_db(), **session_writer(), session_id=session_id, multi_agent_id=state["id"], state=schemas.json_text(state)
    )
    response = found_version(row, "multi-agent state")
    response.status_code = 201
    return response


@bp.get("/<multi_agent_id>")
def get_multi_agent(session_id: str, multi_agent_id: str) -> Response:
    """Read a multi-agent's state.

    The state exactly as it was last stored; 404 if the session or the state does not exist.
    ---
    get:
      operationId: getMultiAgent
      tags: [multi-agents]
      responses:
        200: {description: The stored state, content: {application/json: {schema: MultiAgentState}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    row = queries.get_multi_agent(get_db(), **g.caller, session_id=session_id, multi_agent_id=multi_agent_id)
    return found_version(row, "multi-agent state")


@bp.put("/<multi_agent_id>")
def update_multi_agent(session_id: str, multi_agent_id: str) -> Response:
    """Replace a multi-agent's state.

    Replaces the whole state. The body's `id` must equal the path's `multi_agent_id` (422 otherwise).
    Each write moves the state's version (its `ETag`) on by one; with `If-Match: "<version>"` the
    state is replaced only while it still has that version, else 412 and nothing changes.
    ---
    put:
      operationId: updateMultiAgent
      tags: [multi-agents]
      parameters:
        - in: header
          name: If-Match
          required: false
          description: Replace only while the stored version (the quoted `ETag`) is one of these; `*` if it exists.
          schema: {type: string}
      requestBody:
        required: true
        content:
          application/json:
            schema: MultiAgentState
            example: {type: swarm, id: research, status: completed, completed_nodes: [planner], node_history: [planner]}
      responses:
        200: {description: The stored state, content: {application/json: {schema: MultiAgentState}}}
        404: {$ref: '#/components/responses/NotFound'}
        412: {$ref: '#/components/responses/PreconditionFailed'}
    """
    state = load_json(MULTI_AGENT_STATE_SCHEMA)
    if state["id"] != multi_agent_id:
        raise RequestValidationError("body id does not match the path", fields={"id": ["must equal the path id"]})
    versions = if_match_versions()
    row = queries.update_multi_agent(
        get_db(),
        **session_writer(),
        session_id=session_id,
        multi_agent_id=multi_agent_id,
        state=schemas.json_text(state),
        if_versions=versions,
    )
    return updated_version(
        row,
        versions,
        lambda: queries.get_multi_agent(get_db(), **g.caller, session_id=session_id, multi_agent_id=multi_agent_id),
        "multi-agent state",
    )


@bp.delete("/<multi_agent_id>")
def delete_multi_agent(session_id: str, multi_agent_id: str) -> Response:
    """Delete a multi-agent's state.

    Deletes the stored state; the session and its agents stay.
    ---
    delete:
      operationId: deleteMultiAgent
      tags: [multi-agents]
      responses:
        204: {description: Deleted}
        404: {$ref: '#/components/responses/NotFound'}
    """
    deleted = queries.delete_multi_agent(
        get_db(), **session_writer(), session_id=session_id, multi_agent_id=multi_agent_id
    )
    found(deleted, "multi-agent state")
    return no_content()
