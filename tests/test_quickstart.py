"""The README's quick start: `make run` serves the API on the embedded PostgreSQL, with no
DATABASE_URL and nothing installed beyond what `make` itself sets up."""

from __future__ import annotations

import shutil

import requests

from helpers import PROJECT_ROOT
from make_run import MakeRun


def test_make_run_serves_health_on_the_embedded_database_and_keeps_data_across_restarts(tmp_path):
    data_dir = PROJECT_ROOT / ".data" / "quickstart-test"
    shutil.rmtree(data_dir, ignore_errors=True)
    with MakeRun(data_dir, tmp_path / "make-run.log") as first:
        health = requests.get(f"{first.base_url}/health", timeout=5)
        database = requests.get(f"{first.base_url}/health/db", timeout=5)
        created = requests.post(f"{first.base_url}/api/v1/sessions", json={"session_id": "quickstart"}, timeout=5)
    with MakeRun(data_dir, tmp_path / "make-run.log") as second:
        kept = requests.get(f"{second.base_url}/api/v1/sessions/quickstart", timeout=5)

    assert health.json()["status"] == "healthy"
    assert database.json() == {"status": "healthy", "database": "connected", "schema": "up to date"}
    assert created.status_code == 201
    assert kept.status_code == 200 and kept.json()["created_at"] == created.json()["created_at"]
    assert first.stopped_cleanly and second.stopped_cleanly, "the embedded PostgreSQL was not stopped with the service"
    shutil.rmtree(data_dir, ignore_errors=True)
