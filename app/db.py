"""Database access: one pooled connection per request, named queries loaded from sql/.

Shaped like flaskr's db.py: ``get_db`` hands out the request's connection, ``close_db`` returns it
at teardown, ``init_db`` applies the schema, and ``init-db`` is the command that runs it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import aiosql
import click
import psycopg2
from flask import Flask, current_app, g
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from psycopg2.pool import PoolError, ThreadedConnectionPool

# A wheel carries the SQL inside the package; a source checkout keeps it beside app/.
_PACKAGED_SQL = Path(__file__).parent / "sql"
SQL_DIR = _PACKAGED_SQL if _PACKAGED_SQL.is_dir() else Path(__file__).parent.parent / "sql"

queries = aiosql.from_path(SQL_DIR, "psycopg2")

# Fail fast instead of hanging a worker thread when the database host is unreachable.
CONNECT_TIMEOUT_SECONDS = 5
# How long a request waits for a pooled connection before answering 503.
CHECKOUT_TIMEOUT_SECONDS = 10

_pool_lock = threading.Lock()


class ConnectionPool(ThreadedConnectionPool):
    """A thread-safe pool whose ``getconn`` waits for a free connection instead of failing at once,
    and that can drop its idle connections when the server has gone away."""

    def __init__(self, minconn: int, maxconn: int, *args, **kwargs) -> None:
        self._available = threading.BoundedSemaphore(maxconn)
        super().__init__(minconn, maxconn, *args, **kwargs)

    def getconn(self, key=None):
        """Take a connection, waiting up to CHECKOUT_TIMEOUT_SECONDS for one to be returned."""
        if not self._available.acquire(timeout=CHECKOUT_TIMEOUT_SECONDS):
            raise PoolError("no database connection became free in time")
        try:
            return super().getconn(key)
        except BaseException:
            self._available.release()
            raise

    def putconn(self, conn=None, key=None, close=False) -> None:
        """Return a connection (closing it when ``close``) and wake one waiting request."""
        try:
            super().putconn(conn, key, close)
        finally:
            self._available.release()

    def discard_idle(self) -> None:
        """Close every idle connection: after one fails, its siblings point at the same dead server."""
        with self._lock:
            idle, self._pool = self._pool, []
        for conn in idle:
            conn.close()


def _pool() -> ConnectionPool:
    """Return this process's pool, creating it on first use.

    The pool is created lazily and keyed by process id, so a pool made before gunicorn forks is
    never shared with a worker.
    """
    pool = current_app.extensions.get("db_pool")
    if pool is not None and pool.pid == os.getpid():
        return pool
    with _pool_lock:
        pool = current_app.extensions.get("db_pool")
        if pool is None or pool.pid != os.getpid():
            settings = current_app.config["SETTINGS"]
            # psycopg2 keeps at most `minconn` idle connections and closes the rest on return,
            # so DB_POOL_MIN is the number of connections kept warm between requests.
            pool = ConnectionPool(
                settings.db_pool_min,
                settings.db_pool_max,
                current_app.config["DATABASE_URL"],
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
            pool.pid = os.getpid()
            current_app.extensions["db_pool"] = pool
    return pool


def get_db() -> psycopg2.extensions.connection:
    """Return the request's connection, taking one from the pool on first use.

    Connections run in autocommit mode: every view executes exactly one statement, so each
    request is one transaction without the extra BEGIN/COMMIT round trips.
    """
    if "db" not in g:
        conn = _pool().getconn()
        if conn.autocommit is False:
            conn.autocommit = True
        g.db = conn
    return g.db


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


def apply_schema(database_url: str) -> None:
    """Apply sql/schema.sql to the database at ``database_url`` (idempotent)."""
    schema = (SQL_DIR / "schema.sql").read_text(encoding="utf-8")
    with psycopg2.connect(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        with conn.cursor() as cur:
            cur.execute(schema)
    conn.close()


def init_db() -> None:
    """Create the tables and functions the service needs, if they are missing."""
    apply_schema(current_app.config["DATABASE_URL"])


@click.command("init-db")
def init_db_command() -> None:
    """Apply the schema to DATABASE_URL (safe to run again)."""
    init_db()
    click.echo("Initialized the database.")


def init_app(app: Flask) -> None:
    """Register the connection teardown and the ``init-db`` command with ``app``."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
