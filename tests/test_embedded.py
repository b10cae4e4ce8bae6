"""The embedded PostgreSQL outlives no server: a server killed without cleaning up must not keep it
running after the next `make run` stops. Its client tools back it up as the README says."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from helpers import PROJECT_ROOT
from make_run import MakeRun, handle_pids, postgres_pids


def _remove(path) -> None:
    for pid in postgres_pids(path):  # whatever a failed run left behind
        os.kill(pid, signal.SIGQUIT)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def data_dir():
    # Under the project, not the 0700 pytest temp dir: pgserver runs postgres as another user.
    path = PROJECT_ROOT / ".data" / "orphan-test"
    _remove(path)
    yield path
    _remove(path)


def test_a_killed_server_does_not_keep_the_embedded_postgres_alive_after_the_next_run(data_dir, tmp_path):
    with MakeRun(data_dir, tmp_path / "killed.log") as killed:
        master = killed.master_pid()
        assert handle_pids(data_dir) == [master]
        os.kill(master, signal.SIGKILL)  # no on_exit, no atexit: its pid stays in pgserver's list
        killed.wait_until_group_exits()
        assert postgres_pids(data_dir), "the killed server's PostgreSQL should still be running"

    with MakeRun(data_dir, tmp_path / "next.log", stop_signal=signal.SIGINT) as following:  # Ctrl-C
        assert following.master_pid() in handle_pids(data_dir)

    assert following.stopped_cleanly, f"PostgreSQL left running on {data_dir}:\n{following.output()[-3000:]}"
    assert handle_pids(data_dir) == []


def _embedded_tool(data_dir, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m app.embedded ARGS`` on ``data_dir``, as the README's backup commands run it."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "app.embedded", *args],
        cwd=PROJECT_ROOT,
        input=stdin,
        env={**env, "EMBEDDED_PGDATA": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_backup_restores_into_a_new_data_directory(data_dir):
    restored = data_dir.parent / "orphan-test-restored"
    _remove(restored)
    try:
        wrote = _embedded_tool(
            data_dir, "psql", stdin="INSERT INTO sessions (namespace, session_id) VALUES ('team', 'kept');"
        )
        dump = _embedded_tool(data_dir, "pg_dump", "--clean", "--if-exists")
        load = _embedded_tool(restored, "psql", "-v", "ON_ERROR_STOP=1", stdin=dump.stdout)
        read = _embedded_tool(restored, "psql", "-At", "-c", "SELECT namespace || '/' || session_id FROM sessions")
        left_running = postgres_pids(data_dir) + postgres_pids(restored)
    finally:
        _remove(restored)

    assert wrote.returncode == 0 and dump.returncode == 0 and load.returncode == 0, (
        wrote.stderr + dump.stderr + load.stderr
    )
    assert "CREATE TABLE" in dump.stdout and "starting the embedded PostgreSQL" not in dump.stdout
    assert read.stdout.split() == ["team/kept"]
    assert left_running == []  # each command stopped the server it started
