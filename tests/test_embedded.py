"""The embedded PostgreSQL outlives no server: a server killed without cleaning up must not keep it
running after the next `make run` stops."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from helpers import PROJECT_ROOT
from make_run import MakeRun, handle_pids, postgres_pids


@pytest.fixture
def data_dir():
    # Under the project, not the 0700 pytest temp dir: pgserver runs postgres as another user.
    path = PROJECT_ROOT / ".data" / "orphan-test"
    shutil.rmtree(path, ignore_errors=True)
    yield path
    for pid in postgres_pids(path):  # whatever a failed run left behind
        os.kill(pid, signal.SIGQUIT)
    shutil.rmtree(path, ignore_errors=True)


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
