"""The service under gunicorn with the production config, as the tests and the benchmark start it.

For the benchmark's figures, server CPU and memory are read from /proc for the gunicorn master and its
workers, so they cover everything the service spends, not only what a profiler inside one worker sees.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from . import ROOT

STARTUP_DEADLINE = 60.0
# gunicorn.conf.py's post_worker_init logs this once a worker has loaded the app (and seeded API keys).
_WORKER_LOADED = re.compile(rb"worker (\d+) loaded the application \((\d+) workers configured\)")
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """The service as production runs it: ``gunicorn -c gunicorn.conf.py wsgi:app``, on 127.0.0.1."""

    # What must answer 200 before start() returns; a test of a server that is not ready waits for /health/live.
    ready_path = "/health/ready"

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Gunicorn:
        """Start gunicorn and wait until every worker is up and the service reports ready."""
        env = {
            **os.environ,
            **self.env,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.port),
            "DATABASE_URL": self.database_url,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log_start = log.tell()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                if (
                    self._all_workers_loaded(log_start)
                    and requests.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200
                ):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)  # polling interval while gunicorn imports the app
        self.stop()
        raise RuntimeError(f"service not ready within {STARTUP_DEADLINE}s; see {self.log_path}")

    def _all_workers_loaded(self, log_start: int) -> bool:
        """Whether every configured worker has logged, since ``log_start``, that it loaded the app.

        A worker that loads later than the first would otherwise seed API_KEYS after a test has
        already emptied the tables, and its requests would run with a state the test did not set.
        """
        with open(self.log_path, "rb") as log:
            log.seek(log_start)
            loaded = _WORKER_LOADED.findall(log.read())
        return bool(loaded) and len({pid for pid, _ in loaded}) >= int(loaded[-1][1])

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM), killing it if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def workers(self) -> list[int]:
        """Process ids of the master's current workers."""
        assert self.process is not None
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                pids += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                continue
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the master and its live workers."""
        assert self.process is not None
        total = 0
        for pid in [self.process.pid, *self.workers()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / _TICKS

    def worker_memory_mb(self) -> dict[str, float]:
        """Largest current RSS and largest peak RSS (VmHWM) over the workers, in MB."""
        rss, peak = [], []
        for pid in self.workers():
            try:
                status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            except OSError:
                continue
            rss.append(int(status["VmRSS"].split()[0]) / 1024)
            peak.append(int(status["VmHWM"].split()[0]) / 1024)
        return {"rss_mb": max(rss, default=0.0), "peak_rss_mb": max(peak, default=0.0)}
