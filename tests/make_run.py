"""`make run` as a user runs it, as a subprocess: no DATABASE_URL, an embedded PostgreSQL of its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from harness.server import free_port
from helpers import PROJECT_ROOT

STARTUP_DEADLINE_SECONDS = 120
STOP_DEADLINE_SECONDS = 60
POLL_SECONDS = 0.2  # polling a port or a process that is not there yet, not papering over a race


def postgres_pids(data_dir: Path) -> list[int]:
    """Pids of the PostgreSQL server processes running on ``data_dir`` (from /proc command lines)."""
    wanted = str(data_dir.resolve())
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [arg.decode(errors="replace") for arg in argv]
        if args and Path(args[0]).name == "postgres" and "-D" in args and wanted in args:
            pids.append(int(proc.name))
    return pids


def handle_pids(data_dir: Path) -> list[int]:
    """pgserver's list of the processes using the embedded server of ``data_dir``."""
    path = data_dir / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


class MakeRun:
    """`make run` with no DATABASE_URL, on an embedded PostgreSQL under ``data_dir``; use it with ``with``.

    Its output (stdout and stderr) goes to ``log_path``; leaving the block sends SIGTERM to its process
    group, as ``timeout`` or a terminal's Ctrl-C (SIGINT, with ``stop_signal``) would.
    """

    def __init__(self, data_dir: Path, log_path: Path, stop_signal: int = signal.SIGTERM, **env: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.env = {"WEB_CONCURRENCY": "1", **env}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MakeRun:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MAKEFLAGS", "MAKELEVEL", "API_HOST")}
        env.update(API_PORT=str(self.port), EMBEDDED_PGDATA=str(self.data_dir), **self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["make", "run"], cwd=PROJECT_ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_for_health()
        except BaseException:
            # `with` calls __exit__ only once __enter__ has returned: stop what was started here.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_DEADLINE_SECONDS)
            self._stop_orphaned_postgres()
            raise
        return self

    def _stop_orphaned_postgres(self) -> None:
        # The embedded PostgreSQL runs in a session of its own, so killing make's group misses it and
        # nothing else would stop it: a fast shutdown is SIGINT to the postmaster its pid file names.
        pid_file = self.data_dir / "postmaster.pid"
        if postgres_pids(self.data_dir) and pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"make run exited before serving:\n{self.output()[-3000:]}"
            try:
                if requests.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            # A read timeout is a server still booting on a loaded machine (the socket listens before a
            # worker answers): poll again until the deadline, as for a refused connection.
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(POLL_SECONDS)
        raise AssertionError(f"no answer from {self.base_url}/health within {STARTUP_DEADLINE_SECONDS}s")

    def output(self) -> str:
        """Everything `make run` has printed so far."""
        return self.log_path.read_text(errors="replace")

    def master_pid(self) -> int:
        """The gunicorn master's pid: make's first descendant that is gunicorn (make may run it through sh)."""
        pids = [self.process.pid]
        while pids:
            pid = pids.pop(0)
            if pid != self.process.pid and Path(f"/proc/{pid}/comm").read_text().startswith("gunicorn"):
                return pid
            pids += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        raise AssertionError("make run has no gunicorn process")

    def __exit__(self, *exc_info) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, self.stop_signal)
        self.process.wait(timeout=STOP_DEADLINE_SECONDS)
        self.wait_until_group_exits()
        # make exits at once; gunicorn drains, then its master stops the embedded server.
        self.stopped_cleanly = not postgres_pids(self.data_dir)

    def wait_until_group_exits(self) -> None:
        """Wait until every process of `make run`'s group (make, gunicorn, workers) has exited."""
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        while _live_group_members(self.process.pid):
            assert time.monotonic() < deadline, f"make run's processes outlived {STOP_DEADLINE_SECONDS}s"
            time.sleep(POLL_SECONDS)


def _live_group_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that have not exited (zombies excluded)."""
    members = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])  # fields 3 and 5 of stat
        if pgrp == pgid and state != "Z":
            members.append(int(proc.name))
    return members
