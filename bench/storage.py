"""Workload 7: Strands' ``Storage`` on the service beside Strands' own ``LocalFileStorage``, same machine, same run.

Snapshots are real: an ``Agent`` holding N messages saved by ``SnapshotSessionManager.save_snapshot`` into an
``InMemoryStorage``; those exact bytes are what each backend then writes and reads. The 100,000 keys for
``list`` and the 10,000 text objects for ``search`` are seeded straight into PostgreSQL (one
``INSERT ... SELECT generate_series``) and as files, since what is measured is reading them back.
Those 110,000 files go to a tmpfs (``/dev/shm``) when the machine has one: on a disk mounted with
online discard, creating and deleting them took minutes of the run, longer than all measurements. A
tmpfs only makes ``LocalFileStorage``'s side of ``list`` and the keyword scan over files faster, never
ours. The snapshots ``LocalFileStorage`` saves and restores stay in the ordinary temporary folder.

Run alone: ``PYTHONPATH=client:examples/session_agent .venv/bin/python -m bench.storage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import requests
from strands import Agent
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage import InMemoryStorage, LocalFileStorage
from strands.storage.search.keyword import KeywordSearchStrategy

from harness.database import execute
from postgresql_session_repository import SessionBackendStorage
from scripted_model import ScriptedModel

from .stats import TEXT, percentile

SNAPSHOT_SIZES = (100, 1_000, 10_000)
LIST_KEYS = 100_000
SEARCH_OBJECTS = 10_000
SEARCH_QUERY = "quokka"  # one object in 100 holds it, so both searches find the same 100
BUDGET_SECONDS = 4.0  # per backend and size: repeats stop early once this is spent
TMPFS = Path("/dev/shm")  # where the seeded files go when it is a writable folder

SEED_LIST = """
INSERT INTO storage_objects (namespace, scope, key, data, sha256, size)
SELECT 'default', convert_to(k, 'UTF8'), convert_to('bench-list/' || k, 'UTF8'), '\\x7b7d', sha256('\\x7b7d'), 2
FROM (SELECT lpad(i::text, 6, '0') AS k FROM generate_series(0, %(count)s - 1) AS i) AS keys
"""
SEED_SEARCH = """
INSERT INTO storage_objects (namespace, scope, key, data, sha256, size, search_vector)
SELECT 'default', convert_to(k, 'UTF8'), convert_to('bench-search/' || k, 'UTF8'), d, sha256(d), octet_length(d),
       storage_search_vector(d)
FROM (SELECT lpad(i::text, 6, '0') AS k,
             convert_to(json_build_object('id', i, 'text', %(text)s
                 || CASE WHEN i %% 100 = 0 THEN ' quokka' ELSE '' END)::text, 'UTF8') AS d
      FROM generate_series(0, %(count)s - 1) AS i) AS objects
"""


FLOOR_TABLE = "CREATE TABLE bench_storage_floor (id integer PRIMARY KEY, data text NOT NULL)"
FLOOR_LZ4 = "ALTER TABLE bench_storage_floor ALTER COLUMN data SET COMPRESSION lz4"
FLOOR_WRITE = "INSERT INTO bench_storage_floor VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET data = excluded.data"
FLOOR_READ = "SELECT data FROM bench_storage_floor WHERE id = 1"
FLOOR_REPEATS = 15


def _p50_ms(call: Callable[[], Any], repeats: int = FLOOR_REPEATS) -> float:
    """The p50 of ``repeats`` calls of ``call``, in ms."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return percentile(times, 50) * 1000


def floor(base_url: str, url: str, data: bytes) -> dict[str, float]:
    """What no HTTP store of the snapshot ``data`` can beat here: an empty HTTP round trip to the service
    (``GET /health/live``, no query), and the bytes alone written (a durable autocommit INSERT) and read
    back through psycopg2 in a plain table, with no index, hash or search vector. They travel as text
    and are compressed as migration 0005 does (lz4 where the server has it), as the service does for a
    UTF-8 value: the cheapest way psycopg2 moves them."""
    text = data.decode("utf-8")
    with requests.Session() as http:
        round_trip = _p50_ms(lambda: http.get(base_url + "/health/live", timeout=30).raise_for_status())
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_storage_floor")
            cur.execute(FLOOR_TABLE)
            with contextlib.suppress(psycopg2.errors.FeatureNotSupported):  # no lz4: pglz, as storage_objects
                cur.execute(FLOOR_LZ4)
            write = _p50_ms(lambda: cur.execute(FLOOR_WRITE, (text,)))

            def read() -> None:
                cur.execute(FLOOR_READ)
                if cur.fetchone()[0].encode("utf-8") != data:
                    raise AssertionError("floor read the wrong bytes")

            read_ms = _p50_ms(read)
            cur.execute("DROP TABLE bench_storage_floor")
    finally:
        conn.close()
    return {"round_trip_p50_ms": round_trip, "db_write_p50_ms": write, "db_read_p50_ms": read_ms}


