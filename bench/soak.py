"""``make soak``: clients append under faults; afterwards every acknowledged message must be stored once, intact.

16 writers (threads, each with its own client, session and agent) append through the client, with its
retries, to the service under gunicorn with 2 workers, for 60 s. A quarter of the way in, one worker is
killed with SIGKILL; half-way, the soak's own PostgreSQL (pgserver, under .data/soak-postgres) is stopped
and started again. Then every conversation is read back and compared with what was acknowledged.
Errors are counted per attempt, by kind, from inside the clients' HTTP sessions.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from strands.types.session import Session, SessionAgent, SessionMessage

from harness.postgres import OwnPostgres
from harness.server import Gunicorn
from postgresql_session_repository import SessionRepositoryError, SyncPostgreSQLSessionRepository

from . import DATA_DIR, RESULTS_DIR, ROOT
from .faults import ErrorLog
from .report import soak_table
from .stats import TEXT

ALLOWED_ERRORS = {"503", "ConnectionError", "409"}  # 409: a retried create that the first attempt had stored


def _client(url: str, errors: list[tuple[float, str]]) -> SyncPostgreSQLSessionRepository:
    http = requests.Session()
    http.mount("http://", ErrorLog(errors))
    client = SyncPostgreSQLSessionRepository(url, timeout=10, max_retries=10, session=http)
    client.retry_backoff_max = 1.0  # retry every second at most, like the server's Retry-After
    return client


def _message(session_id: str, message_id: int) -> SessionMessage:
    text = f"{session_id}/{message_id} {TEXT[:200]}"
    return SessionMessage(message={"role": "user", "content": [{"text": text}]}, message_id=message_id)


class Writer(threading.Thread):
    """Appends messages 0, 1, 2, ... until ``stop_at``; remembers which were acknowledged and when."""

    def __init__(self, url: str, index: int, stop_at: float, errors: list[tuple[float, str]]) -> None:
        super().__init__(name=f"soak-writer-{index}")
        self.session_id = f"soak-{index}"
        self.client = _client(url, errors)
        self.stop_at = stop_at
        # (message_id, time the append was started, time its 201 arrived)
        self.acknowledged: list[tuple[int, float, float]] = []
        self.failed: Counter[str] = Counter()  # failures that reached the writer, after every retry

    def run(self) -> None:
        self.client.create_session(Session(session_id=self.session_id, session_type="AGENT"))
        self.client.create_agent(self.session_id, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
        message_id = 0
        while time.monotonic() < self.stop_at:
            started = time.monotonic()
            try:
                self.client.create_message(self.session_id, "a", _message(self.session_id, message_id))
                self.acknowledged.append((message_id, started, time.monotonic()))
            except SessionRepositoryError as exc:
                self.failed[f"{type(exc).__name__}({exc.status_code})"] += 1
            except Exception as exc:  # noqa: BLE001  anything else the client lets through is counted, not fatal
                self.failed[type(exc).__name__] += 1
            message_id += 1  # an unacknowledged id is never reused: its outcome is unknown
        self.client.close()


def _recovered_at(writers: list[Writer], since: float) -> float | None:
    """When every writer had an acknowledged append that started after ``since`` (None if one never did).

    Started, not merely answered: an append answered just after a worker was killed may have been
    served before the kill, and the writer's next one still meets the dead connection.
    """
    firsts = [next((done for _, started, done in w.acknowledged if started > since), None) for w in writers]
    answered = [done for done in firsts if done is not None]
    return max(answered) if len(answered) == len(firsts) else None


def _read_back(url: str, writers: list[Writer]) -> dict[str, int]:
    """Compare what is stored with what was acknowledged: lost, duplicated, corrupted messages."""
    lost = duplicates = corrupt = stored_total = unacknowledged_stored = 0
    with SyncPostgreSQLSessionRepository(url, timeout=30) as client:
        for w in writers:
            stored = client.list_messages(w.session_id, "a")
            ids = [m.message_id for m in stored]
            stored_total += len(ids)
            duplicates += len(ids) - len(set(ids))
            texts = Counter(m.message["content"][0]["text"] for m in stored)
            duplicates += sum(n - 1 for n in texts.values())
            corrupt += sum(m.message != _message(w.session_id, m.message_id).message for m in stored)
            acked = {i for i, _, _ in w.acknowledged}
            lost += len(acked - set(ids))
            unacknowledged_stored += len(set(ids) - acked)
    return {
        "lost": lost,
        "duplicates": duplicates,
        "corrupt": corrupt,
        "stored": stored_total,
        "stored_without_acknowledgement": unacknowledged_stored,
    }


def run(
    clients: int = 16, seconds: float = 60.0, data_dir: Path = DATA_DIR / "soak-postgres", workers: int = 2
) -> dict[str, Any]:
    """Run the soak and return its summary (see the module docstring)."""
    logging.getLogger("postgresql_session_repository").setLevel(logging.ERROR)  # retries are counted, not logged
    postgres = OwnPostgres(data_dir)
    errors: list[tuple[float, str]] = []
    try:
        with Gunicorn(
            postgres.url, data_dir.parent / f"{data_dir.name}-gunicorn.log", WEB_CONCURRENCY=str(workers)
        ) as server:
            began = time.monotonic()
            writers = [Writer(server.url, i, began + seconds, errors) for i in range(clients)]
            for w in writers:
                w.start()
            _sleep_until(began + seconds * 0.25)
            killed_at = time.monotonic()
            os.kill(server.workers()[0], signal.SIGKILL)
            _sleep_until(began + seconds * 0.5)
            down_at = time.monotonic()
            postgres.restart()
            up_at = time.monotonic()
            for w in writers:
                w.join()
            checked = _read_back(server.url, writers)
    finally:
        postgres.remove()
    kill_recovered, db_recovered = _recovered_at(writers, killed_at), _recovered_at(writers, up_at)
    windows = [(killed_at, kill_recovered or float("inf")), (down_at, db_recovered or float("inf"))]
    outside = sum(not any(a <= t <= b for a, b in windows) for t, _ in errors)
    failed = sum((w.failed for w in writers), Counter())
    return {
        "clients": clients,
        "seconds": seconds,
        "workers": workers,
        "acknowledged": sum(len(w.acknowledged) for w in writers),
        **checked,
        "http_errors": dict(Counter(kind for _, kind in errors)),
        "http_errors_outside_fault_windows": outside,
        "unexpected_error_kinds": sorted({kind for _, kind in errors} - ALLOWED_ERRORS),
        "failures_after_retries": dict(failed),
        "database_down_seconds": up_at - down_at,
        "recovery_seconds": None if db_recovered is None else db_recovered - up_at,
        "worker_kill_recovery_seconds": None if kill_recovered is None else kill_recovered - killed_at,
    }


def _sleep_until(deadline: float) -> None:
    """Wait for a point of the soak's schedule (the faults happen at fixed fractions of the run)."""
    time.sleep(max(0.0, deadline - time.monotonic()))


def main() -> None:
    """Run the 60 s soak, print its summary, write it to bench/results/, exit non-zero if a write was lost."""
    clients, seconds = int(os.environ.get("SOAK_CLIENTS", 16)), float(os.environ.get("SOAK_SECONDS", 60))
    print(f"soak: {clients} clients for {seconds:.0f} s; worker SIGKILL at 25%, PostgreSQL restart at 50%", flush=True)
    summary = run(clients, seconds)
    print(soak_table(summary))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"soak: results written to {path.relative_to(ROOT)}")
    ok = (
        summary["lost"] == summary["duplicates"] == summary["corrupt"] == 0
        and not summary["unexpected_error_kinds"]
        and not summary["failures_after_retries"]
    )
    print("soak: PASS" if ok else "soak: FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
