"""Database access: one pooled connection per request, named queries loaded from sql/.

Shaped like flaskr's db.py: ``get_db`` hands out the request's connection and ``close_db`` returns
it at teardown. Applying the schema is app/migrations.py's job. This module imports no other of the
app's but config, so the pool, the migrations and the embedded server import each other in a line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import aiosql
import psycopg2
from flask import Flask, current_app, g
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from .config import settings_of
from .pool import ConnectionPool

# A wheel carries the SQL inside the package; a source checkout keeps it beside app/.
_PACKAGED_SQL = Path(__file__).parent / "sql"
SQL_DIR = _PACKAGED_SQL if _PACKAGED_SQL.is_dir() else Path(__file__).parent.parent / "sql"

queries = aiosql.from_path(SQL_DIR, "psycopg2")

# Fail fast instead of hanging a worker thread when the database host is unreachable.
CONNECT_TIMEOUT_SECONDS = 5

_pool_lock = threading.Lock()


class DatabaseURL:
    """The one place an app keeps its database's URL: DATABASE_URL, or else the URL ``start`` returns
    when the database is first needed (the embedded server: building an app starts nothing)."""

    def __init__(self, configured: str | None, start: Callable[[], str]) -> None:
        self._url = configured
        self._start = start
        self._lock = threading.Lock()

    def get(self) -> str:
        """The URL, starting the database on the first call when none was configured."""
        with self._lock:
            if self._url is None:
                self._url = self._start()
            return self._url


def database_url(app: Flask) -> str:
    """The URL of the database ``app`` uses, starting the embedded server if that is the one."""
    holder: DatabaseURL = app.extensions["database_url"]
    return holder.get()


def _pool() -> ConnectionPool:
    """Return this process's pool, creating it on first use.

    The pool is created lazily and keyed by process id, so a pool made before gunicorn forks is
    never shared with a worker.
    """
    pool: ConnectionPool | None = current_app.extensions.get("db_pool")
    if pool is not None and pool.pid == os.getpid():
        return pool
    with _pool_lock:
        pool = current_app.extensions.get("db_pool")
        if pool is None or pool.pid != os.getpid():
            settings = settings_of(current_app)
            # psycopg2 keeps at most `minconn` idle connections and closes the rest on return,
            # so DB_POOL_MIN is the number of connections kept warm between requests.
            pool = ConnectionPool(
                settings.db_pool_min,
                settings.db_pool_max,
                database_url(current_app),
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
            current_app.extensions["db_pool"] = pool
    return pool


def get_db() -> psycopg2.extensions.connection:
    """Return the request's connection, taking one from the pool on first use.

    Connections run in autocommit mode: every view executes exactly one statement, so each
    request is one transaction without the extra BEGIN/COMMIT round trips.
    """
    conn: psycopg2.extensions.connection | None = g.get("db")
    if conn is None:
        conn = _pool().getconn()
        if conn.autocommit is False:
            conn.autocommit = True
        g.db = conn
    return conn


def close_db(error: BaseException | None = None) -> None:
    """Return the request's connection to the pool, discarding it if it is broken."""
    conn = g.pop("db", None)
    if conn is None:
        return
    broken = conn.closed != 0
    if not broken and conn.info.transaction_status != TRANSACTION_STATUS_IDLE:
        try:
            conn.rollback()
        except psycopg2.Error:
            broken = True
    pool = _pool()
    pool.putconn(conn, close=broken)
    if broken:
        pool.discard_idle()


def close_pool(app: Flask) -> None:
    """Close every pooled connection of ``app`` (used at shutdown and by tests)."""
    pool = app.extensions.pop("db_pool", None)
    if pool is not None and not pool.closed:
        pool.closeall()


def init_app(app: Flask, url: DatabaseURL) -> None:
    """Make ``url`` the database of ``app`` and return each request's connection at teardown."""
    app.extensions["database_url"] = url
    app.teardown_appcontext(close_db)
