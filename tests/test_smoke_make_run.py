"""The service as `make run` starts it (gunicorn -c gunicorn.conf.py wsgi:app), driven over HTTP.

scripts/smoke.sh runs against it twice (its ids are unique per run), and SIGTERM must let an
in-flight request finish before gunicorn exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.server import Gunicorn
from helpers import PROJECT_ROOT

SMOKE = PROJECT_ROOT / "scripts" / "smoke.sh"


def make_run(database_url: str, tmp_path: Path, **env: str) -> Gunicorn:
    """gunicorn as `make run` starts it, on a free port of 127.0.0.1; use it with ``with``."""
    settings = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "DB_POOL_MIN": "1", **env}
    return Gunicorn(database_url, tmp_path / "gunicorn.log", **settings)


def test_smoke_script_passes_twice_against_make_run(database_url: str, tmp_path: Path) -> None:
    with make_run(database_url, tmp_path) as server:
        for _ in range(2):
            result = subprocess.run(["bash", str(SMOKE), server.url], capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            assert "smoke: all" in result.stdout
    access_lines = [
        line for line in (tmp_path / "gunicorn.log").read_text().splitlines() if '"gunicorn.access"' in line
    ]
    assert access_lines, "gunicorn wrote no JSON access log lines"


def test_sigterm_lets_an_in_flight_request_finish(database_url: str, tmp_path: Path) -> None:
    session_id = f"drain-{os.getpid()}-{time.time_ns()}"
    body = f'{{"session_id": "{session_id}"}}'.encode()
    head = (
        "POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with make_run(database_url, tmp_path, WEB_CONCURRENCY="1", GUNICORN_GRACEFUL_TIMEOUT="20") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
            # Half a request: a worker thread is now blocked reading the rest of the body.
            conn.sendall(head + body[:5])
            time.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert server.process.poll() is None, "gunicorn exited with a request in flight"
            conn.sendall(body[5:])
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 201"), response[:500]
        assert server.process.wait(timeout=30) == 0
