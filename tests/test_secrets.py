"""No secret in sight: the database password and API keys never reach logs, error bodies, health
answers or the OpenAPI document."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlsplit, urlunsplit

from app import create_app, db
from app.config import load_settings
from helpers import SESSIONS, agent_url


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def _exercise(client, headers=None) -> list[str]:
    """Requests of every kind, good and bad; returns every response's status, headers and body as text."""
    seen = []
    for method, path, body in [
        ("POST", SESSIONS, {"session_id": "s"}),
        ("POST", SESSIONS, {"session_id": "s"}),
        ("GET", f"{SESSIONS}/missing", None),
        ("POST", agent_url("missing"), {"agent_id": "a", "state": {}, "conversation_manager_state": {}}),
        ("POST", SESSIONS, {"session_id": ""}),
        ("GET", "/health/db", None),
        ("GET", "/health/ready", None),
        ("GET", "/health", None),
        ("GET", "/apispec.json", None),
    ]:
        response = client.open(path, method=method, json=body, headers=headers or {})
        seen.append(f"{response.status_code}\n{response.headers}\n{response.get_data(as_text=True)}")
    return seen


def test_database_password_appears_nowhere(clean_db, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    password = f"pw-{uuid.uuid4().hex}"
    working = create_app(load_settings({"DATABASE_URL": _with_password(clean_db, password)}), testing=True)
    unreachable = f"postgresql://postgres:{password}@127.0.0.1:9/nothing"
    down = create_app(load_settings({"DATABASE_URL": unreachable}), testing=True)

    answered = _exercise(working.test_client())
    unavailable = _exercise(down.test_client())

    captured = capsys.readouterr()
    assert answered[0].startswith("201") and unavailable[0].startswith("503")
    everything = "\n".join(answered + unavailable + [captured.out, captured.err, caplog.text])
    assert password not in everything
    db.close_pool(working)


def test_api_keys_never_reach_the_logs_but_their_ids_do(app, client, capsys, caplog):
    from app.auth import fingerprint

    caplog.set_level(logging.DEBUG)
    runner = app.test_cli_runner()
    key = runner.invoke(args=["keys", "create", "--namespace", "team-a"]).stdout.strip()
    unknown = f"sb_{uuid.uuid4().hex}{uuid.uuid4().hex}"

    _exercise(client, headers={"Authorization": f"Bearer {key}"})
    _exercise(client, headers={"Authorization": f"Bearer {unknown}"})

    logs = capsys.readouterr().out + caplog.text
    assert key not in logs and unknown not in logs
    assert fingerprint(unknown)[0] in logs
