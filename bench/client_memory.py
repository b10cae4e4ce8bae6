"""Measure the memory of one client restore, in a process of its own: ``python -m bench.client_memory URL SID N``.

Prints one JSON line: how much the process grew to hold the restored messages, and how high it peaked
on the way (ru_maxrss), so the ratio says what the restore costs beyond its result.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from pathlib import Path

from postgresql_session_repository import SyncPostgreSQLSessionRepository


def _rss_mb() -> float:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024


def main(base_url: str, session_id: str, count: int) -> dict[str, float]:
    """Restore once and report RSS before, while holding the messages, and at the peak."""
    client = SyncPostgreSQLSessionRepository(base_url, timeout=120)
    client.read_session(session_id)  # import and connect before the baseline
    gc.collect()
    before = _rss_mb()
    started = time.perf_counter()
    messages = client.list_messages(session_id, "assistant")
    seconds = time.perf_counter() - started
    assert len(messages) == count, len(messages)
    gc.collect()
    holding = _rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    client.close()
    return {
        "seconds": seconds,
        "rss_before_mb": before,
        "restored_messages_mb": holding - before,
        "peak_growth_mb": peak - before,
        "peak_to_restored_ratio": (peak - before) / max(holding - before, 1e-9),
        "rss_peak_mb": peak,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
