"""The targets of the issue, checked against one run's figures, and the printed table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (what, target text, measured value, limit, higher_is_better)
Target = tuple[str, str, Callable[[dict], float], float, bool]

TARGETS: list[Target] = [
    ("server CPU per append (ms)", "<= 0.5", lambda r: r["appends"]["server_cpu_ms_per_request"], 0.5, False),
    ("concurrent appends (req/s)", ">= 1500", lambda r: r["appends"]["requests_per_s"], 1500, True),
    (
        "concurrent appends / floor's concurrent inserts",
        ">= 0.25",
        lambda r: r["ratios"]["appends_to_floor"],
        0.25,
        True,
    ),
    ("create-message p50 / floor insert p50", "<= 3", lambda r: r["ratios"]["create_message_to_floor"], 3, False),
    ("list-100 p50 / floor select p50", "<= 2", lambda r: r["ratios"]["list_100_to_floor"], 2, False),
    ("steady agent turn p50 (ms)", "<= 3.5", lambda r: r["agent_turn"]["through_http"]["p50_ms"], 3.5, False),
    ("restore 10,000 (s)", "<= 0.25", lambda r: r["restore"]["10000"]["seconds"], 0.25, False),
    ("restore 100,000 (s)", "<= 2.5", lambda r: r["restore"]["100000"]["seconds"], 2.5, False),
    ("page after 99,900 / first page", "<= 1.2", lambda r: r["deep_paging"]["keyset_ratio_to_first"], 1.2, False),
    ("worker peak RSS (MB)", "<= 100", lambda r: r["memory"]["workers_after_restore"]["peak_rss_mb"], 100, False),
    (
        "client 100k restore peak / restored size",
        "<= 3",
        lambda r: r["memory"]["client_100k_restore"]["peak_to_restored_ratio"],
        3,
        False,
    ),
]

# Workload 7 (bench/storage.py), also run alone; its figures sit under results["storage"].
STORAGE_TARGETS: list[Target] = [
    (
        "save 1,000-message snapshot / LocalFileStorage",
        "<= 2",
        lambda r: r["storage"]["ratios"]["save_1000_to_local_file"],
        2,
        False,
    ),
    (
        "restore 1,000-message snapshot / LocalFileStorage",
        "<= 2",
        lambda r: r["storage"]["ratios"]["restore_1000_to_local_file"],
        2,
        False,
    ),
    (
        "keyword search via our list+read / our search",
        ">= 10",
        lambda r: r["storage"]["search"]["keyword_over_ours_to_ours"],
        10,
        True,
    ),
]
TARGETS += STORAGE_TARGETS
TARGETS.append(
    ("requests a lease adds to an invocation", "<= 2", lambda r: r["lease_turn"]["added_requests_per_turn"], 2, False)
)


def check_targets(results: dict[str, Any], only: list[Target] | None = None) -> list[dict[str, Any]]:
    """Each target (of ``only``, else all) with its measured value, whether it is met, and by what factor."""
    checked = []
    for name, text, measure, limit, higher in TARGETS if only is None else only:
        try:
            value = measure(results)
        except (KeyError, TypeError):
            checked.append({"target": name, "limit": text, "measured": None, "met": None})
            continue
        met = value >= limit if higher else value <= limit
        factor = (limit / value if higher else value / limit) if value else 0.0
        checked.append(
            {
                "target": name,
                "limit": text,
                "measured": round(value, 3),
                "met": met,
                "factor_of_limit": round(factor, 2),
            }
        )
    return checked


def _rows(title: str, rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [title, "-" * len(title)]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _f(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _load_row(name: str, run: dict[str, Any], ratio: str = "") -> tuple[str, ...]:
    """One row of the wrk table: rate, latency, errors and server CPU of a load run."""
    return (
        name,
        _f(run["requests_per_s"], 0),
        _f(run["p50_ms"]),
        _f(run["p99_ms"]),
        _f(run["errors"], 0),
        _f(run["server_cpu_ms_per_request"], 3),
        ratio,
    )


def soak_table(s: dict[str, Any]) -> str:
    """A soak's summary as a plain-text table."""
    return _rows(
        f"Soak ({s['clients']} clients, {s['seconds']:.0f} s, worker kill + PostgreSQL restart)",
        [
            (
                "acknowledged",
                "lost",
                "duplicates",
                "corrupt",
                "HTTP errors by kind",
                "failed after retries",
                "database down s",
                "recovery s",
                "after worker kill s",
            ),
            (
                _f(s["acknowledged"], 0),
                _f(s["lost"], 0),
                _f(s["duplicates"], 0),
                _f(s["corrupt"], 0),
                ", ".join(f"{k}: {v}" for k, v in s["http_errors"].items()) or "none",
                ", ".join(f"{k}: {v}" for k, v in s["failures_after_retries"].items()) or "none",
                _f(s["database_down_seconds"]),
                _f(s["recovery_seconds"]),
                _f(s["worker_kill_recovery_seconds"]),
            ),
        ],
    )


