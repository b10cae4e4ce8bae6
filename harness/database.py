"""The service's database as the tests and the benchmark set it up: one statement at a time, tables from scratch."""

from __future__ import annotations

import psycopg2
from psycopg2 import sql as psql

from app import migrations

# Every table of stored data, children first; what a test starts without (api_keys too, so a test
# runs unauthenticated unless it creates keys).
TABLES = ("storage_objects", "multi_agents", "session_messages", "session_agents", "sessions", "api_keys")
# The schema's record of applied migrations: kept when the data is emptied, dropped with the schema.
MIGRATIONS_TABLE = "schema_migrations"


def execute(url: str, sql: str | psql.Composable, params: tuple | None = None) -> list[tuple]:
    """Run one statement on its own autocommit connection and return its rows (if any)."""
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def recreate_schema(url: str) -> None:
    """Drop every table the service owns and apply the schema from scratch."""
    execute(url, f"DROP TABLE IF EXISTS {', '.join(TABLES)}, {MIGRATIONS_TABLE} CASCADE")
    migrations.apply_schema(url)
