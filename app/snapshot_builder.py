"""The ``snapshot_latest`` Strands' ``SnapshotSessionManager`` would write for an agent kept as a message log.

Strands (1.62.0) has no conversion of its own, and the service does not depend on it, so this module
repeats, over the stored JSON, the three steps Strands would take: ``RepositorySessionManager.initialize``
restores the agent (state, conversation-manager state, internal state, and the messages after the
conversation manager's ``removed_message_count``, behind the summary a ``SummarizingConversationManager``
kept, with broken toolUse/toolResult pairs repaired), ``Agent.take_snapshot(preset="session")`` captures
it, and ``_serialize_snapshot`` writes it as UTF-8 JSON. tests/client/test_snapshot_conversion.py holds the
result to what Strands itself writes for the same conversations.

One field is left out on purpose: ``system_prompt``. A message log never stored it, and a snapshot's
``system_prompt`` replaces the prompt the restored agent was built with (``None`` would erase it); a
snapshot without the field leaves that prompt as it is (``Agent.load_snapshot``).
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from .errors import ConflictError

SCHEMA_VERSION = "1.0"
# What a restored Agent has when the log kept no internal state (strands.interrupt._InterruptState()).
EMPTY_INTERRUPT_STATE: dict[str, Any] = {"interrupts": {}, "context": {}, "activated": False}
# strands.tools._tool_helpers.generate_missing_tool_result_content: the result of a toolUse that lost its own.
INTERRUPTED_TOOL = "Tool was interrupted."


class UnrestorableAgentError(ConflictError):
    """The stored agent is not one Strands could restore, so there is no snapshot it would write (409)."""

    error = "UnrestorableAgentError"


def snapshot_dir(session_id: str, agent_id: str) -> str:
    """Where SnapshotSessionManager keeps an agent's snapshots in the byte store (a key prefix)."""
    return f"session/{session_id}/scopes/agent/{agent_id}/snapshots/"


def snapshot_key(session_id: str, agent_id: str) -> str:
    """The byte-store key of an agent's ``snapshot_latest``, as SnapshotSessionManager builds it."""
    return snapshot_dir(session_id, agent_id) + "snapshot_latest.json"


def removed_message_count(conversation_manager_state: dict[str, Any]) -> int:
    """How many of the log's first messages the conversation manager removed: Strands restores from there.

    Raises:
        UnrestorableAgentError: the count is there but is no non-negative integer.
    """
    count = conversation_manager_state.get("removed_message_count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UnrestorableAgentError(
            "the agent's conversation_manager_state.removed_message_count is not a non-negative integer"
        )
    return count


def build_snapshot(agent: dict[str, Any], messages: list[Any], created_at: str | None = None) -> dict[str, Any]:
    """The snapshot (``Snapshot.to_dict()``) of ``agent``, restored from ``messages``.

    Args:
        agent: The stored agent: ``state``, ``conversation_manager_state`` and ``internal_state``.
        messages: The messages after ``removed_message_count``, in ``message_id`` order, each the
            redacted version where there is one (``SessionMessage.to_message``), as stored (bytes
            stay base64-encoded, which is also how a snapshot carries them).
        created_at: ISO 8601 UTC ending in ``Z``; now when omitted.

    Raises:
        UnrestorableAgentError: a message has no role or content where Strands reads one.
    """
    manager_state = agent["conversation_manager_state"]
    internal = agent["internal_state"]
    # SummarizingConversationManager.restore_from_session hands back its summary to go first.
    summary = manager_state.get("summary_message")
    restored = ([summary] if summary else []) + copy.deepcopy(messages)
    try:
        restored = repair_tool_pairs(restored)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnrestorableAgentError(f"a stored message is not a Strands message: {type(exc).__name__}") from None
    return {
        "scope": "agent",
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        # In the order Agent.take_snapshot fills them.
        "data": {
            "messages": restored,
            "state": agent["state"],
            "conversation_manager_state": manager_state,
            "interrupt_state": internal.get("interrupt_state", EMPTY_INTERRUPT_STATE),
            "model_state": internal.get("model_state", {}),
        },
        "app_data": {},
    }


def from_message_log(agent_json: str, messages_json: str) -> tuple[bytes, dict[str, Any]]:
    """The snapshot's bytes from a ``message_log`` row (sql/snapshots.sql), and what to tell about it.

    Raises:
        UnrestorableAgentError: Strands could not restore the agent from its log.
    """
    agent = json.loads(agent_json)
    if not all(isinstance(agent[field], dict) for field in ("state", "conversation_manager_state", "internal_state")):
        raise UnrestorableAgentError("the agent's state, conversation_manager_state and internal_state must be objects")
    # Checked before the messages are used: the query skipped none for a count that is no integer.
    removed = removed_message_count(agent["conversation_manager_state"])
    snapshot = build_snapshot(agent, json.loads(messages_json))
    return serialize(snapshot), {"messages": len(snapshot["data"]["messages"]), "removed_message_count": removed}


def serialize(snapshot: dict[str, Any]) -> bytes:
    """The snapshot's bytes, as ``_serialize_snapshot`` writes them."""
    return json.dumps(snapshot, ensure_ascii=False).encode("utf-8")


def _has(message: dict[str, Any], kind: str) -> bool:
    return any(kind in block for block in message["content"])


def repair_tool_pairs(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``RepositorySessionManager._fix_broken_tool_use``: what every restore of the log does to it.

    A toolResult without a toolUse just before it is dropped (and its message, if nothing else is left);
    the message after each toolUse (but the last message) gets exactly one toolResult per toolUse id,
    ``Tool was interrupted.`` for a missing one, inserting a user message when there was none.
    """
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message["role"] != "user" or not _has(message, "toolResult"):
            continue
        if index > 0 and _has(messages[index - 1], "toolUse"):
            continue
        remaining = [block for block in message["content"] if "toolResult" not in block]
        if remaining:
            message["content"] = remaining
        else:
            messages.pop(index)

    last = len(messages) - 1
    for index in reversed([i for i, message in enumerate(messages) if i < last and _has(message, "toolUse")]):
        tool_use_ids = [block["toolUse"]["toolUseId"] for block in messages[index]["content"] if "toolUse" in block]
        following = messages[index + 1]
        results = {block["toolResult"]["toolUseId"]: block for block in following["content"] if "toolResult" in block}
        others = [block for block in following["content"] if "toolResult" not in block]
        if set(results) == set(tool_use_ids):
            continue
        if not results and others:
            # Strands gives the message it inserts a fresh tracking id, as the agent gives every message.
            following = {"role": "user", "content": [], "tracking_id": str(uuid.uuid4())}
            messages.insert(index + 1, following)
            others = []
        following["content"] = [results.get(tid, _interrupted(tid)) for tid in tool_use_ids] + others
    return messages


def _interrupted(tool_use_id: str) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": tool_use_id, "status": "error", "content": [{"text": INTERRUPTED_TOOL}]}}
