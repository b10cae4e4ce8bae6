"""Waiting for the service of a test's own database (the own_postgres fixture) to be ready again."""

from __future__ import annotations

import time

import requests

# Seconds the service gets to report ready once its database is back.
READY_DEADLINE = 30.0


def wait_until_ready(url: str) -> None:
    """Poll /health/ready until it answers 200, at most READY_DEADLINE seconds."""
    deadline = time.monotonic() + READY_DEADLINE
    while requests.get(f"{url}/health/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the service did not become ready after its database came back"
        time.sleep(0.1)  # polling interval while the service reconnects
