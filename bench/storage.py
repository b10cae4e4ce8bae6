"""Workload 7: Strands' ``Storage`` on the service beside Strands' own ``LocalFileStorage``, same machine, same run.

Snapshots are real: an ``Agent`` holding N messages saved by ``SnapshotSessionManager.save_snapshot`` into an
``InMemoryStorage``; those exact bytes are what each backend then writes and reads. The 100,000 keys for
``list`` and the 10,000 text objects for ``search`` are seeded straight into PostgreSQL (one
``INSERT ... SELECT generate_series``) and as files, since what is measured is reading them back.

Run alone: ``PYTHONPATH=client:examples/session_agent .venv/bin/python -m bench.storage``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


async def _run(base_url: str, url: str, files: Path, snapshots: dict[int, bytes]) -> dict[str, Any]:
    ours = SessionBackendStorage(base_url, timeout=120)
    local = LocalFileStorage(str(files))
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

        execute(url, SEED_LIST, {"count": LIST_KEYS})  # type: ignore[arg-type]
        _seed_files(files, "bench-list", LIST_KEYS, lambda i: b"{}")
        phase("list_seeded")
        listing: dict[str, Any] = {"keys": LIST_KEYS}
        for name, storage in (("ours", ours), ("local_file", local)):
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
        _seed_files(files, "bench-search", SEARCH_OBJECTS, _search_body)
        started = time.perf_counter()
        on_files = await LocalFileStorage(str(files / "bench-search")).search(SEARCH_QUERY)
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
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as files:
        results = asyncio.run(_run(base_url, url, Path(files), snapshots))
        results["phase_seconds"]["loop_closed"] = round(time.perf_counter() - began - built, 1)
    results["phase_seconds"] = {"snapshots_built": round(built, 1), **results["phase_seconds"]}
    results["phase_seconds"]["total_with_cleanup"] = round(time.perf_counter() - began - built, 1)
    s = results["snapshot"]["1000"]
    results["ratios"] = {
        "save_1000_to_local_file": s["ours"]["save_p50_ms"] / s["local_file"]["save_p50_ms"],
        "restore_1000_to_local_file": s["ours"]["restore_p50_ms"] / s["local_file"]["restore_p50_ms"],
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
