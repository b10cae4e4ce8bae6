"""Fixtures for the client tests: the real service under gunicorn, a client, and scripted agents.

The client file and the example's scripted model are imported the way a user's project imports them:
as top-level modules from their folders (the README's `PYTHONPATH=client:examples/session_agent`; pytest's
`pythonpath` in setup.cfg does the same).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from strands import Agent
from strands.session.repository_session_manager import RepositorySessionManager

from app.auth import fingerprint
from harness.database import execute
from harness.postgres import OwnPostgres
from harness.server import Gunicorn, free_port
from postgresql_session_repository import SessionBackendStorage, SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

# The client tests run with authentication on: the service is given this key, and every client in
# these tests sends it (the client reads SESSION_BACKEND_API_KEY by default).
CLIENT_TEST_KEY = f"sb_client_tests_{uuid.uuid4().hex}"
# The service under gunicorn (harness.server.Gunicorn, as production runs it) gets this environment.
CLIENT_NAMESPACE = "client-tests"
BACKEND_ENV = {"WEB_CONCURRENCY": "2", "API_KEYS": f"{CLIENT_NAMESPACE}:{CLIENT_TEST_KEY}"}


@pytest.fixture(autouse=True)
def api_key_in_environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """Every client made in these tests sends CLIENT_TEST_KEY, as an agent deployment would.

    The key is stored again before each test: the service seeds it once per worker, and a test
    that ran in between (an in-process API test) may have emptied the tables since.
    """
    monkeypatch.setenv("SESSION_BACKEND_API_KEY", CLIENT_TEST_KEY)
    key_id, secret_hash = fingerprint(CLIENT_TEST_KEY)
    execute(
        database_url,
        "INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (%s, %s, %s) ON CONFLICT (key_id) DO NOTHING",
        (key_id, CLIENT_NAMESPACE, secret_hash),
    )
    return CLIENT_TEST_KEY


def new_api_key(database_url: str) -> str:
    """A key of a namespace of its own, which the running service accepts at once (keys are looked up
    in the database): what the test stores with it no other test sees."""
    key = f"sb_client_tests_{uuid.uuid4().hex}"
    key_id, secret_hash = fingerprint(key)
    execute(
        database_url,
        "INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (%s, %s, %s)",
        (key_id, f"client-tests-{uuid.uuid4().hex[:12]}", secret_hash),
    )
    return key


@pytest.fixture
def make_api_key(database_url: str):
    """Makes keys of namespaces of their own (see new_api_key)."""
    return lambda: new_api_key(database_url)


@pytest.fixture
def service_storage(backend: Gunicorn, database_url: str):
    """A SessionBackendStorage on the shared service, in a namespace of the test's own (so it starts empty)."""
    with SessionBackendStorage(backend.url, api_key=new_api_key(database_url), timeout=10) as storage:
        yield storage


@pytest.fixture(scope="session")
def backend(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """One service for the whole test session, on the test database."""
    server = Gunicorn(database_url, tmp_path_factory.mktemp("backend") / "gunicorn.log", **BACKEND_ENV)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_backend(database_url: str, tmp_path: Path):
    """A service of the test's own, which the test may stop and start."""
    server = Gunicorn(database_url, tmp_path / "gunicorn.log", **BACKEND_ENV)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def repo(backend: Gunicorn):
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
        return Agent(
            model=ScriptedModel(replies),
            agent_id=agent_id,
            callback_handler=None,
            session_manager=manager,
            **agent_kwargs,
        )

    return build


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch):
    """A local S3-compatible server (moto's) on 127.0.0.1, and the environment that points boto3 at it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    yield url
    server.stop()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL of the test's own, which it may stop, start and restart."""
    postgres = OwnPostgres(Path(__file__).resolve().parents[2] / ".data" / "client-own-postgres")
    yield postgres
    postgres.remove()


@pytest.fixture
def backend_on_own_postgres(own_postgres: OwnPostgres, api_key_in_environment: str, tmp_path) -> Iterator[Gunicorn]:
    """The service under gunicorn on :func:`own_postgres`, seeded with the key the clients send."""
    keys = f"client-tests:{api_key_in_environment}"
    with Gunicorn(own_postgres.url, tmp_path / "gunicorn.log", WEB_CONCURRENCY="1", API_KEYS=keys) as server:
        yield server
