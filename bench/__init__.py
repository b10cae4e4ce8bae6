"""Benchmark and soak for session-backend: ``make bench`` (``python -m bench``) and ``make soak``.

Every module imports the client and the example's scripted model the way a user's project does: as
top-level modules from their folders, so ``bench`` measures exactly the file users copy. The Makefile
puts those folders on ``PYTHONPATH``; run a module by hand from the project's root the same way:
``PYTHONPATH=client:examples/session_agent .venv/bin/python -m bench.soak``.
"""

from __future__ import annotations

from harness import ROOT

RESULTS_DIR = ROOT / "bench" / "results"
DATA_DIR = ROOT / ".data"
