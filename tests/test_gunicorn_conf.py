"""gunicorn.conf.py: servers started side by side on one machine share no control socket."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from gunicorn.ctl.client import ControlClient

from harness.server import Gunicorn


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
