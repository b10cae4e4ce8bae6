"""Small builders for test data, going through the API like a client would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask.testing import FlaskClient
from psycopg2 import sql

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


# What the README's "Errors" and "API keys" sections promise for a 401, whatever was wrong with the key.
UNAUTHENTICATED = (401, "AuthenticationError", "missing or invalid API key")


def error_summary(response) -> tuple[int, str, str]:
    """The status, error kind and message of an error response, after checking its envelope (:func:`error_of`).

    A 401 must also ask for a bearer token (``WWW-Authenticate: Bearer``), as the README promises.
    """
    detail = error_of(response)
    if response.status_code == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer", dict(response.headers)
    return response.status_code, detail["error"], detail["message"]


def not_found(message: str) -> tuple[int, str, str]:
    """The :func:`error_summary` of a 404 saying ``message`` (e.g. "session not found")."""
    return 404, "NotFoundError", message


def database_settings(url: str) -> dict[str, str]:
    """The parameters set on the database of ``url`` itself (``ALTER DATABASE ... SET``, for every role)."""
    rows = execute(
        url,
        "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    return dict(row.split("=", 1) for (row,) in rows)


def set_database_setting(url: str, name: str, value: str | None) -> None:
    """``ALTER DATABASE`` (the one of ``url``) ``SET name = value``, or ``RESET name`` when ``value`` is None."""
    (database,) = execute(url, "SELECT current_database()")[0]
    target = sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(database))
    if value is None:
        execute(url, target + sql.SQL("RESET {}").format(sql.Identifier(name)))
    else:
        execute(url, target + sql.SQL("SET {} = %s").format(sql.Identifier(name)), (value,))


@contextmanager
def scratch_database(url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of ``url``, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    execute(url, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        execute(url, f'DROP DATABASE "{name}" WITH (FORCE)')
