"""The soak's fault tools: a PostgreSQL it may restart, and an HTTP adapter that records every failed attempt."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pgserver
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from app import migrations


class OwnPostgres:
    """A PostgreSQL of the soak's own (pgserver), so it can be restarted without disturbing anyone."""

    def __init__(self, data_dir: Path) -> None:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="delete")
        self.url = self._server.get_uri()
        migrations.apply_schema(self.url)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut)."""
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        """Start the stopped server again, on the same URL; returns once it accepts connections."""
        self._server.ensure_postgres_running()

    def restart(self) -> None:
        """Stop the server and start it again."""
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server and delete its data."""
        self._server.cleanup()


class ErrorLog(HTTPAdapter):
    """An adapter that records every failed attempt (status >= 500, 409, or exception) with its time."""

    def __init__(self, errors: list[tuple[float, str]]) -> None:
        super().__init__()
        self.errors = errors

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]  # passes requests' keywords through
        try:
            response = super().send(request, **kwargs)
        except requests.ConnectionError:
            self.errors.append((time.monotonic(), "ConnectionError"))
            raise
        except requests.RequestException as exc:
            self.errors.append((time.monotonic(), type(exc).__name__))
            raise
        if response.status_code >= 500 or response.status_code == 409:
            self.errors.append((time.monotonic(), str(response.status_code)))
        return response
