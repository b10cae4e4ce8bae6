"""Benchmark and soak for session-backend: ``make bench`` (``python -m bench``) and ``make soak``.

Every module imports the client and the example's scripted model the way a user's project does: as
top-level modules from their folders, so ``bench`` measures exactly the file users copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DATA_DIR = ROOT / ".data"

for _folder in (ROOT / "client", ROOT / "examples" / "session_agent"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
