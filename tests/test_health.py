"""Health endpoints, and a real database outage: 503 while it is down, recovery without restart."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pgserver
import pytest

from app import create_app, db
from helpers import PROJECT_ROOT, SESSIONS, create_session, error_of


def test_health_and_liveness_answer(client):
    assert client.get("/health").get_json()["status"] == "healthy"
    assert client.get("/health/live").get_json() == {"status": "alive"}


def test_database_health_and_readiness_when_up(client):
    assert client.get("/health/db").get_json() == {"status": "healthy", "database": "connected"}
    assert client.get("/health/ready").get_json() == {"status": "ready"}


class DisposablePostgres:
    """A PostgreSQL of this test's own (pgserver), which the test may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="delete")
        self.url = self._server.get_uri()
        db.apply_schema(self.url)

    def stop(self) -> None:
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        self._server.ensure_postgres_running()
        assert self._server.get_uri() == self.url

    def remove(self) -> None:
        self._server.cleanup()


@pytest.fixture(scope="module")
def disposable_postgres() -> Iterator[DisposablePostgres]:
    # Under the project, not the 0700 pytest temp dir: pgserver runs postgres as another user.
    data_dir = PROJECT_ROOT / ".data" / "outage-test"
    shutil.rmtree(data_dir, ignore_errors=True)
    server = DisposablePostgres(data_dir)
    yield server
    server.remove()


def test_database_down_is_503_then_recovers_without_restart(disposable_postgres):
    app = create_app({"TESTING": True, "DATABASE_URL": disposable_postgres.url})
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
    assert client.get(f"{SESSIONS}/during").status_code == 404
    db.close_pool(app)


def test_server_restart_while_connections_are_pooled_costs_no_failed_request(disposable_postgres):
    app = create_app({"TESTING": True, "DATABASE_URL": disposable_postgres.url})
    client = app.test_client()
    create_session(client, "kept")
    assert client.get(f"{SESSIONS}/kept").status_code == 200

    disposable_postgres.stop()
    disposable_postgres.start()
    statuses = [client.get(f"{SESSIONS}/kept").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    db.close_pool(app)
