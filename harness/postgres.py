"""A PostgreSQL of a test's or the soak's own (pgserver), which it may stop, start and restart
without disturbing the database everyone else runs on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pgserver

from app import migrations


class OwnPostgres:
    """A fresh PostgreSQL in ``data_dir`` (emptied first), with the schema applied.

    ``data_dir`` must not be under pytest's 0700 temp dir: pgserver runs postgres as another user
    when started as root.
    """

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
        if self._server.get_uri() != self.url:
            raise RuntimeError(f"PostgreSQL came back at {self._server.get_uri()}, not {self.url}")

    def restart(self) -> None:
        """Stop the server and start it again."""
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server and delete its data."""
        self._server.cleanup()
