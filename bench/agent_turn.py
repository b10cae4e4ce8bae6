"""Workload 3: a steady agent turn through the client and ``RepositorySessionManager``.

A turn of a Strands agent with the example's scripted model stores two messages (the user's and the
reply) and syncs the agent's state. The same turn with an in-memory repository is measured beside it:
that is what Strands itself costs, so the difference is what storing the turn costs.
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
from typing import Any

from strands import Agent
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_repository import SessionRepository
from strands.types.session import Session, SessionAgent, SessionMessage

from postgresql_session_repository import SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

from .stats import TEXT, latency_summary

WARM_UP_TURNS = 10


class MemoryRepository(SessionRepository):
    """A repository that keeps copies in dictionaries: the cost of a turn without any storage."""

    def __init__(self) -> None:
        """Start empty; keys are (session,), (session, agent) and (session, agent, message id)."""
        self.items: dict[tuple, Any] = {}

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        """Keep a copy of the session."""
        self.items[(session.session_id,)] = copy.deepcopy(session)
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """The stored session, or None."""
        return self.items.get((session_id,))

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Keep a copy of the agent (also used as update_agent)."""
        self.items[(session_id, session_agent.agent_id)] = copy.deepcopy(session_agent)

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """The stored agent, or None."""
        return self.items.get((session_id, agent_id))

    update_agent = create_agent

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Keep a copy of the message (also used as update_message)."""
        self.items[(session_id, agent_id, session_message.message_id)] = copy.deepcopy(session_message)

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        """The stored message, or None."""
        return self.items.get((session_id, agent_id, message_id))

    update_message = create_message

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """The agent's messages in id order, sliced like the interface says."""
        found = sorted((k[2], v) for k, v in self.items.items() if k[:2] == (session_id, agent_id) and len(k) == 3)
        return [v for _, v in found][offset : None if limit is None else offset + limit]


def _turns(repository: SessionRepository, session_id: str, turns: int) -> list[float]:
    manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
    agent = Agent(
        model=ScriptedModel(itertools.repeat("Noted.")),
        agent_id="assistant",
        callback_handler=None,
        session_manager=manager,
    )
    times = []
    for i in range(WARM_UP_TURNS + turns):
        started = time.perf_counter()
        agent(f"Turn {i}: {TEXT[:200]}")
        times.append(time.perf_counter() - started)
    expected = 2 * (WARM_UP_TURNS + turns)
    stored = repository.list_messages(session_id, "assistant")
    assert len(stored) == expected, f"{len(stored)} messages stored, expected {expected}"
    return times[WARM_UP_TURNS:]


def run(base_url: str, run_index: int, turns: int) -> dict[str, dict[str, float]]:
    """p50/p99 of a steady turn through HTTP, and the same turn with nothing stored."""
    logging.getLogger("strands").setLevel(logging.WARNING)
    with SyncPostgreSQLSessionRepository(base_url, timeout=30) as client:
        http = _turns(client, f"turn-{run_index}", turns)
    memory = _turns(MemoryRepository(), f"turn-{run_index}", turns)
    return {"through_http": latency_summary(http), "in_memory_baseline": latency_summary(memory)}
