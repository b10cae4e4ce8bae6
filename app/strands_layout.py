"""Reading the tree Strands' FileSessionManager writes (and S3SessionManager, under a bucket's prefix).

The layout, from strands/session/file_session_manager.py (strands-agents 1.62)::

    <root>/session_<session_id>/session.json
                               /agents/agent_<agent_id>/agent.json
                               /agents/agent_<agent_id>/messages/message_<n>.json
                               /multi_agents/multi_agent_<id>/multi_agent.json

Each session becomes records in the shape of the NDJSON export (app/exporter.py): the session, each
agent followed by its messages in message_id order, then its multi-agent states. A file that cannot be
read becomes a Failure naming it, and the rest of the session is still read. Where the files come
from (a directory, S3) is app/layout_sources.py's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .layout_sources import SESSION_PREFIX, LayoutError, LayoutSource

AGENT_PREFIX = "agent_"
MESSAGE_PREFIX = "message_"
MULTI_AGENT_PREFIX = "multi_agent_"


@dataclass(frozen=True)
class Record:
    """One record to import: its kind (session, agent, message, multi_agent) and its fields."""

    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """What could not be read, and why."""

    kind: str
    label: str
    reason: str


def _document(source: LayoutSource, session_dir: str, path: str) -> dict[str, Any]:
    try:
        document = json.loads(source.read(session_dir, path))
    except ValueError as exc:
        raise LayoutError(f"{session_dir}/{path}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise LayoutError(f"{session_dir}/{path}: not a JSON object")
    return document


def _message_number(path: str) -> int:
    """n of ``.../messages/message_<n>.json``, the order Strands lists them in."""
    return int(path.rsplit("/", 1)[1][len(MESSAGE_PREFIX) : -len(".json")])


def _is_message(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(MESSAGE_PREFIX) and name.endswith(".json") and name[len(MESSAGE_PREFIX) : -5].isdigit()


def session_records(source: LayoutSource, session_dir: str) -> Iterator[Record | Failure]:
    """The records of one session folder, parents before children; a file that fails is a Failure."""
    session_id = session_dir[len(SESSION_PREFIX) :]
    files = source.files(session_dir)
    try:
        session = _document(source, session_dir, "session.json")
    except LayoutError as exc:
        yield Failure("session", session_id, str(exc))
        return
    yield Record("session", {**session, "session_id": session_id})
    agents = sorted({p.split("/")[1] for p in files if p.startswith(f"agents/{AGENT_PREFIX}") and p.count("/") >= 2})
    for agent_dir in agents:
        yield from _agent_records(source, session_dir, session_id, agent_dir, files)
    for path in files:
        if path.startswith(f"multi_agents/{MULTI_AGENT_PREFIX}") and path.endswith("/multi_agent.json"):
            try:
                state = _document(source, session_dir, path)
            except LayoutError as exc:
                yield Failure("multi_agent", f"{session_id} {path}", str(exc))
                continue
            multi_agent_id = state.get("id", path.split("/")[1][len(MULTI_AGENT_PREFIX) :])
            yield Record("multi_agent", {"session_id": session_id, "multi_agent_id": multi_agent_id, "state": state})


def _agent_records(
    source: LayoutSource, session_dir: str, session_id: str, agent_dir: str, files: list[str]
) -> Iterator[Record | Failure]:
    agent_id = agent_dir[len(AGENT_PREFIX) :]
    messages = [p for p in files if p.startswith(f"agents/{agent_dir}/messages/") and _is_message(p)]
    try:
        agent = _document(source, session_dir, f"agents/{agent_dir}/agent.json")
    except LayoutError as exc:
        yield Failure("agent", f"{session_id}/{agent_id}", str(exc))
        # Counted, not dropped: a message cannot be stored without its agent.
        for path in sorted(messages, key=_message_number):
            yield Failure("message", f"{session_id}/{agent_id}/{_message_number(path)}", "its agent failed")
        return
    # Strands names the field _internal_state; the API and the export call it internal_state.
    internal = agent.pop("_internal_state", None)
    yield Record("agent", {**agent, "session_id": session_id, "agent_id": agent_id, "internal_state": internal or {}})
    for path in sorted(messages, key=_message_number):
        try:
            message = _document(source, session_dir, path)
        except LayoutError as exc:
            yield Failure("message", f"{session_id}/{agent_id}/{_message_number(path)}", str(exc))
            continue
        yield Record("message", {**message, "session_id": session_id, "agent_id": agent_id})
