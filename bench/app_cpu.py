"""``python -m bench.app_cpu``: the Flask application's own CPU per request, without gunicorn.

Calls the WSGI app directly in this process, one request after another, and divides the process's
CPU time by the number of requests. Set against workload 2's server CPU per request, it splits that
figure into what the application spends (Flask, the view, marshmallow, psycopg2) and what gunicorn
and the kernel spend on HTTP around it. It then times two parts of an append on their own: parsing
and loading the body with its marshmallow schema, and the INSERT through aiosql and psycopg2.
Sampling profilers blame these parts for far more under load than they cost.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from .database import database_url
from .stats import TEXT

REQUESTS = 3000
WARM_UP = 300


def _environ(method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.errors": sys.stderr,
        "REMOTE_ADDR": "127.0.0.1",
    }


def _cpu_us_per_request(app: Any, environs: Callable[[int], dict[str, Any]], expect: str) -> float:
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        statuses.append(status)

    for i in range(WARM_UP):
        b"".join(app(environs(i), start_response))
    started = time.process_time()
    for i in range(WARM_UP, WARM_UP + REQUESTS):
        b"".join(app(environs(i), start_response))
    cpu = time.process_time() - started
    if any(not s.startswith(expect) for s in statuses):
        raise RuntimeError(f"unexpected answers: {sorted(set(statuses))}")
    return cpu * 1e6 / REQUESTS


def main() -> None:
    """Print the app's CPU microseconds per liveness request, session read and message append."""
    from dataclasses import replace

    from app import create_app
    from app.config import load_settings

    url, source = database_url()
    app = create_app(replace(load_settings(), database_url=url))
    logging.getLogger("app").setLevel(logging.ERROR)
    sid = f"app-cpu-{time.time_ns()}"
    sessions = "/api/v1/sessions"
    for path, body in (
        (sessions, {"session_id": sid}),
        (f"{sessions}/{sid}/agents", {"agent_id": "a", "state": {}, "conversation_manager_state": {}}),
    ):
        b"".join(app(_environ("POST", path, json.dumps(body).encode()), lambda *a: None))
    message = {"role": "user", "content": [{"text": TEXT[:900]}]}
    appends = f"{sessions}/{sid}/agents/a/messages"
    print(f"bench.app_cpu: database: {source}; {REQUESTS} requests each, CPU of this process per request")
    for name, environs, expect in (
        ("GET /health/live", lambda i: _environ("GET", "/health/live"), "200"),
        ("GET session", lambda i: _environ("GET", f"{sessions}/{sid}"), "200"),
        (
            "POST message",
            lambda i: _environ("POST", appends, json.dumps({"message_id": i, "message": message}).encode()),
            "201",
        ),
    ):
        print(f"{name:18} {_cpu_us_per_request(app, environs, expect):7.1f} µs", flush=True)
    _parts_of_an_append(app, sid, message)


def _parts_of_an_append(app: Any, sid: str, message: dict[str, Any]) -> None:
    from app import schemas
    from app.db import get_db, queries

    bodies = [json.dumps({"message_id": i, "message": message}).encode() for i in range(REQUESTS)]
    schema = schemas.MessageCreate()
    started = time.process_time()
    loaded = [schema.load(json.loads(body)) for body in bodies]
    print(f"{'  body: json + schema':18} {(time.process_time() - started) * 1e6 / REQUESTS:7.1f} µs")
    with app.app_context():
        conn = get_db()
        caller = {"key_hash": None, "keyless": "open"}
        started = time.process_time()
        for i, data in enumerate(loaded):
            queries.create_message(conn, **caller, session_id=sid, agent_id="a", **{**data, "message_id": 10**6 + i})
        print(f"{'  INSERT via aiosql':18} {(time.process_time() - started) * 1e6 / REQUESTS:7.1f} µs")


if __name__ == "__main__":
    main()
