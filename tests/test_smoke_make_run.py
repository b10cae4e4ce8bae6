"""The service as `make run` starts it (gunicorn -c gunicorn.conf.py wsgi:app), driven over HTTP.

scripts/smoke.sh runs against it twice (its ids are unique per run), and SIGTERM must let an
in-flight request finish before gunicorn exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMOKE = PROJECT_ROOT / "scripts" / "smoke.sh"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base_url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll /health/ready until it answers 200, failing early if gunicorn died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"gunicorn exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"{base_url}/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{base_url} was not ready within {timeout}s")


@contextlib.contextmanager
def make_run(database_url: str, tmp_path: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start gunicorn the way `make run` does, on a free port; yield (base URL, process).

    The server is stopped (SIGTERM, then SIGKILL) on exit if the test has not stopped it.
    """
    port = free_port()
    environment = {
        **os.environ,
        "API_PORT": str(port),
        "API_HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        "DB_POOL_MIN": "1",
        **env,
    }
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, proc)
        yield base_url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_smoke_script_passes_twice_against_make_run(database_url: str, tmp_path: Path) -> None:
    with make_run(database_url, tmp_path) as (base_url, _proc):
        for _ in range(2):
            result = subprocess.run(
                ["bash", str(SMOKE), base_url], capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            assert "smoke: all" in result.stdout
    access_lines = [line for line in (tmp_path / "gunicorn.log").read_text().splitlines() if '"gunicorn.access"' in line]
    assert access_lines, "gunicorn wrote no JSON access log lines"


def test_sigterm_lets_an_in_flight_request_finish(database_url: str, tmp_path: Path) -> None:
    session_id = f"drain-{os.getpid()}-{time.time_ns()}"
    body = f'{{"session_id": "{session_id}"}}'.encode()
    head = (
        "POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with make_run(database_url, tmp_path, WEB_CONCURRENCY="1", GUNICORN_GRACEFUL_TIMEOUT="20") as (base_url, proc):
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            # Half a request: a worker thread is now blocked reading the rest of the body.
            conn.sendall(head + body[:5])
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert proc.poll() is None, "gunicorn exited with a request in flight"
            conn.sendall(body[5:])
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 201"), response[:500]
        assert proc.wait(timeout=30) == 0
