"""Which database the benchmark runs on, emptied and with the schema freshly applied."""

from __future__ import annotations

import os

import psycopg2

from app import embedded
from app.config import normalize_database_url
from harness.database import execute, recreate_schema

from . import DATA_DIR

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/"
BENCH_DATABASE = "session_backend_bench"


def _local_database() -> str | None:
    """The bench database on the machine's PostgreSQL (created if missing), or None if there is none."""
    try:
        exists = execute(LOCAL_SERVER + "postgres", "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DATABASE,))
    except psycopg2.OperationalError:
        return None
    if not exists:
        execute(LOCAL_SERVER + "postgres", f"CREATE DATABASE {BENCH_DATABASE}")
    return LOCAL_SERVER + BENCH_DATABASE


def database_url() -> tuple[str, str]:
    """A database with an empty, freshly applied schema, and where it comes from.

    TEST_DATABASE_URL if set, else the machine's PostgreSQL (database session_backend_bench),
    else an embedded PostgreSQL under .data/bench-postgres.
    """
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        url, source = normalize_database_url(configured), "TEST_DATABASE_URL"
    else:
        url, source = _local_database(), f"local PostgreSQL, database {BENCH_DATABASE}"
        if url is None:
            url, source = embedded.start(DATA_DIR / "bench-postgres"), "embedded PostgreSQL (pgserver)"
    recreate_schema(url)
    return url, source
