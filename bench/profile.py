"""``python -m bench.profile``: where a gunicorn worker's CPU goes while wrk appends messages.

Samples one worker with py-spy (``pip install py-spy``; not part of the dev extras) for 10 s, only
while it holds the GIL, so waiting on PostgreSQL or the network is left out, and prints the functions
with the largest inclusive share of the samples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from harness.server import Gunicorn

from . import DATA_DIR, throughput
from .database import database_url

SECONDS = 10


def _frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else name


def top_frames(raw: Path, count: int = 60) -> list[tuple[float, str]]:
    """Inclusive share of samples per function, from py-spy's raw (collapsed stack) output."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        for frame in {_frame(f) for f in stack.split(";")}:
            inclusive[frame] += int(samples)
    return [(100 * n / max(total, 1), frame) for frame, n in inclusive.most_common(count)]


def main() -> None:
    """Profile one worker under workload 2 and print the top functions."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    url, _ = database_url()
    with Gunicorn(url, DATA_DIR / "bench" / "profile-gunicorn.log") as server, tempfile.TemporaryDirectory() as tmp:
        load = threading.Thread(target=throughput.run, args=(server, 0, 16, SECONDS + 4))
        load.start()
        raw = Path(tmp) / "worker.raw"
        subprocess.run(
            [
                py_spy,
                "record",
                "--gil",
                "-r",
                "200",
                "-d",
                str(SECONDS),
                "--format",
                "raw",
                "-o",
                str(raw),
                "-p",
                str(server.workers()[0]),
            ],
            check=True,
            capture_output=True,
        )
        load.join()
        for share, frame in top_frames(raw):
            print(f"{share:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
