"""Distributing the schema over a Citus cluster: what `session-backend init-db --distributed` adds.

Run on the coordinator after the migrations. Every table with a ``session_id`` column is distributed
by it, co-located with ``sessions``, so a session's rows (its agents, messages, multi-agent state) sit
on one shard and each request is routed to one worker. ``api_keys`` is small and read by every request's
key check, so it is a reference table: a copy on every node, which a shard query may join; so is
``namespace_settings`` (migration 0007), which a create reads for its namespace's default TTL.
``storage_objects`` is distributed by its ``scope`` (the key's session segment, app/storage_keys.py):
a session's snapshots share a shard, but scope is bytea and session_id varchar, and Citus co-locates
only columns of one type, so the byte store is a co-location group of its own. No query joins it with
the session tables, so nothing needs them on one node. ``schema_migrations`` stays on the coordinator,
the only node that reads it. The functions the queries call are distributed too, so every node has
them and the coordinator re-creates them everywhere when functions.sql is re-applied.

Every step first asks the catalog whether it was done, so running it again changes nothing. The SQL is
sql/distribution.sql's.
"""

from __future__ import annotations

import psycopg2

from .db import CONNECT_TIMEOUT_SECONDS, queries

# The table whose co-location group every session-scoped table joins; it is distributed first.
SESSIONS = "sessions"
SESSION_COLUMN = "session_id"
# Tables that are not scoped by session: the keys and namespace settings, copied to every node; the byte
# store, by scope.
REFERENCE_TABLES = ("api_keys", "namespace_settings")
OWN_GROUP_TABLES = {"storage_objects": "scope"}
# Kept on the coordinator (read by init-db and the health check only).
COORDINATOR_TABLES = ("schema_migrations",)
# Functions an index of a session table is built with (migration 0009's message search): each shard's
# index is created on its worker, which must have them first. They read no table.
INDEX_FUNCTIONS = ("message_search_json", "message_search_text", "message_search_vector")


class NotCitusError(RuntimeError):
    """The database is not a Citus coordinator: the citus extension is missing or has no workers."""


def _citus_tables(conn: psycopg2.extensions.connection) -> dict[str, str]:
    """The tables Citus already manages in the current schema: ``{name: 'distributed' | 'reference'}``."""
    return dict(queries.citus_tables(conn))


def is_citus(conn: psycopg2.extensions.connection) -> bool:
    """Whether the connected database has the citus extension."""
    return bool(queries.has_citus(conn))


def is_distributed(conn: psycopg2.extensions.connection) -> bool:
    """Whether ``sessions`` is already a distributed table here (a schema `init-db` keeps distributed)."""
    return is_citus(conn) and _citus_tables(conn).get(SESSIONS) == "distributed"


def _session_tables(conn: psycopg2.extensions.connection) -> list[str]:
    """Tables with a session_id column: sessions, then parents before the tables whose foreign keys point at them."""
    parents = {name: set(refs) for name, refs in queries.session_scoped_tables(conn, session_column=SESSION_COLUMN)}
    ordered: list[str] = []
    while parents:
        # sessions first: the others join its co-location group, foreign key to it or not (session_leases).
        ready = sorted(
            (name for name, refs in parents.items() if refs <= set(ordered)), key=lambda n: (n != SESSIONS, n)
        )
        if not ready:
            raise RuntimeError(f"foreign keys form a cycle among {sorted(parents)}")
        ordered += ready
        for name in ready:
            del parents[name]
    return ordered


def _distribute_functions(conn: psycopg2.extensions.connection, functions: list[str]) -> list[str]:
    """Mark the named functions distributed (Citus creates them on every node); return those it marked."""
    marked = [signature for (signature,) in queries.undistributed_functions(conn, names=functions)]
    for signature in marked:
        queries.distribute_function(conn, signature=signature)
    return marked


def distribute(url: str, functions: list[str]) -> list[str]:
    """Distribute the schema at ``url`` (a Citus coordinator) and the named functions; return what it did.

    Raises:
        NotCitusError: the database lacks the citus extension or has no active worker.
    """
    done = []
    conn = psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        conn.autocommit = True  # create_distributed_table copies existing rows; each step commits alone.
        if not is_citus(conn):
            raise NotCitusError("the database has no citus extension: run CREATE EXTENSION citus first")
        if not queries.has_active_workers(conn):
            raise NotCitusError("the Citus coordinator has no active worker: add them with citus_add_node")
        managed = _citus_tables(conn)
        for table in REFERENCE_TABLES:
            if table not in managed:
                queries.create_reference_table(conn, table_name=table)
                done.append(f"{table} (reference)")
        done += [f"function {name}" for name in _distribute_functions(conn, list(INDEX_FUNCTIONS))]
        for table in _session_tables(conn):
            if table in managed:
                continue
            colocate = "none" if table == SESSIONS else SESSIONS
            queries.create_distributed_table(conn, table_name=table, column_name=SESSION_COLUMN, colocate_with=colocate)
            done.append(f"{table} (by {SESSION_COLUMN})")
        for table, column in OWN_GROUP_TABLES.items():
            if table not in managed:
                queries.create_distributed_table(conn, table_name=table, column_name=column, colocate_with="none")
                done.append(f"{table} (by {column})")
        done += [f"function {name}" for name in _distribute_functions(conn, functions)]
    finally:
        conn.close()
    return done
