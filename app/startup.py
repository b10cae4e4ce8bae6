"""What a server says once when it starts: the start-up checks' warnings, then one banner.

gunicorn's master runs :func:`announce` (gunicorn.conf.py, ``when_ready``) before it forks any
worker. It builds the app once, so ``auth.check_at_start`` logs its warnings there; each worker
still runs the check when it loads the app (seeding API_KEYS, refusing production without keys),
but a warning its master already logged is not repeated once per worker.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
from flask import Flask

from . import create_app, embedded
from .config import DEFAULT_EMBEDDED_DATA_DIR, ConfigurationError, Settings, settings_of
from .db import close_pool, get_db, queries
from .migrations import SCHEMA_OUT_OF_DATE, schema_is_current
from .version import VERSION


def authentication_state(conn: psycopg2.extensions.connection, settings: Settings) -> str:
    """Say whether API requests need a key: the one place the banner's rule lives."""
    if settings.auth_disabled:
        return "off (AUTH_DISABLED=true): every request shares the 'default' namespace"
    if not (settings.production or queries.keys_required(conn)):
        return "off until the first key: create one with `session-backend keys create --namespace NAME`"
    if queries.any_active_api_key(conn):
        return "on: API requests need a key (Authorization: Bearer <key>)"
    return "on, with no active key: every API request gets 401 until `session-backend keys create --namespace NAME`"


class _Collect(logging.Handler):
    """Keeps the warnings logged while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _SaidByTheMaster(logging.Filter):
    """Drops a warning the gunicorn master already logged at start; workers inherit it with the fork."""

    def __init__(self, messages: set[str]) -> None:
        super().__init__()
        self._messages = messages

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING or record.getMessage() not in self._messages


def _database_line(settings: Settings, data_dir: Path | None) -> str:
    if data_dir is not None:
        return f"embedded PostgreSQL, data in {data_dir.resolve()}"
    parts = urlsplit(settings.database_url or "")
    # Never the password: host, port and database name are enough to know which database it is.
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"DATABASE_URL: {host}{port}{parts.path or '/'}"


def _psql_line(data_dir: Path | None) -> str:
    if data_dir is None:
        return 'psql "$DATABASE_URL"'
    if data_dir.resolve() == DEFAULT_EMBEDDED_DATA_DIR.resolve():
        return "make psql"
    return f"EMBEDDED_PGDATA={data_dir} make psql"


def _url(listener: str) -> str:
    # A server on every interface is reached, from this machine, on localhost.
    for wildcard in ("//0.0.0.0:", "//[::]:"):
        if wildcard in listener:
            return listener.replace(wildcard, "//localhost:") + "  (listening on every interface)"
    return listener


def _state(app: Flask) -> tuple[str | None, str]:
    """(why the service is not ready or None, the authentication line), from one look at the database."""
    settings: Settings = settings_of(app)
    try:
        with app.app_context():
            conn = get_db()
            if not schema_is_current(conn):
                return SCHEMA_OUT_OF_DATE, "unknown until the schema is up to date"
            return None, authentication_state(conn, settings)
    except psycopg2.Error:
        return "database unreachable", "unknown while the database is unreachable"


def banner(listeners: list[str], settings: Settings, data_dir: Path | None, not_ready: str | None, auth: str) -> str:
    """The lines printed once the server listens: where it is, its data, psql, and authentication."""
    url = _url(listeners[0]) if listeners else "(no listener)"
    base = url.split()[0]
    status = "is ready" if not_ready is None else f"is running but NOT READY: {not_ready}"
    rule = "=" * 72
    lines = [
        rule,
        f" session-backend {VERSION} {status}",
        f"   API       {url}",
        f"   Docs      {base}/docs",
        f"   Database  {_database_line(settings, data_dir)}",
        f"   psql      {_psql_line(data_dir)}",
        f"   Auth      {auth}",
        "   Stop      Ctrl-C" + (" (the embedded PostgreSQL stops with the service)" if data_dir else ""),
        rule,
    ]
    return "\n".join(lines)


def announce(listeners: list[str]) -> None:
    """Run the start-up checks once (their warnings are logged here) and print the banner to stderr.

    Raises:
        RuntimeError: the checks refuse to serve (production without API keys, an unusable setting);
            gunicorn prints it and exits 1 before starting any worker.
    """
    said = _Collect()
    logging.getLogger().addHandler(said)
    try:
        app = create_app()  # runs auth.check_at_start
    except ConfigurationError as exc:
        raise RuntimeError(str(exc)) from None
    finally:
        logging.getLogger().removeHandler(said)
    try:
        not_ready, auth = _state(app)
    finally:
        close_pool(app)  # the workers open their own; none of these connections may cross a fork
    repeated = _SaidByTheMaster({record.getMessage() for record in said.records})
    for name in {record.name for record in said.records}:
        logging.getLogger(name).addFilter(repeated)
    lines = banner(listeners, settings_of(app), embedded.running_data_dir(), not_ready, auth)
    print(lines, file=sys.stderr, flush=True)
