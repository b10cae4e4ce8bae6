"""Workload 1: sequential latency of single requests over one keep-alive connection.

The load is a plain ``http.client`` connection (no retries, no Strands dataclasses), so the figures are
the service's, not the client library's; bodies are decoded like any caller would.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from .stats import MESSAGE, latency_summary

OPERATIONS = (
    "create_session",
    "get_session",
    "update_session",
    "create_agent",
    "get_agent",
    "update_agent",
    "create_message",
    "get_message",
    "update_message",
    "list_100_messages",
)


class Http:
    """One keep-alive HTTP/1.1 connection that sends JSON and checks the status."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Send one request and return the decoded JSON body."""
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def run(base_url: str, run_index: int, count: int) -> dict[str, dict[str, float]]:
    """Time ``count`` of each operation, one after another, and return p50/p90/p99 per operation."""
    http = Http(base_url)
    times: dict[str, list[float]] = {op: [] for op in OPERATIONS}

    def timed(op: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = http.call(*args, **kwargs)
        times[op].append(time.perf_counter() - started)
        return result

    agent_body = {"agent_id": "a", "state": {"k": "v"}, "conversation_manager_state": {"removed_message_count": 0}}
    for i in range(count):
        sid = f"lat-{run_index}-{i}"
        s, a = f"/api/v1/sessions/{sid}", f"/api/v1/sessions/{sid}/agents/a"
        timed("create_session", "POST", "/api/v1/sessions", {"session_id": sid}, expect=201)
        timed("get_session", "GET", s)
        timed("update_session", "PUT", s, {"session_type": "AGENT"})
        timed("create_agent", "POST", f"{s}/agents", agent_body, expect=201)
        timed("get_agent", "GET", a)
        timed("update_agent", "PUT", a, {**agent_body, "state": {"k": i}})
        timed("create_message", "POST", f"{a}/messages", {"message_id": 0, "message": MESSAGE}, expect=201)
        timed("get_message", "GET", f"{a}/messages/0")
        timed("update_message", "PUT", f"{a}/messages/0", {"message": MESSAGE, "redact_message": None})

    listed = f"/api/v1/sessions/lat-{run_index}-0/agents/a/messages"
    for i in range(1, 100):
        http.call("POST", listed, {"message_id": i, "message": MESSAGE}, expect=201)
    for _ in range(count):
        page = timed("list_100_messages", "GET", f"{listed}?limit=100")
        assert len(page["messages"]) == 100
    http.close()
    return {op: latency_summary(values) for op, values in times.items()}
