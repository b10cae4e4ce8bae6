"""Agent processes for the lease tests, started with multiprocessing's 'spawn' (fresh interpreters, as
two replicas or a retried Lambda would be), and the checks of what a session ended up storing.

A module of its own, not a test module: a spawned process imports its target by module name.
"""

from __future__ import annotations

import os
import threading
import traceback
from typing import Any

from strands import Agent, tool
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.exceptions import EventLoopException, SessionException

from postgresql_session_repository import SessionBusyError, SessionLease, SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

AGENT_ID = "assistant"


@tool
def note(who: str) -> str:
    """Note who called (the turn's tool call).

    Args:
        who: The worker making the call.
    """
    return f"noted {who}"


def turn_replies(who: str, round_no: int) -> list[Any]:
    """One turn with a tool call: the assistant calls ``note``, then answers."""
    return [{"tool": "note", "input": {"who": who}}, f"done {who} {round_no}"]


def prompt(who: str, round_no: int) -> str:
    """The user's message of ``who``'s turn in round ``round_no``."""
    return f"turn {who} {round_no}"


def outcome_of(error: BaseException) -> str:
    """The name of the error a failed invocation raised, unwrapped from Strands' EventLoopException."""
    original = getattr(error, "original_exception", None) or error.__cause__ or error
    return type(original).__name__


def race_worker(who: str, url: str, api_key: str, use_lease: bool, commands: Any, results: Any, barrier: Any) -> None:
    """Run one turn per command ``(round_no, session_id, wait)`` until ``None``, all processes starting
    each turn together on ``barrier``; report ``(who, round_no, outcome)``, outcome ``ok`` or an error name.

    Each round builds its agent from the stored session, as a new request to a replica would.
    """
    with SyncPostgreSQLSessionRepository(url, api_key=api_key, timeout=30) as repo:
        while (command := commands.get()) is not None:
            round_no, session_id, wait = command
            manager = RepositorySessionManager(session_id=session_id, session_repository=repo)
            hooks = [SessionLease(repo, wait=wait, ttl=10)] if use_lease else []
            agent = Agent(
                model=ScriptedModel(turn_replies(who, round_no)),
                agent_id=AGENT_ID,
                tools=[note],
                callback_handler=None,
                session_manager=manager,
                hooks=hooks,
            )
            barrier.wait(timeout=120)  # a partner that died must not hang the other for ever
            try:
                agent(prompt(who, round_no))
                outcome = "ok"
            except SessionBusyError:
                outcome = "SessionBusyError"
            except (SessionException, EventLoopException) as error:  # recorded: the test judges them
                outcome = outcome_of(error)
                if outcome not in ("ConflictError", "SessionBusyError"):
                    outcome += ": " + "".join(traceback.format_exception(error))[-2000:]
            results.put((who, round_no, outcome))


def blocked_holder(url: str, api_key: str, session_id: str, ttl: int, reports: Any) -> None:
    """Invoke the session under a SessionLease with a tool that reports the lease's fence and then blocks
    for ever: the test SIGKILLs this process mid-turn, with the user's message and the toolUse stored."""
    repo = SyncPostgreSQLSessionRepository(url, api_key=api_key, timeout=30)
    lease = SessionLease(repo, ttl=ttl)

    @tool
    def block(who: str) -> str:
        """Block until the process is killed.

        Args:
            who: Unused.
        """
        assert lease.lease is not None
        reports.put((os.getpid(), lease.lease.lease_id, lease.lease.fence))
        threading.Event().wait()  # never set: the test kills the process here
        return "unreachable"

    agent = Agent(
        model=ScriptedModel([{"tool": "block", "input": {"who": "killed"}}, "never"]),
        agent_id=AGENT_ID,
        tools=[block],
        callback_handler=None,
        session_manager=RepositorySessionManager(session_id=session_id, session_repository=repo),
        hooks=[lease],
    )
    agent("turn killed 0")


def turns(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The conversation cut into turns: each starts at a user message with text (a prompt)."""
    cut: list[list[dict[str, Any]]] = []
    for message in messages:
        if message["role"] == "user" and any("text" in block for block in message["content"]):
            cut.append([])
        if cut:
            cut[-1].append(message)
    return cut


def whole_turn_of(turn: list[dict[str, Any]]) -> tuple[str, int] | None:
    """``(who, round)`` when ``turn`` is one worker's whole turn: its prompt, its toolUse, the matching
    toolResult, its answer; else ``None``."""
    if len(turn) != 4:
        return None
    user, call, result, answer = turn
    words = user["content"][0].get("text", "").split()
    if len(words) != 3 or words[0] != "turn":
        return None
    who, round_no = words[1], int(words[2])
    uses = [block["toolUse"] for block in call["content"] if "toolUse" in block]
    results = [block["toolResult"] for block in result["content"] if "toolResult" in block]
    if call["role"] != "assistant" or len(uses) != 1 or uses[0]["input"] != {"who": who}:
        return None
    if result["role"] != "user" or len(results) != 1 or results[0]["toolUseId"] != uses[0]["toolUseId"]:
        return None
    if results[0]["content"] != [{"text": f"noted {who}"}]:
        return None
    if answer["role"] != "assistant" or answer["content"] != [{"text": f"done {who} {round_no}"}]:
        return None
    return who, round_no
