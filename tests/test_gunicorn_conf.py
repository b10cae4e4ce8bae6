"""gunicorn.conf.py: servers started side by side on one machine share no control socket, and each
keeps its workers' metrics in a directory of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from gunicorn.ctl.client import ControlClient

from harness.server import Gunicorn
from helpers import PROJECT_ROOT


def _servers(database_url: str, tmp_path: Path, **env: str) -> list[Gunicorn]:
    # Both with the same home and no XDG_RUNTIME_DIR: where gunicorn's default socket path is shared.
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return [
        Gunicorn(
            database_url,
            tmp_path / f"{name}.log",
            WEB_CONCURRENCY="1",
            DB_POOL_MIN="1",
            HOME=str(home),
            XDG_RUNTIME_DIR="",
            **{k: v.format(name=name) for k, v in env.items()},
        )
        for name in ("first", "second")
    ]


def _wait_for_socket(path: Path, deadline_seconds: float = 30) -> None:
    # gunicorn opens it from a thread of the master once the workers are forked.
    deadline = time.monotonic() + deadline_seconds
    while not path.is_socket():
        assert time.monotonic() < deadline, f"no control socket at {path}"
        time.sleep(0.1)


def test_two_servers_open_no_control_socket_by_default(database_url, tmp_path):
    servers = _servers(database_url, tmp_path)
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        sockets = list((tmp_path / "home").rglob("*.ctl"))

    assert sockets == []
    for server in servers:
        assert "Control socket" not in server.log_path.read_text()


def test_a_control_socket_path_given_to_each_server_reaches_that_server(database_url, tmp_path):
    servers = _servers(database_url, tmp_path, GUNICORN_CONTROL_SOCKET=str(tmp_path / "{name}.ctl"))
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        answered = {}
        for server, name in zip(servers, ("first", "second"), strict=True):
            _wait_for_socket(tmp_path / f"{name}.ctl")
            with ControlClient(str(tmp_path / f"{name}.ctl"), timeout=10) as client:
                answered[server.process.pid] = client.send_command("show stats")["pid"]

    assert answered == {server.process.pid: server.process.pid for server in servers}


def test_loading_the_config_imports_no_prometheus_client():
    # prometheus_client picks its storage when imported: before on_starting sets PROMETHEUS_MULTIPROC_DIR,
    # the workers (forked from the master) would each keep their own metrics.
    code = "import runpy, sys; runpy.run_path('gunicorn.conf.py'); print('prometheus_client' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def _metrics_files(pid: int) -> set[Path]:
    """The metrics files a worker has mapped (prometheus_client's multiprocess mode mmaps them)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {Path(line.split()[-1]) for line in maps.splitlines() if line.endswith(".db")}


def test_a_configured_metrics_directory_is_emptied_at_start(clean_db, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by an earlier run")

    with Gunicorn(clean_db, tmp_path / "g.log", WEB_CONCURRENCY="1", PROMETHEUS_MULTIPROC_DIR=str(directory)) as server:
        response = requests.get(server.url + "/metrics", timeout=10)
        (worker,) = server.workers()
        mapped = _metrics_files(worker)

    assert response.status_code == 200
    assert "session_backend_http_requests_total" in response.text
    assert not (directory / "counter_999999.db").exists()
    assert mapped and {path.parent for path in mapped} == {directory}


def test_the_metrics_directory_the_server_makes_is_its_own_and_removed_when_it_stops(clean_db, tmp_path):
    servers = _servers(clean_db, tmp_path)
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        directories = [{path.parent for path in _metrics_files(server.workers()[0])} for server in servers]
        assert all(len(found) == 1 and next(iter(found)).is_dir() for found in directories)

    assert directories[0] != directories[1]
    assert not any(directory.exists() for found in directories for directory in found)
