"""``make soak-citus``: the soak on a Citus cluster, with a worker stopped and started again mid-run.

Writers append through the client (with its retries) to the service under gunicorn, whose database is
the coordinator of the cluster scripts/citus-cluster.sh started (CITUS_CLUSTER_DIR, TEST_DATABASE_URL:
run it under scripts/with-citus.sh). A third of the way in, worker1 is stopped (fast shutdown); two
thirds in, it is started again. Sessions are spread by Citus: those whose shard is on worker1 must meet
only 503 answers carrying Retry-After, and only while it is down or coming back (an append whose
retries run out before the worker returns fails with 503 and is not acknowledged); those on worker2
must meet no error at all. Afterwards every acknowledged message must be stored once, intact.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import requests

from harness.database import empty_tables
from harness.server import Gunicorn
from postgresql_session_repository import SyncPostgreSQLSessionRepository

from . import DATA_DIR, RESULTS_DIR, ROOT
from .faults import ErrorLog
from .soak import Writer, _read_back, _recovered_at, _sleep_until

STOPPED = "worker1"


class RetryAfterLog(ErrorLog):
    """ErrorLog that also tells a 503 without a Retry-After header apart: clients need it to back off."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]  # passes requests' keywords through
        response = super().send(request, **kwargs)
        if response.status_code == 503 and "Retry-After" not in response.headers:
            self.errors.append((time.monotonic(), "503 without Retry-After"))
        return response


class ClusterWriter(Writer):
    """A soak writer with an error log of its own, so errors are told apart by the worker of its session."""

    def __init__(self, url: str, index: int, stop_at: float, session_id: str) -> None:
        self.errors: list[tuple[float, str]] = []
        super().__init__(url, index, stop_at, self.errors)
        self.client.close()
        http = requests.Session()
        http.mount("http://", RetryAfterLog(self.errors))
        self.client = SyncPostgreSQLSessionRepository(url, timeout=10, max_retries=10, session=http)
        self.client.retry_backoff_max = 1.0
        self.session_id = session_id


def _worker_port(database_url: str, session_id: str) -> int:
    """The port of the worker holding ``session_id``'s shard of sessions."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT nodeport FROM pg_dist_shard_placement"
                " WHERE shardid = get_shard_id_for_distribution_column('sessions', %s)",
                (session_id,),
            )
            return int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def _spread_sessions(database_url: str, count: int, stopped_port: int) -> tuple[list[str], set[str]]:
    """``count`` session ids, every other one on the worker to be stopped; and the set of those."""
    on_stopped: list[str] = []
    elsewhere: list[str] = []
    candidate = 0
    while len(on_stopped) < (count + 1) // 2 or len(elsewhere) < count // 2:
        session_id = f"citus-soak-{candidate}"
        candidate += 1
        side = on_stopped if _worker_port(database_url, session_id) == stopped_port else elsewhere
        if len(side) < ((count + 1) // 2 if side is on_stopped else count // 2):
            side.append(session_id)
    return on_stopped + elsewhere, set(on_stopped)


def _node(action: str, cluster: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "citus-cluster.sh"), action, str(cluster), STOPPED], check=True)


def run(clients: int = 16, seconds: float = 60.0, log_dir: Path = DATA_DIR) -> dict[str, Any]:
    """Run the soak on the cluster named by CITUS_CLUSTER_DIR and TEST_DATABASE_URL; return its summary."""
    logging.getLogger("postgresql_session_repository").setLevel(logging.ERROR)
    cluster = Path(os.environ["CITUS_CLUSTER_DIR"])
    database_url = os.environ["TEST_DATABASE_URL"]
    stopped_port = int((cluster / f"{STOPPED}.port").read_text())
    empty_tables(database_url)
    log_dir.mkdir(parents=True, exist_ok=True)
    with Gunicorn(database_url, log_dir / "citus-soak-gunicorn.log", WEB_CONCURRENCY="2") as server:
        began = time.monotonic()
        sessions, on_stopped = _spread_sessions(database_url, clients, stopped_port)
        writers = [ClusterWriter(server.url, i, began + seconds, sid) for i, sid in enumerate(sessions)]
        for w in writers:
            w.start()
        _sleep_until(began + seconds / 3)
        down_at = time.monotonic()
        _node("stop-node", cluster)
        _sleep_until(began + seconds * 2 / 3)
        _node("start-node", cluster)
        up_at = time.monotonic()
        for w in writers:
            w.join()
        checked = _read_back(server.url, writers)
    affected = [w for w in writers if w.session_id in on_stopped]
    others = [w for w in writers if w.session_id not in on_stopped]
    recovered = _recovered_at(affected, up_at) if affected else up_at
    window_end = recovered if recovered is not None else float("inf")
    affected_errors = [(t, kind) for w in affected for t, kind in w.errors]
    return {
        "clients": clients,
        "seconds": seconds,
        "sessions_on_stopped_worker": len(affected),
        "acknowledged": sum(len(w.acknowledged) for w in writers),
        "acknowledged_while_down_elsewhere": sum(
            down_at <= done <= up_at for w in others for _, _, done in w.acknowledged
        ),
        **checked,
        "stopped_worker_errors": dict(Counter(kind for _, kind in affected_errors)),
        "stopped_worker_errors_outside_window": sum(not down_at <= t <= window_end for t, _ in affected_errors),
        "other_worker_errors": dict(Counter(kind for w in others for _, kind in w.errors)),
        # A worker down longer than the client retries (10 retries, at most 1 s apart) fails that append
        # for its sessions: not acknowledged, so the writer knows; the others must never fail.
        "stopped_worker_failures_after_retries": dict(sum((w.failed for w in affected), Counter())),
        "other_failures_after_retries": dict(sum((w.failed for w in others), Counter())),
        "worker_down_seconds": up_at - down_at,
        "recovery_seconds": None if recovered is None else recovered - up_at,
    }


def main() -> None:
    """Run the soak on the cluster, print and save its summary, exit non-zero if it failed."""
    clients, seconds = int(os.environ.get("SOAK_CLIENTS", 16)), float(os.environ.get("SOAK_SECONDS", 60))
    print(f"citus soak: {clients} clients for {seconds:.0f} s; {STOPPED} down from 1/3 to 2/3", flush=True)
    summary = run(clients, seconds)
    print(json.dumps(summary, indent=2))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"citus-soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"citus soak: results written to {path.relative_to(ROOT)}")
    raise SystemExit(0 if not failures(summary) else 1)


def failures(summary: dict[str, Any]) -> list[str]:
    """What the summary shows went wrong (empty when the soak passed)."""
    wrong = [name for name in ("lost", "duplicates", "corrupt") if summary[name]]
    if set(summary["stopped_worker_errors"]) - {"503", "409"}:
        wrong.append(f"unexpected errors for sessions on {STOPPED}: {summary['stopped_worker_errors']}")
    if summary["stopped_worker_errors_outside_window"]:
        wrong.append("errors for sessions on the stopped worker outside its down time")
    if summary["other_worker_errors"]:
        wrong.append(f"errors for sessions on the running worker: {summary['other_worker_errors']}")
    if summary["other_failures_after_retries"]:
        wrong.append(f"failures after retries on the running worker: {summary['other_failures_after_retries']}")
    if set(summary["stopped_worker_failures_after_retries"]) - {"BackendUnavailableError(503)"}:
        wrong.append(f"unexpected failures on {STOPPED}: {summary['stopped_worker_failures_after_retries']}")
    if summary["recovery_seconds"] is None:
        wrong.append("a writer on the stopped worker never succeeded after it came back")
    return wrong


if __name__ == "__main__":
    main()