def table(results: dict[str, Any]) -> str:
    """The whole run as plain-text tables."""
    floor = results["floor"]
    ins, sel = floor["insert"]["p50_ms"], floor["select_100"]["p50_ms"]
    m = results["machine"]
    parts = [
        f"{m['cpus']} CPUs, PostgreSQL {m['postgresql']} ({m['database']}), load average "
        f"{m['load_average_at_start']:.1f} at start, {m.get('load_average_at_end', 0):.1f} at end"
    ]
    parts.append(
        _rows(
            "Floor (psycopg2, same database, same run)",
            [
                ("what", "p50 ms", "p99 ms", "rate/s"),
                ("BEGIN; INSERT 1 KB jsonb; COMMIT", _f(ins, 3), _f(floor["insert"]["p99_ms"], 3), ""),
                ("SELECT 100 messages", _f(sel, 3), _f(floor["select_100"]["p99_ms"], 3), ""),
                ("16 connections inserting", "", "", _f(floor["concurrent_inserts_per_s"], 0)),
            ],
        )
    )
    rows = [("operation", "p50 ms", "p90 ms", "p99 ms", "p50 / floor")]
    for op, lat in results["latency"].items():
        base = sel if op.startswith("list") else ins
        rows.append((op, _f(lat["p50_ms"], 3), _f(lat["p90_ms"], 3), _f(lat["p99_ms"], 3), _f(lat["p50_ms"] / base)))
    parts.append(_rows("1. Sequential latency (one keep-alive connection)", rows))
    ap = results["appends"]
    live = results["liveness"]
    parts.append(
        _rows(
            "2. Concurrent appends (wrk, 16 connections)",
            [
                ("requests", "requests/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req", "/ floor rate"),
                _load_row("POST message", ap, _f(results["ratios"]["appends_to_floor"])),
                _load_row("GET /health/live (no database)", live),
            ],
        )
    )
    turn = results["agent_turn"]
    parts.append(
        _rows(
            "3. Steady agent turn (2 appends + agent sync)",
            [
                ("repository", "p50 ms", "p99 ms"),
                ("client over HTTP", _f(turn["through_http"]["p50_ms"]), _f(turn["through_http"]["p99_ms"])),
                (
                    "in memory (Strands' own cost)",
                    _f(turn["in_memory_baseline"]["p50_ms"]),
                    _f(turn["in_memory_baseline"]["p99_ms"]),
                ),
            ],
        )
    )
    rows = [("messages", "seconds", "restored", "messages/s")]
    for size, r in results["restore"].items():
        rows.append((f"{int(size):,}", _f(r["seconds"], 3), _f(r["restored"], 0), _f(int(size) / r["seconds"], 0)))
    parts.append(_rows("4. Restore through the client (list_messages)", rows))
    dp = results["deep_paging"]
    parts.append(
        _rows(
            "5. Pages of 100 in a 100,000-message conversation (p50)",
            [
                ("first page ms", "after 99,900 (keyset) ms", "offset 99,900 ms", "keyset / first"),
                (
                    _f(dp["first_page_p50_ms"], 3),
                    _f(dp["after_keyset_p50_ms"], 3),
                    _f(dp["at_offset_p50_ms"], 3),
                    _f(dp["keyset_ratio_to_first"]),
                ),
            ],
        )
    )
    mem = results["memory"]
    cm = mem["client_100k_restore"]
    parts.append(
        _rows(
            "6. Memory",
            [
                ("what", "MB"),
                ("largest worker peak RSS after workload 2", _f(mem["workers_after_appends"]["peak_rss_mb"], 1)),
                ("largest worker peak RSS after workload 4", _f(mem["workers_after_restore"]["peak_rss_mb"], 1)),
                ("client: RSS growth holding the 100k restored messages", _f(cm["restored_messages_mb"], 1)),
                ("client: peak RSS growth during the restore", _f(cm["peak_growth_mb"], 1)),
                ("client: process RSS before / peak", f"{_f(cm['rss_before_mb'], 1)} / {_f(cm['rss_peak_mb'], 1)}"),
            ],
        )
    )
    if results.get("lease_turn"):
        parts.append(lease_table(results["lease_turn"]))
    if results.get("soak"):
        parts.append(soak_table(results["soak"]))
    if results.get("storage"):
        parts.append(storage_table(results))
    parts.append(targets_table(results["targets"]))
    return "\n\n".join(parts)


