"""gunicorn settings for `make run` and the container: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Everything comes from the environment, so one file serves a laptop, compose and Kubernetes. The
service's own settings (LOG_LEVEL, DATABASE_URL, ...) are read with app.config.load_settings, as the
app reads them; these are the server's:

- API_PORT (8000) and API_HOST (127.0.0.1): where to listen; the container image sets
  API_HOST=0.0.0.0.
- WEB_CONCURRENCY: worker processes; default 2 per CPU available to this process, at most 8.
- GUNICORN_THREADS (4): threads per worker (gthread); each busy thread holds one pooled
  connection, so keep DB_POOL_MAX >= GUNICORN_THREADS.
- GUNICORN_TIMEOUT (30): seconds before a silent worker is killed and replaced.
- GUNICORN_GRACEFUL_TIMEOUT (20): after SIGTERM, seconds that in-flight requests get to finish.
- GUNICORN_KEEPALIVE (5): seconds an idle keep-alive connection is kept open.
- PROMETHEUS_MULTIPROC_DIR (unset): where the workers keep their metrics, which GET /metrics sums
  (prometheus_client's multiprocess mode). Unset, the master makes a private directory (in /dev/shm
  when it can) and removes it on exit; a configured one has its *.db files removed at start.
- GUNICORN_CONTROL_SOCKET (unset): a path for gunicorn's control socket (``gunicornc -s PATH``).
  Unset, there is none: gunicorn's default path is one per user, so each server started on the
  machine would take it over from the one before (and remove it on exit), and gunicornc would
  drive whichever server started last.

The app is not preloaded: each worker builds it after the fork and opens its own connection pool
lazily, so no PostgreSQL connection is ever shared across processes. The master sets up the
embedded PostgreSQL when DATABASE_URL is unset (saying what it does), runs the start-up checks
once, and prints one banner (app/startup.py) before it forks the workers.
The access log goes to stdout as one JSON object per line; gunicorn's own log to stderr.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gunicorn.glogging import Logger

# Only app.config here: app.embedded (in the hooks) imports the pool, and so prometheus_client, which
# must not be imported before on_starting sets PROMETHEUS_MULTIPROC_DIR.
from app.config import ConfigurationError, Settings, env_int, load_settings


def _env_int(name: str, default: int) -> int:
    """Read a positive integer setting; a malformed value stops gunicorn at start-up."""
    try:
        return env_int(os.environ, name, default, 1)
    except ConfigurationError as exc:
        raise SystemExit(f"gunicorn.conf.py: {exc}") from None


def _service_settings() -> Settings:
    """The service's settings, as the app reads them; a malformed one stops gunicorn at start-up."""
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise SystemExit(f"gunicorn.conf.py: {exc}") from None


def _cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# The workers sign the viewer's cookie with one key, so that a sign-in holds whichever worker serves the
# next page: without UI_SECRET_KEY, the master makes one and the workers inherit it.
os.environ.setdefault("UI_SECRET_KEY", secrets.token_urlsafe(32))
# The service's settings, for gunicorn's log level and the embedded PostgreSQL hook below.
_settings = _service_settings()

# Requests spend most of their time waiting on PostgreSQL, so a few processes per CPU with
# several threads each keep the CPUs busy; capped so that workers * DB_POOL_MAX stays
# within what PostgreSQL (or PgBouncer) is sized for.
bind = f"{os.environ.get('API_HOST', '127.0.0.1')}:{_env_int('API_PORT', 8000)}"
workers = _env_int("WEB_CONCURRENCY", min(2 * _cpus(), 8))
threads = _env_int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# gunicorn's largest request line: two ids of 255 four-byte characters, percent-encoded, make a
# valid URL of ~6.2 kB, which the default (4094) refused with an HTML 414.
limit_request_line = 8190
preload_app = False
# gunicorn's default control socket is one path per user: see GUNICORN_CONTROL_SOCKET above.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# The heartbeat file and the metrics' files live in memory: /tmp may be a slow or read-only disk in a container.
_MEMORY_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
if _MEMORY_DIR:
    worker_tmp_dir = _MEMORY_DIR

accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()


class JSONAccessLogger(Logger):
    """gunicorn's logger, with access log lines written as JSON objects instead of Apache's format."""

    def access(self, resp, req, environ, request_time):
        """Log one finished request as a single JSON line."""
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = next((v for k, v in resp.headers if k.lower() == "x-request-id"), None)
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "level": "INFO",
            "logger": "gunicorn.access",
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": request_id,
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(entry, default=str))
        except Exception:  # noqa: BLE001 - a log line must never fail the request, whatever broke it
            self.exception("could not write the access log")


logger_class = JSONAccessLogger


# The metrics directory the master made for this server (None when PROMETHEUS_MULTIPROC_DIR was given).
_metrics_dir_made: str | None = None


def _prepare_metrics_dir() -> None:
    """Point prometheus_client's multiprocess mode at a directory of this server's only, before any
    worker (or the master's start-up checks) imports it: it picks its storage at import time."""
    global _metrics_dir_made
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        # Files of an earlier run would be summed with this one's (their counters never reset).
        Path(configured).mkdir(parents=True, exist_ok=True)
        for stale in Path(configured).glob("*.db"):
            stale.unlink()
        return
    if "prometheus_client" in sys.modules:
        # It chose in-process storage at import: each worker would report its own values only.
        raise RuntimeError("gunicorn.conf.py imported prometheus_client before setting PROMETHEUS_MULTIPROC_DIR")
    _metrics_dir_made = tempfile.mkdtemp(prefix="session-backend-metrics-", dir=_MEMORY_DIR)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir_made


def on_starting(server):
    """Prepare the metrics directory, and start the embedded PostgreSQL when DATABASE_URL is not set,
    before workers fork."""
    _prepare_metrics_dir()
    from app import embedded

    embedded.start_if_needed(_settings, progress=server.log.info)


def when_ready(server):
    """Once listening, before forking workers: run the start-up checks and print the banner, once."""
    from app import startup

    startup.announce([str(listener) for listener in server.LISTENERS])


def post_worker_init(worker):
    """Say when a worker has loaded the app (keys seeded, pool ready to open): tests wait for all."""
    worker.log.info("worker %d loaded the application (%d workers configured)", worker.pid, worker.cfg.workers)


def worker_exit(server, worker):
    """Close the worker's pooled connections once its requests have drained."""
    from app.db import close_pool

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        close_pool(app)


def child_exit(server, worker):
    """Drop a gone worker's live gauges (connections in use) from the metrics; its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Stop the embedded PostgreSQL with the master, and remove the metrics directory it made."""
    from app import embedded

    embedded.stop()
    if _metrics_dir_made is not None:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
