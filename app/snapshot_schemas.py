"""Marshmallow schemas of the conversion to a snapshot: the body it takes and what it answers."""

from __future__ import annotations

from marshmallow import fields

from .schemas import RequestSchema
from .storage_schemas import StorageObject


class SnapshotConvert(RequestSchema):
    overwrite = fields.Boolean(
        load_default=False,
        metadata={"description": "Replace the agent's `snapshot_latest` if it has one (default false: 409)."},
    )


class SnapshotConversion(StorageObject):
    messages = fields.Integer(
        required=True,
        metadata={"description": "How many messages the snapshot holds: those a restore of the log gives the agent."},
    )
    removed_message_count = fields.Integer(
        required=True,
        metadata={"description": "How many of the log's first messages the conversation manager had removed."},
    )
