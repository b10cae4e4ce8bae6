"""Fixtures shared by every test: a real PostgreSQL, the app on it, and a clean slate per test.

The database is TEST_DATABASE_URL when set (its tables are recreated), else an embedded
PostgreSQL started under .data/test-postgres.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app, db, embedded
from app.config import load_settings, normalize_database_url
from harness.database import TABLES, execute, recreate_schema
from helpers import PROJECT_ROOT
from key_helpers import create_key


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
    execute(database_url, f"TRUNCATE {', '.join(TABLES)}")
    return database_url


@pytest.fixture
def app(clean_db: str) -> Iterator[Flask]:
    """The application on the test database, with nothing stored."""
    application = create_app(load_settings({"DATABASE_URL": clean_db}), testing=True)
    yield application
    db.close_pool(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for :func:`app`."""
    return app.test_client()


@pytest.fixture
def keys(app: Flask) -> dict[str, tuple[str, str]]:
    """Keys for namespaces team-a and team-b, created with the command line: ``{namespace: (key_id, key)}``."""
    runner = app.test_cli_runner()
    return {"team-a": create_key(runner, "team-a"), "team-b": create_key(runner, "team-b")}
