"""Workloads 4 and 5: restoring long conversations through the client, and paging deep into one.

Conversations are written straight into PostgreSQL with one ``INSERT ... SELECT generate_series``
(seconds for 100,000 messages); what is measured is reading them back through the service.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from harness import ROOT
from harness.database import execute
from postgresql_session_repository import SyncPostgreSQLSessionRepository

from .latency import Http
from .stats import TEXT, percentile

SEED = """
INSERT INTO sessions (namespace, session_id) VALUES ('default', %(sid)s);
INSERT INTO session_agents (namespace, session_id, agent_id, state, conversation_manager_state)
VALUES ('default', %(sid)s, 'assistant', '{}', '{"removed_message_count": 0}');
INSERT INTO session_messages (namespace, session_id, agent_id, message_id, message)
SELECT 'default', %(sid)s, 'assistant', i, json_build_object(
    'role', CASE WHEN i %% 2 = 0 THEN 'user' ELSE 'assistant' END,
    'content', json_build_array(json_build_object('text', i || ': ' || %(text)s)))
FROM generate_series(0, %(count)s - 1) AS i;
"""


def seed(url: str, session_id: str, count: int) -> None:
    """Store a conversation of ``count`` ~1 KB messages (ids 0..count-1) under agent 'assistant'."""
    execute(url, SEED, {"sid": session_id, "text": TEXT, "count": count})
    execute(url, "VACUUM (ANALYZE) session_messages")  # what autovacuum does to a table after bulk inserts


def restore(base_url: str, session_id: str, count: int) -> float:
    """Seconds to restore the conversation through the client; fails unless every message came back in order."""
    with SyncPostgreSQLSessionRepository(base_url, timeout=60) as client:
        started = time.perf_counter()
        messages = client.list_messages(session_id, "assistant")
        elapsed = time.perf_counter() - started
    ids = [m.message_id for m in messages]
    if ids != list(range(count)):
        raise AssertionError(f"restored {len(ids)} messages of {count}, or out of order")
    return elapsed


def deep_page(base_url: str, session_id: str, count: int, samples: int) -> dict[str, float]:
    """p50 of the first page of 100, the page after message ``count - 100`` by keyset, and by offset.

    Pages are asked for as the client asks for them, without ``total``: counting the whole
    conversation would cost every page the same ~20 ms and hide what the paging itself costs.
    """
    http = Http(base_url)
    path = f"/api/v1/sessions/{session_id}/agents/assistant/messages?limit=100&include_total=false"
    queries = {"first_page": "", "after_keyset": f"&after={count - 101}", "at_offset": f"&offset={count - 100}"}
    result = {}
    for name, query in queries.items():
        times = []
        for _ in range(samples if name != "at_offset" else max(3, samples // 5)):  # shown for contrast only
            started = time.perf_counter()
            page = http.call("GET", path + query)
            times.append(time.perf_counter() - started)
        assert len(page["messages"]) == 100, name
        result[f"{name}_p50_ms"] = percentile(times, 50) * 1000
    http.close()
    result["keyset_ratio_to_first"] = result["after_keyset_p50_ms"] / result["first_page_p50_ms"]
    return result


def restores(base_url: str, session_id: str, count: int, repeats: int, budget: float) -> dict[str, float]:
    """Median of up to ``repeats`` restores, stopping early (after at least one) once ``budget`` seconds are spent."""
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget):
        times.append(restore(base_url, session_id, count))
    return {"seconds": statistics.median(times), "restored": count, "runs": len(times)}


def client_memory(base_url: str, session_id: str, count: int) -> dict[str, float]:
    """Memory of a fresh client process restoring the conversation (see bench.client_memory)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.client_memory", base_url, session_id, str(count)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
