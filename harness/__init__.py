"""What the tests and the benchmark share: the service under gunicorn and the database they run on.

A folder of the project, not an installed package: pytest finds it through ``pythonpath`` in
setup.cfg, and ``python -m bench`` from the project's root.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
