"""Where a 1,000-message snapshot's save and restore spend their time in PostgreSQL and psycopg2.

Each part timed alone on the bench database (p50 of 15): how the value travels into a statement (a
hex bytea literal, as psycopg2 sends ``bytes``, or a text literal), the work the write does on it
(sha256, the search vector of the whole text and of its indexed first 16,384 characters, storing it
compressed with pglz or lz4) and how it comes back (bytea or text). The parts on the value inside the
server read it from a temporary table, so no transfer is counted twice; temporary tables write no
WAL, so ``store_*`` is the compression (and the copy) alone. bench/RESULTS.md quotes it.

Run: ``PYTHONPATH=client:examples/session_agent .venv/bin/python -m bench.storage_parts``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import psycopg2

from .database import database_url
from .stats import percentile
from .storage import snapshot_bytes

REPEATS = 15
# parts_value keeps the value uncompressed (STORAGE EXTERNAL): PostgreSQL copies an already compressed
# value as it is, so storing from a compressed one would time no compression at all.
SETUP = """
CREATE TEMP TABLE parts_value (data bytea);
ALTER TABLE parts_value ALTER COLUMN data SET STORAGE EXTERNAL;
INSERT INTO parts_value VALUES (%s::bytea);
CREATE TEMP TABLE parts_pglz (id integer PRIMARY KEY, data bytea COMPRESSION pglz);
CREATE TEMP TABLE parts_lz4 (id integer PRIMARY KEY, data bytea)
"""
STORE = "INSERT INTO {table} SELECT 1, data FROM parts_value ON CONFLICT (id) DO UPDATE SET data = excluded.data"


def _p50_ms(call: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(percentile(times, 50) * 1000, 2)


def measure(url: str, data: bytes) -> dict[str, float | None]:
    """p50 ms of each part for ``data`` (UTF-8 JSON) on the database at ``url``; lz4 None without it."""
    text = data.decode("utf-8")
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(SETUP, (data,))
        lz4 = True
        try:
            cur.execute("ALTER TABLE parts_lz4 ALTER COLUMN data SET COMPRESSION lz4")
        except psycopg2.errors.FeatureNotSupported:
            lz4 = False

        def run(sql: str, params: tuple[Any, ...] | None = None) -> Callable[[], Any]:
            return lambda: (cur.execute(sql, params), cur.fetchall())

        parts: dict[str, float | None] = {
            "send_as_hex_bytea": _p50_ms(run("SELECT length(%s::bytea)", (data,))),
            "send_as_text": _p50_ms(run("SELECT length(%s::text)", (text,))),
            "sha256": _p50_ms(run("SELECT sha256(data) FROM parts_value")),
            "utf8_check": _p50_ms(run("SELECT length(convert_from(data, 'UTF8')) FROM parts_value")),
            "to_tsvector_whole_text": _p50_ms(
                run("SELECT length(to_tsvector('simple', convert_from(data, 'UTF8'))) FROM parts_value")
            ),
            "storage_search_vector": _p50_ms(run("SELECT length(storage_search_vector(data)) FROM parts_value")),
            "store_pglz": _p50_ms(lambda: cur.execute(STORE.format(table="parts_pglz"))),
            "store_lz4": _p50_ms(lambda: cur.execute(STORE.format(table="parts_lz4"))) if lz4 else None,
            "fetch_as_bytea": _p50_ms(lambda: (cur.execute("SELECT data FROM parts_pglz"), bytes(cur.fetchone()[0]))),
            "fetch_as_text": _p50_ms(
                lambda: (
                    cur.execute("SELECT convert_from(data, 'UTF8') FROM parts_pglz"),
                    cur.fetchone()[0].encode("utf-8"),
                )
            ),
        }
    finally:
        with contextlib.suppress(psycopg2.Error):
            conn.close()
    return parts


def main() -> None:
    """Print each part's p50 for the 1,000-message snapshot on a fresh bench database."""
    url, source = database_url()
    data = snapshot_bytes(1_000)
    print(f"1,000-message snapshot, {len(data):,} bytes, on {source}; p50 of {REPEATS}, ms")
    for name, ms in measure(url, data).items():
        print(f"{name:26s} {'n/a (no lz4)' if ms is None else f'{ms:8.2f}'}")


if __name__ == "__main__":
    main()
