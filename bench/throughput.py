"""Workload 2: concurrent appends driven by wrk, with the server's CPU per request read from /proc.

wrk (Debian package ``wrk``) is a C load generator, so the client side is not the bottleneck; the Lua
script gives every request a fresh message id.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import requests

from harness.server import Gunicorn

LUA = Path(__file__).with_name("append.lua")


def wrk_path() -> str:
    """The wrk binary, or an error that says how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    return path


def _wrk(server: Gunicorn, connections: int, seconds: float, *script: str) -> dict[str, float]:
    """Run wrk with one connection per thread; its summary plus the server CPU it cost."""
    cpu_before = server.cpu_seconds()
    out = subprocess.run(
        [
            wrk_path(),
            "-t",
            str(connections),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "-s",
            str(LUA),
            *script,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    cpu = server.cpu_seconds() - cpu_before
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("BENCH_JSON "))[11:])
    done = result["requests"]
    return {
        "requests_per_s": done / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": sum(result[k] for k in ("connect", "read", "write", "status", "timeout")),
        "server_cpu_ms_per_request": cpu * 1000 / max(done, 1),
    }


def run(server: Gunicorn, run_index: int, connections: int, seconds: float) -> dict[str, float]:
    """Append for ``seconds`` from ``connections`` writers; requests/s, latency, errors, server CPU."""
    prefix = f"wrk-{run_index}"
    with requests.Session() as http:
        for i in range(connections):
            sid = f"{prefix}-{i}"
            assert http.post(f"{server.url}/api/v1/sessions", json={"session_id": sid}).status_code == 201
            agent = {"agent_id": "a", "state": {}, "conversation_manager_state": {}}
            assert http.post(f"{server.url}/api/v1/sessions/{sid}/agents", json=agent).status_code == 201
    return _wrk(server, connections, seconds, server.url, "--", prefix)


def run_liveness(server: Gunicorn, connections: int, seconds: float) -> dict[str, float]:
    """The framework's own floor: GET /health/live (no database) under the same load."""
    return _wrk(server, connections, seconds, f"{server.url}/health/live", "--", "-", "GET")
