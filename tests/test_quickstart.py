"""The README's quick start: `make run` serves the API on the embedded PostgreSQL, with no
DATABASE_URL and nothing installed beyond what `make` itself sets up."""

from __future__ import annotations

import os
import shutil
import subprocess

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


def test_make_run_says_what_it_sets_up_then_prints_one_banner_and_listens_on_loopback(tmp_path):
    data_dir = PROJECT_ROOT / ".data" / "banner-test"
    shutil.rmtree(data_dir, ignore_errors=True)
    with MakeRun(data_dir, tmp_path / "make-run.log", WEB_CONCURRENCY="2") as server:
        banner_psql = next(
            line.split(None, 1)[1] for line in server.output().splitlines() if line.startswith("   psql ")
        )
        psql = subprocess.run(
            ["bash", "-c", banner_psql],
            cwd=PROJECT_ROOT,
            input="SELECT count(*) AS stored FROM sessions;",
            env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MAKEFLAGS", "MAKELEVEL")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = server.output()
    shutil.rmtree(data_dir, ignore_errors=True)

    progress = [
        output.index(step)
        for step in (
            f"creating the embedded PostgreSQL in {data_dir}",
            "starting the embedded PostgreSQL",
            "applied database migrations 0001",
        )
    ]
    assert progress == sorted(progress)
    assert output.count("session-backend 0.1.0 is ready") == 1 and progress[-1] < output.index("is ready")
    assert f"Listening at: http://127.0.0.1:{server.port} " in output
    for line in (
        f"API       http://127.0.0.1:{server.port}",
        f"Docs      http://127.0.0.1:{server.port}/docs",
        f"Database  embedded PostgreSQL, data in {data_dir}",
        "Auth      off until the first key",
    ):
        assert line in output, output[-3000:]
    assert output.count("no API keys configured") == 1  # two workers, one warning
    assert psql.returncode == 0 and "stored" in psql.stdout and "(1 row)" in psql.stdout, psql.stderr
