"""Prometheus metrics: the objects the service counts with, the request hooks, and the exposition.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set before the workers fork (gunicorn.conf.py), so
every worker writes its values to files there and :func:`exposition` sums them: a scrape answered by
any worker reports the whole server. Without it (Flask's test client, the command line) values live
in this process. Labels carry route templates, methods, statuses and error classes only: never an
id, a key or anything else a client chooses.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# The media type of what generate_latest writes, in the prometheus_client installed.
CONTENT_TYPE = CONTENT_TYPE_LATEST
# The path GET /metrics is served at; its scrapes are not counted among the requests (they would
# count themselves, and a scraper's interval is not traffic).
SCRAPE_PATH = "/metrics"
# The route label of a request no route matched (a 404 or 405 from the router): its path is the
# client's choice, so it never becomes a label.
UNMATCHED = "<unmatched>"
# Methods counted under their own name; anything else a client invents is "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From a cached read (a few ms) to a large snapshot or a lease wait (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A free connection takes microseconds, a new one a few ms; a wait lasts up to the checkout timeout.
CHECKOUT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "session_backend_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "session_backend_http_request_duration_seconds",
    "Time from the first to the last request hook (routing, checks, the view, error handling), by method and route",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
POOL_IN_USE = Gauge(
    "session_backend_db_pool_connections_in_use",
    "Pooled connections checked out by requests",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "session_backend_db_pool_connections_max",
    "Connections the open pools may hold (DB_POOL_MAX for each worker that has opened its pool)",
    multiprocess_mode="livesum",
)
POOL_CHECKOUT_SECONDS = Histogram(
    "session_backend_db_pool_checkout_seconds",
    "Time a request took to get a pooled connection, waiting and connecting included",
    buckets=CHECKOUT_BUCKETS,
)
POOL_WAITS = Counter("session_backend_db_pool_waits", "Checkouts that found no free connection and had to wait")
POOL_TIMEOUTS = Counter(
    "session_backend_db_pool_timeouts", "Checkouts that waited in vain for a connection (answered 503)"
)
DB_ERRORS = Counter(
    "session_backend_db_errors",
    "Database errors that reached the error handlers, by exception class and SQLSTATE (refused API keys excluded)",
    ["error", "sqlstate"],
)
AUTH_FAILURES = Counter(
    "session_backend_auth_failures",
    "Requests refused for their credentials, by endpoint (api, metrics, or viewer: its sign-in)",
    ["endpoint"],
)
STORAGE_BYTES = Counter(
    "session_backend_storage_bytes_written", "Bytes of objects written to the byte store (/api/v1/storage/object)"
)


def count_database_error(exc: Exception) -> None:
    """Count ``exc``, a database error about to be answered, by its class and SQLSTATE (never its message)."""
    DB_ERRORS.labels(error=type(exc).__name__, sqlstate=getattr(exc, "pgcode", None) or "none").inc()


def exposition(multiprocess_dir: str | None) -> bytes:
    """The metrics in Prometheus' text format: every worker's, summed, when ``multiprocess_dir`` is set."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    return generate_latest(registry)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _record(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    rule = request.url_rule
    route = UNMATCHED if rule is None else rule.rule
    if started is None or route == SCRAPE_PATH:
        return response
    method = request.method if request.method in _METHODS else "other"
    REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
    REQUEST_SECONDS.labels(method=method, route=route).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Count and time every request of ``app``; call it before any other module adds request hooks,
    so the timer starts first and stops last."""
    app.before_request(_start_timer)
    app.after_request(_record)