def _message(i: int) -> dict[str, Any]:
    return {"role": "user" if i % 2 == 0 else "assistant", "content": [{"text": f"{i}: {TEXT}"}]}


def snapshot_bytes(count: int) -> bytes:
    """The bytes ``SnapshotSessionManager`` writes for an agent of ``count`` ~1 KB messages."""
    memory = InMemoryStorage()
    manager = SnapshotSessionManager("bench", storage=memory)
    agent = Agent(
        agent_id="assistant",
        model=ScriptedModel([]),
        messages=[_message(i) for i in range(count)],  # type: ignore[misc]
        system_prompt="You are a benchmark.",
        session_manager=manager,
        callback_handler=None,
    )
    agent.state.set("turns", count)

    async def save() -> bytes:
        await manager.save_snapshot(agent, is_latest=True)
        keys = await memory.list("")
        data = await memory.read(keys[-1])
        assert data is not None and data.count(b'"role"') >= count, "snapshot lacks the messages"
        return data

    return asyncio.run(save())


async def _timed(call: Callable[[], Awaitable[Any]], repeats: int) -> list[float]:
    """Up to ``repeats`` timings of ``call``, stopping (after at least 3) once ``BUDGET_SECONDS`` are spent."""
    times: list[float] = []
    while len(times) < repeats and (len(times) < 3 or sum(times) < BUDGET_SECONDS):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def _save_restore(storage: Any, data: bytes, repeats: int) -> dict[str, float]:
    """p50 of writing and reading one snapshot, and the throughput that gives."""
    key = "session/bench/agents/agent_assistant/snapshots/snapshot_latest.json"

    async def restore() -> None:
        if await storage.read(key) != data:
            raise AssertionError("restored bytes differ")

    save = await _timed(lambda: storage.write(key, data), repeats)
    read = await _timed(restore, repeats)
    mb = len(data) / 1e6
    p_save, p_read = percentile(save, 50), percentile(read, 50)
    return {
        "save_p50_ms": p_save * 1000,
        "save_mb_per_s": mb / p_save,
        "restore_p50_ms": p_read * 1000,
        "restore_mb_per_s": mb / p_read,
        "runs": len(save),
    }


def _seed_files(base: Path, prefix: str, count: int, body: Callable[[int], bytes]) -> None:
    """``count`` objects as LocalFileStorage lays them out (one file per key), written directly."""
    folder = base / prefix
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:06d}").write_bytes(body(i))


def _search_body(i: int) -> bytes:
    """The same bytes SEED_SEARCH stores for object ``i``."""
    text = TEXT + (" quokka" if i % 100 == 0 else "")
    return json.dumps({"id": i, "text": text}, separators=(", ", " : ")).encode("utf-8")


def _seed_folder() -> str | None:
    """The folder to make the seeded files' temporary folder in: the tmpfs if usable, else the default."""
    return str(TMPFS) if TMPFS.is_dir() and os.access(TMPFS, os.W_OK) else None


