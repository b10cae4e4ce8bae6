"""Small builders for test data, going through the API like a client would."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from flask.testing import FlaskClient

from harness.database import execute  # the tests' direct way to the database, used here too

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SESSIONS = "/api/v1/sessions"


def agent_url(session_id: str, agent_id: str | None = None) -> str:
    """The agents collection of ``session_id``, or one agent in it."""
    base = f"{SESSIONS}/{session_id}/agents"
    return base if agent_id is None else f"{base}/{agent_id}"


def message_url(session_id: str, agent_id: str, message_id: int | str | None = None) -> str:
    """The messages collection of an agent, or one message in it."""
    base = f"{agent_url(session_id, agent_id)}/messages"
    return base if message_id is None else f"{base}/{message_id}"


def text_message(text: str, role: str = "user") -> dict[str, Any]:
    """A Strands-shaped message with one text block."""
    return {"role": role, "content": [{"text": text}]}


def create_session(client: FlaskClient, session_id: str = "s1") -> dict[str, Any]:
    """Create a session and return its body, failing the test on anything but 201."""
    response = client.post(SESSIONS, json={"session_id": session_id, "session_type": "AGENT"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def create_agent(client: FlaskClient, session_id: str = "s1", agent_id: str = "a1", **fields: Any) -> dict[str, Any]:
    """Create an agent (and nothing else) and return its body."""
    body = {"agent_id": agent_id, "state": {}, "conversation_manager_state": {}, **fields}
    response = client.post(agent_url(session_id), json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def create_message(client: FlaskClient, session_id: str, agent_id: str, message_id: int, text: str = "hi") -> dict:
    """Append one text message and return its body."""
    body = {"message_id": message_id, "message": text_message(text), "redact_message": None}
    response = client.post(message_url(session_id, agent_id), json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def error_of(response) -> dict[str, Any]:
    """The ``detail`` of an error response, after checking the envelope's shape."""
    body = response.get_json()
    assert set(body) == {"detail"}, body
    detail = body["detail"]
    assert {"error", "message", "request_id"} <= set(detail), detail
    assert detail["request_id"] == response.headers["X-Request-ID"]
    return detail


@contextmanager
def scratch_database(url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of ``url``, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    execute(url, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        execute(url, f'DROP DATABASE "{name}" WITH (FORCE)')
