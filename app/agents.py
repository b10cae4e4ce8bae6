"""Agents of a session: create, read, update, delete and list."""

from __future__ import annotations

from flask import Blueprint, Response, g

from . import schemas
from .db import get_db, queries
from .http import found, json_response, load_json, no_content

bp = Blueprint("agents", __name__, url_prefix="/api/v1/sessions/<session_id>/agents")
# Built once: constructing a marshmallow schema costs more than loading a small body.
AGENT_CREATE_SCHEMA = schemas.AgentCreate()
AGENT_UPDATE_SCHEMA = schemas.AgentUpdate()


@bp.post("")
def create_agent(session_id: str) -> Response:
    """Create an agent in a session.
    ---
    post:
      tags: [agents]
      requestBody: {required: true, content: {application/json: {schema: AgentCreate}}}
      responses:
        201: {description: Created, content: {application/json: {schema: Agent}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(AGENT_CREATE_SCHEMA)
    return json_response(queries.create_agent(get_db(), **g.caller, session_id=session_id, **data), 201)


@bp.get("")
def list_agents(session_id: str) -> Response:
    """List a session's agents, ordered by id.
    ---
    get:
      tags: [agents]
      responses:
        200: {description: The agents, content: {application/json: {schema: AgentList}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return json_response(found(queries.list_agents(get_db(), **g.caller, session_id=session_id), "session"))


@bp.get("/<agent_id>")
def get_agent(session_id: str, agent_id: str) -> Response:
    """Read an agent.
    ---
    get:
      tags: [agents]
      responses:
        200: {description: The agent, content: {application/json: {schema: Agent}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return json_response(
        found(queries.get_agent(get_db(), **g.caller, session_id=session_id, agent_id=agent_id), "agent")
    )


@bp.put("/<agent_id>")
def update_agent(session_id: str, agent_id: str) -> Response:
    """Replace an agent's state; ``updated_at`` is set by the server.
    ---
    put:
      tags: [agents]
      requestBody: {required: true, content: {application/json: {schema: AgentUpdate}}}
      responses:
        200: {description: The updated agent, content: {application/json: {schema: Agent}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    data = load_json(AGENT_UPDATE_SCHEMA)
    body = queries.update_agent(get_db(), **g.caller, session_id=session_id, agent_id=agent_id, **data)
    return json_response(found(body, "agent"))


@bp.delete("/<agent_id>")
def delete_agent(session_id: str, agent_id: str) -> Response:
    """Delete an agent with its messages.
    ---
    delete:
      tags: [agents]
      responses:
        204: {description: Deleted}
        404: {$ref: '#/components/responses/NotFound'}
    """
    found(queries.delete_agent(get_db(), **g.caller, session_id=session_id, agent_id=agent_id), "agent")
    return no_content()
