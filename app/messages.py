"""Messages of an agent: create, read, update, delete and list in pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from . import schemas
from .db import get_db, queries
from .http import found, json_response, load_json, load_query, no_content, session_writer
from .paging import page_window

bp = Blueprint("messages", __name__, url_prefix="/api/v1/sessions/<session_id>/agents/<agent_id>/messages")
# Built once: constructing a marshmallow schema costs more than loading a small body.
MESSAGE_CREATE_SCHEMA = schemas.MessageCreate()
MESSAGE_LIST_QUERY_SCHEMA = schemas.MessageListQuery()
MESSAGE_UPDATE_SCHEMA = schemas.MessageUpdate()

# Keyset bounds that admit every message id when the client sends no `after`.
_BEFORE_FIRST_ID = -1
_AFTER_LAST_ID = schemas.MAX_MESSAGE_ID + 1


@bp.post("")
def create_message(session_id: str, agent_id: str) -> Response:
    """Append a message to an agent's conversation.

    Stores one message under the `message_id` the client gives it (Strands numbers them from 0).
    `message` and `redact_message` are stored and returned exactly as sent. 404 if the session or
    agent does not exist, 409 if the id is taken.
    ---
    post:
      operationId: createMessage
      tags: [messages]
      requestBody:
        required: true
        content:
          application/json:
            schema: MessageCreate
            example: {message_id: 0, message: {role: user, content: [{text: Hello}]}, redact_message: null}
      responses:
        201: {description: The message as stored, content: {application/json: {schema: Message}}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(MESSAGE_CREATE_SCHEMA)
    return json_response(
        queries.create_message(get_db(), **session_writer(), session_id=session_id, agent_id=agent_id, **data), 201
    )


@bp.get("")
def list_messages(session_id: str, agent_id: str) -> Response:
    """List an agent's messages.

    Messages in `message_id` order (`order=desc` for newest first), a page at a time. `after` pages by
    keyset: pass the previous page's `next_after`; it costs the same however deep the page.
    `limit`/`offset` and `page`/`page_size` page by position. `total` counts every message of the
    agent unless `include_total=false`. A page holds 100 messages unless `limit` or `page_size` says
    otherwise.
    ---
    get:
      operationId: listMessages
      tags: [messages]
      parameters: [{in: query, schema: MessageListQuery}]
      responses:
        200: {description: A page of messages, content: {application/json: {schema: MessagePage}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    body = message_page(session_id, agent_id, load_query(MESSAGE_LIST_QUERY_SCHEMA))
    return json_response(found(body, "agent"))


def message_page(session_id: str, agent_id: str, query: dict[str, Any]) -> str | None:
    """The JSON of the page of an agent's messages that ``query`` (loaded with MESSAGE_LIST_QUERY_SCHEMA)
    asks for, or None when the caller's namespace has no such agent: the API's list, and the viewer's."""
    limit, offset, page = page_window(query, default_limit=100)
    if query["order"] == "desc":
        list_page, after = queries.list_messages_descending, query.get("after", _AFTER_LAST_ID)
    else:
        list_page, after = queries.list_messages_ascending, query.get("after", _BEFORE_FIRST_ID)
    body: str | None = list_page(
        get_db(),
        **g.caller,
        session_id=session_id,
        agent_id=agent_id,
        after=after,
        limit=limit,
        offset=offset,
        page=page,
        include_total=query["include_total"],
    )
    return body


@bp.get("/<message_id>")
def get_message(session_id: str, agent_id: str, message_id: int) -> Response:
    """Read a message.

    The stored message; 404 if the session, the agent or the message does not exist.
    ---
    get:
      operationId: getMessage
      tags: [messages]
      responses:
        200: {description: The message, content: {application/json: {schema: Message}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    body = queries.get_message(get_db(), **g.caller, session_id=session_id, agent_id=agent_id, message_id=message_id)
    return json_response(found(body, "message"))


@bp.put("/<message_id>")
def update_message(session_id: str, agent_id: str, message_id: int) -> Response:
    """Replace a message's content.

    Replaces `message` and `redact_message`, e.g. to record a guardrail's redaction. The server sets
    `updated_at`.
    ---
    put:
      operationId: updateMessage
      tags: [messages]
      requestBody:
        required: true
        content:
          application/json:
            schema: MessageUpdate
            example:
              message: {role: user, content: [{text: my card is 4111 1111 1111 1111}]}
              redact_message: {role: user, content: [{text: '[REDACTED]'}]}
      responses:
        200: {description: The updated message, content: {application/json: {schema: Message}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    data = load_json(MESSAGE_UPDATE_SCHEMA)
    body = queries.update_message(
        get_db(), **session_writer(), session_id=session_id, agent_id=agent_id, message_id=message_id, **data
    )
    return json_response(found(body, "message"))


@bp.delete("/<message_id>")
def delete_message(session_id: str, agent_id: str, message_id: int) -> Response:
    """Delete a message.

    Deletes one message; the others keep their ids.
    ---
    delete:
      operationId: deleteMessage
      tags: [messages]
      responses:
        204: {description: Deleted}
        404: {$ref: '#/components/responses/NotFound'}
    """
    deleted = queries.delete_message(
        get_db(), **session_writer(), session_id=session_id, agent_id=agent_id, message_id=message_id
    )
    found(deleted, "message")
    return no_content()
