"""``make bench-citus``: the service on one PostgreSQL 15 beside the same service on a Citus cluster.

Runs under scripts/with-citus.sh (TEST_DATABASE_URL is the coordinator of a three-node cluster on this
machine); the single node is BENCH_SINGLE_DATABASE_URL, else the machine's PostgreSQL 15 (database
session_backend_bench). For each:
appends/s (wrk, 16 connections), create-session and create-message p50 (sequential requests), the
restore of 10,000 messages through the client, and, to show where the extra hop goes, the p50 of one
point read of a session by psycopg2 on a persistent connection (no HTTP): on Citus it is the
coordinator planning the query and forwarding it to the worker, on one node the query alone.
Settings: BENCH_SECONDS (10 s of wrk), BENCH_REPEATS (3 runs, medians).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psycopg2

from harness.database import execute, recreate_schema
from harness.server import Gunicorn

from . import DATA_DIR, RESULTS_DIR, latency, restore, throughput
from .database import _local_database
from .stats import repeat

CONNECTIONS = 16
RESTORED = 10_000
POINT_READ = "SELECT session_type FROM sessions WHERE namespace = 'default' AND session_id = 'point-read'"


def _point_read_p50_ms(url: str, samples: int = 2000) -> float:
    """p50 of ``SELECT`` of one session by id, on one persistent autocommit connection."""
    execute(url, "INSERT INTO sessions (namespace, session_id) VALUES ('default', 'point-read')")
    conn = psycopg2.connect(url)
    conn.autocommit = True
    times = []
    try:
        with conn.cursor() as cur:
            for _ in range(samples):
                started = time.perf_counter()
                cur.execute(POINT_READ)
                cur.fetchone()
                times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return statistics.median(times) * 1000


def measure(url: str, name: str, repeats: int, seconds: float) -> dict[str, Any]:
    """The figures of one database (its schema is recreated first)."""
    recreate_schema(url)
    result: dict[str, Any] = {"point_read_p50_ms": _point_read_p50_ms(url)}
    with Gunicorn(url, DATA_DIR / "bench" / f"citus-bench-{name}.log") as server:
        lat = latency.run(server.url, 0, 100)
        result["create_session_p50_ms"] = lat["create_session"]["p50_ms"]
        result["create_message_p50_ms"] = lat["create_message"]["p50_ms"]
        result["get_session_p50_ms"] = lat["get_session"]["p50_ms"]
        appends = repeat(repeats, lambda i: throughput.run(server, i, CONNECTIONS, seconds))
        result["appends_per_s"] = appends["requests_per_s"]
        result["appends_errors"] = appends["errors"]
        restore.seed(url, "restore-10000", RESTORED)
        result["restore_10000_s"] = restore.restores(server.url, "restore-10000", RESTORED, repeats, 30.0)["seconds"]
    return result


def main() -> None:
    """Measure both, print a table, write bench/results/bench-citus-<time>.json."""
    repeats, seconds = int(os.environ.get("BENCH_REPEATS", 3)), float(os.environ.get("BENCH_SECONDS", 10))
    throughput.wrk_path()
    single = os.environ.get("BENCH_SINGLE_DATABASE_URL") or _local_database()
    if single is None:
        raise SystemExit("bench-citus: no PostgreSQL at 127.0.0.1:5432 for the single-node column")
    citus = os.environ["TEST_DATABASE_URL"]
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg()[0],
        "single_node": measure(single, "single", repeats, seconds),
        "citus": measure(citus, "citus", repeats, seconds),
        "load_average_at_end": os.getloadavg()[0],
    }
    print(f"{'':26} {'one node':>10} {'Citus':>10}")
    for key in results["single_node"]:
        print(f"{key:26} {results['single_node'][key]:10.2f} {results['citus'][key]:10.2f}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-citus-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"bench-citus: results written to {path.relative_to(RESULTS_DIR.parent.parent)}")


if __name__ == "__main__":
    main()
