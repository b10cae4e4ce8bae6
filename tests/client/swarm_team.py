"""A two-agent Strands Swarm kept in the session backend: a researcher that hands off to a writer.

Run as a script (``python swarm_team.py URL SESSION_ID``, with ``client`` and ``examples/session_agent``
on PYTHONPATH) it starts the task in a process of its own and hangs while the writer works, printing
``writer started`` first, so a test can kill the process at that point.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from strands import Agent
from strands.hooks import HookProvider
from strands.multiagent import Swarm
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_manager import SessionManager

from postgresql_session_repository import SyncPostgreSQLSessionRepository
from scripted_model import Reply, ScriptedModel

SWARM_ID = "team"
TASK = "Write one line about the sky"
HANDOFF_MESSAGE = "Write one line from the fact."
FACT = {"fact": "the sky is blue"}
# The researcher's turn: hand off to the writer (a tool call the swarm gives every node), then end.
RESEARCH = [
    {"tool": "handoff_to_agent", "input": {"agent_name": "writer", "message": HANDOFF_MESSAGE, "context": FACT}},
    "Handed over to the writer.",
]
WRITER_STARTED = "writer started"


def build_swarm(
    repo: SyncPostgreSQLSessionRepository,
    session_id: str,
    research: Iterable[Reply],
    write: Iterable[Reply],
    hooks: Sequence[HookProvider] = (),
) -> tuple[Swarm, Agent, Agent]:
    """The swarm, persisted in ``session_id``, and its two agents (scripted with the given replies)."""
    manager = RepositorySessionManager(session_id=session_id, session_repository=repo)
    return team_swarm(manager, research, write, hooks)


def team_swarm(
    session_manager: SessionManager,
    research: Iterable[Reply],
    write: Iterable[Reply],
    hooks: Sequence[HookProvider] = (),
) -> tuple[Swarm, Agent, Agent]:
    """The swarm, persisted by ``session_manager``, and its two agents (scripted with the given replies)."""
    researcher = Agent(model=ScriptedModel(research), name="researcher", callback_handler=None)
    writer = Agent(model=ScriptedModel(write), name="writer", callback_handler=None)
    swarm = Swarm([researcher, writer], id=SWARM_ID, session_manager=session_manager, hooks=list(hooks))
    return swarm, researcher, writer


def _write_until_killed(messages: Any) -> str:
    """The writer's model call: say so, then never return (the test kills the process here)."""
    print(WRITER_STARTED, flush=True)
    threading.Event().wait()
    return "unreachable"


if __name__ == "__main__":
    url, session_id = sys.argv[1:3]
    with SyncPostgreSQLSessionRepository(url, timeout=10) as repository:
        swarm, _, _ = build_swarm(repository, session_id, RESEARCH, [_write_until_killed])
        swarm(TASK)
