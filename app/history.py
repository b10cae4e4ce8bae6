"""Changing a conversation's history: rewind an agent, undo a rewind, purge its archive, fork a session.

A rewind to message id N removes the agent's messages N, N+1, ... so that the next turn appends at N,
and keeps them in an archive (with the conversation-manager state it replaced) until purged: undoing
the rewind puts both back while nothing was appended since. A fork copies a session under a new id:
every agent, or one agent up to a message id, with its multi-agent state and, for a whole session, its
snapshots. Each operation is one transaction; its first statement checks the key and the session's
lease (``unleased`` in functions.sql): while another process holds the lease, only a request with its
fencing token may change the history. The functions here serve the API (app/history_api.py) and the
command line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg2.extensions

from .db import queries
from .errors import ConflictError, NotFoundError, RequestValidationError
from .storage_keys import scope_of


def _not_found(what: str) -> NoReturn:
    raise NotFoundError(f"{what} not found")


# What a function calls when the session, agent or rewind is missing: the API checks the key first.
Missing = Callable[[str], NoReturn]


def _without_fence(caller: dict[str, Any], **names: str) -> tuple[dict[str, Any], int | None]:
    """The caller (and ``names``) as the queries after an operation's first take them, and its fencing
    token, which only that first statement checks."""
    return {**{k: v for k, v in caller.items() if k != "fence"}, **names}, caller.get("fence")


@contextmanager
def transaction(conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.connection]:
    """Run the statements of one operation in one transaction on ``conn`` (which is in autocommit)."""
    conn.autocommit = False
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit = True


def _has_tool_use(message_text: str | None) -> bool:
    """Whether a stored message (JSON text) holds a toolUse block, whose toolResult follows it."""
    if message_text is None:
        return False
    content = json.loads(message_text).get("content")
    return isinstance(content, list) and any(isinstance(block, dict) and "toolUse" in block for block in content)


def _state_after_rewind(state_text: str, message_id: int) -> str:
    """The conversation-manager state for a conversation cut at ``message_id``.

    Strands restores an agent's messages from the position ``removed_message_count`` (what its sliding
    window or summary took out of the context). If the cut falls inside what was removed, that
    position is past the end, and a summary would speak of messages that are gone: start again from
    the first message, without the summary. Otherwise the state stays as it is.
    """
    state: dict[str, Any] = json.loads(state_text)
    removed = state.get("removed_message_count")
    if isinstance(removed, int) and removed >= message_id and removed > 0:
        state["removed_message_count"] = 0
        if "summary_message" in state:
            state["summary_message"] = None
    return json.dumps(state)


def _checked_cut(
    conn: psycopg2.extensions.connection, keyed: dict[str, Any], fence: int | None, message_id: int, missing: Missing
) -> tuple[str, str, int]:
    """Lock the agent (``keyed`` names it) and check a cut at ``message_id`` never splits a turn.

    Returns the agent's conversation-manager state before the cut and after it, and how many messages
    the cut takes away.
    """
    state_text = queries.lock_agent(conn, **keyed, fence=fence)
    if state_text is None:
        missing("agent")
    before, count = queries.cut_point(conn, **keyed, message_id=message_id)
    if _has_tool_use(before):
        raise RequestValidationError(
            "the cut would separate a toolUse from its toolResult",
            fields={"message_id": [f"message {message_id - 1} is a toolUse: cut before it or after its toolResult"]},
        )
    return state_text, _state_after_rewind(state_text, message_id), count


def rewind(
    conn: psycopg2.extensions.connection,
    caller: dict[str, Any],
    session_id: str,
    agent_id: str,
    message_id: int,
    missing: Missing = _not_found,
) -> dict[str, Any]:
    """Rewind the agent so that its next message is ``message_id``; returns the rewind's id and counts.

    Raises:
        NotFoundError: no such agent. RequestValidationError: the cut would split a tool call.
        SessionBusyError / LeaseLostError (from the database): the session's lease forbids it.
    """
    keyed, fence = _without_fence(caller, session_id=session_id, agent_id=agent_id)
    rewind_id = str(uuid.uuid4())
    with transaction(conn):
        old_state, new_state, count = _checked_cut(conn, keyed, fence, message_id, missing)
        queries.record_rewind(
            conn, **keyed, rewind_id=rewind_id, message_id=message_id, conversation_manager_state=old_state
        )
        queries.archive_messages(conn, **keyed, rewind_id=rewind_id, message_id=message_id)
        queries.delete_messages_from(conn, **keyed, message_id=message_id)
        queries.set_conversation_manager_state(conn, **keyed, conversation_manager_state=new_state)
    return {"rewind_id": rewind_id, "message_id": message_id, "archived_messages": count}


def undo_rewind(
    conn: psycopg2.extensions.connection,
    caller: dict[str, Any],
    session_id: str,
    agent_id: str,
    rewind_id: str,
    missing: Missing = _not_found,
) -> dict[str, Any]:
    """Put a rewind's messages and conversation-manager state back, and drop its archive.

    Raises:
        NotFoundError: no such rewind. ConflictError: messages were appended since the rewind.
    """
    keyed, fence = _without_fence(caller, session_id=session_id, agent_id=agent_id)
    with transaction(conn):
        if queries.lock_agent(conn, **keyed, fence=fence) is None:
            missing("agent")
        row = queries.rewind_to_undo(conn, **keyed, rewind_id=rewind_id)
        if row is None:
            missing("rewind")
        message_id, state_text, continued = row
        if continued:
            raise ConflictError(
                f"the conversation continued after the rewind (a message {message_id} or later exists): "
                "rewind to it first, then undo"
            )
        queries.restore_archived_messages(conn, **keyed, rewind_id=rewind_id)
        queries.set_conversation_manager_state(conn, **keyed, conversation_manager_state=state_text)
        queries.delete_rewind(conn, **keyed, rewind_id=rewind_id)
    return {"rewind_id": rewind_id, "message_id": message_id}


def fork(
    conn: psycopg2.extensions.connection,
    caller: dict[str, Any],
    session_id: str,
    new_session_id: str,
    agent_id: str | None = None,
    message_id: int | None = None,
    missing: Missing = _not_found,
) -> str:
    """Copy the session under ``new_session_id``; returns the new session (JSON text).

    With ``agent_id``, only that agent (and the multi-agent state); with ``message_id`` too, its
    messages before that id, cut as a rewind would cut them. Snapshots are copied with a whole
    session only: a snapshot records the whole conversation, so it cannot be cut at a message.

    Raises:
        NotFoundError: no such session or agent. ConflictError: the new id is taken.
        RequestValidationError: the cut would split a tool call.
    """
    keyed, fence = _without_fence(caller)
    with transaction(conn):
        if queries.lock_session(conn, **keyed, session_id=session_id, fence=fence) is None:
            missing("session")
        cut_state = None
        if message_id is not None and agent_id is not None:
            agent = {**keyed, "session_id": session_id, "agent_id": agent_id}
            _, cut_state, _ = _checked_cut(conn, agent, fence, message_id, missing)
        body: str = queries.fork_session(conn, **keyed, session_id=session_id, new_session_id=new_session_id)
        copy = {**keyed, "session_id": session_id, "new_session_id": new_session_id}
        queries.fork_agents(conn, **copy, agent_id=agent_id)
        queries.fork_messages(conn, **copy, agent_id=agent_id, message_id=message_id)
        queries.fork_multi_agents(conn, **copy)
        if cut_state is not None:
            queries.set_conversation_manager_state(
                conn, **keyed, session_id=new_session_id, agent_id=agent_id, conversation_manager_state=cut_state
            )
        if agent_id is None and message_id is None:
            _fork_storage(conn, keyed, session_id, new_session_id)
    return body


def _fork_storage(conn: psycopg2.extensions.connection, keyed: dict[str, Any], old: str, new: str) -> None:
    """Copy the keys Strands writes for a session (session/<id>/..., context/<id>/...) under the new id."""
    prefixes = [f"{kind}/{old}/".encode() for kind in ("session", "context")]
    new_prefixes = [f"{kind}/{new}/".encode() for kind in ("session", "context")]
    queries.fork_storage_objects(
        conn,
        **keyed,
        scope=scope_of(f"session/{old}/x"),
        new_scope=scope_of(f"session/{new}/x"),
        prefixes=[psycopg2.Binary(p) for p in prefixes],
        new_prefixes=[psycopg2.Binary(p) for p in new_prefixes],
    )
