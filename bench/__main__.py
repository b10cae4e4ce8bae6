"""``make bench``: start the service under gunicorn on the bench database, run workloads 1-8, report.

Settings (environment): BENCH_REPEATS (3 runs per workload, medians reported), BENCH_SECONDS (10 s of
wrk per run), BENCH_SOAK_SECONDS (20; 0 skips the short soak), plus the service's own WEB_CONCURRENCY,
GUNICORN_THREADS, DB_POOL_MIN/MAX, which pass through to gunicorn.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime

from harness.database import execute
from harness.server import Gunicorn

from . import DATA_DIR, RESULTS_DIR, agent_turn, floor, latency, lease_turn, report, restore, soak, storage, throughput
from .database import database_url
from .stats import repeat

CONNECTIONS = 16
RESTORE_SIZES = (2_000, 10_000, 100_000)
RESTORE_BUDGET_SECONDS = 30.0  # a slow service gets fewer repeats of a restore, so the run stays bounded


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def main() -> dict:
    """Run everything once and return the results (also printed and written to bench/results/)."""
    repeats, seconds = int(_env("BENCH_REPEATS", 3)), _env("BENCH_SECONDS", 10)
    throughput.wrk_path()  # fail before starting anything when wrk is missing
    began = time.monotonic()
    url, source = database_url()
    floor.prepare(url)
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "postgresql": execute(url, "SHOW server_version")[0][0],
            "database": source,
            "load_average_at_start": os.getloadavg()[0],
        },
    }
    print(f"bench: database: {source}", flush=True)

    log(began, "floor")
    fl = repeat(repeats, lambda i: floor.single_insert_and_select(url, i, 500))
    fl["concurrent_inserts_per_s"] = repeat(
        repeats, lambda i: floor.concurrent_inserts(url, i, CONNECTIONS, seconds / 2)
    )["inserts_per_s"]
    results["floor"] = fl

    with Gunicorn(url, DATA_DIR / "bench" / "gunicorn.log") as server:
        results["config"] = {
            "workers": len(server.workers()),
            "threads": int(os.environ.get("GUNICORN_THREADS", 4)),
            "repeats": repeats,
            "wrk_seconds": seconds,
            "connections": CONNECTIONS,
        }
        log(began, f"1. sequential latency ({results['config']['workers']} workers)")
        results["latency"] = repeat(repeats, lambda i: latency.run(server.url, i, 200))
        results["latency"].pop("runs")
        log(began, "2. concurrent appends (wrk)")
        results["appends"] = repeat(repeats, lambda i: throughput.run(server, i, CONNECTIONS, seconds))
        results["liveness"] = repeat(repeats, lambda i: throughput.run_liveness(server, CONNECTIONS, seconds / 2))
        memory = {"workers_after_appends": server.worker_memory_mb()}
        log(began, "3. agent turns")
        results["agent_turn"] = repeat(repeats, lambda i: agent_turn.run(server.url, i, 150))

        results["restore"] = {}
        for size in RESTORE_SIZES:
            log(began, f"4. restore {size:,}")
            sid = f"restore-{size}"
            restore.seed(url, sid, size)
            results["restore"][str(size)] = restore.restores(server.url, sid, size, repeats, RESTORE_BUDGET_SECONDS)
        memory["workers_after_restore"] = server.worker_memory_mb()
        log(began, "5. deep paging")
        results["deep_paging"] = restore.deep_page(server.url, f"restore-{RESTORE_SIZES[-1]}", RESTORE_SIZES[-1], 30)
        log(began, "6. client memory of the 100k restore")
        memory["client_100k_restore"] = restore.client_memory(server.url, "restore-100000", 100_000)
        results["memory"] = memory
        log(began, "7. snapshot storage (Strands Storage beside LocalFileStorage)")
        results["storage"] = storage.run(server.url, url)
        log(began, "8. a leased agent turn beside an unleased one")
        results["lease_turn"] = repeat(repeats, lambda i: lease_turn.run(server.url, i, 100))

    soak_seconds = _env("BENCH_SOAK_SECONDS", 20)
    if soak_seconds > 0:
        log(began, f"soak ({CONNECTIONS} clients, {soak_seconds:.0f} s)")
        results["soak"] = soak.run(clients=CONNECTIONS, seconds=soak_seconds, data_dir=DATA_DIR / "bench-soak-postgres")
        results["soak"].pop("acknowledged_ids", None)

    fl, lat = results["floor"], results["latency"]
    results["ratios"] = {
        "create_message_to_floor": lat["create_message"]["p50_ms"] / fl["insert"]["p50_ms"],
        "list_100_to_floor": lat["list_100_messages"]["p50_ms"] / fl["select_100"]["p50_ms"],
        "appends_to_floor": results["appends"]["requests_per_s"] / fl["concurrent_inserts_per_s"],
    }
    results["targets"] = report.check_targets(results)
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    results["elapsed_seconds"] = round(time.monotonic() - began, 1)
    print("\n" + report.table(results) + f"\n\nbench: {results['elapsed_seconds']} s", flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"bench: results written to {path.relative_to(RESULTS_DIR.parent.parent)}")
    return results


def log(began: float, what: str) -> None:
    """One progress line, with the seconds elapsed so far."""
    print(f"bench: {time.monotonic() - began:6.1f} s  {what}", flush=True)


if __name__ == "__main__":
    main()
