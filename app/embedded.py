"""The embedded default: a PostgreSQL the project runs itself when DATABASE_URL is not set.

It uses pgserver (a real PostgreSQL installed by pip, from the ``embedded`` extra). Data lives in
EMBEDDED_PGDATA (default ``.data/postgres``) and survives restarts; the server is stopped when the
last process using it exits.

pgserver counts its users in ``<data dir>/.handle_pids.json`` and stops the server when the last one
leaves. A process killed without running its exit handlers (SIGKILL, or SIGTERM to a process that
does not catch it) never leaves, and would keep the server running for ever; so every attach and
every stop here first forgets the pids of processes that are gone.

``python -m app.embedded psql`` (or ``pg_dump``, ``pg_restore``) runs that PostgreSQL client tool
on the embedded database, starting the server for as long as the tool runs if it is not running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from .config import Settings, load_settings
from .migrations import apply_schema

logger = logging.getLogger(__name__)
# pgserver logs every command line and its output at INFO; what matters is said here instead.
logging.getLogger("pgserver").setLevel(logging.WARNING)

CLIENT_TOOLS = ("psql", "pg_dump", "pg_restore")

_server = None


def _pgserver() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR, platformdirs warns that pgserver's lock lives under /tmp: harmless.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            import pgserver
    except ImportError:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL or install the 'embedded' extra (pip install -e '.[embedded]')"
        ) from None
    return pgserver


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists
        return True


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Drop the pids of exited processes from pgserver's list of the server's users; return them.

    Taken under pgserver's own inter-process lock, so a process attaching at the same moment is not
    lost. A pid reused by an unrelated live process still counts (pgserver records nothing else).
    """
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    handles = DiskList(data_dir.resolve() / ".handle_pids.json")
    with PostgresServer._lock:
        pids = handles.get()
        dead = [pid for pid in pids if pid != os.getpid() and not _alive(pid)]
        if dead:
            handles.put([pid for pid in pids if pid not in dead])
    if dead:
        logger.info("forgot embedded PostgreSQL users that exited without letting go", extra={"pids": dead})
    return dead


def start(data_dir: Path, progress: Callable[[str], None] = logger.info) -> str:
    """Start (or attach to) the embedded server in ``data_dir``, apply the schema, return its URL.

    ``progress`` receives a line for each slow step (creating the cluster, starting it, migrating).
    """
    global _server
    pgserver = _pgserver()
    from pgserver.utils import PostmasterInfo

    data_dir.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        progress(f"creating the embedded PostgreSQL in {data_dir.resolve()} (first run only)")
    running = PostmasterInfo.read_from_pgdata(data_dir.resolve())
    if running is None or not running.is_running():
        progress("starting the embedded PostgreSQL")
    _server = pgserver.get_server(data_dir.resolve(), cleanup_mode="stop")
    url: str = _server.get_uri()
    applied = apply_schema(url)
    if applied:
        progress(f"applied database migrations {', '.join(applied)}")
    logger.info("embedded PostgreSQL ready", extra={"data_dir": str(data_dir)})
    return url


def start_if_needed(settings: Settings, progress: Callable[[str], None] = logger.info) -> None:
    """Export DATABASE_URL for the embedded server when ``settings`` name no database.

    gunicorn's master calls this before it forks: the environment is how the URL reaches the
    workers, whose ``create_app`` reads it with the other settings.
    """
    if settings.database_url is None:
        os.environ["DATABASE_URL"] = start(settings.embedded_data_dir, progress)


def running_data_dir() -> Path | None:
    """The data directory of the embedded server this process started or attached to, if any."""
    return None if _server is None else Path(_server.pgdata)


def stop() -> None:
    """Release this process's handle on the embedded server (the last live handle stops it)."""
    global _server
    if _server is not None:
        forget_dead_handles(_server.pgdata)
        _server.cleanup()
        _server = None


def client_command(tool: str, url: str, *args: str) -> list[str]:
    """The command line that runs PostgreSQL client ``tool`` (psql, pg_dump, ...) on database ``url``."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return [str(POSTGRES_BIN_PATH / tool), "--dbname", url, *args]


def main(argv: list[str]) -> int:
    """``python -m app.embedded TOOL [ARGS...]``: run a client tool on the embedded database."""
    if not argv or argv[0] not in CLIENT_TOOLS:
        print(f"usage: python -m app.embedded {{{','.join(CLIENT_TOOLS)}}} [ARGS...]", file=sys.stderr)
        return 2
    settings = load_settings()
    if settings.database_url is not None:
        print('DATABASE_URL is set: run the tool on it directly, e.g. psql "$DATABASE_URL"', file=sys.stderr)
        return 2
    url = start(settings.embedded_data_dir, progress=lambda line: print(line, file=sys.stderr))
    # Ctrl-C belongs to the tool (psql cancels the running query); a handler, unlike SIG_IGN,
    # is not inherited by the tool.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        return subprocess.run(client_command(argv[0], url, *argv[1:])).returncode
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
