"""The service's database as the tests and the benchmark set it up: one statement at a time, tables from scratch."""

from __future__ import annotations

import psycopg2
from psycopg2 import sql as psql

from app import migrations

# Every table of stored data, children first; what a test starts without (api_keys too, so a test
# runs unauthenticated unless it creates keys).
TABLES = (
    "archived_messages",
    "agent_rewinds",
    "session_leases",
    "storage_objects",
    "multi_agents",
    "session_messages",
    "session_agents",
    "sessions",
    "api_keys",
    "namespace_settings",
)
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


def empty_tables(url: str) -> None:
    """Empty every table of stored data (the schema and its migrations stay).

    TRUNCATE on a Citus cluster locks and truncates every shard with a two-phase commit on each node,
    about a second here per test; deleting the few rows a test leaves, children first, in one
    transaction takes a quarter of that. A single PostgreSQL keeps TRUNCATE, which is quicker there.
    """
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
            if cur.fetchone()[0]:
                for table in TABLES:
                    cur.execute(f"DELETE FROM {table}")
            else:
                cur.execute(f"TRUNCATE {', '.join(TABLES)}")
    finally:
        conn.close()


def recreate_schema(url: str) -> None:
    """Drop every table the service owns and apply the schema from scratch.

    On a Citus coordinator the new schema is distributed as `init-db --distributed` does it. Once per
    run: between tests the tables are emptied with TRUNCATE, which is quick on distributed tables too.
    """
    execute(url, f"DROP TABLE IF EXISTS {', '.join(TABLES)}, {MIGRATIONS_TABLE} CASCADE")
    migrations.apply_schema(url)
    if execute(url, "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")[0][0]:
        migrations.distribute_schema(url, required=True)
