"""The README's quick start: `make run` serves the API on the embedded PostgreSQL, with no
DATABASE_URL and nothing installed beyond what `make` itself sets up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import requests

from bench.server import free_port
from helpers import PROJECT_ROOT

STARTUP_DEADLINE_SECONDS = 120


def _wait_for_health(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run exited before serving"
        try:
            if requests.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)  # polling a port that is not open yet, not papering over a race
    raise AssertionError(f"no answer from {base_url}/health within {STARTUP_DEADLINE_SECONDS}s")


def _wait_until_gone(path, deadline_seconds: float = 60) -> bool:
    # make exits at once on SIGTERM; gunicorn drains and then stops the embedded server.
    deadline = time.monotonic() + deadline_seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not path.exists()


class MakeRun:
    """`make run` with no DATABASE_URL, on an embedded PostgreSQL under ``data_dir``."""

    def __init__(self, data_dir) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "MakeRun":
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MAKEFLAGS", "MAKELEVEL")}
        env.update(API_PORT=str(self.port), EMBEDDED_PGDATA=str(self.data_dir), WEB_CONCURRENCY="1")
        self.process = subprocess.Popen(
            ["make", "run"], cwd=PROJECT_ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_for_health(self.base_url, self.process)
        return self

    def __exit__(self, *exc_info) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        self.stopped_cleanly = _wait_until_gone(self.data_dir / "postmaster.pid")


def test_make_run_serves_health_on_the_embedded_database_and_keeps_data_across_restarts():
    data_dir = PROJECT_ROOT / ".data" / "quickstart-test"
    shutil.rmtree(data_dir, ignore_errors=True)
    with MakeRun(data_dir) as first:
        health = requests.get(f"{first.base_url}/health", timeout=5)
        database = requests.get(f"{first.base_url}/health/db", timeout=5)
        created = requests.post(f"{first.base_url}/api/v1/sessions", json={"session_id": "quickstart"}, timeout=5)
    with MakeRun(data_dir) as second:
        kept = requests.get(f"{second.base_url}/api/v1/sessions/quickstart", timeout=5)

    assert health.json()["status"] == "healthy"
    assert database.json() == {"status": "healthy", "database": "connected"}
    assert created.status_code == 201
    assert kept.status_code == 200 and kept.json()["created_at"] == created.json()["created_at"]
    assert first.stopped_cleanly and second.stopped_cleanly, "the embedded PostgreSQL was not stopped with the service"
    shutil.rmtree(data_dir, ignore_errors=True)
