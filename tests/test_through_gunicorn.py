"""What only a server configured from its environment shows: a chunked body's limit, CORS and the logs,
through gunicorn.

The in-process tests set these through the app's settings; here gunicorn reads them from the
environment, as a deployment does, and the requests travel over real HTTP: a chunked body as
gunicorn hands it over, the CORS headers as a browser gets them, the log lines as gunicorn writes them.
(A body with a Content-Length over the limit: tests/test_config.py.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.server import Gunicorn
from helpers import SESSIONS, agent_url, message_url

LIMIT = 1024
ORIGIN = "https://ui.example"
LOG_DEADLINE = 10.0


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """A keyless service whose body limit and CORS origins come from its environment."""
    log = Path(tmp_path_factory.mktemp("configured")) / "gunicorn.log"
    with Gunicorn(
        database_url,
        log,
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        DB_POOL_MIN="1",
        MAX_CONTENT_LENGTH=str(LIMIT),
        CORS_ORIGINS=f"{ORIGIN}, https://other.example/",
    ) as running:
        yield running


@pytest.fixture
def http(server: Gunicorn, clean_db: str) -> Iterator[requests.Session]:
    """An HTTP session on an empty database, with session s and agent a in it."""
    with requests.Session() as session:
        session.trust_env = False
        assert session.post(server.url + SESSIONS, json={"session_id": "s"}, timeout=10).status_code == 201
        body = {"agent_id": "a", "state": {}, "conversation_manager_state": {}}
        assert session.post(server.url + agent_url("s"), json=body, timeout=10).status_code == 201
        yield session


def message_body(size: int) -> bytes:
    """A message create body of exactly ``size`` bytes."""
    head, tail = b'{"message_id": 0, "message": {"text": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    """``body`` in pieces, which requests sends with Transfer-Encoding: chunked (no Content-Length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_payload_too_large(response: requests.Response) -> None:
    """The 413 is the API's JSON envelope, with the request id of its header."""
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "PayloadTooLargeError"
    assert "MAX_CONTENT_LENGTH" in detail["message"]
    assert detail["request_id"] == response.headers["X-Request-ID"]


def test_a_chunked_body_over_max_content_length_is_413_not_cut_at_the_limit(server, http):
    url = server.url + message_url("s", "a")
    headers = {"Content-Type": "application/json"}

    over = http.post(url, data=chunks(message_body(LIMIT + 1)), headers=headers, timeout=10)

    assert "Content-Length" not in over.request.headers and over.request.headers["Transfer-Encoding"] == "chunked"
    assert_payload_too_large(over)
    assert http.get(server.url + message_url("s", "a", 0), timeout=10).status_code == 404
    assert http.post(url, data=chunks(message_body(LIMIT)), headers=headers, timeout=10).status_code == 201


def test_cors_preflight_and_requests_from_listed_origins_only(server, http):
    preflight = http.options(
        server.url + SESSIONS,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
        timeout=10,
    )
    listed = http.get(server.url + f"{SESSIONS}/s", headers={"Origin": "https://other.example"}, timeout=10)
    other = http.get(server.url + f"{SESSIONS}/s", headers={"Origin": "https://evil.example"}, timeout=10)

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed_headers = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"Authorization", "Content-Type", "If-Match", "X-Session-Fence"} <= allowed_headers
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == "https://other.example"
    assert (
        listed.headers["Access-Control-Expose-Headers"] == "X-Request-ID, ETag" and "Origin" in listed.headers["Vary"]
    )
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers


def log_entries(server: Gunicorn, request_id: str, count: int) -> list[dict]:
    """The JSON log lines of ``request_id`` in the server's log, once there are ``count`` of them.

    The access line is written after the response has gone out, so it may lag the answer a little.
    """
    deadline = time.monotonic() + LOG_DEADLINE
    while True:
        lines = server.log_path.read_text(errors="replace").splitlines(keepends=True)
        # A line without its newline is still being written.
        entries = [
            json.loads(line) for line in lines if line.startswith("{") and line.endswith("\n") and request_id in line
        ]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)  # polling interval while the worker writes its log line


def test_the_request_id_reaches_the_answer_the_app_log_and_the_access_log(server, http):
    # A sent key is checked even while the service runs without keys: the app logs the refusal.
    response = http.get(
        server.url + SESSIONS,
        timeout=10,
        headers={"X-Request-ID": "trace-gunicorn-1", "Authorization": "Bearer sb_unknown-key-0000"},
    )

    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["X-Request-ID"] == response.json()["detail"]["request_id"] == "trace-gunicorn-1"
    entries = {entry["logger"]: entry for entry in log_entries(server, "trace-gunicorn-1", 2)}
    assert entries["app.auth"]["message"] == "rejected API key"
    assert entries["app.auth"]["request_id"] == "trace-gunicorn-1"
    assert {"status": 401, "method": "GET", "path": SESSIONS, "request_id": "trace-gunicorn-1"}.items() <= entries[
        "gunicorn.access"
    ].items()
    assert "sb_unknown-key-0000" not in server.log_path.read_text(errors="replace")