async def _run(base_url: str, url: str, files: Path, seeds: Path, snapshots: dict[int, bytes]) -> dict[str, Any]:
    ours = SessionBackendStorage(base_url, timeout=120)
    local = LocalFileStorage(str(files))
    seeded = LocalFileStorage(str(seeds))
    results: dict[str, Any] = {"snapshot": {}, "phase_seconds": {}}
    began = time.perf_counter()

    def phase(name: str) -> None:
        """Record how long the workload has run when ``name`` is done, so a slow part shows which it is."""
        results["phase_seconds"][name] = round(time.perf_counter() - began, 1)

    try:
        for count, data in snapshots.items():
            repeats = 5 if count == 10_000 else 15
            results["snapshot"][str(count)] = {
                "messages": count,
                "bytes": len(data),
                "ours": await _save_restore(ours, data, repeats),
                "local_file": await _save_restore(local, data, repeats),
            }
            phase(f"snapshot_{count}")
        results["floor_1000"] = floor(base_url, url, snapshots[1_000])
        phase("floor")

        execute(url, SEED_LIST, {"count": LIST_KEYS})  # type: ignore[arg-type]
        _seed_files(seeds, "bench-list", LIST_KEYS, lambda i: b"{}")
        phase("list_seeded")
        listing: dict[str, Any] = {"keys": LIST_KEYS}
        for name, storage in (("ours", ours), ("local_file", seeded)):
            started = time.perf_counter()
            keys = await storage.list("bench-list/")
            listing[f"{name}_seconds"] = time.perf_counter() - started
            assert len(keys) == LIST_KEYS and keys == sorted(keys), name
        results["list"] = listing
        phase("list")

        execute(url, SEED_SEARCH, {"count": SEARCH_OBJECTS, "text": TEXT})  # type: ignore[arg-type]
        execute(url, "VACUUM (ANALYZE) storage_objects")
        phase("search_seeded")
        search: dict[str, Any] = {"objects": SEARCH_OBJECTS, "query": SEARCH_QUERY}
        scoped = ours.namespace("bench-search")  # the keyword scan lists everything its storage holds
        started = time.perf_counter()
        found = await scoped.search(SEARCH_QUERY, limit=1000)
        search["ours_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        scanned = await KeywordSearchStrategy().search(scoped, SEARCH_QUERY)
        search["keyword_over_ours_seconds"] = time.perf_counter() - started
        _seed_files(seeds, "bench-search", SEARCH_OBJECTS, _search_body)
        started = time.perf_counter()
        on_files = await LocalFileStorage(str(seeds / "bench-search")).search(SEARCH_QUERY)
        search["keyword_over_local_file_seconds"] = time.perf_counter() - started
        expected = SEARCH_OBJECTS // 100
        assert len(found) == len(scanned) == len(on_files) == expected, (len(found), len(scanned), len(on_files))
        assert {r.key for r in found} == {r.key for r in scanned}, "the two searches found different objects"
        search["keyword_over_ours_to_ours"] = search["keyword_over_ours_seconds"] / search["ours_seconds"]
        results["search"] = search
        phase("search")
    finally:
        ours.close()
    return results


def run(base_url: str, url: str) -> dict[str, Any]:
    """Workload 7 against the service at ``base_url`` whose database is ``url``; files in a temporary folder."""
    began = time.perf_counter()
    snapshots = {count: snapshot_bytes(count) for count in SNAPSHOT_SIZES}  # an Agent is built outside a loop
    built = time.perf_counter() - began
    seed_parent = _seed_folder()
    with (
        tempfile.TemporaryDirectory(prefix="bench-storage-") as files,
        tempfile.TemporaryDirectory(prefix="bench-storage-seeds-", dir=seed_parent) as seeds,
    ):
        results = asyncio.run(_run(base_url, url, Path(files), Path(seeds), snapshots))
        results["phase_seconds"]["loop_closed"] = round(time.perf_counter() - began - built, 1)
    results["seeded_files_on"] = "tmpfs" if seed_parent else "the temporary folder"
    results["phase_seconds"] = {"snapshots_built": round(built, 1), **results["phase_seconds"]}
    results["phase_seconds"]["total_with_cleanup"] = round(time.perf_counter() - began - built, 1)
    s = results["snapshot"]["1000"]
    fl = results["floor_1000"]
    results["ratios"] = {
        "save_1000_to_local_file": s["ours"]["save_p50_ms"] / s["local_file"]["save_p50_ms"],
        "restore_1000_to_local_file": s["ours"]["restore_p50_ms"] / s["local_file"]["restore_p50_ms"],
        # Not targets: the same figures against what no HTTP store can beat (see floor()).
        "save_1000_to_floor": s["ours"]["save_p50_ms"] / (fl["round_trip_p50_ms"] + fl["db_write_p50_ms"]),
        "restore_1000_to_floor": s["ours"]["restore_p50_ms"] / (fl["round_trip_p50_ms"] + fl["db_read_p50_ms"]),
    }
    return results


def main() -> dict[str, Any]:
    """Run workload 7 alone on a fresh bench database and service; print the table, write the JSON."""
    from harness.server import Gunicorn

    from . import DATA_DIR, RESULTS_DIR, report
    from .database import database_url

    url, source = database_url()
    began = time.monotonic()
    with Gunicorn(url, DATA_DIR / "bench" / "gunicorn.log") as server:
        results: dict[str, Any] = {"storage": run(server.url, url)}
    results["machine"] = {"cpus": len(os.sched_getaffinity(0)), "database": source}
    results["elapsed_seconds"] = round(time.monotonic() - began, 1)
    results["targets"] = report.check_targets(results, only=report.STORAGE_TARGETS)
    print(report.storage_table(results) + "\n\n" + report.targets_table(results["targets"]), flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-storage-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"bench: {results['elapsed_seconds']} s; results written to {path.name}")
    return results


if __name__ == "__main__":
    main()
