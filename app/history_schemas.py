"""Marshmallow schemas of history changes: rewinding an agent and forking a session."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

from .schemas import Identifier, MessageId, RequestSchema

_CUT = (
    "The first message to leave out: the conversation keeps the messages before it, and its next "
    "message takes this id. It must not fall between a toolUse and its toolResult."
)


class RewindRequest(RequestSchema):
    message_id = MessageId(required=True, metadata={"description": _CUT})


class Rewind(Schema):
    rewind_id = fields.String(metadata={"description": "Undoes the rewind, or purges what it archived."})
    message_id = fields.Integer()
    archived_messages = fields.Integer(metadata={"description": "How many messages the rewind put aside."})


class RewindList(Schema):
    rewinds = fields.List(fields.Dict(), required=True, metadata={"description": "Newest first."})


class ForkRequest(RequestSchema):
    session_id = Identifier(required=True, metadata={"description": "The new session's id."})
    agent_id = Identifier(metadata={"description": "Fork only this agent (and the multi-agent state)."})
    message_id = MessageId(metadata={"description": f"With `agent_id`: {_CUT}"})

    @validates_schema
    def cut_names_its_agent(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A message id is one agent's: it needs ``agent_id``."""
        if "message_id" in data and "agent_id" not in data:
            raise ValidationError("give agent_id with message_id: message ids are one agent's", "message_id")
