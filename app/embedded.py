"""The embedded default: a PostgreSQL the project runs itself when DATABASE_URL is not set.

It uses pgserver (a real PostgreSQL installed by pip, from the ``embedded`` extra). Data lives in
EMBEDDED_PGDATA (default ``.data/postgres``) and survives restarts; the server is stopped when the
last process using it exits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .config import load_settings
from .db import apply_schema

logger = logging.getLogger(__name__)

_server = None


def start(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in ``data_dir``, apply the schema, return its URL."""
    global _server
    try:
        import pgserver
    except ImportError:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL or install the 'embedded' extra (pip install -e '.[embedded]')"
        ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    _server = pgserver.get_server(data_dir.resolve(), cleanup_mode="stop")
    url = _server.get_uri()
    apply_schema(url)
    logger.info("embedded PostgreSQL ready", extra={"data_dir": str(data_dir)})
    return url


def start_if_needed() -> None:
    """Export DATABASE_URL for the embedded server when none is configured (gunicorn's master calls this)."""
    settings = load_settings()
    if settings.database_url is None:
        os.environ["DATABASE_URL"] = start(settings.embedded_data_dir)


def stop() -> None:
    """Release this process's handle on the embedded server (the last handle stops it)."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
