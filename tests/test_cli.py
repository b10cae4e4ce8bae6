"""The `session-backend` command as users run it: a subprocess, its stdout the result, its logs on stderr."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import requests

from app.auth import fingerprint
from app.version import VERSION
from harness.server import free_port

# The console script pip installed beside this interpreter (.venv/bin/session-backend for `make test`).
COMMAND = str(Path(sys.executable).parent / "session-backend")
KEY_LINE = re.compile(r"sb_[A-Za-z0-9_-]{43}\n")
SERVER_DEADLINE_SECONDS = 60.0


def session_backend(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``session-backend ARGS`` to completion with exactly ``env`` added to a clean environment."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "EMBEDDED_PGDATA", "API_KEYS", "API_KEYS_FILE", "AUTH_DISABLED")
    }
    return subprocess.run([COMMAND, *args], env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_our_commands_and_not_flasks():
    result = session_backend("--help", env={})

    assert result.returncode == 0, result.stderr
    commands = set(re.findall(r"^  ([a-z-]+)  ", result.stdout, re.MULTILINE))
    assert {
        "init-db",
        "keys",
        "run",
        "convert-to-snapshots",
        "retention",
        "purge",
        "history",
        "import",
        "export",
    } <= commands
    assert not commands & {"shell", "routes"}
    assert "--version" in result.stdout


def test_version_is_ours():
    result = session_backend("--version", env={})

    assert (result.returncode, result.stdout) == (0, f"session-backend {VERSION}\n")


def test_keys_help_lists_the_key_commands():
    result = session_backend("keys", "--help", env={})

    assert {"create", "list", "revoke", "allow-keyless"} <= set(
        re.findall(r"^  ([a-z-]+)  ", result.stdout, re.MULTILINE)
    )


def test_keys_create_prints_only_the_key_on_stdout(clean_db):
    result = session_backend("keys", "create", "--namespace", "team-a", env={"DATABASE_URL": clean_db})

    assert result.returncode == 0, result.stderr
    assert KEY_LINE.fullmatch(result.stdout)
    assert "cannot be shown again" in result.stderr and result.stdout.strip() not in result.stderr


def test_on_a_new_embedded_database_logs_go_to_stderr_and_stdout_is_only_the_result(tmp_path):
    env = {"EMBEDDED_PGDATA": str(tmp_path / "postgres")}

    created = session_backend("keys", "create", "--namespace", "team-a", env=env)
    as_json = session_backend("keys", "create", "--namespace", "team-b", "--json", env=env)
    listed = session_backend("keys", "list", "--json", env=env)

    assert created.returncode == 0, created.stderr
    assert KEY_LINE.fullmatch(created.stdout)
    assert "creating the embedded PostgreSQL" in created.stderr and "embedded PostgreSQL ready" in created.stderr
    second = json.loads(as_json.stdout)
    assert "embedded PostgreSQL ready" in as_json.stderr
    ids = {key["key_id"]: key["namespace"] for key in json.loads(listed.stdout)}
    assert ids == {fingerprint(created.stdout.strip())[0]: "team-a", second["key_id"]: "team-b"}
    assert "embedded PostgreSQL ready" in listed.stderr


def test_revoke_with_the_whole_key_never_prints_it(clean_db):
    env = {"DATABASE_URL": clean_db}
    key = session_backend("keys", "create", "--namespace", "team-a", env=env).stdout.strip()

    revoked = session_backend("keys", "revoke", key, env=env)
    unknown = session_backend("keys", "revoke", key[:-1] + ("A" if key[-1] != "A" else "B"), env=env)

    assert revoked.returncode == 0 and fingerprint(key)[0] in revoked.stdout
    assert unknown.returncode == 1 and "no key matches" in unknown.stderr
    for output in (revoked.stdout, revoked.stderr, unknown.stdout, unknown.stderr):
        assert key[3:20] not in output


def test_run_serves_the_api_with_gunicorn_until_sigterm(clean_db, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": clean_db, "WEB_CONCURRENCY": "1", "DB_POOL_MIN": "1"}
    log = tmp_path / "run.log"
    with open(log, "wb") as output:
        # From a directory that is not the checkout: run finds gunicorn.conf.py and wsgi.py beside the package.
        server = subprocess.Popen(
            [COMMAND, "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _ready(f"http://127.0.0.1:{port}", server), log.read_text()[-3000:]
        assert (
            requests.post(f"http://127.0.0.1:{port}/api/v1/sessions", json={"session_id": "s"}, timeout=10).status_code
            == 201
        )
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert '"gunicorn.access"' in log.read_text()


def _ready(url: str, server: subprocess.Popen) -> bool:
    """Whether the server answers /health/ready within the deadline (False once it has exited)."""
    deadline = time.monotonic() + SERVER_DEADLINE_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)  # polling interval while gunicorn starts its worker
    return False


def test_run_without_the_server_files_says_where_they_are(tmp_path):
    from app.cli import server_files

    with pytest.raises(click.ClickException, match=r"gunicorn\.conf\.py"):
        server_files(tmp_path, tmp_path / "elsewhere")
