"""``python -m bench.sweep``: workload 2 under several gunicorn worker models, to choose one by measurement.

Each configuration is the production ``gunicorn.conf.py`` with WEB_CONCURRENCY / GUNICORN_THREADS set,
and, for another worker class, GUNICORN_CMD_ARGS (which gunicorn applies over the config file).
"""

from __future__ import annotations

import json
import os

from harness.server import Gunicorn

from . import DATA_DIR, RESULTS_DIR, throughput
from .database import database_url

CONFIGS = [
    ("gthread 4x4 (default on 2 CPUs)", {"WEB_CONCURRENCY": "4", "GUNICORN_THREADS": "4"}),
    ("gthread 2x4", {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}),
    ("gthread 2x8", {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "8"}),
    ("gthread 4x1", {"WEB_CONCURRENCY": "4", "GUNICORN_THREADS": "1"}),
    ("sync 4", {"WEB_CONCURRENCY": "4", "GUNICORN_CMD_ARGS": "--worker-class sync"}),
    ("sync 8", {"WEB_CONCURRENCY": "8", "GUNICORN_CMD_ARGS": "--worker-class sync"}),
]


def main() -> None:
    """Run workload 2 once per configuration and print one line each."""
    url, source = database_url()
    seconds = float(os.environ.get("BENCH_SECONDS", 10))
    rows = {}
    for i, (name, env) in enumerate(CONFIGS):
        with Gunicorn(url, DATA_DIR / "bench" / "sweep-gunicorn.log", **env) as server:
            throughput.run(server, 1000 + i, 16, 2)  # warm-up: connections, pools, imports
            rows[name] = throughput.run(server, i, 16, seconds)
        r = rows[name]
        print(
            f"{name:34} {r['requests_per_s']:8.0f} req/s  p99 {r['p99_ms']:7.1f} ms  errors {r['errors']:5.0f}"
            f"  server CPU {r['server_cpu_ms_per_request']:.3f} ms/req",
            flush=True,
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "sweep-latest.json").write_text(json.dumps({"database": source, "configs": rows}, indent=2))


if __name__ == "__main__":
    main()
