"""Schema application: the migrations sql/schema.sql lists, applied to a database that lacks them.

Below the embedded server (which applies them to the database it starts) and above the pool
(whose named queries it uses), so db, migrations and embedded import each other in a line.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import click
import psycopg2
from flask import current_app
from flask.cli import with_appcontext

from . import distribution
from .db import CONNECT_TIMEOUT_SECONDS, SQL_DIR, database_url, queries

# schema.sql is a psql script of `\ir` lines; migrations/NNNN_name.sql are versioned.
_INCLUDE = re.compile(r"^\\ir\s+(\S+)\s*$")
_MIGRATION_VERSION = re.compile(r"^migrations/(\d+)_[\w-]+\.sql$")
# A function's name and its parameter list (`name type, ...`, no nested parentheses in functions.sql).
_FUNCTION = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(([^)]*)\)", re.MULTILINE | re.IGNORECASE)

# What the service says, at start and on /health/ready, when the database lacks part of the schema.
SCHEMA_OUT_OF_DATE = "schema out of date: run `session-backend init-db`"


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
    """The latest migration version this code ships, and the signatures of the functions its queries call.

    Signatures, not names: a name can have two forms (caller_namespace), and a release that had only
    one of them is behind.
    """
    steps = _schema_steps()
    latest = max(int(version) for version, _ in steps if version is not None)
    # The unversioned steps (functions.sql) hold the functions, re-created by every init-db.
    functions = set()
    for version, path in steps:
        if version is None:
            for name, parameters in _FUNCTION.findall(path.read_text(encoding="utf-8")):
                types = [" ".join(p.split()[1:]) for p in parameters.split(",") if p.strip()]
                functions.add(f"{name}({', '.join(types)})")
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
    """Apply the migrations the current app's database is missing; return their versions."""
    return apply_schema(database_url(current_app))


def distribute_schema(url: str, *, required: bool) -> list[str]:
    """Distribute the schema at ``url`` over its Citus cluster when ``required`` or already distributed.

    A schema that is distributed stays so: a table a later migration adds is distributed by the next
    `init-db` even without ``--distributed``. Returns what was distributed now (nothing on a re-run).

    Raises:
        distribution.NotCitusError: ``required`` and the database is not a Citus coordinator.
    """
    if not required:
        conn = psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            with conn:
                if not distribution.is_distributed(conn):
                    return []
        finally:
            conn.close()
    names = sorted({signature.split("(")[0] for signature in _required_schema()[1]})
    return distribution.distribute(url, names)


@click.command("init-db")
@click.option(
    "--distributed",
    is_flag=True,
    help="Also distribute the tables over the Citus cluster DATABASE_URL names (its coordinator).",
)
@with_appcontext
def init_db_command(distributed: bool) -> None:
    """Apply the schema's missing migrations to DATABASE_URL (safe to run again).

    With --distributed, then distribute the tables by session_id over the Citus cluster whose
    coordinator DATABASE_URL names, and create the SQL functions on every node.
    """
    applied = init_db()
    click.echo(f"Applied migrations: {', '.join(applied)}." if applied else "The database is up to date.")
    try:
        done = distribute_schema(database_url(current_app), required=distributed)
    except distribution.NotCitusError as exc:
        raise click.ClickException(str(exc)) from None
    if done:
        click.echo(f"Distributed: {', '.join(done)}.")
    elif distributed:
        click.echo("The schema is already distributed.")
