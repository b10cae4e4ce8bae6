"""The floor: the same work done directly with psycopg2 on persistent connections.

One ``BEGIN; INSERT ~1 KB jsonb; COMMIT`` per message, a ``SELECT`` of 100 messages, and the rate of
16 connections inserting at once. Every speed figure of the service is divided by these, measured in
the same run on the same database, so results compare across machines.
"""

from __future__ import annotations

import threading
import time

import psycopg2
from psycopg2.extras import Json

from harness.database import execute

from .stats import MESSAGE, latency_summary

TABLE_DDL = """
DROP TABLE IF EXISTS bench_floor;
CREATE TABLE bench_floor (
    session_id varchar(255) NOT NULL, agent_id varchar(255) NOT NULL, message_id integer NOT NULL,
    message jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, agent_id, message_id))
"""
INSERT = "INSERT INTO bench_floor (session_id, agent_id, message_id, message) VALUES (%s, %s, %s, %s)"
SELECT = """SELECT message_id, message, created_at FROM bench_floor
            WHERE session_id = %s AND agent_id = %s ORDER BY message_id LIMIT 100"""


def prepare(url: str) -> None:
    """Create an empty floor table."""
    execute(url, TABLE_DDL)


def single_insert_and_select(url: str, run: int, count: int) -> dict[str, dict[str, float]]:
    """Latency of one transaction per insert, and of selecting 100 messages, on one connection."""
    conn = psycopg2.connect(url)
    inserts, selects = [], []
    session = f"floor-seq-{run}"
    with conn.cursor() as cur:
        for i in range(count):
            started = time.perf_counter()
            cur.execute(INSERT, (session, "a", i, Json(MESSAGE)))  # psycopg2 sends BEGIN first
            conn.commit()
            inserts.append(time.perf_counter() - started)
        for _ in range(count):
            started = time.perf_counter()
            cur.execute(SELECT, (session, "a"))
            rows = cur.fetchall()
            conn.commit()
            selects.append(time.perf_counter() - started)
        assert len(rows) == 100
    conn.close()
    return {"insert": latency_summary(inserts), "select_100": latency_summary(selects)}


def concurrent_inserts(url: str, run: int, connections: int, seconds: float) -> dict[str, float]:
    """Inserts per second from ``connections`` threads, each on its own connection and agent."""
    conns = [psycopg2.connect(url) for _ in range(connections)]
    counts = [0] * connections
    start = threading.Barrier(connections + 1)
    stop_at = [0.0]

    def insert_loop(index: int) -> None:
        conn, session = conns[index], f"floor-par-{run}-{index}"
        with conn.cursor() as cur:
            start.wait()
            while time.perf_counter() < stop_at[0]:
                cur.execute(INSERT, (session, "a", counts[index], Json(MESSAGE)))
                conn.commit()
                counts[index] += 1

    threads = [threading.Thread(target=insert_loop, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for conn in conns:
        conn.close()
    return {"inserts_per_s": sum(counts) / elapsed}
