"""Exporting a namespace, or one session, as NDJSON: one record a line, built by PostgreSQL.

The order is fixed, so two databases holding the same records export the same bytes: sessions by id,
each followed by its agents by id (each agent followed by its messages by message_id) and its
multi-agent states by id; then the byte-store objects by key (one session's: those of its scope).
Every query reads one keyset page (sql/transfer.sql), so memory stays the same for any size, and all
of them run in one REPEATABLE READ, READ ONLY transaction: the export is one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ, connection

from .db import queries

PAGE = 500
# Below every message id: the first page of messages starts after it.
_BEFORE_FIRST_MESSAGE = -1


@contextmanager
def snapshot(conn: connection) -> Iterator[connection]:
    """Run the block in one REPEATABLE READ, READ ONLY transaction on ``conn``, then give ``conn`` back
    in autocommit mode, as the pool hands it out."""
    conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True, autocommit=False)
    try:
        yield conn
    finally:
        if not conn.closed:
            conn.rollback()
            conn.set_session(isolation_level="default", readonly="default", autocommit=True)


def _pages(read: Callable[..., Iterable[tuple[Any, str]]], after: Any, **params: Any) -> Iterator[tuple[Any, str]]:
    """Every ``(key, line)`` of a keyset query, a page at a time."""
    while True:
        rows = list(read(limit=PAGE, after=after, **params))
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def export_lines(conn: connection, namespace: str, session_id: str | None = None) -> Iterator[str]:
    """The NDJSON lines (without line ends) of ``namespace``, or of one session of it."""
    with snapshot(conn):
        by = {"conn": conn, "namespace": namespace}
        for found_id, line in _pages(queries.export_sessions, None, **by, session_id=session_id):
            yield line
            yield from _session_children(by, found_id)
        scope = None if session_id is None else session_id.encode("utf-8")
        for _, line in _pages(_object_page, None, **by, scope=scope):
            yield line


def _session_children(by: dict[str, Any], session_id: str) -> Iterator[str]:
    for agent_id, line in _pages(queries.export_agents, None, **by, session_id=session_id):
        yield line
        for _, message in _pages(
            queries.export_messages, _BEFORE_FIRST_MESSAGE, **by, session_id=session_id, agent_id=agent_id
        ):
            yield message
    for _, line in _pages(queries.export_multi_agents, None, **by, session_id=session_id):
        yield line


def _object_page(*, after: Any, **params: Any) -> list[tuple[Any, str]]:
    # psycopg2 reads bytea as memoryview; a key goes back in as bytes.
    rows = queries.export_objects(after=None if after is None else bytes(after), **params)
    return [(bytes(key), line) for key, line in rows]
