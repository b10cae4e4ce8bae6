"""Workload 8: what a lease costs an agent turn (issue 14's target: at most two requests per invocation).

The same steady turn as workload 3, through ``RepositorySessionManager`` and the client, once without a
lease and once with ``SessionLease`` (acquire before the invocation, release after it). Every HTTP
request the client sends is counted, so the difference per turn is exact whatever the machine's load;
the latencies beside it are figures of this run.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import requests
from strands import Agent
from strands.session.repository_session_manager import RepositorySessionManager

from postgresql_session_repository import SessionLease, SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

from .stats import TEXT, latency_summary

WARM_UP_TURNS = 10


class _CountingSession(requests.Session):
    """A ``requests.Session`` that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Count, then send as ``requests`` does."""
        self.sent += 1
        return super().send(request, **kwargs)


def _turns(base_url: str, session_id: str, turns: int, leased: bool) -> dict[str, float]:
    http = _CountingSession()
    with SyncPostgreSQLSessionRepository(base_url, timeout=30, session=http) as repo:
        manager = RepositorySessionManager(session_id=session_id, session_repository=repo)
        agent = Agent(
            model=ScriptedModel(itertools.repeat("Noted.")),
            agent_id="assistant",
            callback_handler=None,
            session_manager=manager,
            hooks=[SessionLease(repo, ttl=60)] if leased else [],
        )
        times, counted = [], 0
        for i in range(WARM_UP_TURNS + turns):
            before = http.sent
            started = time.perf_counter()
            agent(f"Turn {i}: {TEXT[:200]}")
            times.append(time.perf_counter() - started)
            if i >= WARM_UP_TURNS:
                counted += http.sent - before
        stored = repo.list_messages(session_id, "assistant")
    expected = 2 * (WARM_UP_TURNS + turns)
    assert len(stored) == expected, f"{len(stored)} messages stored, expected {expected}"
    return {**latency_summary(times[WARM_UP_TURNS:]), "requests": counted, "requests_per_turn": counted / turns}


def run(base_url: str, run_index: int, turns: int) -> dict[str, Any]:
    """A turn's p50/p99 and requests, without and with the lease, and what the lease adds."""
    logging.getLogger("strands").setLevel(logging.WARNING)
    unleased = _turns(base_url, f"unleased-{run_index}-{time.time_ns()}", turns, leased=False)
    leased = _turns(base_url, f"leased-{run_index}-{time.time_ns()}", turns, leased=True)
    return {
        "unleased": unleased,
        "leased": leased,
        # From the integer counts, so that exactly two reads 2.0, not 2.0000000000000004.
        "added_requests_per_turn": (leased["requests"] - unleased["requests"]) / turns,
        "added_p50_ms": leased["p50_ms"] - unleased["p50_ms"],
    }
