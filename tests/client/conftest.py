"""Fixtures for the client tests: the real service under gunicorn, a client, and scripted agents.

The client file and the example's scripted model are imported the way a user's project imports them:
as top-level modules from their folders (the README's `PYTHONPATH=client:examples/session_agent`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "client", ROOT / "examples" / "session_agent"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from postgresql_session_repository import SyncPostgreSQLSessionRepository  # noqa: E402
from scripted_model import ScriptedModel  # noqa: E402
from strands import Agent  # noqa: E402
from strands.session.repository_session_manager import RepositorySessionManager  # noqa: E402

# The client tests run with authentication on: the service is given this key, and every client in
# these tests sends it (the client reads SESSION_BACKEND_API_KEY by default).
CLIENT_TEST_KEY = f"sb_client_tests_{uuid.uuid4().hex}"
STARTUP_DEADLINE = 60.0  # seconds for gunicorn to import the app and answer /health/ready


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Backend:
    """The session-backend service in a gunicorn process, which a test can stop and start again."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start gunicorn and wait until the service reports ready, or fail with its log."""
        env = {**os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(self.port), "DATABASE_URL": self.database_url,
               "WEB_CONCURRENCY": "2", "API_KEYS": f"client-tests:{CLIENT_TEST_KEY}"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)  # polling interval, not a wait for a result
        self.stop()
        pytest.fail(f"service not ready within {STARTUP_DEADLINE}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM) and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines gunicorn wrote, for failure messages."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(autouse=True)
def api_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every client made in these tests sends CLIENT_TEST_KEY, as an agent deployment would."""
    monkeypatch.setenv("SESSION_BACKEND_API_KEY", CLIENT_TEST_KEY)
    return CLIENT_TEST_KEY


@pytest.fixture(scope="session")
def backend(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """One service for the whole test session, on the test database."""
    server = Backend(database_url, tmp_path_factory.mktemp("backend") / "gunicorn.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_backend(database_url: str, tmp_path: Path):
    """A service of the test's own, which the test may stop and start."""
    server = Backend(database_url, tmp_path / "gunicorn.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def repo(backend: Backend):
    """A client for the shared service."""
    with SyncPostgreSQLSessionRepository(backend.url, timeout=10) as client:
        yield client


@pytest.fixture
def sid() -> str:
    """A session id no other test uses, so each test starts from an empty session."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def make_agent():
    """Build a Strands agent with a scripted model, persisted through the given client."""

    def build(repository, session_id: str, replies=(), *, agent_id: str = "assistant", **agent_kwargs) -> Agent:
        manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
        return Agent(model=ScriptedModel(replies), agent_id=agent_id, callback_handler=None,
                     session_manager=manager, **agent_kwargs)

    return build
