"""Database access: one pooled connection per request, named queries loaded from sql/.

Shaped like flaskr's db.py: ``get_db`` hands out the request's connection, ``close_db`` returns it
at teardown, ``init_db`` applies the schema, and ``init-db`` is the command that runs it.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from pathlib import Path

import aiosql
import click
import psycopg2
from flask import Flask, current_app, g
from flask.cli import with_appcontext

from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from .pool import ConnectionPool

# A wheel carries the SQL inside the package; a source checkout keeps it beside app/.
_PACKAGED_SQL = Path(__file__).parent / "sql"
SQL_DIR = _PACKAGED_SQL if _PACKAGED_SQL.is_dir() else Path(__file__).parent.parent / "sql"

queries = aiosql.from_path(SQL_DIR, "psycopg2")

# schema.sql is a psql script of `\ir` lines; migrations/NNNN_name.sql are versioned.
_INCLUDE = re.compile(r"^\\ir\s+(\S+)\s*$")
_MIGRATION_VERSION = re.compile(r"^migrations/(\d+)_[\w-]+\.sql$")
_FUNCTION = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(", re.MULTILINE | re.IGNORECASE)

# What the service says, at start and on /health/ready, when the database lacks part of the schema.
SCHEMA_OUT_OF_DATE = "schema out of date: run `session-backend init-db`"

# Fail fast instead of hanging a worker thread when the database host is unreachable.
CONNECT_TIMEOUT_SECONDS = 5

_pool_lock = threading.Lock()


def database_url(app: Flask) -> str:
    """The app's DATABASE_URL; without one, the embedded PostgreSQL's, started on first need."""
    if not app.config["DATABASE_URL"]:
        from . import embedded

        app.config["DATABASE_URL"] = embedded.start(app.config["SETTINGS"].embedded_data_dir)
    return app.config["DATABASE_URL"]


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
                database_url(current_app),
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


def _schema_steps() -> list[tuple[str | None, Path]]:
    """The files sql/schema.sql includes, in order, each with its migration version (None if unversioned)."""
    steps = []
    for line in (SQL_DIR / "schema.sql").read_text(encoding="utf-8").splitlines():
        include = _INCLUDE.match(line)
        if include:
            versioned = _MIGRATION_VERSION.match(include.group(1))
            steps.append((versioned.group(1) if versioned else None, SQL_DIR / include.group(1)))
    return steps


@functools.cache
def _required_schema() -> tuple[int, list[str]]:
    """The latest migration version this code ships, and the functions its queries call."""
    steps = _schema_steps()
    latest = max(int(version) for version, _ in steps if version is not None)
    # The unversioned steps (functions.sql) hold the functions, re-created by every init-db.
    functions = set()
    for version, path in steps:
        if version is None:
            functions.update(_FUNCTION.findall(path.read_text(encoding="utf-8")))
    return latest, sorted(functions)


def schema_is_current(conn: psycopg2.extensions.connection) -> bool:
    """Whether the database has every migration and function this code needs (one or two cheap queries).

    A database with a newer migration than this code counts as current: during a rolling upgrade
    the new release's init-db runs while the old release still serves.

    Raises:
        psycopg2.Error: the database did not answer.
    """
    latest, functions = _required_schema()
    has_migrations_table, functions_present = queries.schema_catalog(conn, functions=functions)
    if not has_migrations_table or functions_present != len(functions):
        return False
    recorded = queries.latest_migration(conn)
    return recorded is not None and int(recorded) >= latest


def apply_schema(url: str) -> list[str]:
    """Bring the database at ``url`` up to date; return the migration versions applied.

    Runs what sql/schema.sql includes, as psql would, but skips migrations the database has
    recorded; each file runs in a transaction of its own.
    """
    applied_now = []
    conn = psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        with conn:
            present = queries.migrations_table_exists(conn)
            recorded = {row[0] for row in queries.applied_migrations(conn)} if present else set()
        for version, path in _schema_steps():
            if version in recorded:
                continue
            with conn, conn.cursor() as cur:
                cur.execute(path.read_text(encoding="utf-8"))
            if version is not None:
                applied_now.append(version)
    finally:
        conn.close()
    return applied_now


def init_db() -> list[str]:
    """Apply the migrations the database is missing; return their versions."""
    return apply_schema(database_url(current_app))


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Apply the schema's missing migrations to DATABASE_URL (safe to run again)."""
    applied = init_db()
    click.echo(f"Applied migrations: {', '.join(applied)}." if applied else "The database is up to date.")


def init_app(app: Flask) -> None:
    """Register the connection teardown and the ``init-db`` command with ``app``."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
