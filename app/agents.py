"""Agents of a session: create, read, update, delete and list."""

from __future__ import annotations

from flask import Blueprint, Response, g

from . import schemas
from .db import get_db, queries
from .http import (
    found,
    found_version,
    if_match_versions,
    json_response,
    load_json,
    no_content,
    session_writer,
    updated_version,
)

bp = Blueprint("agents", __name__, url_prefix="/api/v1/sessions/<session_id>/agents")
# Built once: constructing a marshmallow schema costs more than loading a small body.
AGENT_CREATE_SCHEMA = schemas.AgentCreate()
AGENT_UPDATE_SCHEMA = schemas.AgentUpdate()


@bp.post("")
def create_agent(session_id: str) -> Response:
    """Create an agent in a session.

    Stores an agent as Strands' `SessionAgent` serializes it. `state`, `conversation_manager_state`
    and `internal_state` (also accepted under Strands' name `_internal_state`) are JSON objects, stored
    and returned exactly as sent. 404 if the session does not exist, 409 if it already has this agent.
    ---
    post:
      operationId: createAgent
      tags: [agents]
      requestBody:
        required: true
        content:
          application/json:
            schema: AgentCreate
            example:
              agent_id: my-agent
              state: {name: Alice}
              conversation_manager_state: {__name__: SlidingWindowConversationManager, removed_message_count: 0}
              internal_state: {}
      responses:
        201: {description: The agent as stored, content: {application/json: {schema: Agent}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(AGENT_CREATE_SCHEMA)
    response = found_version(queries.create_agent(get_db(), **session_writer(), session_id=session_id, **data), "agent")
    response.status_code = 201
    return response


@bp.get("")
def list_agents(session_id: str) -> Response:
    """List a session's agents.

    Every agent of the session, ordered by `agent_id`; 404 if the session does not exist.
    ---
    get:
      operationId: listAgents
      tags: [agents]
      responses:
        200: {description: The agents, content: {application/json: {schema: AgentList}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return json_response(found(queries.list_agents(get_db(), **g.caller, session_id=session_id), "session"))


@bp.get("/<agent_id>")
def get_agent(session_id: str, agent_id: str) -> Response:
    """Read an agent.

    The agent's stored state; 404 if the session or the agent does not exist.
    ---
    get:
      operationId: getAgent
      tags: [agents]
      responses:
        200: {description: The agent, content: {application/json: {schema: Agent}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return found_version(queries.get_agent(get_db(), **g.caller, session_id=session_id, agent_id=agent_id), "agent")


@bp.put("/<agent_id>")
def update_agent(session_id: str, agent_id: str) -> Response:
    """Replace an agent's state.

    Replaces `state` and `conversation_manager_state`, and `internal_state` when the body has it (the
    stored one is kept otherwise). The server sets `updated_at`, and moves `version` (also the
    `ETag`) on by one. With `If-Match: "<version>"` the agent is replaced only while it still has that
    version, else 412 and nothing changes: a writer that read version 3 cannot overwrite version 4.
    ---
    put:
      operationId: updateAgent
      tags: [agents]
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
            schema: AgentUpdate
            example:
              state: {name: Alice, mood: curious}
              conversation_manager_state: {__name__: SlidingWindowConversationManager, removed_message_count: 2}
      responses:
        200: {description: The updated agent, content: {application/json: {schema: Agent}}}
        404: {$ref: '#/components/responses/NotFound'}
        412: {$ref: '#/components/responses/PreconditionFailed'}
    """
    data = load_json(AGENT_UPDATE_SCHEMA)
    versions = if_match_versions()
    row = queries.update_agent(
        get_db(), **session_writer(), session_id=session_id, agent_id=agent_id, if_versions=versions, **data
    )
    return updated_version(
        row,
        versions,
        lambda: queries.get_agent(get_db(), **g.caller, session_id=session_id, agent_id=agent_id),
        "agent",
    )


@bp.delete("/<agent_id>")
def delete_agent(session_id: str, agent_id: str) -> Response:
    """Delete an agent.

    Deletes the agent with all its messages.
    ---
    delete:
      operationId: deleteAgent
      tags: [agents]
      responses:
        204: {description: Deleted}
        404: {$ref: '#/components/responses/NotFound'}
    """
    found(queries.delete_agent(get_db(), **session_writer(), session_id=session_id, agent_id=agent_id), "agent")
    return no_content()
