"""Fixtures shared by every test: a real PostgreSQL, the app on it, and a clean slate per test.

The database is TEST_DATABASE_URL when set (its tables are recreated), else an embedded
PostgreSQL started under .data/test-postgres.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from http_client import HTTPClient

from app import create_app, db, embedded
from app.config import load_settings, normalize_database_url
from harness.database import empty_tables, recreate_schema
from harness.server import Gunicorn
from helpers import PROJECT_ROOT
from key_helpers import create_key

# Test modules marked `over_http` run each test that takes `client` twice: in Flask's test client,
# and through gunicorn (the server production runs) with HTTPClient.
CLIENT_KINDS = ("flask", "gunicorn")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database with a freshly applied schema, shared by the whole run."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        url = normalize_database_url(configured)
        recreate_schema(url)
        yield url
        return
    url = embedded.start(PROJECT_ROOT / ".data" / "test-postgres")
    recreate_schema(url)
    yield url
    embedded.stop()


@pytest.fixture
def clean_db(database_url: str) -> str:
    """Empty every table before the test; returns the database URL."""
    empty_tables(database_url)
    return database_url


@pytest.fixture
def app(clean_db: str) -> Iterator[Flask]:
    """The application on the test database, with nothing stored."""
    application = create_app(load_settings({"DATABASE_URL": clean_db}), testing=True)
    yield application
    db.close_pool(application)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers that choose where a test's `client` sends its requests."""
    config.addinivalue_line(
        "markers", "over_http: tests of this module that take `client` run in-process and through gunicorn"
    )
    config.addinivalue_line(
        "markers", "in_process(reason): needs Flask's test client or the app's internals; the reason says why"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run `client` tests of `over_http` modules against both kinds of client, unless marked in_process."""
    in_process = metafunc.definition.get_closest_marker("in_process")
    if in_process is not None and not in_process.args:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: in_process needs a reason")
    if "client" in metafunc.fixturenames and metafunc.definition.get_closest_marker("over_http") and not in_process:
        metafunc.parametrize("client", CLIENT_KINDS, indirect=True)


@pytest.fixture(scope="session")
def keyless_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """The service under gunicorn on the test database, without API_KEYS, for the whole run.

    It keeps no state between requests that a test could see (keys are checked by each query),
    so the per-test TRUNCATE of clean_db leaves it as fresh as a new app.
    """
    log = tmp_path_factory.mktemp("keyless-server") / "gunicorn.log"
    with Gunicorn(database_url, log, WEB_CONCURRENCY="2", GUNICORN_THREADS="4", DB_POOL_MIN="1") as server:
        yield server


@pytest.fixture
def client(request: pytest.FixtureRequest, clean_db: str) -> Iterator[FlaskClient | HTTPClient]:
    """A test client for :func:`app`, or, for the ``gunicorn`` parameter, the same calls over HTTP."""
    if getattr(request, "param", "flask") == "flask":
        yield request.getfixturevalue("app").test_client()
        return
    with HTTPClient(request.getfixturevalue("keyless_server").url) as http:
        yield http


@pytest.fixture
def keys(app: Flask) -> dict[str, tuple[str, str]]:
    """Keys for namespaces team-a and team-b, created with the command line: ``{namespace: (key_id, key)}``."""
    runner = app.test_cli_runner()
    return {"team-a": create_key(runner, "team-a"), "team-b": create_key(runner, "team-b")}