def lease_table(lease: dict[str, Any]) -> str:
    """Workload 8: the same turn without and with SessionLease."""
    rows = [("turn", "p50 ms", "p99 ms", "requests per turn")]
    for name in ("unleased", "leased"):
        r = lease[name]
        rows.append((name, _f(r["p50_ms"]), _f(r["p99_ms"]), _f(r["requests_per_turn"])))
    rows.append(("the lease adds", _f(lease["added_p50_ms"]), "", _f(lease["added_requests_per_turn"])))
    return _rows("8. A leased agent turn (acquire + release around each invocation)", rows)


def targets_table(targets: list[dict[str, Any]]) -> str:
    """The checked targets as a plain-text table."""
    rows = [("target", "limit", "measured", "met", "x limit")]
    for t in targets:
        met = "-" if t["met"] is None else "yes" if t["met"] else "NO"
        rows.append((t["target"], t["limit"], _f(t["measured"], 3), met, _f(t.get("factor_of_limit"))))
    return _rows("Targets", rows)


def storage_table(results: dict[str, Any]) -> str:
    """Workload 7: snapshot save/restore, list and search, ours beside Strands' LocalFileStorage."""
    st = results["storage"]
    rows = [("snapshot", "bytes", "backend", "save p50 ms", "save MB/s", "restore p50 ms", "restore MB/s")]
    for size, s in st["snapshot"].items():
        for name, label in (("ours", "service"), ("local_file", "LocalFileStorage")):
            b = s[name]
            rows.append(
                (
                    f"{int(size):,} messages",
                    _f(s["bytes"], 0),
                    label,
                    _f(b["save_p50_ms"]),
                    _f(b["save_mb_per_s"], 1),
                    _f(b["restore_p50_ms"]),
                    _f(b["restore_mb_per_s"], 1),
                )
            )
    li, se = st["list"], st["search"]
    other = [
        ("what", "service s", "LocalFileStorage s", "ratio"),
        (
            f"list {li['keys']:,} keys",
            _f(li["ours_seconds"], 3),
            _f(li["local_file_seconds"], 3),
            _f(li["ours_seconds"] / li["local_file_seconds"]),
        ),
        (f"search {se['objects']:,} objects: server full-text", _f(se["ours_seconds"], 3), "", ""),
        (
            "search: Strands' keyword scan (list+read)",
            _f(se["keyword_over_ours_seconds"], 3),
            _f(se["keyword_over_local_file_seconds"], 3),
            f"{_f(se['keyword_over_ours_to_ours'], 1)}x ours",
        ),
    ]
    fl, ra = st["floor_1000"], st["ratios"]
    floors = [
        ("1,000 messages", "round trip ms", "psycopg2 alone ms", "service / (round trip + psycopg2)"),
        ("save", _f(fl["round_trip_p50_ms"]), _f(fl["db_write_p50_ms"]), f"{_f(ra['save_1000_to_floor'])}x"),
        ("restore", _f(fl["round_trip_p50_ms"]), _f(fl["db_read_p50_ms"]), f"{_f(ra['restore_1000_to_floor'])}x"),
    ]
    return (
        _rows("7. Snapshot storage (Strands Storage)", rows)
        + "\n\n"
        + _rows("7. floor: empty HTTP round trip, and the bytes through psycopg2 alone", floors)
        + "\n\n"
        + _rows("7. list and search", other)
    )
