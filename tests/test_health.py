"""Health endpoints, and a real database outage: 503 while it is down, recovery without restart; a
database without the schema this release needs is not ready, and the server says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from app import create_app, db, migrations
from app.config import load_settings
from harness.postgres import OwnPostgres
from harness.server import Gunicorn
from helpers import (
    PROJECT_ROOT,
    SESSIONS,
    create_session,
    error_of,
    error_summary,
    execute,
    not_found,
    scratch_database,
)

pytestmark = pytest.mark.over_http

SCHEMA_OUT_OF_DATE = "schema out of date: run `session-backend init-db`"


def test_health_and_liveness_answer(client):
    assert client.get("/health").get_json()["status"] == "healthy"
    assert client.get("/health/live").get_json() == {"status": "alive"}


def test_database_health_and_readiness_when_up(client):
    assert client.get("/health/db").get_json() == {"status": "healthy", "database": "connected", "schema": "up to date"}
    assert client.get("/health/ready").get_json() == {"status": "ready"}


class UnreadyGunicorn(Gunicorn):
    """The service under gunicorn, waited for until it is alive rather than ready."""

    ready_path = "/health/live"


@pytest.fixture
def empty_database(database_url):
    """A database on the test server that nobody ran `init-db` on."""
    with scratch_database(database_url, "empty") as url:
        yield url


def test_a_database_without_the_schema_is_not_ready_and_the_server_says_why(empty_database, tmp_path):
    log = tmp_path / "gunicorn.log"
    with UnreadyGunicorn(empty_database, log, WEB_CONCURRENCY="1", DB_POOL_MIN="1") as server:
        ready = requests.get(f"{server.url}/health/ready", timeout=10)
        database = requests.get(f"{server.url}/health/db", timeout=10)
        api = requests.get(f"{server.url}{SESSIONS}", timeout=10)
        migrations.apply_schema(empty_database)  # what `session-backend init-db` does
        ready_after_init_db = requests.get(f"{server.url}/health/ready", timeout=10)

    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.json() == {"status": "not ready", "database": "connected", "reason": SCHEMA_OUT_OF_DATE}
    assert database.status_code == 200
    assert database.json() == {
        "status": "healthy",
        "database": "connected",
        "schema": "out of date",
        "reason": SCHEMA_OUT_OF_DATE,
    }
    assert api.status_code == 503
    assert ready_after_init_db.status_code == 200
    output = log.read_text()
    assert f"NOT READY: {SCHEMA_OUT_OF_DATE}" in output
    assert any(SCHEMA_OUT_OF_DATE in line and '"app.auth"' in line for line in output.splitlines()), output[-3000:]
    assert "unreachable" not in output


def test_a_database_missing_a_function_is_not_ready(empty_database):
    migrations.apply_schema(empty_database)
    execute(empty_database, "DROP FUNCTION caller_namespace(text, text)")  # as a release before it left it
    app = create_app(load_settings({"DATABASE_URL": empty_database}), testing=True)

    ready = app.test_client().get("/health/ready")

    assert ready.status_code == 503 and ready.get_json()["reason"] == SCHEMA_OUT_OF_DATE
    db.close_pool(app)


def test_a_database_a_migration_ahead_of_the_code_is_ready(empty_database):
    # A rolling upgrade: the new release ran init-db while this one still serves.
    migrations.apply_schema(empty_database)
    execute(empty_database, "INSERT INTO schema_migrations (version) VALUES ('9999')")
    app = create_app(load_settings({"DATABASE_URL": empty_database}), testing=True)

    assert app.test_client().get("/health/ready").status_code == 200
    db.close_pool(app)


@pytest.fixture(scope="module")
def disposable_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL of this module's own, which its tests stop and start."""
    server = OwnPostgres(PROJECT_ROOT / ".data" / "outage-test")
    yield server
    server.remove()


def test_database_down_is_503_then_recovers_without_restart(disposable_postgres):
    app = create_app(load_settings({"DATABASE_URL": disposable_postgres.url}), testing=True)
    client = app.test_client()
    create_session(client, "before")

    disposable_postgres.stop()
    try:
        down = client.get(f"{SESSIONS}/before")
        write = client.post(SESSIONS, json={"session_id": "during"})
        health = client.get("/health/db")
        ready = client.get("/health/ready")
        live = client.get("/health/live")
    finally:
        disposable_postgres.start()

    assert down.status_code == 503 and write.status_code == 503
    assert down.headers["Retry-After"] and error_of(down)["error"] == "ServiceUnavailableError"
    assert health.status_code == 503 and health.get_json()["status"] == "unhealthy"
    assert ready.status_code == 503 and live.status_code == 200
    assert disposable_postgres.url not in health.get_data(as_text=True)

    assert client.get("/health/db").status_code == 200
    assert client.get(f"{SESSIONS}/before").status_code == 200
    assert error_summary(client.get(f"{SESSIONS}/during")) == not_found("session not found")
    db.close_pool(app)


def test_server_restart_while_connections_are_pooled_costs_no_failed_request(disposable_postgres):
    app = create_app(load_settings({"DATABASE_URL": disposable_postgres.url}), testing=True)
    client = app.test_client()
    create_session(client, "kept")
    assert client.get(f"{SESSIONS}/kept").status_code == 200

    disposable_postgres.stop()
    disposable_postgres.start()
    statuses = [client.get(f"{SESSIONS}/kept").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    db.close_pool(app)
