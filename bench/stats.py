"""Percentiles, medians of repeated runs, and the ~1 KB message every workload stores."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

# A Strands user message whose JSON is about 1 KB, the size the floor inserts too.
TEXT = ("The quick brown fox jumps over the lazy dog. " * 21)[:940]
MESSAGE: dict[str, Any] = {"role": "user", "content": [{"text": TEXT}]}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, by nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 of durations given in seconds, in milliseconds."""
    return {f"p{q}_ms": percentile(seconds, q) * 1000 for q in (50, 90, 99)}


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Key by key, the median of the numeric values of several runs (others taken from the first)."""
    merged: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs]
        if isinstance(first, dict):
            merged[key] = median_of_runs(values)
        elif isinstance(first, (int, float)) and not isinstance(first, bool):
            merged[key] = statistics.median(values)
        else:
            merged[key] = first
    return merged


def repeat(times: int, run: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """Call ``run(i)`` ``times`` times and return the medians, with the raw runs kept beside them."""
    runs = [run(i) for i in range(times)]
    return {**median_of_runs(runs), "runs": len(runs)}
