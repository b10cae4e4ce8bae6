"""Converting an agent's message log to the snapshot Strands' SnapshotSessionManager would have written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

import psycopg2.extensions
from flask import Blueprint, Response

from . import snapshot_schemas
from .db import get_db, queries
from .errors import ConflictError
from .http import json_response, load_json, not_found, session_writer
from .snapshot_builder import from_message_log, snapshot_key
from .storage import stored_value
from .storage_keys import scope_of

bp = Blueprint("snapshots", __name__, url_prefix="/api/v1/sessions/<session_id>/agents/<agent_id>/snapshot")
# Built once: constructing a marshmallow schema costs more than loading a small body.
CONVERT_SCHEMA = snapshot_schemas.SnapshotConvert()
SNAPSHOT_EXISTS = "the agent already has a snapshot_latest"


@bp.post("")
def convert_to_snapshot(session_id: str, agent_id: str) -> Response:
    """Convert an agent's message log to a snapshot.

    Writes the `snapshot_latest` that Strands' `SnapshotSessionManager` would have written for the
    agent as `RepositorySessionManager` restores it: the messages after the conversation manager's
    `removed_message_count` (a summary first, broken tool pairs repaired), `state`, the
    conversation-manager state, interrupt and model state. The system prompt, which a message log
    never stored, is left out, so the agent that loads the snapshot keeps its own. The object goes to
    the byte store, in the caller's namespace, under the key Strands reads,
    `session/{session_id}/scopes/agent/{agent_id}/snapshots/snapshot_latest.json`; the log stays as it
    is. 404 for a missing session or agent; 409 when the agent has a snapshot already (unless
    `overwrite`), or its stored state is one Strands could not restore.
    ---
    post:
      operationId: convertAgentToSnapshot
      tags: [agents]
      requestBody:
        required: true
        content:
          application/json:
            schema: SnapshotConvert
            example: {overwrite: false}
      responses:
        200:
          description: Replaced the agent's snapshot_latest
          headers: {ETag: {description: The quoted sha256 of the snapshot, schema: {type: string}}}
          content: {application/json: {schema: SnapshotConversion}}
        201:
          description: Created the agent's snapshot_latest
          headers: {ETag: {description: The quoted sha256 of the snapshot, schema: {type: string}}}
          content: {application/json: {schema: SnapshotConversion}}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    overwrite = load_json(CONVERT_SCHEMA)["overwrite"]
    key, written, facts = convert(get_db(), session_writer(), session_id, agent_id, overwrite, not_found)
    if written is None:
        raise ConflictError(f"{SNAPSHOT_EXISTS}: send overwrite true to replace it")
    sha256, size, updated_at, created = written
    body = {"key": key, "size": size, "sha256": sha256, "updated_at": updated_at, **facts}
    response = json_response(json.dumps(body, ensure_ascii=False), 201 if created else 200)
    response.headers["ETag"] = f'"{sha256}"'
    return response


def convert(
    conn: psycopg2.extensions.connection,
    writer: dict[str, Any],
    session_id: str,
    agent_id: str,
    overwrite: bool,
    missing: Callable[[str], NoReturn],
) -> tuple[str, tuple[str, int, str, bool] | None, dict[str, int]]:
    """Write the agent's ``snapshot_latest`` from its message log, as ``writer`` (a caller and its fence).

    Returns the key, what the write answered (None: a snapshot is there and not ``overwrite``), and the
    counts the builder reports. Calls ``missing("agent")`` when the caller's namespace has no such agent.
    """
    reader = {name: value for name, value in writer.items() if name != "fence"}
    row = queries.message_log(conn, **reader, session_id=session_id, agent_id=agent_id)
    if row is None:
        missing("agent")
    data, facts = from_message_log(row[0], row[1])
    key = snapshot_key(session_id, agent_id)
    # A second statement: the byte store is distributed by key scope, the log by session, so one
    # statement could not span both on Citus. A message appended in between is not in the snapshot,
    # as if the conversion had run a moment earlier.
    written = queries.write_object(
        conn,
        **writer,
        session_id=session_id,
        scope=scope_of(key),
        key=key.encode("utf-8"),
        **stored_value(conn, data),
        overwrite=overwrite,
    )
    return key, written, facts
