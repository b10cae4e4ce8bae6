"""Requests no well-behaved client sends, written as raw bytes to the real gunicorn.

What gunicorn decodes or reassembles before the application sees it cannot be tried with Flask's test
client: a percent-encoded '/' turned back into a separator, or a chunked body without Content-Length.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable

import pytest
from strands.types.session import Session, SessionAgent, SessionType

from app.config import DEFAULT_MAX_CONTENT_LENGTH

CHUNK = 64 * 1024
MAX_CONTENT_LENGTH = DEFAULT_MAX_CONTENT_LENGTH  # the shared backend runs with the default


def send(backend, method: str, target: str, body: bytes | Iterable[bytes] | None = None) -> tuple[int, dict]:
    """Send ``target`` exactly as written (http.client re-encodes nothing) and return status and JSON body.

    An iterable body goes out with ``Transfer-Encoding: chunked`` and no ``Content-Length``.
    """
    conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=60)
    headers = {
        "Authorization": f"Bearer {backend.env['API_KEYS'].split(':', 1)[1]}",
        "Content-Type": "application/json",
    }
    try:
        conn.request(method, target, body=body, headers=headers, encode_chunked=not isinstance(body, bytes))
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {})
    finally:
        conn.close()


def chunks(data: bytes) -> Iterable[bytes]:
    """``data`` in 64 KiB pieces, for a chunked request."""
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


@pytest.fixture
def victim(repo, sid):
    """A session with an agent ``a``: what an id with an encoded slash would reach if it were routed."""
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, SessionAgent(agent_id="a", state={"secret": 1}, conversation_manager_state={}))
    return sid


# -- an encoded '/' or '\' stays inside its segment ----------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("slash", ["%2F", "%2f"])
def test_encoded_slash_in_a_session_id_is_422_not_the_agent_it_spells(backend, repo, victim, method, slash):
    body = b'{"session_type": "AGENT"}' if method == "PUT" else None

    status, answer = send(backend, method, f"/api/v1/sessions/{victim}{slash}agents{slash}a", body)

    assert status == 422, answer
    assert answer["detail"]["error"] == "ValidationError"
    assert list(answer["detail"]["fields"]) == ["session_id"]
    assert repo.read_agent(victim, "a").state == {"secret": 1}


@pytest.mark.parametrize(
    "target, field",
    [
        ("/api/v1/sessions/{sid}/agents/a%5Cb", "agent_id"),
        ("/api/v1/sessions/{sid}/agents/a%5cb/messages", "agent_id"),
        ("/api/v1/sessions/{sid}/agents/x%2Fy/messages/0", "agent_id"),
        ("/api/v1/sessions/{sid}/multi-agents/m%2Fn", "multi_agent_id"),
        ("/api/v1/sessions/a%2Fb", "session_id"),  # decoded, no route matches: still the id's fault
    ],
)
def test_encoded_separators_name_the_id_they_are_in(backend, victim, target, field):
    status, answer = send(backend, "GET", target.format(sid=victim))

    assert status == 422, answer
    assert list(answer["detail"]["fields"]) == [field]


def test_an_encoded_slash_outside_an_id_is_422_for_the_path(backend):
    status, answer = send(backend, "GET", "/api%2Fv1/sessions")

    assert status == 422, answer
    assert list(answer["detail"]["fields"]) == ["path"]


def test_a_raw_backslash_is_refused_the_same_way(backend, victim):
    status, answer = send(backend, "GET", f"/api/v1/sessions/{victim}/agents/a\\b")

    assert status == 422, answer
    assert list(answer["detail"]["fields"]) == ["agent_id"]


def test_other_percent_escapes_and_query_strings_are_left_alone(backend, repo, victim):
    # '%252F' is an id holding the three characters '%2F'; the query string is not part of any segment.
    status, answer = send(backend, "GET", f"/api/v1/sessions/{victim}%252F")
    assert (status, answer["detail"]["error"]) == (404, "NotFoundError")
    assert answer["detail"]["message"] == "session not found"
    assert send(backend, "GET", f"/api/v1/sessions/{victim}/agents/%61")[1]["state"] == {"secret": 1}
    assert send(backend, "GET", "/health?probe=%2F%5C")[0] == 200


# -- a chunked body over MAX_CONTENT_LENGTH -----------------------------------------------------------------


def _message_body(size: int) -> bytes:
    """A message create body of exactly ``size`` bytes."""
    frame = b'{"message_id": 0, "message": {"role": "user", "content": [{"text": ""}]}}'
    return frame.replace(b'"text": ""', b'"text": "' + b"x" * (size - len(frame)) + b'"')


def test_chunked_body_over_the_limit_is_413_and_stores_nothing(backend, repo, victim):
    status, answer = send(
        backend, "POST", f"/api/v1/sessions/{victim}/agents/a/messages", chunks(_message_body(MAX_CONTENT_LENGTH + 1))
    )

    assert status == 413, answer
    assert answer["detail"]["error"] == "PayloadTooLargeError"
    assert repo.read_message(victim, "a", 0) is None


def test_chunked_body_of_exactly_the_limit_is_accepted(backend, repo, victim):
    status, answer = send(
        backend, "POST", f"/api/v1/sessions/{victim}/agents/a/messages", chunks(_message_body(MAX_CONTENT_LENGTH))
    )

    assert status == 201, answer
    assert len(repo.read_message(victim, "a", 0).message["content"][0]["text"]) > MAX_CONTENT_LENGTH - 100
